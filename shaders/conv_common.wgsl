// Prepended to the three convolution kernels: the sizes of a convolution with input
// x (N, C, H, W), weights (F, C, K, K), stride S, padding P and output (N, F, H', W').
// a_off / b_off: forward and data gradient: weight / bias offsets in the parameter buffer;
// weight gradient: dW / db offsets in the gradient buffer.
struct Conv {
    n: u32, c: u32, h: u32, w: u32,
    f: u32, k: u32, s: u32, pad: u32,
    ho: u32, wo: u32, a_off: u32, b_off: u32,
}

// The Params of the three convolution kernels: the GEMM's sizes, the convolution's, and the
// fused activation (forward: applied to the output; data gradient: the backward of the
// activation before the convolution; weight gradient: unused, 0) and, for the data gradient,
// whether the mask of a dropout before the convolution applies first.
struct Params { g: Gemm, conv: Conv, act: u32, dropout: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;

// (image, row, column) of flat position i in images of h x w positions; with h = w = K, the
// (channel, ki, kj) of a flat tap index.
fn position(i: u32, h: u32, w: u32) -> vec3<u32> {
    let plane = h * w;
    let q = i % plane;
    return vec3(i / plane, q / w, q % w);
}

// The position after `at` in row-major order over images of h x w (no division).
fn next_position(at: vec3<u32>, h: u32, w: u32) -> vec3<u32> {
    if (at.z + 1u < w) { return vec3(at.x, at.y, at.z + 1u); }
    if (at.y + 1u < h) { return vec3(at.x, at.y + 1u, 0u); }
    return vec3(at.x + 1u, 0u, 0u);
}

// x[n, c, oy·S + ki − P, ox·S + kj − P] as an index into x, or -1 where it falls in the
// padding.
fn patch_index(cv: Conv, n: u32, c: u32, oy: u32, ox: u32, ki: u32, kj: u32) -> i32 {
    let iy = i32(oy * cv.s + ki) - i32(cv.pad);
    let ix = i32(ox * cv.s + kj) - i32(cv.pad);
    let inside = (iy >= 0) & (iy < i32(cv.h)) & (ix >= 0) & (ix < i32(cv.w));
    return select(-1, i32(((n * cv.c + c) * cv.h + u32(iy)) * cv.w + u32(ix)), inside);
}
