// Max-pool, one invocation per output: y[plane, oy, ox] = max of the size x size window at
// (oy·stride, ox·stride) of x (planes = N·C, each H x W), and argmax[...] = the index into x
// of that maximum (the first in row-major order on ties, as the CPU twin). With a dropout
// after the pool fused in (`dropout` = 1), y is the dropout's output: max · mask, and the mask
// (`dropout_multiplier` of common.wgsl, indexed by output) goes to `mask`.
struct Params {
    total: u32, h: u32, w: u32, size: u32,
    stride: u32, ho: u32, wo: u32, dropout: u32,
    drop: Dropout,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_id(wid, nwg, lid);
    if (o >= p.total) { return; }
    let ox = o % p.wo;
    let oy = (o / p.wo) % p.ho;
    let plane = o / (p.wo * p.ho);
    let base = plane * p.h * p.w;
    var best = base + oy * p.stride * p.w + ox * p.stride;
    for (var dy = 0u; dy < p.size; dy++) {
        let row = base + (oy * p.stride + dy) * p.w + ox * p.stride;
        for (var i = row; i < row + p.size; i++) {
            if (x[i] > x[best]) { best = i; }
        }
    }
    argmax[o] = best;
    if (p.dropout == 0u) {
        y[o] = x[best];
        return;
    }
    let m = dropout_multiplier(p.drop, o);
    mask[o] = m;
    y[o] = x[best] * m;
}
