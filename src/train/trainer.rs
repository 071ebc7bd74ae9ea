//! The training loop: epochs of seeded shuffles and mini-batches, a log line per epoch,
//! optional early stopping on the validation error, and the test error at the end.
//!
//! The validation split chooses (early stopping's best epoch); the test set is evaluated once,
//! after training, and never chooses anything.

use super::executor::{Executor, Metrics};
use super::schedule::learning_rate;
use crate::data::Dataset;
use crate::error::Result;
use crate::model::Training;
use crate::rng::Rng;
use std::time::Instant;

/// What happened in one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Training-mode metrics accumulated over the epoch's steps.
    pub train: Metrics,
    /// Inference-mode metrics on the validation split (empty when there is none).
    pub validation: Metrics,
    /// The learning rate used.
    pub lr: f32,
    /// Wall time of the epoch's training steps, seconds.
    pub train_seconds: f64,
    /// Wall time including the validation pass, seconds.
    pub seconds: f64,
}

impl EpochLog {
    /// Training images per second of this epoch.
    pub fn images_per_second(&self) -> f64 {
        self.train.count as f64 / self.train_seconds.max(1e-9)
    }

    /// The log line `train` prints.
    pub fn line(&self, epochs: usize) -> String {
        format!(
            "epoch {:>3}/{epochs}  loss {:.4}  train error {:.2}%  val error {:.2}%  lr {}  {:.1} s  {:.0} img/s",
            self.epoch,
            self.train.mean_loss(),
            100.0 * self.train.error_rate(),
            100.0 * self.validation.error_rate(),
            self.lr,
            self.seconds,
            self.images_per_second()
        )
    }
}

/// The outcome of a training run.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// One entry per epoch run.
    pub epochs: Vec<EpochLog>,
    /// The epoch whose weights the final model has (1-based).
    pub chosen_epoch: usize,
    /// Whether early stopping ended the run before the epoch limit.
    pub stopped_early: bool,
    /// Test-set metrics of the final model.
    pub test: Metrics,
    /// Total wall time, seconds.
    pub seconds: f64,
}

/// Trains `executor` on `train` for `settings.epochs` epochs of `settings.batch_size`, using
/// `validation` for early stopping (when set), then evaluates on `test`. Each epoch's order is
/// a seeded shuffle derived from `seed` and the epoch. `log` receives each line to show.
pub fn train(
    executor: &mut dyn Executor,
    settings: &Training,
    seed: u64,
    train: &Dataset,
    validation: &Dataset,
    test: &Dataset,
    log: &mut dyn FnMut(&str),
) -> Result<TrainReport> {
    let start = Instant::now();
    let mut epochs = Vec::new();
    let mut order: Vec<u32> = (0..train.len() as u32).collect();
    let mut best: Option<(f64, usize, Vec<f32>)> = None;
    let mut stopped_early = false;
    for epoch in 0..settings.epochs {
        let epoch_start = Instant::now();
        let lr = learning_rate(settings.schedule, settings.lr, epoch);
        order.sort_unstable();
        Rng::derived(seed, 1000 + epoch as u64).shuffle(&mut order);
        for batch in order.chunks(settings.batch_size) {
            executor.train_step(train, batch, lr)?;
        }
        let train_metrics = executor.take_train_metrics()?;
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let validation_metrics = if validation.is_empty() {
            Metrics::default()
        } else {
            executor.evaluate(validation)?
        };
        let entry = EpochLog {
            epoch: epoch + 1,
            train: train_metrics,
            validation: validation_metrics,
            lr,
            train_seconds,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        log(&entry.line(settings.epochs));
        epochs.push(entry);
        if let Some(stopping) = settings.early_stopping {
            let error = validation_metrics.error_rate();
            let improved = best.as_ref().is_none_or(|(best_error, _, _)| {
                error < best_error * (1.0 - stopping.min_delta_rel as f64)
            });
            if improved {
                best = Some((error, epoch + 1, executor.parameters()?));
            } else if let Some((best_error, best_epoch, _)) = &best
                && epoch + 1 - best_epoch >= stopping.patience
            {
                log(&format!(
                    "early stopping: no improvement on {:.2}% (epoch {best_epoch}) for {} epochs",
                    100.0 * best_error,
                    stopping.patience
                ));
                stopped_early = true;
                break;
            }
        }
    }
    let mut chosen_epoch = epochs.len();
    if let Some((error, epoch, params)) = best
        && epoch != epochs.len()
    {
        executor.set_parameters(&params)?;
        chosen_epoch = epoch;
        log(&format!(
            "restored the weights of epoch {epoch} (validation error {:.2}%)",
            100.0 * error
        ));
    }
    let test_metrics = executor.evaluate(test)?;
    Ok(TrainReport {
        epochs,
        chosen_epoch,
        stopped_early,
        test: test_metrics,
        seconds: start.elapsed().as_secs_f64(),
    })
}
