// db[ch] = Σ_n Σ_j dy[n, ch, j] for dy (N, channels, inner), written to grads[out_off + ch].
// One workgroup per channel: each invocation sums a fixed strided subset, then a fixed tree
// adds the 64 partial sums. No atomics: the result is the same every run.
struct Params { n: u32, channels: u32, inner: u32, out_off: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let ch = group_id(wid, nwg);
    if (ch >= p.channels) { return; }
    let count = p.n * p.inner;
    var acc = 0.0;
    for (var t = lid; t < count; t += WG) {
        let n = t / p.inner;
        let j = t % p.inner;
        acc += dy[(n * p.channels + ch) * p.inner + j];
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { partial[lid] += partial[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { grads[p.out_off + ch] = partial[0]; }
}
