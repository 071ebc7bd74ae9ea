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

fn load_a(f: u32, k: u32) -> f32 {
    let plane = p.conv.ho * p.conv.wo;
    return dy[((k / plane) * p.conv.f + f) * plane + k % plane];
}

fn load_b(k: u32, col: u32) -> f32 {
    if (col == p.g.n - 1u) { return 1.0; }
    let kk = p.conv.k * p.conv.k;
    let r = col % kk;
    let plane = p.conv.ho * p.conv.wo;
    let q = k % plane;
    let i = patch_index(p.conv, k / plane, col / kk, q / p.conv.wo, q % p.conv.wo, r / p.conv.k, r % p.conv.k);
    if (i < 0) { return 0.0; }
    return x[u32(i)];
}

fn store_c(f: u32, col: u32, v: f32) {
    if (col == p.g.n - 1u) { grads[p.conv.b_off + f] = v; }
    else { grads[p.conv.a_off + f * (p.g.n - 1u) + col] = v; }
}
