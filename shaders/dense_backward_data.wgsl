// The input gradient of a dense layer as a GEMM on gemm_core.wgsl (split k summed by
// gemm_reduce.wgsl): dx[i, j] = Σ_o dy[i, o] · W[o, j]. Each value then goes through the
// backwards of the element-wise layers before the layer that are fused in: a dropout's
// (dropout ≠ 0: ·mask), then an activation's (act ≠ 0: fused_activation_grad(·, a, act), a
// the activation's output).
// GEMM: M = N (examples), N = D_in, K = D_out; A = dy (N, D_out); B = W (D_out, D_in).
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> activation_output: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return true; }
fn b_n_contiguous() -> bool { return true; }

// dy[i, o], 0 past the last example.
fn dy_in(i: u32, o: u32) -> f32 {
    let ok = i < p.g.m;
    return select(0.0, dy[select(0u, i * p.g.k + o, ok)], ok);
}

// W[o, j], 0 past the last input.
fn w_in(o: u32, j: u32) -> f32 {
    let ok = j < p.g.n;
    return select(0.0, params[p.w_off + select(0u, o * p.g.n + j, ok)], ok);
}

fn load_a4(i: u32, o: u32) -> vec4<f32> {
    return vec4(dy_in(i, o), dy_in(i + 1u, o), dy_in(i + 2u, o), dy_in(i + 3u, o));
}

fn load_b4(o: u32, j: u32) -> vec4<f32> {
    return vec4(w_in(o, j), w_in(o, j + 1u), w_in(o, j + 2u), w_in(o, j + 3u));
}

fn store_c(i: u32, j: u32, v: f32) {
    let at = i * p.g.n + j;
    var d = v;
    if (p.dropout != 0u) { d = d * mask[at]; }
    if (p.act != 0u) { d = fused_activation_grad(d, activation_output[at], p.act); }
    dx[at] = d;
}
