//! Divergence: after each epoch the loop checks that the mean training loss, the parameters and
//! the optimiser's state are still finite numbers. A learning rate far too large (`--lr 3e38`)
//! turns every parameter into NaN within a step or two; such a run stops with an error naming
//! the epoch and what went non-finite, before the observer sees the epoch, so that nothing of it
//! is saved (no NaN model as `best`, the previous epoch's checkpoints untouched).

use crate::error::{Error, Result};
use crate::executor::{Executor, Metrics, OptimizerState};

/// What the loop read back from the executor after an epoch's training steps: the parameters
/// (as [`Executor::parameters`] gives them) and the optimiser's state (`None` for an executor
/// that cannot give it). The observer writes checkpoints from it, so nothing is read twice.
#[derive(Clone, Debug)]
pub struct EpochSnapshot {
    /// The parameters after the epoch.
    pub params: Vec<f32>,
    /// The optimiser's state after the epoch, where the executor can give it.
    pub optimizer: Option<OptimizerState>,
}

/// Checks the state after the training steps of 1-based `epoch`, whose first step ran at
/// learning rate `lr`, with `train` the epoch's training metrics; returns what it read.
///
/// The optimiser's state is checked when the executor can give it (both executors can): Adam's
/// second moments can overflow to infinity while the parameters stay finite, and a checkpoint
/// holding them could not be loaded.
pub fn check_epoch(
    executor: &mut dyn Executor,
    epoch: usize,
    lr: f32,
    train: &Metrics,
) -> Result<EpochSnapshot> {
    let params = executor.parameters()?;
    let optimizer = executor.optimizer_state().ok();
    let mut problems = Vec::new();
    let loss = train.mean_loss();
    if !loss.is_finite() {
        problems.push(format!("the mean training loss is {loss}"));
    }
    problems.extend(non_finite("parameters", &params));
    if let Some(state) = &optimizer {
        problems.extend(non_finite("values of Adam's first moments", &state.adam_m));
        problems.extend(non_finite("values of Adam's second moments", &state.adam_v));
        problems.extend(non_finite(
            "trained (not averaged) weights",
            &state.raw_params,
        ));
    }
    if problems.is_empty() {
        return Ok(EpochSnapshot { params, optimizer });
    }
    let kept = if epoch > 1 {
        format!("the last checkpoint is epoch {}'s", epoch - 1)
    } else {
        "no checkpoint was written".to_string()
    };
    Err(Error::Config(format!(
        "training diverged in epoch {epoch}: {}; the run stops before saving epoch {epoch} \
         ({kept}). Lower the learning rate (epoch {epoch} started at {}; `lr` in the network \
         file, or --lr)",
        problems.join(", "),
        number(lr)
    )))
}

/// `"N of M {what} are NaN or infinite (the first is value I, NaN)"`, or `None` when all of
/// `values` are finite.
fn non_finite(what: &str, values: &[f32]) -> Option<String> {
    let first = values.iter().position(|v| !v.is_finite())?;
    let count = values.iter().filter(|v| !v.is_finite()).count();
    Some(format!(
        "{count} of {} {what} are NaN or infinite (the first is value {first}, {})",
        values.len(),
        values[first]
    ))
}

/// A learning rate as people write it: `0.01`, or `3e38` for the very large or small.
fn number(x: f32) -> String {
    if x != 0.0 && !(1e-4..1e4).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_written_as_people_write_them() {
        assert_eq!(number(0.01), "0.01");
        assert_eq!(number(3e38), "3e38");
        assert_eq!(number(1e-6), "1e-6");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn non_finite_values_are_counted_and_the_first_named() {
        assert_eq!(non_finite("parameters", &[1.0, 2.0]), None);
        assert_eq!(
            non_finite("parameters", &[1.0, f32::INFINITY, f32::NAN]).as_deref(),
            Some("2 of 3 parameters are NaN or infinite (the first is value 1, inf)")
        );
    }
}
