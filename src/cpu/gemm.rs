//! The one place the CPU executor calls a GEMM: the `gemm` crate's single-threaded f32 GEMM
//! behind a safe, bounds-checked wrapper with row-major conventions, and [`gemm_with`], which
//! sends a network's products to it or to [`gemm_bf16`] as its `matmul_precision` says.

use super::gemm_bf16::{PackedA, gemm_bf16};
use crate::model::MatmulPrecision;

/// A matrix operand: a slice plus its shape and strides (in elements).
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Stride between rows.
    pub row_stride: usize,
    /// Stride between columns.
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns (a view, nothing moves).
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }
}

/// `C (m×n) = A (m×k) · B (k×n) + beta·C`, `C` row-major with `n` columns.
/// Panics if an operand is too short for its shape (an internal bug, never user input).
pub fn gemm(m: usize, k: usize, n: usize, a: Mat, b: Mat, beta: f32, c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, mat: &Mat| {
        (rows - 1) * mat.row_stride + (cols - 1) * mat.col_stride
    };
    assert!(c.len() >= m * n, "gemm: C holds {} < {m}x{n}", c.len());
    if k > 0 {
        assert!(
            last(m, k, &a) < a.data.len(),
            "gemm: A too short for {m}x{k}"
        );
        assert!(
            last(k, n, &b) < b.data.len(),
            "gemm: B too short for {k}x{n}"
        );
    }
    // SAFETY: every index the GEMM touches is within the bounds checked above.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            beta != 0.0,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            beta,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// [`gemm()`] with operands as `precision` says: `C = A·B + beta·C` in float32, or
/// `C = bf16(A)·bf16(B) + beta·C` ([`gemm_bf16`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(
    precision: MatmulPrecision,
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    beta: f32,
    c: &mut [f32],
) {
    match precision {
        MatmulPrecision::F32 => gemm(m, k, n, a, b, beta, c),
        MatmulPrecision::Bf16 => gemm_bf16(m, k, n, a, b, beta, c),
    }
}

/// The left operand `A (m×k)` of many products `C = A·Bᵢ + beta·C` of `n` columns each (a
/// layer's weights against each image of a batch), prepared once for its precision: as it is
/// in float32, rounded and packed once in bfloat16 ([`PackedA`]).
pub enum SharedLeft<'a> {
    /// Float32: `A` as it is.
    F32 {
        /// `A`.
        a: Mat<'a>,
        /// Rows of `A` and `C`.
        m: usize,
        /// Columns of `A`, rows of `B`.
        k: usize,
        /// Columns of `B` and `C`.
        n: usize,
    },
    /// Bfloat16: `A` rounded and packed.
    Bf16(PackedA),
}

impl<'a> SharedLeft<'a> {
    /// `A (m×k)` for products of `n` columns in `precision`.
    pub fn new(precision: MatmulPrecision, m: usize, k: usize, n: usize, a: Mat<'a>) -> Self {
        match precision {
            MatmulPrecision::F32 => SharedLeft::F32 { a, m, k, n },
            MatmulPrecision::Bf16 => SharedLeft::Bf16(PackedA::new(m, k, n, a)),
        }
    }

    /// `C (m×n) = A·B (k×n) + beta·C` in the precision `A` was prepared for.
    pub fn gemm(&self, b: Mat, beta: f32, c: &mut [f32]) {
        match self {
            SharedLeft::F32 { a, m, k, n } => gemm(*m, *k, *n, *a, b, beta, c),
            SharedLeft::Bf16(packed) => packed.gemm(b, beta, c),
        }
    }
}
