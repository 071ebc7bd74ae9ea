// Prepended to both max-pool forward kernels: planes = N·C, each H x W; one invocation per
// output o = (plane, oy, ox) of the size x size window at (oy·stride, ox·stride). `drop`
// describes the dropout fused into maxpool_dropout_forward.wgsl.
struct Params {
    total: u32, h: u32, w: u32, size: u32,
    stride: u32, ho: u32, wo: u32, _pad: u32,
    drop: Dropout,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;

// The index into x of output o's window maximum (the first in row-major order on ties, as the
// CPU twin).
fn window_argmax(o: u32) -> u32 {
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
    return best;
}
