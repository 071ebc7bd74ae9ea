// The data gradient of a convolution, gathered (no atomics): one invocation per input element,
// dx[n, c, iy, ix] = Σ_f Σ_ki Σ_kj W[f, c, ki, kj] · dy[n, f, oy, ox] over the (oy, ox) with
// oy·S + ki − P = iy and ox·S + kj − P = ix inside the output. dy: (N, F, H', W'),
// W at params[w_off], dx: (N, C, H, W).
struct Params {
    n: u32, c: u32, h: u32, w: u32,
    f: u32, k: u32, s: u32, pad: u32,
    ho: u32, wo: u32, w_off: u32, _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.n * p.c * p.h * p.w) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let c = (i / (p.w * p.h)) % p.c;
    let n = i / (p.w * p.h * p.c);
    var acc = 0.0;
    for (var f = 0u; f < p.f; f++) {
        let dy_plane = (n * p.f + f) * p.ho;
        let w_base = p.w_off + (f * p.c + c) * p.k * p.k;
        for (var ki = 0u; ki < p.k; ki++) {
            let ty = i32(iy + p.pad) - i32(ki);
            if (ty < 0 || ty % i32(p.s) != 0) { continue; }
            let oy = u32(ty) / p.s;
            if (oy >= p.ho) { continue; }
            for (var kj = 0u; kj < p.k; kj++) {
                let tx = i32(ix + p.pad) - i32(kj);
                if (tx < 0 || tx % i32(p.s) != 0) { continue; }
                let ox = u32(tx) / p.s;
                if (ox >= p.wo) { continue; }
                acc += params[w_base + ki * p.k + kj] * dy[(dy_plane + oy) * p.wo + ox];
            }
        }
    }
    dx[i] = acc;
}
