//! The backend-neutral layer between the model and the executors: the [`Executor`] interface
//! the training loop drives, and what both executors share so that they compute the same thing —
//! [`Metrics`], the optimiser's state and Adam's step ([`optimizer`]), and the dropout keys
//! ([`keys`]). `cpu` and `gpu` depend on this module, never on each other or on the loop.

pub mod keys;
pub mod metrics;
pub mod optimizer;

pub use keys::{DropoutKey, dropout_seed};
pub use metrics::{Metrics, argmax};
pub use optimizer::{AdamStep, OptimizerState};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Plan;

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

    /// For executors that launch work on a device: (queue submits, compute dispatches) so far.
    /// `None` (the default) for executors that run on the host.
    fn launch_counts(&self) -> Option<(u64, u64)> {
        None
    }

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
