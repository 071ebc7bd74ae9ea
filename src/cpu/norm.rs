//! Batch normalisation (Ioffe & Szegedy 2015), as `torch.nn.BatchNorm1d/2d`.
//!
//! `x: (N, C, I)` with `I` values per feature per example (`I = H·W` for images, normalised
//! per channel over N, H, W; `I = 1` for flat inputs `(N, D)`, normalised per feature over N).
//! With `m = N·I` values per feature:
//!
//! - training: `μ = Σx/m`, `σ² = Σ(x − μ)²/m` (biased), `x̂ = (x − μ)/√(σ² + ε)`,
//!   `y = γ·x̂ + β`; the running statistics move towards the batch's with momentum 0.1:
//!   `r_μ ← 0.9·r_μ + 0.1·μ`, `r_σ² ← 0.9·r_σ² + 0.1·σ²·m/(m − 1)` (the unbiased variance, as
//!   PyTorch does; with `m = 1` the biased one, which is 0);
//! - inference: `y = γ·(x − r_μ)/√(r_σ² + ε) + β`;
//! - backward (training statistics): `dβ = Σ dy`, `dγ = Σ dy·x̂`,
//!   `dx = γ/(m·√(σ² + ε)) · (m·dy − dβ − x̂·dγ)`.
//!
//! A ReLU that follows a batchnorm layer can be applied in the forward's own pass (`relu`
//! below, as the CPU executor does): it writes `max(0, y)`, the values of the two layers run
//! one after the other. (The backward stays the two layers': the ReLU's mask, then these.)
//!
//! ε = 1e-5. Sums are accumulated in `f32` lanes over blocks of up to 1,024 values of one
//! example's plane, and the blocks' totals in `f64` ([`lane_sum`]); the per-value passes run
//! in `f32` with per-feature constants computed in `f64`. Parameters: `γ (C)` then `β (C)`, initialised to 1
//! and 0; running statistics `r_μ (C)` then `r_σ² (C)`, initialised to 0 and 1.

use super::lanes::lane_sum;
use crate::model::{BN_EPSILON, BN_MOMENTUM, NormShape};

/// What the training forward pass saves for the backward pass and the running statistics:
/// per feature, the batch mean `μ (C)`, biased variance `σ² (C)` and `1/√(σ² + ε) (C)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NormSaved {
    /// `μ (C)`.
    pub mean: Vec<f32>,
    /// `σ² (C)`, biased.
    pub var: Vec<f32>,
    /// `1/√(σ² + ε) (C)`.
    pub inv_std: Vec<f32>,
}

/// Training forward: batch statistics (two passes, `f64`), `y = γ·(x − μ)/√(σ² + ε) + β`.
/// `x`, `y: (N, C, I)`; `gamma`, `beta: (C)`; fills `saved` (resized to `C`). The composition
/// of [`batchnorm_sums`], [`batchnorm_square_sums`] and [`batchnorm_normalize`] on one chunk.
pub fn batchnorm_forward_train(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    saved: &mut NormSaved,
    sh: NormShape,
) {
    let m = sh.count() as f64;
    let mut sums = vec![0.0; sh.c];
    batchnorm_sums(x, sh, &mut sums);
    let mean: Vec<f64> = sums.iter().map(|s| s / m).collect();
    batchnorm_square_sums(x, &mean, sh, &mut sums);
    let var: Vec<f64> = sums.iter().map(|s| s / m).collect();
    batchnorm_normalize(x, gamma, beta, &mean, &var, y, saved, sh, false);
}

/// `sums[ch] = Σ x` over feature `ch` of this chunk `x: (N, C, I)`. A batch split into chunks
/// adds its chunks' sums (in a fixed order) to get the batch's.
pub fn batchnorm_sums(x: &[f32], sh: NormShape, sums: &mut [f64]) {
    for (ch, sum) in sums.iter_mut().enumerate().take(sh.c) {
        *sum = sh
            .planes(ch)
            .map(|r| lane_sum(&x[r.clone()], &x[r], |v, _| v))
            .sum();
    }
}

/// `sums[ch] = Σ (x − μ)²` over feature `ch` of this chunk, `mean (C)` the whole batch's.
pub fn batchnorm_square_sums(x: &[f32], mean: &[f64], sh: NormShape, sums: &mut [f64]) {
    for (ch, sum) in sums.iter_mut().enumerate().take(sh.c) {
        let mean = mean[ch] as f32;
        *sum = (sh.planes(ch))
            .map(|r| lane_sum(&x[r.clone()], &x[r], |v, _| (v - mean) * (v - mean)))
            .sum();
    }
}

/// `y = γ·(x − μ)/√(σ² + ε) + β` on a chunk `x`, `y: (N, C, I)` of a batch whose statistics are
/// `mean`, `var (C)` (biased), as `y = s·(x − μ) + β` with `s = γ/√(σ² + ε)` (computed in
/// `f64`, applied in `f32`), or with `relu` `y = max(0, s·(x − μ) + β)`; fills `saved`
/// (resized to `C`) from them.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_normalize(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f64],
    var: &[f64],
    y: &mut [f32],
    saved: &mut NormSaved,
    sh: NormShape,
    relu: bool,
) {
    for v in [&mut saved.mean, &mut saved.var, &mut saved.inv_std] {
        v.resize(sh.c, 0.0);
    }
    for ch in 0..sh.c {
        let inv_std = 1.0 / (var[ch] + BN_EPSILON as f64).sqrt();
        saved.mean[ch] = mean[ch] as f32;
        saved.var[ch] = var[ch] as f32;
        saved.inv_std[ch] = inv_std as f32;
        let scale = (gamma[ch] as f64 * inv_std) as f32;
        let (mean, shift) = (mean[ch] as f32, beta[ch]);
        for r in sh.planes(ch) {
            affine_plane(&x[r.clone()], &mut y[r], scale, mean, shift, relu);
        }
    }
}

/// `y = s·(x − m) + b` along one plane, then `max(0, ·)` with `relu` (decided once per plane,
/// so that each variant is one plain loop).
#[inline(always)]
fn affine_plane(x: &[f32], y: &mut [f32], s: f32, m: f32, b: f32, relu: bool) {
    #[inline(always)]
    fn run<const RELU: bool>(x: &[f32], y: &mut [f32], s: f32, m: f32, b: f32) {
        for (y, &x) in y.iter_mut().zip(x) {
            let v = s * (x - m) + b;
            *y = if RELU { v.max(0.0) } else { v };
        }
    }
    if relu {
        run::<true>(x, y, s, m, b)
    } else {
        run::<false>(x, y, s, m, b)
    }
}

/// Inference forward with the running statistics `running_mean`, `running_var: (C)`:
/// `y = γ·(x − r_μ)/√(r_σ² + ε) + β`, or with `relu` `max(0, y)`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
    sh: NormShape,
    relu: bool,
) {
    for ch in 0..sh.c {
        let inv_std = 1.0 / (running_var[ch] + BN_EPSILON).sqrt();
        let scale = gamma[ch] * inv_std;
        let shift = beta[ch] - running_mean[ch] * scale;
        for r in sh.planes(ch) {
            affine_plane(&x[r.clone()], &mut y[r], scale, 0.0, shift, relu);
        }
    }
}

/// Moves the running statistics towards a training batch's (`count` = `m` values per
/// feature): `r_μ ← (1 − 0.1)·r_μ + 0.1·μ`, `r_σ² ← (1 − 0.1)·r_σ² + 0.1·σ²·m/(m − 1)`.
pub fn batchnorm_update_running(
    running_mean: &mut [f32],
    running_var: &mut [f32],
    saved: &NormSaved,
    count: usize,
) {
    let unbias = if count > 1 {
        count as f32 / (count - 1) as f32
    } else {
        1.0
    };
    for ch in 0..running_mean.len() {
        running_mean[ch] = (1.0 - BN_MOMENTUM) * running_mean[ch] + BN_MOMENTUM * saved.mean[ch];
        running_var[ch] =
            (1.0 - BN_MOMENTUM) * running_var[ch] + BN_MOMENTUM * saved.var[ch] * unbias;
    }
}

/// Backward through the training forward: writes (not adds) `dgamma = Σ dy·x̂` and
/// `dbeta = Σ dy` `(C)`, and with `dx`, `dx = γ·inv_std/m · (m·dy − dβ − x̂·dγ)` `(N, C, I)`,
/// where `x̂ = (x − μ)·inv_std` is recomputed from `x` and `saved`. The composition of
/// [`batchnorm_backward_sums`] and [`batchnorm_backward_dx`] on one chunk.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    x: &[f32],
    gamma: &[f32],
    saved: &NormSaved,
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    sh: NormShape,
) {
    let mut sums = vec![0.0; 2 * sh.c];
    batchnorm_backward_sums(x, saved, dy, sh, &mut sums);
    for ch in 0..sh.c {
        dbeta[ch] = sums[ch] as f32;
        dgamma[ch] = sums[sh.c + ch] as f32;
    }
    if let Some(dx) = dx {
        batchnorm_backward_dx(x, gamma, saved, dy, &sums, sh.count(), dx, sh);
    }
}

/// On a chunk `x`, `dy: (N, C, I)`: `sums = [Σ dy (C), Σ dy·x̂ (C)]`, `x̂ = (x − μ)·inv_std`
/// (the latter as `inv_std·Σ dy·(x − μ)`).
/// The batch's sums are its chunks' sums added (in a fixed order): `dβ` and `dγ`.
pub fn batchnorm_backward_sums(
    x: &[f32],
    saved: &NormSaved,
    dy: &[f32],
    sh: NormShape,
    sums: &mut [f64],
) {
    for ch in 0..sh.c {
        let mean = saved.mean[ch];
        let (mut sum_dy, mut sum_dy_centred) = (0.0f64, 0.0f64);
        for r in sh.planes(ch) {
            let (x, dy) = (&x[r.clone()], &dy[r]);
            sum_dy += lane_sum(dy, dy, |d, _| d);
            sum_dy_centred += lane_sum(x, dy, |x, d| d * (x - mean));
        }
        sums[ch] = sum_dy;
        sums[sh.c + ch] = sum_dy_centred * saved.inv_std[ch] as f64;
    }
}

/// `dx = γ·inv_std/m · (m·dy − dβ − x̂·dγ)` on a chunk `x`, `dy`, `dx: (N, C, I)`, with the
/// whole batch's `sums = [dβ (C), dγ (C)]` and values per feature `count = m`; per feature
/// as `dx = γ·inv_std·dy + a·(x − μ) + c` with `a = −γ·inv_std²·dγ/m` and `c = −γ·inv_std·dβ/m`
/// (computed in `f64`, applied in `f32`).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward_dx(
    x: &[f32],
    gamma: &[f32],
    saved: &NormSaved,
    dy: &[f32],
    sums: &[f64],
    count: usize,
    dx: &mut [f32],
    sh: NormShape,
) {
    let m = count as f64;
    for ch in 0..sh.c {
        let inv_std = saved.inv_std[ch] as f64;
        let (sum_dy, sum_dy_xhat) = (sums[ch], sums[sh.c + ch]);
        let k = gamma[ch] as f64 * inv_std / m;
        let (along_dy, along_x, constant) = (
            (k * m) as f32,
            (-k * sum_dy_xhat * inv_std) as f32,
            (-k * sum_dy) as f32,
        );
        let mean = saved.mean[ch];
        for r in sh.planes(ch) {
            let (dx, x, dy) = (&mut dx[r.clone()], &x[r.clone()], &dy[r]);
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                *dx = along_dy * dy + along_x * (x - mean) + constant;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_statistics_as_pytorch_gives_them() {
        // One feature, x = [1, 2, 3, 6]: μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5 (biased), and
        // torch.nn.BatchNorm1d's running variance takes the unbiased 14/3.
        let sh = NormShape {
            n: 4,
            c: 1,
            inner: 1,
        };
        let x = [1.0, 2.0, 3.0, 6.0];
        let (mut y, mut saved) = ([0.0; 4], NormSaved::default());
        batchnorm_forward_train(&x, &[2.0], &[0.5], &mut y, &mut saved, sh);
        assert_eq!((saved.mean[0], saved.var[0]), (3.0, 3.5));
        let s = (3.5f64 + 1e-5).sqrt();
        for (got, xi) in y.iter().zip(x) {
            assert!((*got as f64 - (2.0 * (xi as f64 - 3.0) / s + 0.5)).abs() < 1e-6);
        }
        let (mut rm, mut rv) = ([0.0], [1.0]);
        batchnorm_update_running(&mut rm, &mut rv, &saved, 4);
        assert!((rm[0] - 0.3).abs() < 1e-7 && (rv[0] - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-6);
        // Inference with those running statistics.
        let mut z = [0.0; 4];
        batchnorm_forward_eval(&x, &[1.0], &[0.0], &rm, &rv, &mut z, sh, false);
        let r = (rv[0] + 1e-5).sqrt();
        assert!((z[3] - (6.0 - 0.3) / r).abs() < 1e-6);
        // Backward: Σ dx = 0 and Σ dx·x̂ = 0 (the normalisation removes shift and scale; the
        // latter up to ε's share, Σ x̂² = m·σ²/(σ² + ε)).
        let dy = [0.3, -1.0, 0.25, 2.0];
        let (mut dx, mut dg, mut db) = ([0.0; 4], [0.0], [0.0]);
        batchnorm_backward(&x, &[2.0], &saved, &dy, Some(&mut dx), &mut dg, &mut db, sh);
        assert!((db[0] - 1.55).abs() < 1e-6);
        assert!(dx.iter().sum::<f32>().abs() < 1e-6);
        let xhat: Vec<f32> = x.iter().map(|v| (v - 3.0) * saved.inv_std[0]).collect();
        let along = dx.iter().zip(&xhat).map(|(d, h)| d * h).sum::<f32>();
        let eps_share = 2.0 * saved.inv_std[0] * dg[0] * 1e-5 / (3.5 + 1e-5);
        assert!((along - eps_share).abs() < 1e-6, "{along} vs {eps_share}");
    }

    #[test]
    fn relu_in_the_same_pass_gives_the_bits_of_batchnorm_then_relu() {
        use crate::cpu::activation::relu_forward;
        // 3 examples, 2 channels of 5 values, about half of the outputs negative.
        let sh = NormShape {
            n: 3,
            c: 2,
            inner: 5,
        };
        let x: Vec<f32> = (0..30)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let (gamma, beta) = ([1.5, -0.7], [0.0, 0.2]);
        let (mean, var) = ([0.1, -0.3], [1.7, 0.8]);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();

        let (mut y, mut saved) = (vec![0.0; 30], NormSaved::default());
        batchnorm_normalize(
            &x, &gamma, &beta, &mean, &var, &mut y, &mut saved, sh, false,
        );
        let mut want = vec![0.0; 30];
        relu_forward(&y, &mut want);
        let (mut got, mut got_saved) = (vec![0.0; 30], NormSaved::default());
        batchnorm_normalize(
            &x,
            &gamma,
            &beta,
            &mean,
            &var,
            &mut got,
            &mut got_saved,
            sh,
            true,
        );
        assert_eq!(bits(&got), bits(&want));
        assert_eq!(got_saved, saved);
        let zeros = got.iter().filter(|&&v| v == 0.0).count();
        assert!((8..=22).contains(&zeros), "{zeros} of 30 clipped");

        // Inference: the same with the running statistics.
        let (rm, rv) = ([0.1, -0.2], [0.9, 1.3]);
        let mut eval_y = vec![0.0; 30];
        batchnorm_forward_eval(&x, &gamma, &beta, &rm, &rv, &mut eval_y, sh, false);
        let mut want = vec![0.0; 30];
        relu_forward(&eval_y, &mut want);
        let mut got = vec![0.0; 30];
        batchnorm_forward_eval(&x, &gamma, &beta, &rm, &rv, &mut got, sh, true);
        assert_eq!(bits(&got), bits(&want));
    }
}
