// The weight gradient of a convolution, one workgroup per weight (f, c, ki, kj):
// dW[f, c, ki, kj] = Σ_n Σ_oy Σ_ox dy[n, f, oy, ox] · x[n, c, oy·S + ki − P, ox·S + kj − P],
// written to grads[dw_off + ((f·C + c)·K + ki)·K + kj]. Each invocation sums a fixed strided
// subset of (n, oy, ox); a fixed tree adds the partial sums (deterministic, no atomics).
struct Params {
    n: u32, c: u32, h: u32, w: u32,
    f: u32, k: u32, s: u32, pad: u32,
    ho: u32, wo: u32, dw_off: u32, _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = group_id(wid, nwg);
    if (g >= p.f * p.c * p.k * p.k) { return; }
    let kj = g % p.k;
    let ki = (g / p.k) % p.k;
    let c = (g / (p.k * p.k)) % p.c;
    let f = g / (p.k * p.k * p.c);
    let plane = p.ho * p.wo;
    var acc = 0.0;
    for (var t = lid; t < p.n * plane; t += WG) {
        let n = t / plane;
        let oy = (t % plane) / p.wo;
        let ox = t % p.wo;
        let iy = i32(oy * p.s + ki) - i32(p.pad);
        let ix = i32(ox * p.s + kj) - i32(p.pad);
        if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { continue; }
        acc += dy[(n * p.f + f) * plane + oy * p.wo + ox]
             * x[((n * p.c + c) * p.h + u32(iy)) * p.w + u32(ix)];
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { partial[lid] += partial[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { grads[p.dw_off + g] = partial[0]; }
}
