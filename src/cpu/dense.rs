//! Fully connected layer. `W: (D_out, D_in)`, `b: (D_out)`.

use super::gemm::{Mat, gemm_with};
use super::gemm_bf16::round_to_bf16;
use crate::model::MatmulPrecision;

/// `y (N, D_out) = x (N, D_in) · Wᵀ + b`, the product in `precision`.
pub fn dense_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    n: usize,
    d_in: usize,
    precision: MatmulPrecision,
) {
    let d_out = b.len();
    // y: (N, D_out) starts as the broadcast bias, then y += x · Wᵀ.
    for row in y[..n * d_out].chunks_exact_mut(d_out) {
        row.copy_from_slice(b);
    }
    gemm_with(
        precision,
        n,
        d_in,
        d_out,
        Mat::rows(x, d_in),
        Mat::transposed(w, d_in),
        1.0,
        y,
    );
}

/// Gradients of [`dense_forward`] given `dy (N, D_out)`:
/// `dW (D_out, D_in) += dyᵀ · x`, `db (D_out) += Σ_n dy`, and, if wanted, `dx (N, D_in) = dy · W`,
/// the products in `precision` (`db` too: in bfloat16 it is `Σ bf16(dy)`, the product of `dy`
/// with a column of ones, as the GPU computes it).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    n: usize,
    d_in: usize,
    precision: MatmulPrecision,
) {
    let d_out = db.len();
    gemm_with(
        precision,
        d_out,
        n,
        d_in,
        Mat::transposed(dy, d_out),
        Mat::rows(x, d_in),
        1.0,
        dw,
    );
    for row in dy[..n * d_out].chunks_exact(d_out) {
        for (g, &d) in db.iter_mut().zip(row) {
            *g += match precision {
                MatmulPrecision::F32 => d,
                MatmulPrecision::Bf16 => round_to_bf16(d),
            };
        }
    }
    if let Some(dx) = dx {
        gemm_with(
            precision,
            n,
            d_out,
            d_in,
            Mat::rows(dy, d_out),
            Mat::rows(w, d_in),
            0.0,
            dx,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_matches_hand_computation() {
        // x = [[1, 2, 3]], W = [[1, 0, -1], [2, 1, 0]], b = [10, 20]
        let mut y = [0.0; 2];
        dense_forward(
            &[1., 2., 3.],
            &[1., 0., -1., 2., 1., 0.],
            &[10., 20.],
            &mut y,
            1,
            3,
            MatmulPrecision::F32,
        );
        assert_eq!(y, [8.0, 24.0]);
    }
}
