//! What both executors' optimisers share: the state a checkpoint holds, and Adam's step.

use crate::error::{Error, Result};

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
    /// With weight averaging (`Training::ema`), the weights training updates, laid out like
    /// the parameters (the parameters themselves are then the averaged weights); else empty.
    pub raw_params: Vec<f32>,
}

impl OptimizerState {
    /// Checks that the moments fit a network of `n_params` parameters: both empty, or both
    /// that long.
    pub fn check_fits(&self, n_params: usize) -> Result<()> {
        let (m, v) = (self.adam_m.len(), self.adam_v.len());
        let raw = self.raw_params.len();
        if raw != 0 && raw != n_params {
            return Err(Error::Mismatch(format!(
                "{raw} training weights do not fit a network of {n_params} parameters"
            )));
        }
        if m != v || (m != 0 && m != n_params) {
            return Err(Error::Mismatch(format!(
                "optimiser moments of {m} and {v} values do not fit a network of {n_params} \
                 parameters"
            )));
        }
        Ok(())
    }
}

/// Adam's constants and the 1-based step `t` of this update.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// Learning rate.
    pub lr: f32,
    /// β1.
    pub beta1: f32,
    /// β2.
    pub beta2: f32,
    /// ε.
    pub epsilon: f32,
    /// 1-based step number, for the bias correction.
    pub t: u32,
}
