// The weight and bias gradients of a dense layer as one GEMM on gemm_core.wgsl (split k
// summed by gemm_reduce.wgsl): dW[o, j] = Σ_i dy[i, o] · x[i, j], db[o] = Σ_i dy[i, o].
// GEMM: M = D_out, N = D_in + 1 (the columns of x, then one column of ones that yields db),
// K = N (examples); A(o, i) = dy[i, o]. x: (N, D_in); dy: (N, D_out); dW and db written to
// `grads` at w_off and b_off.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return false; }
fn b_n_contiguous() -> bool { return true; }

// dy[i, o], 0 past the last output.
fn dy_in(o: u32, i: u32) -> f32 {
    let ok = o < p.g.m;
    return select(0.0, dy[select(0u, i * p.g.m + o, ok)], ok);
}

// x[i, j], then 1 in the column after the last input, 0 beyond.
fn x_in(i: u32, j: u32) -> f32 {
    let ok = j + 1u < p.g.n;
    let past = select(0.0, 1.0, j + 1u == p.g.n); // the ones column, or 0 past it
    return select(past, x[select(0u, i * (p.g.n - 1u) + j, ok)], ok);
}

fn load_a4(o: u32, i: u32) -> vec4<f32> {
    return vec4(dy_in(o, i), dy_in(o + 1u, i), dy_in(o + 2u, i), dy_in(o + 3u, i));
}

fn load_b4(i: u32, j: u32) -> vec4<f32> {
    return vec4(x_in(i, j), x_in(i, j + 1u), x_in(i, j + 2u), x_in(i, j + 3u));
}

fn store_c(o: u32, j: u32, v: f32) {
    if (j == p.g.n - 1u) { grads[p.b_off + o] = v; }
    else { grads[p.w_off + o * (p.g.n - 1u) + j] = v; }
}
