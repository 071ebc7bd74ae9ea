// Direct convolution (cross-correlation), one invocation per output element:
// y[n, f, oy, ox] = b[f] + Σ_c Σ_ki Σ_kj W[f, c, ki, kj] · x[n, c, oy·S + ki − P, ox·S + kj − P]
// (0 outside the image), then the fused activation `act` (common.wgsl). x: (N, C, H, W),
// W: (F, C, K, K) at params[w_off], b at params[b_off], y: (N, F, H', W').
struct Params {
    n: u32, c: u32, h: u32, w: u32,
    f: u32, k: u32, s: u32, pad: u32,
    ho: u32, wo: u32, w_off: u32, b_off: u32,
    act: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.n * p.f * p.ho * p.wo) { return; }
    let ox = i % p.wo;
    let oy = (i / p.wo) % p.ho;
    let f = (i / (p.wo * p.ho)) % p.f;
    let n = i / (p.wo * p.ho * p.f);
    var acc = 0.0;
    for (var c = 0u; c < p.c; c++) {
        let x_plane = (n * p.c + c) * p.h;
        let w_base = p.w_off + (f * p.c + c) * p.k * p.k;
        for (var ki = 0u; ki < p.k; ki++) {
            let iy = i32(oy * p.s + ki) - i32(p.pad);
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            for (var kj = 0u; kj < p.k; kj++) {
                let ix = i32(ox * p.s + kj) - i32(p.pad);
                if (ix < 0 || ix >= i32(p.w)) { continue; }
                acc += params[w_base + ki * p.k + kj] * x[(x_plane + u32(iy)) * p.w + u32(ix)];
            }
        }
    }
    y[i] = fused_activation(params[p.b_off + f] + acc, p.act);
}
