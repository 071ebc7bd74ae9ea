//! Parameter updates over the flat parameter vector.

use crate::executor::AdamStep;

/// Plain SGD: `w ← w − lr·g`.
pub fn sgd_update(params: &mut [f32], grads: &[f32], lr: f32) {
    for (w, &g) in params.iter_mut().zip(grads) {
        *w -= lr * g;
    }
}

/// Adam with bias correction: `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
/// `w ← w − lr · (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)`.
pub fn adam_update(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], s: AdamStep) {
    let correction1 = 1.0 - s.beta1.powi(s.t as i32);
    let correction2 = 1.0 - s.beta2.powi(s.t as i32);
    for (((w, &g), m), v) in params
        .iter_mut()
        .zip(grads)
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        *m = s.beta1 * *m + (1.0 - s.beta1) * g;
        *v = s.beta2 * *v + (1.0 - s.beta2) * g * g;
        let m_hat = *m / correction1;
        let v_hat = *v / correction2;
        *w -= s.lr * m_hat / (v_hat.sqrt() + s.epsilon);
    }
}

/// Decoupled weight decay (AdamW) before an update with rate `lr`: `w ← w − (lr·λ)·w` for every
/// weight in `weights` (the caller passes the dense and conv weight ranges only).
pub fn decay_weights(weights: &mut [f32], lr: f32, lambda: f32) {
    let rate = lr * lambda;
    for w in weights {
        *w -= rate * *w;
    }
}

/// Weight averaging after update `t` (1-based): `ema ← d_t·ema + (1 − d_t)·w` element by
/// element, with `d_t = `[`crate::model::ema_decay`]`(decay, t)`.
pub fn ema_update(ema: &mut [f32], weights: &[f32], decay: f32, t: u32) {
    let d = crate::model::ema_decay(decay, t);
    for (e, &w) in ema.iter_mut().zip(weights) {
        *e = d * *e + (1.0 - d) * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_decay_shrinks_each_weight_by_lr_times_lambda() {
        let mut w = [2.0, -4.0, 0.0];
        decay_weights(&mut w, 0.1, 0.5);
        assert_eq!(w, [2.0 - 0.05 * 2.0, -4.0 + 0.05 * 4.0, 0.0]);
    }

    #[test]
    fn adams_first_step_moves_each_weight_by_about_lr() {
        // At t = 1, m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        let mut w = [1.0, 1.0];
        let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
        let step = AdamStep {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            t: 1,
        };
        adam_update(&mut w, &[0.5, -2.0], &mut m, &mut v, step);
        assert!(
            (w[0] - 0.9).abs() < 1e-6 && (w[1] - 1.1).abs() < 1e-6,
            "{w:?}"
        );
    }
}
