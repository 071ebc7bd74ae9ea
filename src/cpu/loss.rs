//! Losses. Per-example losses are summed (in f64) so a batch split across threads adds up
//! exactly as one; gradients take `scale` = the normalisation of the whole batch.

use crate::executor::argmax;

/// Softmax over each row of `logits (N, K)` into `probs (N, K)`, shifted by the row max.
pub fn softmax_forward(logits: &[f32], probs: &mut [f32], k: usize) {
    for (row, out) in logits.chunks_exact(k).zip(probs.chunks_exact_mut(k)) {
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut sum = 0.0;
        for (p, &z) in out.iter_mut().zip(row) {
            *p = (z - max).exp();
            sum += *p;
        }
        for p in out.iter_mut() {
            *p /= sum;
        }
    }
}

/// `Σ_n Σ_j −t[n, j]·log p[n, j]` with smoothed targets `t = (1 − ε)·onehot + ε/K`
/// (`ε = smoothing`; with 0, `Σ_n −log p[n, label_n]`), `p` clamped to at least 1e-12 so a
/// confident mistake is a large number, not infinity. A NaN probability (a diverged network)
/// gives a NaN loss: the clamp (`f32::max` returns the other operand of a NaN) would make it a
/// finite 27.6 that hides the divergence.
pub fn cross_entropy_sum(probs: &[f32], labels: &[u8], k: usize, smoothing: f32) -> f64 {
    let nll = |p: f32| {
        if p.is_nan() {
            f64::NAN
        } else {
            -(p.max(1e-12) as f64).ln()
        }
    };
    probs
        .chunks_exact(k)
        .zip(labels)
        .map(|(row, &label)| {
            let own = nll(row[label as usize]);
            if smoothing > 0.0 {
                let spread: f64 = row.iter().map(|&p| nll(p)).sum();
                (1.0 - smoothing as f64) * own + smoothing as f64 / k as f64 * spread
            } else {
                own
            }
        })
        .sum()
}

/// The fused softmax–cross-entropy gradient at the logits: `dz = (p − t) · scale` with the
/// targets `t = (1 − ε)·onehot + ε/K` of [`cross_entropy_sum`] (`ε = smoothing`), where
/// `scale = 1/N` for the batch's mean loss.
pub fn softmax_cross_entropy_backward(
    probs: &[f32],
    labels: &[u8],
    dz: &mut [f32],
    k: usize,
    scale: f32,
    smoothing: f32,
) {
    let (keep, spread) = (1.0 - smoothing, smoothing / k as f32);
    for ((row, out), &label) in probs
        .chunks_exact(k)
        .zip(dz.chunks_exact_mut(k))
        .zip(labels)
    {
        for (j, (g, &p)) in out.iter_mut().zip(row).enumerate() {
            let onehot = if j == label as usize { 1.0 } else { 0.0 };
            *g = (p - (onehot * keep + spread)) * scale;
        }
    }
}

/// `Σ_n Σ_j (y[n, j] − onehot[n, j])²`.
pub fn mse_sum(y: &[f32], labels: &[u8], k: usize) -> f64 {
    y.chunks_exact(k)
        .zip(labels)
        .map(|(row, &label)| {
            row.iter()
                .enumerate()
                .map(|(j, &v)| {
                    let t = if j == label as usize { 1.0 } else { 0.0 };
                    ((v - t) as f64).powi(2)
                })
                .sum::<f64>()
        })
        .sum()
}

/// `dy = 2·(y − onehot) · scale`, where `scale = 1/(N·K)` for the mean over all outputs.
pub fn mse_backward(y: &[f32], labels: &[u8], dy: &mut [f32], k: usize, scale: f32) {
    for ((row, out), &label) in y.chunks_exact(k).zip(dy.chunks_exact_mut(k)).zip(labels) {
        for (j, (g, &v)) in out.iter_mut().zip(row).enumerate() {
            let t = if j == label as usize { 1.0 } else { 0.0 };
            *g = 2.0 * (v - t) * scale;
        }
    }
}

/// How many rows of `outputs (N, K)` have their largest value at the label (first max on ties).
pub fn count_correct(outputs: &[f32], labels: &[u8], k: usize) -> usize {
    outputs
        .chunks_exact(k)
        .zip(labels)
        .filter(|(row, label)| argmax(row) == **label as usize)
        .count()
}
