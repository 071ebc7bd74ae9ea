// The weight and bias gradients of a convolution as one implicit GEMM on gemm_core.wgsl
// (split k summed by gemm_reduce.wgsl; no atomics):
// dW[f, c, ki, kj] = Σ_n Σ_oy Σ_ox dy[n, f, oy, ox] · x[n, c, oy·S + ki − P, ox·S + kj − P],
// db[f] = Σ_n Σ_oy Σ_ox dy[n, f, oy, ox].
// GEMM: M = F, N = C·K·K + 1 (columns (c, ki, kj), then one column of ones that yields db),
// K = N·H'·W' (rows (n, oy, ox)), A = dy. x: (N, C, H, W); dy: (N, F, H', W');
// dW (F, C, K, K) and db (F) written to `grads` at conv.a_off and conv.b_off.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return true; }
fn b_n_contiguous() -> bool { return false; }

// The bounds of these loads are branches around them, not the selects of the other products'
// loads, which were slower here (docs/GPU_KERNELS.md, v13).

// dy[n, f, oy, ox] for the row whose dy[n, 0, oy, ox] is at `base`, 0 past the last filter.
fn dy_in(f: u32, base: u32, plane: u32) -> f32 {
    if (f < p.g.m) { return dy[base + f * plane]; }
    return 0.0;
}

// The im2col value at row k (output position `out` = (n, oy, ox)) and column `col` (tap `tap`
// = (c, ki, kj)); 1 in the last column (db), 0 in the padding and past it.
fn x_in(col: u32, out: vec3<u32>, tap: vec3<u32>) -> f32 {
    if (col >= p.g.n) { return 0.0; }
    if (col == p.g.n - 1u) { return 1.0; }
    let i = patch_index(p.conv, out.x, tap.x, out.y, out.z, tap.y, tap.z);
    if (i < 0) { return 0.0; }
    return x[u32(i)];
}

fn load_a4(f: u32, k: u32) -> vec4<f32> {
    let plane = p.conv.ho * p.conv.wo;
    let base = (k / plane) * p.conv.f * plane + k % plane;
    return vec4(dy_in(f, base, plane), dy_in(f + 1u, base, plane), dy_in(f + 2u, base, plane),
                dy_in(f + 3u, base, plane));
}

// Row k's output position and the first column's tap are worked out once; the next three
// taps step from it.
fn load_b4(k: u32, col: u32) -> vec4<f32> {
    let out = position(k, p.conv.ho, p.conv.wo);
    let t0 = position(col, p.conv.k, p.conv.k);
    let t1 = next_position(t0, p.conv.k, p.conv.k);
    let t2 = next_position(t1, p.conv.k, p.conv.k);
    let t3 = next_position(t2, p.conv.k, p.conv.k);
    return vec4(x_in(col, out, t0), x_in(col + 1u, out, t1), x_in(col + 2u, out, t2),
                x_in(col + 3u, out, t3));
}

fn store_c(f: u32, col: u32, v: f32) {
    if (col == p.g.n - 1u) { grads[p.conv.b_off + f] = v; }
    else { grads[p.conv.a_off + f * (p.g.n - 1u) + col] = v; }
}
