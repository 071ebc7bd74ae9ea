//! Training: the [`Executor`] interface, the learning-rate schedules and the loop.

pub mod executor;
pub mod schedule;
pub mod trainer;

pub use executor::{Executor, Metrics};
pub use schedule::learning_rate;
pub use trainer::{EpochLog, TrainReport, train};
