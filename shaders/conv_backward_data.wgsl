// The data gradient of a convolution as an implicit GEMM on gemm_core.wgsl (gathered, no
// atomics; split k summed by gemm_reduce.wgsl): dx[n, c, iy, ix] = Σ_f Σ_ki Σ_kj W[f, c, ki, kj] · dy[n, f, oy, ox] over the
// (oy, ox) with oy·S + ki − P = iy and ox·S + kj − P = ix inside the output.
// GEMM: M = C, N = N·H·W (columns (n, iy, ix)), K = F·K·K (rows (f, ki, kj)); load_b reads dy,
// 0 where no output position maps onto the column. dy: (N, F, H', W'); W in `params`;
// dx: (N, C, H, W). With an activation before the convolution fused in (act ≠ 0), each value
// goes through its backward: dx = fused_activation_grad(sum, x, act), x the convolution's
// input (that activation's output).
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return true; }
fn b_n_contiguous() -> bool { return true; }

fn load_a(c: u32, k: u32) -> f32 {
    let kk = p.conv.k * p.conv.k;
    return params[p.conv.a_off + ((k / kk) * p.conv.c + c) * kk + k % kk];
}

fn load_b(k: u32, col: u32) -> f32 {
    let kk = p.conv.k * p.conv.k;
    let f = k / kk;
    let ki = (k % kk) / p.conv.k;
    let kj = k % p.conv.k;
    let plane = p.conv.h * p.conv.w;
    let q = col % plane;
    // The output position that reads input (iy, ix) through tap (ki, kj): iy + P − ki = oy·S.
    var oy = i32(q / p.conv.w + p.conv.pad) - i32(ki);
    var ox = i32(q % p.conv.w + p.conv.pad) - i32(kj);
    if (p.conv.s != 1u) { // stride 1 (every preset) needs no division
        let s = i32(p.conv.s);
        if (oy % s != 0 || ox % s != 0) { return 0.0; }
        oy /= s;
        ox /= s;
    }
    if (oy < 0 || ox < 0 || u32(oy) >= p.conv.ho || u32(ox) >= p.conv.wo) { return 0.0; }
    return dy[(((col / plane) * p.conv.f + f) * p.conv.ho + u32(oy)) * p.conv.wo + u32(ox)];
}

fn store_c(c: u32, col: u32, v: f32) {
    let plane = p.conv.h * p.conv.w;
    let i = ((col / plane) * p.conv.c + c) * plane + col % plane;
    var d = v;
    if (p.act != 0u) { d = fused_activation_grad(v, x[i], p.act); }
    dx[i] = d;
}
