// Dense forward as a GEMM on gemm_core.wgsl (split k summed by gemm_reduce.wgsl) with bias and
// activation in its epilogue: y[i, o] = act(b[o] + Σ_j x[i, j] · W[o, j]).
// GEMM: M = N (examples), N = D_out, K = D_in; A = x (N, D_in); B(j, o) = W[o, j].
// x: (N, D_in); W, b in `params`; y: (N, D_out).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return true; }
fn b_n_contiguous() -> bool { return false; }

// x[i, j], 0 past the last example.
fn x_in(i: u32, j: u32) -> f32 {
    let ok = i < p.g.m;
    return select(0.0, x[select(0u, i * p.g.k + j, ok)], ok);
}

// W[o, j], 0 past the last output.
fn w_in(j: u32, o: u32) -> f32 {
    let ok = o < p.g.n;
    return select(0.0, params[p.w_off + select(0u, o * p.g.k + j, ok)], ok);
}

fn load_a4(i: u32, j: u32) -> vec4<f32> {
    return vec4(x_in(i, j), x_in(i + 1u, j), x_in(i + 2u, j), x_in(i + 3u, j));
}

fn load_b4(j: u32, o: u32) -> vec4<f32> {
    return vec4(w_in(j, o), w_in(j, o + 1u), w_in(j, o + 2u), w_in(j, o + 3u));
}

fn store_c(i: u32, o: u32, v: f32) {
    y[i * p.g.n + o] = fused_activation(v + params[p.b_off + o], p.act);
}
