// The second pass of a GEMM whose k was split across workgroups (appended to the op's file,
// like gemm_core.wgsl): C(m, n) = Σ_s partials[(s·M + m)·N + n] over the splits in order
// s = 0, 1, ... (a fixed order: the same sum every run), then the op's `store_c`.
// One invocation per output.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    let size = p.g.m * p.g.n;
    if (i >= size) { return; }
    let splits = (p.g.k + p.g.k_chunk - 1u) / p.g.k_chunk;
    var acc = 0.0;
    for (var s = 0u; s < splits; s++) { acc += partials[s * size + i]; }
    store_c(i / p.g.n, i % p.g.n, acc);
}
