//! Checkpoints in the safetensors format, laid out as PyTorch has them.
//!
//! ## Tensors
//!
//! Named like the state dict of a `torch.nn.Sequential` holding the network's layers in order
//! (0-based layer index, every layer counted, parameter-free ones too), all `F32`:
//!
//! - dense layer `i`: `"{i}.weight"` `(D_out, D_in)` and `"{i}.bias"` `(D_out)`, as
//!   `torch.nn.Linear`;
//! - convolution layer `i`: `"{i}.weight"` `(F, C, K, K)` and `"{i}.bias"` `(F)`, as
//!   `torch.nn.Conv2d`;
//! - batchnorm layer `i`: `"{i}.weight"` (scale) and `"{i}.bias"` (shift), `(C)` or `(D)`;
//! - Adam's moments, when the optimiser is Adam and has taken a step:
//!   `"optimizer.m.{name}"` and `"optimizer.v.{name}"` for each parameter tensor `name` above,
//!   same shape. (`torch.load_file` returns them too; drop the `optimizer.` keys before
//!   `load_state_dict`.)
//! - with weight averaging (`ema` in the network), the parameter tensors above hold the
//!   averaged weights (what eval, predict and PyTorch should use), and
//!   `"optimizer.raw.{name}"` the weights training updates, for resuming.
//!
//! Every value is finite: a checkpoint holding a NaN or an infinity is neither written nor read
//! (the error names the tensor).
//!
//! ## Metadata (all strings, as safetensors requires)
//!
//! In the header before the tensors, by key, so that the same checkpoint is the same bytes
//! (the history's wall times aside, two runs of the same command write byte-identical files).
//!
//! `format` ([`FORMAT`]), `shadernet_version`, `network` (the network file text of
//! [`network_to_text`](crate::model::network_to_text), training settings included), `name`, `description`, `input_shape`
//! (`C,H,W`),
//! `classes`, `epoch` (epochs completed), `updates` (optimiser steps taken: Adam's `t` and the
//! dropout step counter), `seed`, `validation` (training images held out), `data` (the data
//! directory), `backend`, `best_epoch` and `best_validation_error` (empty when there is no
//! validation split), `stopped_early`, and `history`: a JSON list with one object per epoch,
//! field for field an [`EpochLog`]:
//!
//! ```text
//! [{"epoch":1,"lr":0.01,"train":{"loss_sum":1234.5,"correct":52000,"count":55000},
//!   "validation":{"loss_sum":98.7,"correct":4800,"count":5000},"train_seconds":3.2,"seconds":3.4}, ...]
//! ```
//!
//! Numbers are written in the shortest form that reads back as the same value, bit for bit;
//! a number that is not finite (the loss of a diverged run) is the string `"NaN"`, `"inf"` or
//! `"-inf"`, as JSON has no such numbers (a NaN's sign and payload are not kept). Checkpoints of the older format [`FORMAT_1`] hold
//! one line of numbers per epoch instead (`epoch lr train_loss_sum train_correct train_count
//! val_loss_sum val_correct val_count train_seconds seconds`); they load and resume as before.
//!
//! Shuffles are `Rng::derived(seed, 1000 + epoch)` and dropout masks a pure function of
//! `(seed, updates, layer, index)`, so parameters, moments, `epoch`, `updates` and `seed` are
//! all a resumed run needs to repeat an uninterrupted one exactly. To resume: build the
//! executor with the checkpoint's `seed` (it also seeds the dropout masks), then
//! [`Executor::set_parameters`](crate::executor::Executor::set_parameters) and
//! [`Executor::set_optimizer_state`](crate::executor::Executor::set_optimizer_state), and hand
//! [`crate::train::train_from`] a [`crate::train::RunState`] with the checkpoint's `epochs`, `best` (its
//! weights from `best.safetensors`, or from this checkpoint when it is the best) and
//! `stopped_early`. On the CPU executor with the same thread count the result is bit-identical
//! to an uninterrupted run (`tests/checkpoint.rs`); the GPU executor is deterministic on one
//! device, so the same holds there.

mod checks;
mod names;
mod read;
mod write;

pub(super) use checks::echo;

use super::atomic::write_atomic;
use crate::error::Result;
use crate::executor::OptimizerState;
use crate::model::{Network, Plan, Shape};
use crate::train::EpochLog;
use std::path::Path;

/// The value of the `format` metadata key of checkpoints this version writes (`history` in
/// JSON).
pub const FORMAT: &str = "shadernet-checkpoint-2";

/// The format before it: the same but for `history`, one line of numbers per epoch. Still
/// read.
pub const FORMAT_1: &str = "shadernet-checkpoint-1";

/// A saved training run: the network, its parameters, the optimiser's state and the history.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The network with its training settings, as the run used them.
    pub network: Network,
    /// The shape of one input image.
    pub input: Shape,
    /// Number of classes.
    pub classes: usize,
    /// All parameters (layout in the crate doc), then the batchnorm running statistics.
    pub params: Vec<f32>,
    /// Update counter and Adam's moments.
    pub optimizer: OptimizerState,
    /// The run's seed (initialisation, shuffles, validation split, dropout).
    pub seed: u64,
    /// Training images held out for validation.
    pub validation: usize,
    /// The data directory the run trained on.
    pub data: String,
    /// The executor that wrote it, e.g. `cpu (2 threads)`.
    pub backend: String,
    /// Every epoch run so far; `epochs.len()` is the epoch this checkpoint is from.
    pub epochs: Vec<EpochLog>,
    /// The best epoch so far and its validation error, when there is a validation split.
    pub best: Option<(usize, f64)>,
    /// Whether early stopping has ended the run.
    pub stopped_early: bool,
}

impl Checkpoint {
    /// The epoch the checkpoint was taken after (1-based; 0 before training).
    pub fn epoch(&self) -> usize {
        self.epochs.len()
    }

    /// Plans the checkpoint's network for its input shape and classes.
    pub fn plan(&self) -> Result<Plan> {
        self.network.plan(self.input, self.classes)
    }

    /// Writes the checkpoint to `path` atomically (a temporary file, then a rename), so a kill
    /// at any moment leaves the previous checkpoint or this one, never a broken file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`]. Errors name the file and what is
    /// wrong: not a safetensors file (truncated, corrupt), missing or malformed metadata, a
    /// network that does not plan, a tensor missing or of the wrong shape (all are checked
    /// before their values are allocated, so a network far larger than the file costs
    /// nothing), or a tensor holding a NaN or an infinity (named, with the first such value's
    /// index).
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = crate::files::read_regular(
            path,
            "reading the checkpoint",
            "a checkpoint (.safetensors) written by `shadernet train`",
        )?;
        Checkpoint::from_bytes(&bytes, path)
    }
}
