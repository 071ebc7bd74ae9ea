// The register-tiled GEMM shared by matmul and the three convolution products (appended to
// the op's own file, which supplies the operands and the output):
//   C (M, N) = Σ_k A(m, k) · B(k, n),  k in this workgroup's split of [0, K).
// The op's file defines `p: Params`, whose first field `g: Gemm` (common.wgsl) holds the
// sizes, and
//   load_a(m, k), load_b(k, n)       the operands, called only inside the matrix;
//   a_k_contiguous(), b_n_contiguous() which index runs along memory, so loads coalesce;
//   epilogue(split, m, n, v)         what happens to each finished value.
// A workgroup of 64 invocations (8 x 8) owns a 64 x 64 block of C; each invocation owns 8 x 8
// values: rows 4·ty + r and 32 + 4·ty + r, columns 4·tx + c and 32 + 4·tx + c (r, c < 4), held
// in 16 named vec4 registers (no register array, so nothing can spill to local memory). Per
// step of BK along k the block's A and B slices are staged in workgroup memory as vec4 rows
// (padded by one vec4 against bank conflicts while staging); then each invocation reads four
// vec4 per k and does 64 fused multiply-adds.
// Workgroup (x, y, z) = (column block, row block, split of k).
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const ROW_VEC4: u32 = 17u; // a staged row: BM / 4 vec4 plus one of padding

var<workgroup> a_tile: array<vec4<f32>, 272>; // BK · ROW_VEC4
var<workgroup> b_tile: array<vec4<f32>, 272>;

// Hands row m's eight finished values (columns n..n+3 and n+32..n+35) to the epilogue.
fn finish_row(split: u32, m: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (m >= p.g.m) { return; }
    for (var c = 0u; c < 4u; c++) {
        if (n + c < p.g.n) { epilogue(split, m, n + c, lo[c]); }
        if (n + 32u + c < p.g.n) { epilogue(split, m, n + 32u + c, hi[c]); }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 8u;
    let ty = lid / 8u;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let k_begin = wid.z * p.g.k_chunk;
    let k_end = min(p.g.k, k_begin + p.g.k_chunk);
    let a_along_k = a_k_contiguous();
    let b_along_n = b_n_contiguous();
    // c<row group><row><column half>: rows 4·ty + row (group 0) or 32 + 4·ty + row (group 1).
    var c000 = vec4(0.0); var c001 = vec4(0.0); var c010 = vec4(0.0); var c011 = vec4(0.0);
    var c020 = vec4(0.0); var c021 = vec4(0.0); var c030 = vec4(0.0); var c031 = vec4(0.0);
    var c100 = vec4(0.0); var c101 = vec4(0.0); var c110 = vec4(0.0); var c111 = vec4(0.0);
    var c120 = vec4(0.0); var c121 = vec4(0.0); var c130 = vec4(0.0); var c131 = vec4(0.0);
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        for (var e = lid; e < BM * BK; e += 64u) {
            var mm = e % BM;
            var kk = e / BM;
            if (a_along_k) { kk = e % BK; mm = e / BK; }
            let m = m0 + mm;
            let k = k0 + kk;
            var v = 0.0;
            if (m < p.g.m && k < k_end) { v = load_a(m, k); }
            a_tile[kk * ROW_VEC4 + mm / 4u][mm % 4u] = v;
        }
        for (var e = lid; e < BN * BK; e += 64u) {
            var nn = e % BN;
            var kk = e / BN;
            if (!b_along_n) { kk = e % BK; nn = e / BK; }
            let n = n0 + nn;
            let k = k0 + kk;
            var v = 0.0;
            if (n < p.g.n && k < k_end) { v = load_b(k, n); }
            b_tile[kk * ROW_VEC4 + nn / 4u][nn % 4u] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = a_tile[kk * ROW_VEC4 + ty];
            let a1 = a_tile[kk * ROW_VEC4 + 8u + ty];
            let b0 = b_tile[kk * ROW_VEC4 + tx];
            let b1 = b_tile[kk * ROW_VEC4 + 8u + tx];
            c000 = fma(vec4(a0.x), b0, c000); c001 = fma(vec4(a0.x), b1, c001);
            c010 = fma(vec4(a0.y), b0, c010); c011 = fma(vec4(a0.y), b1, c011);
            c020 = fma(vec4(a0.z), b0, c020); c021 = fma(vec4(a0.z), b1, c021);
            c030 = fma(vec4(a0.w), b0, c030); c031 = fma(vec4(a0.w), b1, c031);
            c100 = fma(vec4(a1.x), b0, c100); c101 = fma(vec4(a1.x), b1, c101);
            c110 = fma(vec4(a1.y), b0, c110); c111 = fma(vec4(a1.y), b1, c111);
            c120 = fma(vec4(a1.z), b0, c120); c121 = fma(vec4(a1.z), b1, c121);
            c130 = fma(vec4(a1.w), b0, c130); c131 = fma(vec4(a1.w), b1, c131);
        }
        workgroupBarrier();
    }
    let m = m0 + 4u * ty;
    let n = n0 + 4u * tx;
    finish_row(wid.z, m, n, c000, c001);
    finish_row(wid.z, m + 1u, n, c010, c011);
    finish_row(wid.z, m + 2u, n, c020, c021);
    finish_row(wid.z, m + 3u, n, c030, c031);
    finish_row(wid.z, m + 32u, n, c100, c101);
    finish_row(wid.z, m + 33u, n, c110, c111);
    finish_row(wid.z, m + 34u, n, c120, c121);
    finish_row(wid.z, m + 35u, n, c130, c131);
}
