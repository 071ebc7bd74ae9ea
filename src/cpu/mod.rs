//! The CPU reference executor: one file per op family, plain loops and a GEMM call, and
//! [`net::CpuNet`], which runs a planned network forward, backward and through the optimiser.

pub mod activation;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod executor;
pub mod gemm;
pub mod gemm_bf16;
pub mod lanes;
pub mod loss;
pub mod net;
pub mod norm;
pub mod optim;
pub mod pool;
mod team;
mod worker;

pub use executor::CpuExecutor;
pub use net::{BatchStats, CpuNet, Mode};
