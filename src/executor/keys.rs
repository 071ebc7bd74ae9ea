//! The keys both executors draw random masks from, so that they draw the same ones: dropout's
//! mask is a pure function of (run's dropout seed, step, layer, element), see
//! [`crate::rng::counter_uniform`].

use crate::rng::Rng;

/// The dropout seed of a run with seed `run_seed`; both executors derive it this way, so their
/// masks agree.
pub fn dropout_seed(run_seed: u64) -> u32 {
    (Rng::derived(run_seed, 2).next_u64() >> 32) as u32
}

/// Which mask to draw: a pure function of these numbers.
#[derive(Clone, Copy, Debug)]
pub struct DropoutKey {
    /// The run's dropout seed.
    pub seed: u32,
    /// The training step (0-based).
    pub step: u32,
    /// The layer's index in the network.
    pub layer: u32,
}
