// Max-pool backward, gathered (no atomics): one invocation per input element i,
// dx[i] = Σ g[o] over the outputs o whose window covers i and whose argmax[o] = i, added in
// increasing o, the order the CPU twin scatters in; g = dy, or with a dropout after the pool
// fused in (`dropout` = 1) that dropout's backward g[o] = dy[o]·mask[o]. Then through the
// activation before the pool when one is fused in (act ≠ 0): dx[i] =
// fused_activation_grad(that sum, x[i], act), x being the pool's input, which is that
// activation's output.
struct Params {
    total: u32, h: u32, w: u32, size: u32,
    stride: u32, ho: u32, wo: u32, _pad0: u32,
    dropout: u32, act: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

// The first window index whose window [o·stride, o·stride + size) reaches coordinate v.
fn first_window(v: u32) -> u32 {
    if (v + 1u <= p.size) { return 0u; }
    return (v + 1u - p.size + p.stride - 1u) / p.stride;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let plane = i / (p.w * p.h);
    var acc = 0.0;
    let oy_end = min(iy / p.stride + 1u, p.ho);
    let ox_end = min(ix / p.stride + 1u, p.wo);
    for (var oy = first_window(iy); oy < oy_end; oy++) {
        for (var ox = first_window(ix); ox < ox_end; ox++) {
            let o = (plane * p.ho + oy) * p.wo + ox;
            if (argmax[o] == i) {
                var g = dy[o];
                if (p.dropout != 0u) { g = g * mask[o]; }
                acc += g;
            }
        }
    }
    if (p.act != 0u) { acc = fused_activation_grad(acc, x[i], p.act); }
    dx[i] = acc;
}
