// The plain matrix product on the tiled GEMM of gemm_core.wgsl (split k summed by
// gemm_reduce.wgsl): C (M, N) = op(A) (M, K) · op(B) (K, N), where
// op(A) = A stored (M, K), or Aᵀ with A stored (K, M) when TRANS_A is set;
// op(B) = B stored (K, N), or Bᵀ with B stored (N, K) when TRANS_B is set.
// The layers use their own files on the same core (dense_*.wgsl, conv_*.wgsl); this one is
// measured by the benchmarks' size ladder and checked against a plain loop in the tests.
struct Params { g: Gemm, flags: u32, a_off: u32, b_off: u32, c_off: u32 }
const TRANS_A: u32 = 1u;
const TRANS_B: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return (p.flags & TRANS_A) == 0u; }
fn b_n_contiguous() -> bool { return (p.flags & TRANS_B) == 0u; }

// op(A)(m, k), 0 past row M − 1 (selected, not branched: see gemm_core.wgsl).
fn a_in(m: u32, k: u32) -> f32 {
    let ok = m < p.g.m;
    let i = select(m * p.g.k + k, k * p.g.m + m, (p.flags & TRANS_A) != 0u);
    return select(0.0, a[p.a_off + select(0u, i, ok)], ok);
}

// op(B)(k, n), 0 past column N − 1.
fn b_in(k: u32, n: u32) -> f32 {
    let ok = n < p.g.n;
    let i = select(k * p.g.n + n, n * p.g.k + k, (p.flags & TRANS_B) != 0u);
    return select(0.0, b[p.b_off + select(0u, i, ok)], ok);
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
    return vec4(a_in(m, k), a_in(m + 1u, k), a_in(m + 2u, k), a_in(m + 3u, k));
}

fn load_b4(k: u32, n: u32) -> vec4<f32> {
    return vec4(b_in(k, n), b_in(k, n + 1u), b_in(k, n + 2u), b_in(k, n + 3u));
}

fn store_c(m: u32, n: u32, v: f32) { c[p.c_off + m * p.g.n + n] = v; }
