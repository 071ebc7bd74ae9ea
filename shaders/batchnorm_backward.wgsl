// Batch normalisation backward (twin of cpu::norm::batchnorm_backward), one workgroup per
// feature `ch` of x (N, C, I), m = N·I. With μ = saved[ch], inv_std = saved[2C + ch] and
// x̂ = (x − μ)·inv_std: dβ = Σ dy and dγ = Σ dy·x̂ (fixed strided partials, fixed tree: no
// atomics), written to grads[g_off + C + ch] and grads[g_off + ch]; with p.has_dx = 1,
// dx = γ·inv_std/m · (m·dy − dβ − x̂·dγ), γ = params[g_off + ch].
struct Params {
    n: u32, channels: u32, inner: u32, has_dx: u32,
    g_off: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read> saved: array<f32>;
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

var<workgroup> part_dy: array<f32, 64>;
var<workgroup> part_dyx: array<f32, 64>;

fn at(t: u32, ch: u32) -> u32 {
    return ((t / p.inner) * p.channels + ch) * p.inner + t % p.inner;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let ch = group_id(wid, nwg);
    if (ch >= p.channels) { return; }
    let m = p.n * p.inner;
    let mean = saved[ch];
    let inv_std = saved[2u * p.channels + ch];
    var a = 0.0;
    var b = 0.0;
    for (var t = lid; t < m; t += WG) {
        let i = at(t, ch);
        a += dy[i];
        b += dy[i] * (x[i] - mean) * inv_std;
    }
    part_dy[lid] = a;
    part_dyx[lid] = b;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part_dy[lid] += part_dy[lid + s];
            part_dyx[lid] += part_dyx[lid + s];
        }
        workgroupBarrier();
    }
    let dbeta = part_dy[0];
    let dgamma = part_dyx[0];
    if (lid == 0u) {
        grads[p.g_off + ch] = dgamma;
        grads[p.g_off + p.channels + ch] = dbeta;
    }
    if (p.has_dx == 1u) {
        let fm = f32(m);
        let k = params[p.g_off + ch] * inv_std / fm;
        for (var t = lid; t < m; t += WG) {
            let i = at(t, ch);
            let xhat = (x[i] - mean) * inv_std;
            dx[i] = k * (fm * dy[i] - dbeta - xhat * dgamma);
        }
    }
}
