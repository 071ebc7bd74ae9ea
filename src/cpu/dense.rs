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

    #[test]
    fn bf16_products_are_the_float32_ones_of_rounded_operands() {
        // y, dx, dW and db (Σ bf16(dy)) of bf16 operands equal the float32 layer's of rounded
        // x, W and dy, but for the summation order; 40 outputs take the AVX512-BF16 kernel
        // where the processor has it, 7 the rounded float32 path.
        use crate::cpu::gemm_bf16::assert_bf16_layer_rounds_its_operands;
        use crate::rng::Rng;
        let mut rng = Rng::new(5);
        for (n, d_in, d_out) in [(3, 37, 40), (33, 20, 7)] {
            let mut random = |len: usize| -> Vec<f32> {
                (0..len).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect()
            };
            let (x, w, b, dy) = (
                random(n * d_in),
                random(d_out * d_in),
                random(d_out),
                random(n * d_out),
            );
            let run = |x: &[f32], w: &[f32], dy: &[f32], precision| {
                let mut y = vec![0.0; n * d_out];
                dense_forward(x, w, &b, &mut y, n, d_in, precision);
                let (mut dx, mut dw, mut db) =
                    (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; d_out]);
                dense_backward(
                    x,
                    w,
                    dy,
                    Some(&mut dx),
                    &mut dw,
                    &mut db,
                    n,
                    d_in,
                    precision,
                );
                [y, dx, dw, db]
            };
            let what = format!("{n}x{d_in}->{d_out}");
            assert_bf16_layer_rounds_its_operands(&what, (&x, &w, &dy), run);
        }
    }
}
