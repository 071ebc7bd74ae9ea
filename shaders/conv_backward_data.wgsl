// The data gradient of a convolution as an implicit GEMM on gemm_core.wgsl (gathered, no
// atomics; split k summed by gemm_reduce.wgsl): dx[n, c, iy, ix] = Σ_f Σ_ki Σ_kj W[f, c, ki, kj] · dy[n, f, oy, ox] over the
// (oy, ox) with oy·S + ki − P = iy and ox·S + kj − P = ix inside the output.
// GEMM: M = C, N = N·H·W (columns (n, iy, ix)), K = F·K·K (rows (f, ki, kj)); load_b4 reads dy,
// 0 where no output position maps onto the column. dy: (N, F, H', W'); W in `params`;
// dx: (N, C, H, W). Each value then goes through the backwards of the element-wise layers
// before the convolution that are fused in: a dropout's (dropout ≠ 0: ·mask), then an
// activation's (act ≠ 0: fused_activation_grad(·, a, act), a the activation's output).
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> activation_output: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

fn a_k_contiguous() -> bool { return true; }
fn b_n_contiguous() -> bool { return true; }

// The bounds of these loads are branches around them, not the selects of the other products'
// loads, which were slower here (docs/GPU_KERNELS.md, v13).

// W[f, c, ki, kj] for the row whose W[f, 0, ki, kj] is at `base`, 0 past the last channel.
fn w_in(c: u32, base: u32, kk: u32) -> f32 {
    if (c < p.g.m) { return params[base + c * kk]; }
    return 0.0;
}

// dy at the output position that reads input position `at` = (n, iy, ix) through tap `tap` =
// (f, ki, kj) — iy + P − ki = oy·S —, 0 where there is none or past the last column.
fn dy_in(col: u32, at: vec3<u32>, tap: vec3<u32>) -> f32 {
    if (col >= p.g.n) { return 0.0; }
    var oy = i32(at.y + p.conv.pad) - i32(tap.y);
    var ox = i32(at.z + p.conv.pad) - i32(tap.z);
    if (p.conv.s != 1u) { // stride 1 (every preset) needs no division
        let s = i32(p.conv.s);
        if (oy % s != 0 || ox % s != 0) { return 0.0; }
        oy /= s;
        ox /= s;
    }
    if (oy < 0 || ox < 0 || u32(oy) >= p.conv.ho || u32(ox) >= p.conv.wo) { return 0.0; }
    return dy[((at.x * p.conv.f + tap.x) * p.conv.ho + u32(oy)) * p.conv.wo + u32(ox)];
}

fn load_a4(c: u32, k: u32) -> vec4<f32> {
    let kk = p.conv.k * p.conv.k;
    let base = p.conv.a_off + (k / kk) * p.conv.c * kk + k % kk;
    return vec4(w_in(c, base, kk), w_in(c + 1u, base, kk), w_in(c + 2u, base, kk),
                w_in(c + 3u, base, kk));
}

// Row k's tap and the first column's input position are worked out once; the next three
// columns step from it.
fn load_b4(k: u32, col: u32) -> vec4<f32> {
    let tap = position(k, p.conv.k, p.conv.k);
    let i0 = position(col, p.conv.h, p.conv.w);
    let i1 = next_position(i0, p.conv.h, p.conv.w);
    let i2 = next_position(i1, p.conv.h, p.conv.w);
    let i3 = next_position(i2, p.conv.h, p.conv.w);
    return vec4(dy_in(col, i0, tap), dy_in(col + 1u, i1, tap), dy_in(col + 2u, i2, tap),
                dy_in(col + 3u, i3, tap));
}

fn store_c(c: u32, col: u32, v: f32) {
    let plane = p.conv.h * p.conv.w;
    let i = ((col / plane) * p.conv.c + c) * plane + col % plane;
    var d = v;
    if (p.dropout != 0u) { d = d * mask[i]; }
    if (p.act != 0u) { d = fused_activation_grad(d, activation_output[i], p.act); }
    dx[i] = d;
}
