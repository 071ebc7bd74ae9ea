//! The training loop: epochs of seeded shuffles and mini-batches, a log line per epoch,
//! optional early stopping on the validation error, and the test error at the end.
//!
//! The validation split chooses (early stopping's best epoch); the test set is evaluated once,
//! after training, and never chooses anything. An epoch whose loss or parameters are no longer
//! finite ends the run with an error before it is logged or saved ([`super::finite`]).

use super::finite::{EpochSnapshot, check_epoch};
use super::schedule::step_rate;
use crate::data::Dataset;
use crate::error::Result;
use crate::executor::{Executor, Metrics};
use crate::model::{Monitor, Training, check_training};
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
    /// The learning rate of the epoch's first step (schedules that move every step go on
    /// from there).
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

    /// The log line `train` prints (`val error -` without a validation split), with
    /// `cumulative` seconds of training (this epoch's steps and all before it) at its end.
    pub fn line(&self, epochs: usize, cumulative: f64) -> String {
        let validation = if self.validation.count == 0 {
            "-".to_string()
        } else {
            format!("{:.2}%", 100.0 * self.validation.error_rate())
        };
        format!(
            "epoch {:>3}/{epochs}  loss {:.4}  train error {:.2}%  val error {validation}  lr {}  {:.1} s  {:.0} img/s  {:.1} s of training so far",
            self.epoch,
            self.train.mean_loss(),
            100.0 * self.train.error_rate(),
            self.lr,
            self.seconds,
            self.images_per_second(),
            cumulative
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

/// The best epoch so far by validation error: what early stopping restores and
/// `best.safetensors` holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    /// Its validation error, in [0, 1].
    pub error: f64,
    /// The epoch (1-based).
    pub epoch: usize,
    /// Its parameters (layout in the crate doc).
    pub params: Vec<f32>,
}

/// Where a run stands between two epochs: what a checkpoint stores and a resumed run starts
/// from. [`RunState::default`] is a fresh run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunState {
    /// The epochs run so far.
    pub epochs: Vec<EpochLog>,
    /// The best epoch so far (only with a validation split).
    pub best: Option<Best>,
    /// Whether early stopping has ended the run.
    pub stopped_early: bool,
}

/// What the training loop tells the outside world, besides returning its report. Every method
/// has a default that does nothing.
pub trait Observer {
    /// A line to show (the epoch lines, early stopping, restoring).
    fn line(&mut self, line: &str) {
        let _ = line;
    }

    /// `done` of `total` training steps of 1-based `epoch` are queued.
    fn progress(&mut self, epoch: usize, done: usize, total: usize) {
        let _ = (epoch, done, total);
    }

    /// Called after every epoch, with the state a resumed run would start from and what the
    /// loop read back from the executor after the epoch's steps (`snapshot`, which the
    /// checkpoint takes instead of reading the device again); `improved` says that this epoch
    /// is the new best. Checkpoints are written here; an error stops the run.
    fn epoch_end(
        &mut self,
        executor: &mut dyn Executor,
        state: &RunState,
        snapshot: &EpochSnapshot,
        improved: bool,
    ) -> Result<()> {
        let _ = (executor, state, snapshot, improved);
        Ok(())
    }
}

/// An [`Observer`] that only passes the lines on to a closure.
struct Lines<'a>(&'a mut dyn FnMut(&str));

impl Observer for Lines<'_> {
    fn line(&mut self, line: &str) {
        (self.0)(line)
    }
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
    let data = Splits {
        train,
        validation,
        test,
    };
    train_from(
        executor,
        settings,
        seed,
        &data,
        RunState::default(),
        &mut Lines(log),
    )
}

/// The three datasets of a run.
#[derive(Clone, Copy)]
pub struct Splits<'a> {
    /// Trained on.
    pub train: &'a Dataset,
    /// Chooses the best epoch (may be empty).
    pub validation: &'a Dataset,
    /// Evaluated once, at the end.
    pub test: &'a Dataset,
}

/// The order in which 0-based `epoch` visits `n` training images: a shuffle seeded by
/// `Rng::derived(seed, 1000 + epoch)`, the same for every executor, for a resumed run and for
/// the web page.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    Rng::derived(seed, 1000 + epoch as u64).shuffle(&mut order);
    order
}

/// [`train`] from `state` onwards: a fresh run from [`RunState::default`], or a resumed one
/// from a checkpoint's state (with the executor's parameters and optimiser state restored from
/// it too). Epoch `e` (0-based) shuffles with `Rng::derived(seed, 1000 + e)` and the executor's
/// update counter drives dropout, so a resumed run repeats the steps an uninterrupted run
/// would take.
///
/// Every epoch with a lower watched error than the best so far (by early stopping's
/// `min_delta_rel` when set) becomes the best; with early stopping, the best weights are
/// restored at the end. The watched error is the validation error, or, with early stopping's
/// `monitor=training`, the training error (as the report did; it lets the training data choose
/// the model, so prefer validation).
pub fn train_from(
    executor: &mut dyn Executor,
    settings: &Training,
    seed: u64,
    data: &Splits,
    mut state: RunState,
    observer: &mut dyn Observer,
) -> Result<TrainReport> {
    check_training(settings)?;
    let start = Instant::now();
    let Splits {
        train,
        validation,
        test,
    } = *data;
    let steps = train.len().div_ceil(settings.batch_size);
    let min_delta_rel = settings
        .early_stopping
        .map_or(0.0, |e| e.min_delta_rel as f64);
    let first = state.epochs.len();
    for epoch in first..settings.epochs {
        if state.stopped_early {
            break;
        }
        let epoch_start = Instant::now();
        let rate = |step| {
            let (schedule, base) = (settings.schedule, settings.lr);
            step_rate(schedule, base, epoch, step, steps, settings.epochs)
        };
        let lr = rate(0);
        let order = epoch_order(seed, epoch, train.len());
        for (done, batch) in order.chunks(settings.batch_size).enumerate() {
            executor.train_step(train, batch, rate(done))?;
            observer.progress(epoch + 1, done + 1, steps);
        }
        let train_metrics = executor.take_train_metrics()?;
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        // A diverged epoch ends the run here, before anything of it is shown or saved.
        let snapshot = check_epoch(executor, epoch + 1, lr, &train_metrics)?;
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
        let cumulative = state.epochs.iter().map(|e| e.train_seconds).sum::<f64>() + train_seconds;
        observer.line(&entry.line(settings.epochs, cumulative));
        state.epochs.push(entry);
        // The watched error: validation unless early stopping asks for the training error.
        let watch_training = settings
            .early_stopping
            .is_some_and(|e| e.monitor == Monitor::Training);
        let (error, watched) = if watch_training {
            (train_metrics.error_rate(), true)
        } else {
            (validation_metrics.error_rate(), !validation.is_empty())
        };
        let improved = watched
            && state
                .best
                .as_ref()
                .is_none_or(|best| error < best.error * (1.0 - min_delta_rel));
        if improved {
            state.best = Some(Best {
                error,
                epoch: epoch + 1,
                params: snapshot.params.clone(),
            });
        } else if let (Some(stopping), Some(best)) = (settings.early_stopping, &state.best)
            && epoch + 1 - best.epoch >= stopping.patience
        {
            observer.line(&format!(
                "early stopping: no improvement of the watched error on {:.2}% (epoch {}) for {} epochs",
                100.0 * best.error,
                best.epoch,
                stopping.patience
            ));
            state.stopped_early = true;
        }
        observer.epoch_end(executor, &state, &snapshot, improved)?;
    }
    let mut chosen_epoch = state.epochs.len();
    if settings.early_stopping.is_some()
        && let Some(best) = &state.best
        && best.epoch != state.epochs.len()
    {
        executor.set_parameters(&best.params)?;
        chosen_epoch = best.epoch;
        observer.line(&format!(
            "restored the weights of epoch {} (watched error {:.2}%)",
            best.epoch,
            100.0 * best.error
        ));
    }
    let test_metrics = executor.evaluate(test)?;
    Ok(TrainReport {
        epochs: state.epochs,
        chosen_epoch,
        stopped_early: state.stopped_early,
        test: test_metrics,
        seconds: start.elapsed().as_secs_f64(),
    })
}
