// Convolution (cross-correlation) as an implicit GEMM on gemm_core.wgsl (split k summed by
// gemm_reduce.wgsl) — the im2col matrix is never stored, load_b4 reads it straight from x:
// y[n, f, oy, ox] = act(b[f] + Σ_c Σ_ki Σ_kj W[f, c, ki, kj] · x[n, c, oy·S + ki − P, ox·S + kj − P])
// (x is 0 outside the image; `act` the fused activation of common.wgsl).
// GEMM: M = F, N = N·H'·W' (columns (n, oy, ox)), K = C·K·K (rows (c, ki, kj)), A = W as
// stored (F, C·K·K). x: (N, C, H, W); W, b in `params`; y: (N, F, H', W').
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return true; }
fn b_n_contiguous() -> bool { return true; }

// W[f, k], 0 past the last filter.
fn w_in(f: u32, k: u32) -> f32 {
    let ok = f < p.g.m;
    return select(0.0, params[p.conv.a_off + select(0u, f * p.g.k + k, ok)], ok);
}

// The im2col value at row `tap` = (c, ki, kj) and column `col`, whose output position is
// `out` = (n, oy, ox): 0 in the padding and past the last column.
fn x_in(col: u32, out: vec3<u32>, tap: vec3<u32>) -> f32 {
    let i = patch_index(p.conv, out.x, tap.x, out.y, out.z, tap.y, tap.z);
    let ok = (col < p.g.n) & (i >= 0);
    return select(0.0, x[select(0u, u32(i), ok)], ok);
}

fn load_a4(f: u32, k: u32) -> vec4<f32> {
    return vec4(w_in(f, k), w_in(f + 1u, k), w_in(f + 2u, k), w_in(f + 3u, k));
}

// Row k's tap and the first column's output position are worked out once; the next three
// columns step from it.
fn load_b4(k: u32, col: u32) -> vec4<f32> {
    let tap = position(k, p.conv.k, p.conv.k);
    let o0 = position(col, p.conv.ho, p.conv.wo);
    let o1 = next_position(o0, p.conv.ho, p.conv.wo);
    let o2 = next_position(o1, p.conv.ho, p.conv.wo);
    let o3 = next_position(o2, p.conv.ho, p.conv.wo);
    return vec4(x_in(col, o0, tap), x_in(col + 1u, o1, tap), x_in(col + 2u, o2, tap),
                x_in(col + 3u, o3, tap));
}

fn store_c(f: u32, col: u32, v: f32) {
    let plane = p.conv.ho * p.conv.wo;
    let n = col / plane;
    y[(n * p.conv.f + f) * plane + col % plane] = fused_activation(v + params[p.conv.b_off + f], p.act);
}
