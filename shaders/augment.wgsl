// Data augmentation on the device (twin of data::augment, same draws, same formulas):
// x (n, C, H, W) = each gathered image of src warped, or copied when its chance says no.
// u_k = counter_uniform(seed, step, k, b) for image b (PCG hash, bit-identical to the host);
// u_0 < chance warps: a = 1 + (2u_1 − 1)·scale_x, b = 1 + (2u_2 − 1)·scale_y,
// θ = (2u_3 − 1)·rotation_degrees·π/180, z = 1 + (2u_4 − 1)·zoom,
// t = ((2u_5 − 1)·translate_px, (2u_6 − 1)·translate_px); output pixel p samples src
// bilinearly at c + m·(p − c − t), m = [[cos θ/(az), sin θ/(az)], [−sin θ/(bz), cos θ/(bz)]],
// c = ((W − 1)/2, (H − 1)/2), zeros outside.
// elastic_px > 0 adds d(p) to that position: the bilinear interpolation at p of the
// displacements of a 4 x 4 grid's corners, corner k = j·5 + i (column i, row j, at pixel
// (i·(W − 1), j·(H − 1))/4) moving by ((2u_{7+2k} − 1)·elastic_px, (2u_{8+2k} − 1)·elastic_px).
struct Params {
    n: u32, c: u32, h: u32, w: u32,
    seed: u32, step: u32, chance: f32, scale_x: f32,
    scale_y: f32, rotation_degrees: f32, zoom: f32, translate_px: f32,
    elastic_px: f32, pad0: u32, pad1: u32, pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

fn draw(k: u32, index: u32) -> f32 {
    return counter_uniform(p.seed, p.step, k, index);
}

fn symmetric(u: f32, r: f32) -> f32 {
    return (2.0 * u - 1.0) * r;
}

// sin θ and cos θ to about 1e-7 for |θ| ≤ π (rotations are at most ±180°), from Taylor
// polynomials on [−π/2, π/2]: WGSL lets the built-in sin and cos be off by up to 2^-11
// (SwiftShader, Chromium's software WebGPU, is), which moves a rotated pixel's sample visibly
// away from the host's, whose f32 sin and cos are accurate to an ulp.
const HALF_PI: f32 = 1.5707963267948966;
const PI: f32 = 3.14159265358979;

fn taylor_sin(x: f32) -> f32 {
    let x2 = x * x;
    return x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0
        + x2 * (1.0 / 362880.0 + x2 * (-1.0 / 39916800.0 + x2 / 6227020800.0))))));
}

fn taylor_cos(x: f32) -> f32 {
    let x2 = x * x;
    return 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0
        + x2 * (-1.0 / 3628800.0 + x2 / 479001600.0)))));
}

fn accurate_sin(x: f32) -> f32 {
    if (x > HALF_PI) { return taylor_sin(PI - x); }
    if (x < -HALF_PI) { return taylor_sin(-PI - x); }
    return taylor_sin(x);
}

fn accurate_cos(x: f32) -> f32 {
    let a = abs(x);
    if (a > HALF_PI) { return -taylor_cos(PI - a); }
    return taylor_cos(a);
}

// The host's data::augment::{ELASTIC_CELLS, ELASTIC_FIRST_DRAW} (a unit test keeps them equal).
const ELASTIC_CELLS: u32 = 4u;
const ELASTIC_FIRST_DRAW: u32 = 7u;

// The grid cell (< ELASTIC_CELLS) of coordinate v on an axis of len pixels, and the fraction
// of the way across it: g = v·ELASTIC_CELLS / max(len − 1, 1) (the host's grid_cell).
fn grid_cell(v: f32, len: u32) -> vec2<f32> {
    let scale = f32(ELASTIC_CELLS) / f32(max(len, 2u) - 1u);
    let g = v * scale;
    let cell = min(u32(max(floor(g), 0.0)), ELASTIC_CELLS - 1u);
    return vec2<f32>(f32(cell), g - f32(cell));
}

// Corner (i, j)'s displacement (x, y) for image b.
fn corner(b: u32, i: u32, j: u32) -> vec2<f32> {
    let k = j * (ELASTIC_CELLS + 1u) + i;
    let first = ELASTIC_FIRST_DRAW + 2u * k;
    return vec2<f32>(symmetric(draw(first, b), p.elastic_px),
                     symmetric(draw(first + 1u, b), p.elastic_px));
}

// The elastic displacement at output pixel (px, py) of image b.
fn elastic_displacement(b: u32, px: f32, py: f32) -> vec2<f32> {
    let gx = grid_cell(px, p.w);
    let gy = grid_cell(py, p.h);
    let i = u32(gx.x);
    let j = u32(gy.x);
    let fx = gx.y;
    let fy = gy.y;
    return (1.0 - fx) * (1.0 - fy) * corner(b, i, j)
        + fx * (1.0 - fy) * corner(b, i + 1u, j)
        + (1.0 - fx) * fy * corner(b, i, j + 1u)
        + fx * fy * corner(b, i + 1u, j + 1u);
}

// src at (tx, ty) of the plane starting at `base`, 0 outside the image.
fn tap(base: u32, tx: i32, ty: i32) -> f32 {
    if (tx < 0 || ty < 0 || tx >= i32(p.w) || ty >= i32(p.h)) { return 0.0; }
    return src[base + u32(ty) * p.w + u32(tx)];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    let plane = p.h * p.w;
    let size = p.c * plane;
    if (i >= p.n * size) { return; }
    let b = i / size;
    if (draw(0u, b) >= p.chance) {
        x[i] = src[i];
        return;
    }
    let r = i % size;
    let base = b * size + (r / plane) * plane;
    let px = f32((r % plane) % p.w);
    let py = f32((r % plane) / p.w);
    let sa = 1.0 + symmetric(draw(1u, b), p.scale_x);
    let sb = 1.0 + symmetric(draw(2u, b), p.scale_y);
    let theta = symmetric(draw(3u, b), p.rotation_degrees) * (3.14159265358979 / 180.0);
    let z = 1.0 + symmetric(draw(4u, b), p.zoom);
    let tx = symmetric(draw(5u, b), p.translate_px);
    let ty = symmetric(draw(6u, b), p.translate_px);
    let s = accurate_sin(theta);
    let co = accurate_cos(theta);
    let ia = 1.0 / (sa * z);
    let ib = 1.0 / (sb * z);
    let cx = (f32(p.w) - 1.0) * 0.5;
    let cy = (f32(p.h) - 1.0) * 0.5;
    let dx = px - cx - tx;
    let dy = py - cy - ty;
    var sx = cx + (co * ia) * dx + (s * ia) * dy;
    var sy = cy + (-s * ib) * dx + (co * ib) * dy;
    if (p.elastic_px > 0.0) {
        let d = elastic_displacement(b, px, py);
        sx += d.x;
        sy += d.y;
    }
    let x0f = floor(sx);
    let y0f = floor(sy);
    let fx = sx - x0f;
    let fy = sy - y0f;
    let x0 = i32(x0f);
    let y0 = i32(y0f);
    var v = 0.0;
    v += (1.0 - fx) * (1.0 - fy) * tap(base, x0, y0);
    v += fx * (1.0 - fy) * tap(base, x0 + 1, y0);
    v += (1.0 - fx) * fy * tap(base, x0, y0 + 1);
    v += fx * fy * tap(base, x0 + 1, y0 + 1);
    x[i] = v;
}
