//! The one interface the training loop drives; the CPU and GPU executors implement it.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Plan;

/// Loss and accuracy counts over some examples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Sum over examples of the per-example training objective (cross-entropy `−log p`, or MSE
    /// `Σ_j (y − t)² / classes`), so `loss_sum / count` is the mean loss.
    pub loss_sum: f64,
    /// Examples whose largest output is at the label.
    pub correct: usize,
    /// Examples seen.
    pub count: usize,
}

impl Metrics {
    /// Mean loss per example (0 when empty).
    pub fn mean_loss(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.loss_sum / self.count as f64
        }
    }

    /// Fraction of examples misclassified, in [0, 1] (0 when empty).
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            1.0 - self.correct as f64 / self.count as f64
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Metrics) {
        self.loss_sum += other.loss_sum;
        self.correct += other.correct;
        self.count += other.count;
    }
}

/// The optimiser's state besides the parameters: what a checkpoint must hold so that a resumed
/// run continues exactly where it stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// Updates applied so far: Adam's step `t` of the last update, and the step number that
    /// the next training step's dropout masks use.
    pub updates: u32,
    /// Adam's first moments `m`, laid out like the parameters; empty for SGD, and for Adam
    /// before its first update (all zeros).
    pub adam_m: Vec<f32>,
    /// Adam's second moments `v`, laid out like the parameters; empty when `adam_m` is.
    pub adam_v: Vec<f32>,
}

impl OptimizerState {
    /// Checks that the moments fit a network of `n_params` parameters: both empty, or both
    /// that long.
    pub fn check_fits(&self, n_params: usize) -> Result<()> {
        let (m, v) = (self.adam_m.len(), self.adam_v.len());
        if m != v || (m != 0 && m != n_params) {
            return Err(Error::Config(format!(
                "optimiser moments of {m} and {v} values do not fit a network of {n_params} \
                 parameters"
            )));
        }
        Ok(())
    }
}

/// Checks that `data` suits a network planned as `plan`: the same values per image, and no
/// label beyond the network's classes. Both executors call it before using a dataset.
pub fn check_data(plan: &Plan, data: &Dataset) -> Result<()> {
    if data.image_size() != plan.input.size() || data.classes > plan.classes {
        return Err(Error::Config(format!(
            "the data has images of {} values in {} classes, the network expects {} values and \
             at most {} classes",
            data.image_size(),
            data.classes,
            plan.input.size(),
            plan.classes
        )));
    }
    Ok(())
}

/// Something that can train and evaluate one network.
///
/// Steps may run asynchronously (a GPU queues them); metrics of training steps accumulate inside
/// the executor and are read back only by [`Executor::take_train_metrics`].
pub trait Executor {
    /// A short description for logs, e.g. `cpu (2 threads)`.
    fn describe(&self) -> String;

    /// One training step on the images `indices` of `data` with learning rate `lr`:
    /// forward, loss, backward, optimiser update.
    fn train_step(&mut self, data: &Dataset, indices: &[u32], lr: f32) -> Result<()>;

    /// The counts accumulated by training steps since the last call, and resets them.
    fn take_train_metrics(&mut self) -> Result<Metrics>;

    /// Inference-mode (no dropout) loss and accuracy over all of `data`.
    fn evaluate(&mut self, data: &Dataset) -> Result<Metrics>;

    /// The network's outputs `(N, classes)` for the images `indices` of `data`, inference mode.
    fn predict(&mut self, data: &Dataset, indices: &[u32]) -> Result<Vec<f32>>;

    /// A copy of all parameters (layout in the crate doc).
    fn parameters(&mut self) -> Result<Vec<f32>>;

    /// Replaces all parameters (e.g. to restore the best epoch's weights).
    fn set_parameters(&mut self, params: &[f32]) -> Result<()>;

    /// A copy of the optimiser's state (update counter and Adam's moments), for checkpoints.
    /// The default says that this executor cannot save it.
    fn optimizer_state(&mut self) -> Result<OptimizerState> {
        Err(Error::Config(format!(
            "the {} executor cannot save its optimiser state",
            self.describe()
        )))
    }

    /// Replaces the optimiser's state (from [`Executor::optimizer_state`] of an executor of
    /// the same network), so that training continues as if it had never stopped.
    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        let _ = state;
        Err(Error::Config(format!(
            "the {} executor cannot restore an optimiser state",
            self.describe()
        )))
    }
}
