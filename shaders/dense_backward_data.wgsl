// The input gradient of a dense layer as a GEMM on gemm_core.wgsl (split k summed by
// gemm_reduce.wgsl): dx[i, j] = Σ_o dy[i, o] · W[o, j]; with an activation before the layer
// fused in (act ≠ 0), each value then goes through its backward:
// dx = fused_activation_grad(sum, x, act), x the layer's input (that activation's output).
// GEMM: M = N (examples), N = D_in, K = D_out; A = dy (N, D_out); B = W (D_out, D_in).
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return true; }
fn b_n_contiguous() -> bool { return true; }

fn load_a(i: u32, o: u32) -> f32 { return dy[i * p.g.k + o]; }

fn load_b(o: u32, j: u32) -> f32 { return params[p.w_off + o * p.g.n + j]; }

fn store_c(i: u32, j: u32, v: f32) {
    let at = i * p.g.n + j;
    var d = v;
    if (p.act != 0u) { d = fused_activation_grad(v, x[at], p.act); }
    dx[at] = d;
}
