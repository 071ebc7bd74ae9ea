//! The GPU executor: adapter discovery and the opened device ([`context`]), kernels and
//! dispatch lists ([`kernel`]), one launcher per CPU twin ([`ops`]), each backed by a WGSL
//! shader in `shaders/`, and the recorded training step and executor ([`net`]).
//!
//! It depends on the model, the data and the neutral [`crate::executor`] layer only, never on
//! the CPU executor or the training loop; [`crate::verify::verify()`] holds it to the CPU executor.

pub mod context;
pub mod executor;
pub mod kernel;
pub mod net;
pub mod ops;
pub mod pipeline_cache;
pub mod plan;
pub mod profile;

pub use context::{AdapterSummary, Counters, Gpu, NO_ADAPTER_HINT, list_adapters};
pub use executor::GpuExecutor;
pub use kernel::{BufferId, Buffers, Dispatch, Kernel, Program};
pub use net::GpuNet;
pub use plan::{ExecutionPlan, StepKeys, StepMode, Totals};
