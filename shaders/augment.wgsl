// Data augmentation on the device (twin of data::augment, same draws, same formulas):
// x (n, C, H, W) = each gathered image of src warped, or copied when its chance says no.
// u_k = counter_uniform(seed, step, k, b) for image b (PCG hash, bit-identical to the host);
// u_0 < chance warps: a = 1 + (2u_1 − 1)·scale_x, b = 1 + (2u_2 − 1)·scale_y,
// θ = (2u_3 − 1)·rotation_degrees·π/180, z = 1 + (2u_4 − 1)·zoom,
// t = ((2u_5 − 1)·translate_px, (2u_6 − 1)·translate_px); output pixel p samples src
// bilinearly at c + m·(p − c − t), m = [[cos θ/(az), sin θ/(az)], [−sin θ/(bz), cos θ/(bz)]],
// c = ((W − 1)/2, (H − 1)/2), zeros outside.
struct Params {
    n: u32, c: u32, h: u32, w: u32,
    seed: u32, step: u32, chance: f32, scale_x: f32,
    scale_y: f32, rotation_degrees: f32, zoom: f32, translate_px: f32,
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
    let s = sin(theta);
    let co = cos(theta);
    let ia = 1.0 / (sa * z);
    let ib = 1.0 / (sb * z);
    let cx = (f32(p.w) - 1.0) * 0.5;
    let cy = (f32(p.h) - 1.0) * 0.5;
    let dx = px - cx - tx;
    let dy = py - cy - ty;
    let sx = cx + (co * ia) * dx + (s * ia) * dy;
    let sy = cy + (-s * ib) * dx + (co * ib) * dy;
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
