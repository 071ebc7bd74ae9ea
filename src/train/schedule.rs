//! Learning rate per epoch.
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

/// The learning rate for 0-based `epoch` under `schedule` with base rate `base`.
pub fn learning_rate(schedule: Schedule, base: f32, epoch: usize) -> f32 {
    match schedule {
        Schedule::Constant => base,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunable_warms_up_then_halves() {
        let s = Schedule::Tunable {
            halve_after: 5,
            fast_after: None,
        };
        let lrs: Vec<f32> = (0..16).map(|e| learning_rate(s, 1.0, e)).collect();
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
        assert_eq!(learning_rate(s, 1.0, 20), 5.0 / 8.0);
        assert_eq!(learning_rate(s, 1.0, 21), 5.0 / 16.0);
        assert_eq!(learning_rate(s, 1.0, 23), 5.0 / 16.0);
        assert_eq!(learning_rate(s, 1.0, 24), 5.0 / 32.0);
        assert_eq!(learning_rate(s, 1.0, 25), 5.0 / 32.0);
    }
}
