//! A GEMM with bfloat16 operands and float32 sums: `C (m×n) = bf16(A) (m×k) · bf16(B) (k×n) +
//! beta·C`, where `bf16(x)` rounds a float32 to the nearest bfloat16 (8 bits of mantissa, ties
//! to even) and every product is added in float32.
//!
//! On processors with AVX512-BF16 (AMD Zen 4 and later, Intel Cooper Lake and Sapphire Rapids
//! and later) `vdpbf16ps` does two of these multiply-adds per float32 lane, twice the work of a
//! float32 FMA per instruction: products of [`NR`] columns or more run on the kernel below.
//! Elsewhere (other processors, narrower products) the operands are rounded into float32
//! copies and multiplied by the float32 GEMM: the same products (a product of two bfloat16s is
//! exact in float32), summed in another order.
//!
//! Layout: `A` is packed into rows of bfloat16 pairs `(A[i][2p], A[i][2p+1])`, one `u32` each,
//! padded to [`MR`] rows; `B` into panels of [`NR`] columns, each pair row `p` holding
//! `(B[2p][j], B[2p+1][j])` for the panel's columns `j`. The kernel keeps an [`MR`] x [`NR`]
//! block of `C` in registers (24 of the 32 vector registers) and, per pair, broadcasts one
//! row's pair against the panel's pair row.

use super::gemm::{Mat, gemm};
use std::cell::RefCell;

/// Rows of `C` the kernel computes at once.
pub const MR: usize = 12;
/// Columns of `C` the kernel computes at once (two 512-bit registers of float32).
pub const NR: usize = 32;

/// The bfloat16 nearest to `x` (ties to even), as its 16 bits; NaN stays NaN. Branch-free,
/// so that loops of it vectorise.
pub fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16;
    // A NaN keeps its sign and top payload bits and gets the quiet bit, so that rounding
    // cannot carry it into an infinity.
    let quiet_nan = (bits >> 16) | 0x40;
    let is_nan = bits & 0x7FFF_FFFF > 0x7F80_0000;
    (if is_nan { quiet_nan } else { rounded }) as u16
}

/// `x` rounded to the nearest bfloat16 (ties to even), back as a float32.
pub fn round_to_bf16(x: f32) -> f32 {
    f32::from_bits((bf16_bits(x) as u32) << 16)
}

/// Two bfloat16s in one `u32`: `lo` in the low half, as `vdpbf16ps` pairs them.
fn pair(lo: f32, hi: f32) -> u32 {
    bf16_bits(lo) as u32 | (bf16_bits(hi) as u32) << 16
}

thread_local! {
    /// Buffers kept per thread, so that a GEMM allocates only when it needs more: `A` and `B`
    /// packed for the kernel, and rounded row-major copies for the float32 GEMM.
    static PACKED_A: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    static PACKED_B: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    static ROUNDED_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static ROUNDED_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `C (m×n) = bf16(A) (m×k) · bf16(B) (k×n) + beta·C`, `C` row-major with `n` columns.
/// Panics if an operand is too short for its shape (an internal bug, never user input).
pub fn gemm_bf16(m: usize, k: usize, n: usize, a: Mat, b: Mat, beta: f32, c: &mut [f32]) {
    check_bounds(m, k, n, &a, &b, c);
    if m == 0 || n == 0 {
        return;
    }
    if uses_kernel(k, n) {
        PACKED_A.with_borrow_mut(|pa| {
            pack_a(m, k, &a, pa);
            multiply_pairs(m, k, n, pa, &b, beta, c);
        });
    } else {
        ROUNDED_A.with_borrow_mut(|ra| {
            round_into(m, k, &a, ra);
            multiply_rounded(m, k, n, ra, &b, beta, c);
        });
    }
}

/// `bf16(A) (m×k)` prepared once for many products `C = bf16(A)·bf16(B) + beta·C` of `n`
/// columns each (a layer's weights against each image of a batch), in the form
/// [`gemm_bf16`] would give them: pairs for the AVX512-BF16 kernel, or a rounded copy.
pub struct PackedA {
    m: usize,
    k: usize,
    n: usize,
    pairs: Vec<u32>,
    rounded: Vec<f32>,
}

impl PackedA {
    /// Rounds and packs `A (m×k)` for products of `n` columns. Panics if `a` is too short.
    pub fn new(m: usize, k: usize, n: usize, a: Mat) -> PackedA {
        check_operand(m, k, &a, "A");
        let (mut pairs, mut rounded) = (Vec::new(), Vec::new());
        if m > 0 && uses_kernel(k, n) {
            pack_a(m, k, &a, &mut pairs);
        } else {
            round_into(m, k, &a, &mut rounded);
        }
        PackedA {
            m,
            k,
            n,
            pairs,
            rounded,
        }
    }

    /// `C (m×n) = bf16(A)·bf16(B) (k×n) + beta·C`, the `n` this was packed for. Panics if `B`
    /// or `C` is too short.
    pub fn gemm(&self, b: Mat, beta: f32, c: &mut [f32]) {
        let (m, k, n) = (self.m, self.k, self.n);
        check_operand(k, n, &b, "B");
        assert!(c.len() >= m * n, "gemm_bf16: C holds {} < {m}x{n}", c.len());
        if m == 0 || n == 0 {
            return;
        }
        if uses_kernel(k, n) {
            multiply_pairs(m, k, n, &self.pairs, &b, beta, c);
        } else {
            multiply_rounded(m, k, n, &self.rounded, &b, beta, c);
        }
    }
}

/// Panics unless `A (m×k)`, `B (k×n)` and `C (m×n)` fit their slices.
fn check_bounds(m: usize, k: usize, n: usize, a: &Mat, b: &Mat, c: &[f32]) {
    assert!(c.len() >= m * n, "gemm_bf16: C holds {} < {m}x{n}", c.len());
    check_operand(m, k, a, "A");
    check_operand(k, n, b, "B");
}

/// Panics unless a `rows×cols` operand fits its slice.
fn check_operand(rows: usize, cols: usize, mat: &Mat, name: &str) {
    if rows > 0 && cols > 0 {
        let last = (rows - 1) * mat.row_stride + (cols - 1) * mat.col_stride;
        assert!(
            last < mat.data.len(),
            "gemm_bf16: {name} too short for {rows}x{cols}"
        );
    }
}

/// Whether a product of `n` columns over `k` runs on the AVX512-BF16 kernel: where the
/// processor has it and `C` fills at least one of its [`NR`]-column panels.
fn uses_kernel(k: usize, n: usize) -> bool {
    k > 0 && n >= NR && has_bf16_kernel()
}

/// The kernel's half of a product: `B` packed, then every block of `C` from `pa` (`A` as
/// [`pack_a`] packs it).
fn multiply_pairs(m: usize, k: usize, n: usize, pa: &[u32], b: &Mat, beta: f32, c: &mut [f32]) {
    debug_assert!(uses_kernel(k, n));
    PACKED_B.with_borrow_mut(|pb| {
        pack_b(k, n, b, pb);
        assert!(
            pa.len() >= m.div_ceil(MR) * MR * k.div_ceil(2),
            "gemm_bf16: A packed short"
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `uses_kernel` checked the features; the packed buffers hold whole blocks
        // (their sizes, asserted above and by `pack_b`) and `C` holds m x n (checked by every
        // caller).
        unsafe {
            avx512::multiply(m, n, k.div_ceil(2), pa, pb, beta, c)
        };
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!(
            "no AVX512-BF16 kernel off x86-64 ({m}x{n}, beta {beta}, C of {})",
            c.len()
        );
    });
}

/// The float32 half of a product: `B` rounded into a row-major copy, then the float32 GEMM
/// with `ra` (`A` rounded, row-major).
fn multiply_rounded(m: usize, k: usize, n: usize, ra: &[f32], b: &Mat, beta: f32, c: &mut [f32]) {
    ROUNDED_B.with_borrow_mut(|rb| {
        round_into(k, n, b, rb);
        gemm(m, k, n, Mat::rows(ra, k), Mat::rows(rb, n), beta, c);
    });
}

/// `out` = `M (rows×cols)` rounded to bfloat16, row-major: row by row where rows are
/// contiguous (the loop then vectorises), else value by value.
fn round_into(rows: usize, cols: usize, mat: &Mat, out: &mut Vec<f32>) {
    out.clear();
    if rows == 0 || cols == 0 {
        return;
    }
    if mat.col_stride == 1 {
        for i in 0..rows {
            let row = &mat.data[i * mat.row_stride..][..cols];
            out.extend(row.iter().map(|&v| round_to_bf16(v)));
        }
    } else {
        out.resize(rows * cols, 0.0);
        // Walk the source along its contiguous direction when it has one (a transposed view).
        for j in 0..cols {
            for i in 0..rows {
                out[i * cols + j] =
                    round_to_bf16(mat.data[i * mat.row_stride + j * mat.col_stride]);
            }
        }
    }
}

/// Whether this processor runs the AVX512-BF16 kernel.
fn has_bf16_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
            && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Packs `A (m×k)` as `m` padded to [`MR`] rows of `⌈k/2⌉` pairs (zeros past the edges).
fn pack_a(m: usize, k: usize, a: &Mat, out: &mut Vec<u32>) {
    let kp = k.div_ceil(2);
    out.clear();
    out.resize(m.div_ceil(MR) * MR * kp, 0);
    let src = Operand {
        data: a.data,
        x_stride: a.row_stride,
        k_stride: a.col_stride,
    };
    let layout = Layout {
        width: MR,
        block: MR * kp,
        x: kp,
        p: 1,
    };
    pack_pairs(&src, m, k, out, &layout);
}

/// Packs `B (k×n)` as panels of [`NR`] columns, each `⌈k/2⌉` pair rows of [`NR`] `u32`s.
fn pack_b(k: usize, n: usize, b: &Mat, out: &mut Vec<u32>) {
    let kp = k.div_ceil(2);
    out.clear();
    out.resize(n.div_ceil(NR) * kp * NR, 0);
    let src = Operand {
        data: b.data,
        x_stride: b.col_stride,
        k_stride: b.row_stride,
    };
    let layout = Layout {
        width: NR,
        block: kp * NR,
        x: 1,
        p: NR,
    };
    pack_pairs(&src, n, k, out, &layout);
}

/// A matrix read as `count` vectors `x` of `k` values: value `l` of vector `x` is
/// `data[x·x_stride + l·k_stride]`.
struct Operand<'a> {
    data: &'a [f32],
    x_stride: usize,
    k_stride: usize,
}

/// Where pair `p` of vector `x` goes: `block·⌊x/width⌋ + x·(x mod width) + p·p`, vectors in
/// blocks of `width` (a multiple of 16 where `x` is 1).
struct Layout {
    width: usize,
    block: usize,
    x: usize,
    p: usize,
}

impl Layout {
    fn at(&self, x: usize, p: usize) -> usize {
        self.block * (x / self.width) + self.x * (x % self.width) + self.p * p
    }
}

/// `out[layout.at(x, p)] = pair(v[x][2p], v[x][2p+1])` for `x < count`, `p < ⌈k/2⌉` (a
/// missing last value counts as zero): with AVX512-BF16 sixteen pairs at a time where the pairs'
/// values or the vectors are contiguous in memory, else one by one.
fn pack_pairs(src: &Operand, count: usize, k: usize, out: &mut [u32], layout: &Layout) {
    let kp = k.div_ceil(2);
    if count == 0 || kp == 0 {
        return;
    }
    let last = (count - 1) * src.x_stride + (k - 1) * src.k_stride;
    assert!(last < src.data.len() && layout.at(count - 1, kp - 1) < out.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bf16")
        && std::arch::is_x86_feature_detected!("avx512f")
        && (src.k_stride == 1 || src.x_stride == 1)
    {
        // SAFETY: the features are present; the function reads `src` only at the values of
        // vectors `x < count`, `l < k` and writes `out` only at `layout.at(x, p)`, both inside
        // the slices by the assertion above (the layout grows with `x` and `p`).
        unsafe { avx512::pack_pairs(src, count, k, out, layout) };
        return;
    }
    let at = |x: usize, l: usize| {
        if l < k {
            src.data[x * src.x_stride + l * src.k_stride]
        } else {
            0.0
        }
    };
    for x in 0..count {
        for p in 0..kp {
            out[layout.at(x, p)] = pair(at(x, 2 * p), at(x, 2 * p + 1));
        }
    }
}

/// Asserts that a layer in bfloat16 is its float32 twin fed rounded operands: `run(x, w, dy,
/// precision)` gives the layer's `[y, dx, dW, db]`; with [`MatmulPrecision::Bf16`] they must
/// equal, up to summation order, those of float32 on `bf16(x)`, `bf16(w)`, `bf16(dy)`, and `y`
/// must differ from plain float32's (the rounding happened). `what` names the case.
#[cfg(test)]
pub(crate) fn assert_bf16_layer_rounds_its_operands(
    what: &str,
    (x, w, dy): (&[f32], &[f32], &[f32]),
    run: impl Fn(&[f32], &[f32], &[f32], crate::model::MatmulPrecision) -> [Vec<f32>; 4],
) {
    use crate::model::MatmulPrecision;
    let round = |v: &[f32]| -> Vec<f32> { v.iter().map(|&v| round_to_bf16(v)).collect() };
    let got = run(x, w, dy, MatmulPrecision::Bf16);
    let want = run(&round(x), &round(w), &round(dy), MatmulPrecision::F32);
    for (name, (g, v)) in ["y", "dx", "dW", "db"].iter().zip(got.iter().zip(&want)) {
        for (a, b) in g.iter().zip(v) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{what} {name}: {a} vs {b}"
            );
        }
    }
    let exact = run(x, w, dy, MatmulPrecision::F32);
    assert_ne!(got[0], exact[0], "{what}: bfloat16 operands change y");
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Layout, MR, NR, Operand};
    use std::arch::x86_64::*;
    use std::mem::transmute;

    /// Lanes `0..n` of a 16-lane mask.
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 { 0xFFFF } else { (1u16 << n) - 1 }
    }

    /// [`super::pack_pairs`] sixteen pairs at a time, where `k_stride` or `x_stride` is 1.
    ///
    /// # Safety
    /// The processor has AVX512F and AVX512-BF16; one of the strides is 1; every value of
    /// vectors `x < count`, `l < k` lies in `src.data` and every `layout.at(x, p)` in `out`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn pack_pairs(
        src: &Operand,
        count: usize,
        k: usize,
        out: &mut [u32],
        layout: &Layout,
    ) {
        let kp = k.div_ceil(2);
        let data = src.data.as_ptr();
        let dst = out.as_mut_ptr();
        // SAFETY (all blocks below): masked loads read only values `l < k` of vectors
        // `x < count`, and stores write only `layout.at(x, p)` for `x < count`, `p < kp`.
        unsafe {
            if src.k_stride == 1 {
                // A vector's values are contiguous: 32 of them are 16 pairs.
                let mut spill = [0u32; 16];
                for x in 0..count {
                    let row = data.add(x * src.x_stride);
                    for p0 in (0..kp).step_by(16) {
                        let l0 = 2 * p0;
                        let lo = _mm512_maskz_loadu_ps(lanes(k - l0), row.add(l0));
                        let hi = _mm512_maskz_loadu_ps(
                            lanes(k.saturating_sub(l0 + 16)),
                            row.wrapping_add(l0 + 16),
                        );
                        let pairs: __m512i = transmute(_mm512_cvtne2ps_pbh(hi, lo));
                        let valid = (kp - p0).min(16);
                        if layout.p == 1 {
                            _mm512_mask_storeu_epi32(
                                dst.add(layout.at(x, p0)).cast(),
                                lanes(valid),
                                pairs,
                            );
                        } else {
                            _mm512_storeu_si512(spill.as_mut_ptr().cast(), pairs);
                            for (q, &v) in spill.iter().enumerate().take(valid) {
                                *dst.add(layout.at(x, p0 + q)) = v;
                            }
                        }
                    }
                }
            } else {
                // The vectors are contiguous: rows 2p and 2p+1 interleave into 16 pairs.
                let mut spill = [0u32; 16];
                for p in 0..kp {
                    for x0 in (0..count).step_by(16) {
                        let valid = (count - x0).min(16);
                        let row = |l: usize| -> __m256i {
                            if l < k {
                                let v = _mm512_maskz_loadu_ps(
                                    lanes(valid),
                                    data.add(l * src.k_stride + x0),
                                );
                                transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(v))
                            } else {
                                _mm256_setzero_si256()
                            }
                        };
                        let lo = _mm512_cvtepu16_epi32(row(2 * p));
                        let hi = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(row(2 * p + 1)));
                        let pairs = _mm512_or_si512(lo, hi);
                        if layout.x == 1 {
                            _mm512_mask_storeu_epi32(
                                dst.add(layout.at(x0, p)).cast(),
                                lanes(valid),
                                pairs,
                            );
                        } else {
                            _mm512_storeu_si512(spill.as_mut_ptr().cast(), pairs);
                            for (q, &v) in spill.iter().enumerate().take(valid) {
                                *dst.add(layout.at(x0 + q, p)) = v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// All blocks of `C` from the packed operands.
    ///
    /// # Safety
    /// The processor has AVX512F and AVX512-BF16; `pa` holds `⌈m/MR⌉·MR·kp` and `pb`
    /// `⌈n/NR⌉·kp·NR` values; `c` holds `m·n`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn multiply(
        m: usize,
        n: usize,
        kp: usize,
        pa: &[u32],
        pb: &[u32],
        beta: f32,
        c: &mut [f32],
    ) {
        // SAFETY: the caller's guarantees; every pointer offset stays inside `pa` and `pb`.
        unsafe {
            debug_assert!(pa.len() >= m.div_ceil(MR) * MR * kp);
            debug_assert!(pb.len() >= n.div_ceil(NR) * kp * NR);
            for panel in 0..n.div_ceil(NR) {
                let j0 = panel * NR;
                let width = NR.min(n - j0);
                let b = pb.as_ptr().add(panel * kp * NR);
                for block in 0..m.div_ceil(MR) {
                    let i0 = block * MR;
                    let a = pa.as_ptr().add(i0 * kp);
                    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
                    for p in 0..kp {
                        let b0: __m512bh = transmute(_mm512_loadu_si512(b.add(p * NR).cast()));
                        let b1: __m512bh = transmute(_mm512_loadu_si512(b.add(p * NR + 16).cast()));
                        for (r, acc_r) in acc.iter_mut().enumerate() {
                            let av: __m512bh =
                                transmute(_mm512_set1_epi32(*a.add(r * kp + p) as i32));
                            acc_r[0] = _mm512_dpbf16_ps(acc_r[0], b0, av);
                            acc_r[1] = _mm512_dpbf16_ps(acc_r[1], b1, av);
                        }
                    }
                    // C's rows of this block: sixteen columns at a time, masked at the edge.
                    for (r, acc_r) in acc.iter().enumerate().take(MR.min(m - i0)) {
                        for (half, acc_h) in acc_r.iter().enumerate() {
                            let from = 16 * half;
                            if from >= width {
                                break;
                            }
                            let mask = lanes(width - from);
                            let dst = c.as_mut_ptr().add((i0 + r) * n + j0 + from);
                            let v = if beta == 0.0 {
                                *acc_h
                            } else {
                                let old = _mm512_maskz_loadu_ps(mask, dst);
                                _mm512_fmadd_ps(old, _mm512_set1_ps(beta), *acc_h)
                            };
                            _mm512_mask_storeu_ps(dst, mask, v);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn rounding_to_bf16_is_to_nearest_with_ties_to_even() {
        assert_eq!(round_to_bf16(1.0), 1.0);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa, 1.
        assert_eq!(round_to_bf16(1.0 + 1.0 / 256.0), 1.0);
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        assert_eq!(round_to_bf16(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        assert_eq!(round_to_bf16(1.0 + 1.5 / 256.0), 1.0 + 1.0 / 128.0);
        assert_eq!(round_to_bf16(-3.0), -3.0);
        assert!(round_to_bf16(f32::NAN).is_nan());
        assert_eq!(round_to_bf16(f32::INFINITY), f32::INFINITY);
    }

    /// `C` in float64 from the bfloat16-rounded operands, and the bound `Σ|a||b|` per entry.
    fn reference(m: usize, k: usize, n: usize, a: &Mat, b: &Mat) -> (Vec<f64>, Vec<f64>) {
        let mut c = vec![0.0; m * n];
        let mut bound = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for l in 0..k {
                    let x = round_to_bf16(a.data[i * a.row_stride + l * a.col_stride]) as f64;
                    let y = round_to_bf16(b.data[l * b.row_stride + j * b.col_stride]) as f64;
                    c[i * n + j] += x * y;
                    bound[i * n + j] += (x * y).abs();
                }
            }
        }
        (c, bound)
    }

    #[test]
    fn matches_float64_sums_of_the_rounded_operands_for_every_edge_and_layout() {
        let mut rng = Rng::new(7);
        for &(m, k, n) in &[
            (1, 1, 1),
            (16, 2, 16),
            (17, 5, 33),
            (32, 288, 100),
            (9, 31, 15),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform() as f32 - 0.5).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform() as f32 - 0.5).collect();
            for transposed in [false, true] {
                let (am, bm) = if transposed {
                    (Mat::transposed(&a, m), Mat::transposed(&b, k))
                } else {
                    (Mat::rows(&a, k), Mat::rows(&b, n))
                };
                let (want, bound) = reference(m, k, n, &am, &bm);
                let mut c = vec![1.0f32; m * n];
                gemm_bf16(m, k, n, am, bm, 1.0, &mut c);
                for (idx, &got) in c.iter().enumerate() {
                    let err = (got as f64 - 1.0 - want[idx]).abs();
                    let tol = 2.0 * k as f64 * f32::EPSILON as f64 * (bound[idx] + 1.0);
                    assert!(
                        err <= tol,
                        "{m}x{k}x{n} at {idx}: {got} vs {}",
                        want[idx] + 1.0
                    );
                }
                let mut c0 = vec![f32::NAN; m * n];
                gemm_bf16(m, k, n, am, bm, 0.0, &mut c0);
                assert!(c0.iter().all(|v| v.is_finite()), "beta 0 ignores C");
            }
        }
    }

    #[test]
    fn the_avx512_kernel_and_the_rounded_float32_path_agree() {
        if !has_bf16_kernel() {
            eprintln!("no AVX512-BF16 on this processor: only the rounded float32 path runs");
        }
        let mut rng = Rng::new(3);
        for &(m, k, n) in &[(20, 37, 33), (12, 288, 576), (1, 2, 64)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform() as f32 - 0.5).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform() as f32 - 0.5).collect();
            let (am, bm) = (Mat::rows(&a, k), Mat::rows(&b, n));
            let (_, bound) = reference(m, k, n, &am, &bm);
            let mut rounded = vec![0.5f32; m * n];
            let mut ra = Vec::new();
            round_into(m, k, &am, &mut ra);
            multiply_rounded(m, k, n, &ra, &bm, 1.0, &mut rounded);
            let mut fast = vec![0.5f32; m * n];
            gemm_bf16(m, k, n, am, bm, 1.0, &mut fast);
            for ((x, y), bound) in rounded.iter().zip(&fast).zip(bound) {
                let tol = 2.0 * k as f64 * f32::EPSILON as f64 * (bound + 0.5);
                assert!(((x - y).abs() as f64) <= tol, "{m}x{k}x{n}: {x} vs {y}");
            }
        }
    }
}
