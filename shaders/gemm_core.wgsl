// The register-tiled GEMM shared by matmul and the three dense and three convolution products
// (appended to the op's own file, which supplies the operands and the output):
//   C (M, N) = Σ_k A(m, k) · B(k, n),  k in this workgroup's split of [0, K).
// The op's file (or the layer kind's *_common.wgsl before it) defines `p: Params`, whose
// first field `g: Gemm` (common.wgsl) holds the sizes, and
//   load_a4(m, k)                    A(m..m+3, k), 0 in the lanes past row M − 1;
//   load_b4(k, n)                    B(k, n..n+3), 0 in the lanes past column N − 1 (both
//                                    called only with k < K: four neighbours at once, so an
//                                    op whose indices need divisions works them out once);
//   a_k_contiguous(), b_n_contiguous() which index runs along memory, so loads coalesce;
//   store_c(m, n, v)                 what happens to each finished value of C;
//   partials                         the scratch buffer a split k's partial sums go to.
// A workgroup of (BM/8)·(BN/8) invocations (256 for 128 x 128 blocks) owns a BM x BN block of C;
// each invocation owns 8 x 8 values: rows 4·ty + r and BM/2 + 4·ty + r, columns 4·tx + c and
// BN/2 + 4·tx + c (r, c < 4), held in 16 named vec4 registers (no register array indexed by a
// loop counter: v2 in docs/GPU_KERNELS.md showed those end up in memory). Per step of BK
// along k the block's A and B slices are staged in workgroup memory as vec4 rows (ROW_PAD
// below); then each invocation reads four vec4 per k and does 64 fused multiply-adds. BM is
// 128 as written; the host rewrites it to 64 for products of at most 64 rows (128 invocations).
// (A line marked `// host: NAME` is one the host replaces whole: src/gpu/kernel/compile.rs.)
// Workgroup (x, y, z) = (column block, row block, split of k).
const BM: u32 = 128u; // host: BM
const BN: u32 = 128u;
const BK: u32 = 16u;
const TX: u32 = BN / 8u; // invocations along n
const THREADS: u32 = (BM / 8u) * TX;
// Staged rows are padded by one vec4 against bank conflicts while staging. On an adapter with
// less workgroup memory than the padded slices take (16,896 bytes at BM 128; WebGPU guarantees
// 16,384), the host compiles this file with ROW_PAD = 0: rows unpadded, and each row's vec4s
// swizzled instead (a little slower: docs/GPU_KERNELS.md, "Choices in the code").
const ROW_PAD: u32 = 1u; // host: ROW_PAD
const ROW_A: u32 = BM / 4u + ROW_PAD; // a staged row of A: BM / 4 vec4 and the padding
const ROW_B: u32 = BN / 4u + ROW_PAD;

var<workgroup> a_tile: array<vec4<f32>, BK * ROW_A>;
var<workgroup> b_tile: array<vec4<f32>, BK * ROW_B>;

// A(m..m+3, k), or 0 past this workgroup's split of k (k_end ≥ 1: the host refuses K = 0 and
// leaves no split empty): a select around a load from a clamped index, not a branch around
// the load, as in the ops' loads of matmul, the dense products and the convolution's forward
// (faster: docs/GPU_KERNELS.md, v12).
fn a4_at(m: u32, k: u32, k_end: u32) -> vec4<f32> {
    return select(vec4(0.0), load_a4(m, min(k, k_end - 1u)), k < k_end);
}

// B(k, n..n+3), or 0 past this workgroup's split of k.
fn b4_at(k: u32, n: u32, k_end: u32) -> vec4<f32> {
    return select(vec4(0.0), load_b4(min(k, k_end - 1u), n), k < k_end);
}

// Staging: per k-step the block's A slice (BK x BM) and B slice (BK x BN) go to workgroup
// memory as vec4s of four neighbouring rows (A) or columns (B) at one k. Vec4 g of a slice
// is staged by invocation g % THREADS, as its slot g / THREADS; slots run along k when the
// operand is contiguous along k, so that neighbouring invocations read neighbouring words.
const A_SLOTS: u32 = BM * BK / 4u / THREADS; // vec4s of A each invocation stages per step
const B_SLOTS: u32 = BN * BK / 4u / THREADS; // (1 to 4: the blocks keep these exact)

// One k-step's operands as one invocation loads them (slots past A_SLOTS, B_SLOTS unused).
struct Staged {
    a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
    b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>,
}

// Where vec4 g of the A slice lives: (k within the step, vec4 index along m).
fn a_place(g: u32) -> vec2<u32> {
    if (a_k_contiguous()) { return vec2(g % BK, g / BK); }
    return vec2(g / (BM / 4u), g % (BM / 4u));
}

// Where vec4 g of the B slice lives: (k within the step, vec4 index along n).
fn b_place(g: u32) -> vec2<u32> {
    if (b_n_contiguous()) { return vec2(g / (BN / 4u), g % (BN / 4u)); }
    return vec2(g % BK, g / BK);
}

// An operand as the product takes it: as loaded, or, for networks with `matmul_precision
// bf16`, rounded to bfloat16 (the host rewrites this line: src/gpu/kernel/compile.rs).
fn operand(v: vec4<f32>) -> vec4<f32> { return v; } // host: operand

fn load_a(g: u32, m0: u32, k0: u32, k_end: u32) -> vec4<f32> {
    let at = a_place(g);
    return operand(a4_at(m0 + 4u * at.y, k0 + at.x, k_end));
}

fn load_b(g: u32, n0: u32, k0: u32, k_end: u32) -> vec4<f32> {
    let at = b_place(g);
    return operand(b4_at(k0 + at.x, n0 + 4u * at.y, k_end));
}

// Where vec4 q of staged row kk lives: at q in a padded row. For unpadded rows the host
// rewrites this to q ^ (kk mod 8), so that eight invocations staging eight successive k of
// one column write eight different banks (q ^ s stays in q's aligned group of eight, so each
// half of a row stays in its half).
fn swizzled(kk: u32, q: u32) -> u32 { return q; } // host: swizzled
fn a_index(kk: u32, q: u32) -> u32 { return kk * ROW_A + swizzled(kk, q); }
fn b_index(kk: u32, q: u32) -> u32 { return kk * ROW_B + swizzled(kk, q); }

fn store_a(g: u32, v: vec4<f32>) { let at = a_place(g); a_tile[a_index(at.x, at.y)] = v; }
fn store_b(g: u32, v: vec4<f32>) { let at = b_place(g); b_tile[b_index(at.x, at.y)] = v; }

// The k-step at k0: this invocation's slots of both slices, every load issued before any use.
fn load_step(lid: u32, m0: u32, n0: u32, k0: u32, k_end: u32) -> Staged {
    var s: Staged;
    s.a0 = load_a(lid, m0, k0, k_end);
    if (A_SLOTS > 1u) { s.a1 = load_a(lid + THREADS, m0, k0, k_end); }
    if (A_SLOTS > 2u) { s.a2 = load_a(lid + 2u * THREADS, m0, k0, k_end); }
    if (A_SLOTS > 3u) { s.a3 = load_a(lid + 3u * THREADS, m0, k0, k_end); }
    s.b0 = load_b(lid, n0, k0, k_end);
    if (B_SLOTS > 1u) { s.b1 = load_b(lid + THREADS, n0, k0, k_end); }
    if (B_SLOTS > 2u) { s.b2 = load_b(lid + 2u * THREADS, n0, k0, k_end); }
    if (B_SLOTS > 3u) { s.b3 = load_b(lid + 3u * THREADS, n0, k0, k_end); }
    return s;
}

// Writes this invocation's slots to workgroup memory (each invocation whole vec4s: no two
// write parts of one vec4, which WGSL would count as a race).
fn store_step(lid: u32, s: Staged) {
    store_a(lid, s.a0);
    if (A_SLOTS > 1u) { store_a(lid + THREADS, s.a1); }
    if (A_SLOTS > 2u) { store_a(lid + 2u * THREADS, s.a2); }
    if (A_SLOTS > 3u) { store_a(lid + 3u * THREADS, s.a3); }
    store_b(lid, s.b0);
    if (B_SLOTS > 1u) { store_b(lid + THREADS, s.b1); }
    if (B_SLOTS > 2u) { store_b(lid + 2u * THREADS, s.b2); }
    if (B_SLOTS > 3u) { store_b(lid + 3u * THREADS, s.b3); }
}

// A finished value: stored when k is not split, else kept as split `split`'s partial sum
// (gemm_reduce.wgsl adds them up and stores the sum).
fn epilogue(split: u32, m: u32, n: u32, v: f32) {
    if (p.g.k_chunk >= p.g.k) { store_c(m, n, v); }
    else { partials[(split * p.g.m + m) * p.g.n + n] = v; }
}

// Hands C(m, n) to the epilogue when it is inside the matrix.
fn finish(split: u32, m: u32, n: u32, v: f32) {
    if (m < p.g.m && n < p.g.n) { epilogue(split, m, n, v); }
}

// Row m's eight finished values: columns n..n+3 and n+BN/2..n+BN/2+3 (components named, not
// indexed by a loop counter, so the vectors stay in registers).
fn finish_row(split: u32, m: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let n2 = n + BN / 2u;
    finish(split, m, n, lo.x); finish(split, m, n + 1u, lo.y);
    finish(split, m, n + 2u, lo.z); finish(split, m, n + 3u, lo.w);
    finish(split, m, n2, hi.x); finish(split, m, n2 + 1u, hi.y);
    finish(split, m, n2 + 2u, hi.z); finish(split, m, n2 + 3u, hi.w);
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % TX;
    let ty = lid / TX;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let k_begin = wid.z * p.g.k_chunk;
    let k_end = min(p.g.k, k_begin + p.g.k_chunk);
    // c<row group><row><column half>: rows 4·ty + row (group 0) or BM/2 + 4·ty + row (group 1).
    var c000 = vec4(0.0); var c001 = vec4(0.0); var c010 = vec4(0.0); var c011 = vec4(0.0);
    var c020 = vec4(0.0); var c021 = vec4(0.0); var c030 = vec4(0.0); var c031 = vec4(0.0);
    var c100 = vec4(0.0); var c101 = vec4(0.0); var c110 = vec4(0.0); var c111 = vec4(0.0);
    var c120 = vec4(0.0); var c121 = vec4(0.0); var c130 = vec4(0.0); var c131 = vec4(0.0);
    // All loads of a k-step are issued before any is stored: one round trip to memory per
    // step, not one per staged vec4. (Issuing them before the step before does its arithmetic,
    // into registers, was slower: docs/GPU_KERNELS.md, v12.)
    var staged = load_step(lid, m0, n0, k_begin, k_end);
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        store_step(lid, staged);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = a_tile[a_index(kk, ty)];
            let a1 = a_tile[a_index(kk, BM / 8u + ty)];
            let b0 = b_tile[b_index(kk, tx)];
            let b1 = b_tile[b_index(kk, BN / 8u + tx)];
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
        staged = load_step(lid, m0, n0, k0 + BK, k_end);
    }
    let m = m0 + 4u * ty;
    let n = n0 + 4u * tx;
    let m2 = m + BM / 2u;
    finish_row(wid.z, m, n, c000, c001);
    finish_row(wid.z, m + 1u, n, c010, c011);
    finish_row(wid.z, m + 2u, n, c020, c021);
    finish_row(wid.z, m + 3u, n, c030, c031);
    finish_row(wid.z, m2, n, c100, c101);
    finish_row(wid.z, m2 + 1u, n, c110, c111);
    finish_row(wid.z, m2 + 2u, n, c120, c121);
    finish_row(wid.z, m2 + 3u, n, c130, c131);
}
