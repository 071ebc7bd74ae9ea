//! Learning rates: per epoch ([`learning_rate`]), and per step for the schedules that move
//! every step ([`step_rate`]: cosine and one-cycle with `per_step`, as network files get them
//! by default; the report's presets keep per-epoch schedules).
//!
//! The report's "tunable" listing is buggy (its last lines are an unconditional
//! `return learning_rate * 0.5` before `return learning_rate`, so as written it halves every
//! epoch after the warm-up). We read it as its text describes, with the listing's conditions:
//! - warm-up, epoch `e < H` (`H = halve_after`): the listing's `lr + lr/e`, applied epoch after
//!   epoch, compounds to `base·(e + 1)` — "the initial learning rate times the number of epochs";
//! - then halve at every epoch `j > H` with `j % H == 0` (the listing skips `j = H` itself,
//!   written there as `epoch != 5`) and, when `fast_after = F` is set, only while `j <= F`;
//! - and, when `F` is set, also at every epoch `j > F` with `j % 3 == 0`;
//! - otherwise the rate is unchanged.

use crate::model::Schedule;
use std::f32::consts::PI;

/// The learning rate for 0-based `epoch` of a run of `epochs` epochs under `schedule` with base
/// rate `base` (formulas on [`Schedule`]).
pub fn learning_rate(schedule: Schedule, base: f32, epoch: usize, epochs: usize) -> f32 {
    match schedule {
        Schedule::Constant => base,
        Schedule::Step { every, factor } => base * factor.powi((epoch / every.max(1)) as i32),
        Schedule::Cosine { warmup, .. } => {
            if epoch < warmup {
                return base * (epoch + 1) as f32 / warmup as f32;
            }
            let span = epochs.saturating_sub(warmup).max(1) as f32;
            let t = (epoch - warmup) as f32 / span;
            base * (1.0 + (PI * t).cos()) / 2.0
        }
        Schedule::OneCycle { warmup, .. } => {
            let (start, end) = (base / 25.0, base / 25.0 / 1e4);
            // The peak is at epoch round(warmup·epochs); the last epoch reaches `end`.
            let peak = ((warmup * epochs as f32).round() as usize).max(1);
            let cosine =
                |from: f32, to: f32, t: f32| to + (from - to) * (1.0 + (PI * t).cos()) / 2.0;
            if epoch <= peak {
                cosine(start, base, epoch as f32 / peak as f32)
            } else {
                let fall = epochs.saturating_sub(1 + peak).max(1) as f32;
                cosine(base, end, ((epoch - peak) as f32 / fall).min(1.0))
            }
        }
        Schedule::Tunable {
            halve_after,
            fast_after,
        } => {
            let h = halve_after.max(1);
            if epoch < h {
                return base * (epoch + 1) as f32;
            }
            let halvings = (h + 1..=epoch)
                .filter(|&j| {
                    let regular = j % h == 0 && fast_after.is_none_or(|f| j <= f);
                    let fast = fast_after.is_some_and(|f| j > f && j % 3 == 0);
                    regular || fast
                })
                .count();
            base * h as f32 * 0.5f32.powi(halvings as i32)
        }
    }
}

/// The learning rate of step `step` (0-based) of 0-based `epoch`, with `steps` steps per
/// epoch and `epochs` epochs. Per-step cosine and one-cycle move every step; every other
/// schedule is [`learning_rate`] of the epoch. With `s = epoch·steps + step` of `S = epochs·steps`:
/// - cosine: a linear warm-up `base·(s + 1)/W` over the first `W = warmup·steps` steps, then
///   `base·(1 + cos(π·t))/2` with `t = (s − W)/(S − W)`;
/// - one-cycle, as PyTorch's `OneCycleLR` (`div_factor` 25, `final_div_factor` 10⁴, cosine
///   annealing) stepped once per batch: from `base/25` up to `base` at step
///   `p = warmup·S − 1`, `anneal(base/25, base, s/p)`, then
///   `anneal(base, base/25/10⁴, (s − p)/(S − 1 − p))`, where
///   `anneal(a, b, t) = b + (a − b)·(1 + cos(π·t))/2`.
pub fn step_rate(
    schedule: Schedule,
    base: f32,
    epoch: usize,
    step: usize,
    steps: usize,
    epochs: usize,
) -> f32 {
    let s = (epoch * steps + step) as f64;
    let total = (epochs * steps).max(1) as f64;
    let base64 = base as f64;
    match schedule {
        Schedule::Cosine {
            warmup,
            per_step: true,
        } => {
            let w = (warmup * steps) as f64;
            if s < w {
                return (base64 * (s + 1.0) / w) as f32;
            }
            let t = (s - w) / (total - w).max(1.0);
            (base64 * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0) as f32
        }
        Schedule::OneCycle {
            warmup,
            per_step: true,
        } => {
            let anneal = |a: f64, b: f64, t: f64| {
                b + (a - b) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            };
            let (start, end) = (base64 / 25.0, base64 / 25.0 / 1e4);
            let peak = warmup as f64 * total - 1.0;
            let rate = if s <= peak {
                anneal(start, base64, s / peak)
            } else {
                anneal(base64, end, (s - peak) / (total - 1.0 - peak))
            };
            rate as f32
        }
        _ => learning_rate(schedule, base, epoch, epochs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunable_warms_up_then_halves() {
        let s = Schedule::Tunable {
            halve_after: 5,
            fast_after: None,
        };
        let lrs: Vec<f32> = (0..16).map(|e| learning_rate(s, 1.0, e, 150)).collect();
        assert_eq!(&lrs[..6], &[1., 2., 3., 4., 5., 5.]);
        assert_eq!(&lrs[9..12], &[5., 2.5, 2.5]);
        assert_eq!(lrs[15], 1.25);
    }

    #[test]
    fn seed12_halves_every_three_epochs_after_twenty() {
        let s = Schedule::Tunable {
            halve_after: 5,
            fast_after: Some(20),
        };
        // Halvings at 10, 15, 20, then 21, 24, 27.
        assert_eq!(learning_rate(s, 1.0, 20, 150), 5.0 / 8.0);
        assert_eq!(learning_rate(s, 1.0, 21, 150), 5.0 / 16.0);
        assert_eq!(learning_rate(s, 1.0, 23, 150), 5.0 / 16.0);
        assert_eq!(learning_rate(s, 1.0, 24, 150), 5.0 / 32.0);
        assert_eq!(learning_rate(s, 1.0, 25, 150), 5.0 / 32.0);
    }

    #[test]
    fn step_decay_multiplies_every_few_epochs() {
        let s = Schedule::Step {
            every: 3,
            factor: 0.5,
        };
        let lrs: Vec<f32> = (0..7).map(|e| learning_rate(s, 8.0, e, 7)).collect();
        assert_eq!(lrs, [8., 8., 8., 4., 4., 4., 2.]);
    }

    #[test]
    fn cosine_warms_up_linearly_then_anneals_to_zero() {
        let s = Schedule::Cosine {
            warmup: 2,
            per_step: false,
        };
        assert_eq!(learning_rate(s, 1.0, 0, 12), 0.5);
        assert_eq!(learning_rate(s, 1.0, 1, 12), 1.0);
        assert_eq!(learning_rate(s, 1.0, 2, 12), 1.0);
        assert!((learning_rate(s, 1.0, 7, 12) - 0.5).abs() < 1e-6, "halfway");
        assert!(learning_rate(s, 1.0, 11, 12) < 0.03);
    }

    #[test]
    fn one_cycle_rises_to_the_peak_then_falls_far_below_the_start() {
        let s = Schedule::OneCycle {
            warmup: 0.3,
            per_step: false,
        };
        let lrs: Vec<f32> = (0..10).map(|e| learning_rate(s, 1.0, e, 10)).collect();
        assert!((lrs[0] - 0.04).abs() < 1e-6, "starts at lr/25: {lrs:?}");
        assert!(lrs[..3].windows(2).all(|w| w[0] < w[1]), "rises: {lrs:?}");
        assert_eq!(lrs[3], 1.0, "peak after 30% of the epochs");
        assert!(lrs[3..].windows(2).all(|w| w[0] > w[1]), "falls: {lrs:?}");
        assert!(lrs[9] < 0.04, "ends below the start: {lrs:?}");
    }

    #[test]
    fn per_step_one_cycle_follows_pytorch() {
        // The formulas of torch.optim.lr_scheduler.OneCycleLR(max_lr=1.0, total_steps=100,
        // pct_start=0.3): the rise ends at step 0.3·100 − 1 = 29, the fall at step 99.
        let s = Schedule::OneCycle {
            warmup: 0.3,
            per_step: true,
        };
        let rate = |step: usize| step_rate(s, 1.0, step / 10, step % 10, 10, 10);
        let close = |a: f32, b: f64| ((a as f64) - b).abs() < 1e-6 * b.max(1e-3);
        let anneal =
            |a: f64, b: f64, t: f64| b + (a - b) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0;
        assert!(close(rate(0), 0.04));
        assert!(close(rate(10), anneal(0.04, 1.0, 10.0 / 29.0)));
        assert!(close(rate(29), 1.0));
        assert!(close(rate(30), anneal(1.0, 4e-6, 1.0 / 70.0)));
        assert!(close(rate(64), anneal(1.0, 4e-6, 35.0 / 70.0)));
        assert!(close(rate(99), 4e-6));
        // It moves within an epoch, where the per-epoch schedule holds still.
        assert!(rate(1) > rate(0) && rate(9) > rate(1));
    }

    #[test]
    fn per_step_cosine_warms_up_over_steps_then_anneals() {
        let s = Schedule::Cosine {
            warmup: 1,
            per_step: true,
        };
        let rate = |step: usize| step_rate(s, 2.0, step / 4, step % 4, 4, 3);
        assert_eq!([rate(0), rate(1), rate(3)], [0.5, 1.0, 2.0]);
        assert_eq!(rate(4), 2.0);
        assert!(
            (rate(8) - 1.0).abs() < 1e-6,
            "halfway through the 8 steps after warm-up"
        );
        assert!(rate(11) < 0.2);
    }

    #[test]
    fn per_epoch_schedules_hold_still_within_an_epoch() {
        for s in [
            Schedule::Constant,
            Schedule::Cosine {
                warmup: 2,
                per_step: false,
            },
            Schedule::OneCycle {
                warmup: 0.3,
                per_step: false,
            },
        ] {
            for epoch in 0..5 {
                let want = learning_rate(s, 1.0, epoch, 5);
                assert!((0..7).all(|step| step_rate(s, 1.0, epoch, step, 7, 5) == want));
            }
        }
    }
}
