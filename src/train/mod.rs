//! The training loop: epochs, batches, the learning-rate schedule, the validation split, early
//! stopping, and the check that stops a run whose numbers diverged (`finite`). It drives any
//! [`crate::executor::Executor`] and knows neither executor; what a run leaves behind
//! (checkpoints, the run directory, plots) is [`crate::run`]'s.

pub mod finite;
pub mod schedule;
pub mod trainer;

pub use finite::EpochSnapshot;
pub use schedule::{learning_rate, step_rate};
pub use trainer::{
    Best, EpochLog, Observer, RunState, Splits, TrainReport, epoch_order, train, train_from,
};
