// Convolution (cross-correlation) as an implicit GEMM on gemm_core.wgsl (split k summed by
// gemm_reduce.wgsl) — the im2col matrix is never stored, load_b reads it straight from x:
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

fn load_a(f: u32, k: u32) -> f32 { return params[p.conv.a_off + f * p.g.k + k]; }

fn load_b(k: u32, col: u32) -> f32 {
    let kk = p.conv.k * p.conv.k;
    let c = k / kk;
    let r = k % kk;
    let plane = p.conv.ho * p.conv.wo;
    let q = col % plane;
    let i = patch_index(p.conv, col / plane, c, q / p.conv.wo, q % p.conv.wo, r / p.conv.k, r % p.conv.k);
    if (i < 0) { return 0.0; }
    return x[u32(i)];
}

fn store_c(f: u32, col: u32, v: f32) {
    let plane = p.conv.ho * p.conv.wo;
    let n = col / plane;
    y[(n * p.conv.f + f) * plane + col % plane] = fused_activation(v + params[p.conv.b_off + f], p.act);
}
