//! Training: the [`Executor`] interface, the learning-rate schedules, the loop, checkpoints
//! ([`checkpoint`], written atomically by [`atomic`]) and the run directory ([`rundir`]) with its
//! pictures ([`plots`], drawn on a [`canvas`]).

pub mod atomic;
pub mod canvas;
pub mod checkpoint;
pub mod executor;
pub mod plots;
pub mod rundir;
pub mod schedule;
pub mod trainer;

pub use checkpoint::{Checkpoint, parameter_layout};
pub use executor::{Executor, Metrics, OptimizerState, check_data};
pub use schedule::learning_rate;
pub use trainer::{Best, EpochLog, Observer, RunState, Splits, TrainReport, train, train_from};
