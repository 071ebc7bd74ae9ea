#![warn(missing_docs)]
//! # shadernet
//!
//! Train image-recognition networks from scratch. Every layer's forward and backward pass is a
//! WGSL compute shader run through `wgpu` (any Vulkan, Metal or DX12 GPU); a plain CPU executor
//! runs the same network as the reference that every GPU kernel is held to.
//!
//! ```text
//!             data/ (IDX .gz)          model spec (preset or file)
//!                  │                            │
//!         data: parse, check,            model: layers, shape inference,
//!         split, gather                  parameter and FLOP counts, presets
//!                  └──────────┬─────────────────┘
//!                             ▼
//!                 train: the loop — epochs, batches, schedule,
//!                 a validation split, metrics
//!                             │   one interface: [`train::Executor`]
//!              ┌──────────────┴───────────────┐
//!              ▼                              ▼
//!    cpu: reference executor          gpu: wgpu executor
//! ```
//!
//! ## Dimension letters
//!
//! Used in every shape comment: `N` batch, `C` channels in, `F` filters (channels out),
//! `H`/`W` height and width, `K` kernel size, `S` stride, `P` padding, `D_in`/`D_out` dense
//! sizes. Tensors are row-major; images are `(N, C, H, W)`.
//!
//! ## Layouts (shared by both executors and by checkpoints)
//!
//! - dense weight `(D_out, D_in)`, bias `(D_out)`: `y = x·Wᵀ + b`, as `torch.nn.Linear`;
//! - convolution weight `(F, C, K, K)`, bias `(F)`, as `torch.nn.Conv2d`;
//! - batchnorm scale `γ (C)` then shift `β (C)` (`C` = channels of an image, or the features of a
//!   flat input), initialised to 1 and 0, as `torch.nn.BatchNorm1d/2d`;
//! - all parameters of a network live in one flat `f32` vector, layer by layer, weight then bias;
//! - batchnorm running statistics (`r_μ (C)` then `r_σ² (C)` per batchnorm layer, in layer order)
//!   are state, not trainable parameters: the executors keep them apart from the flat vector
//!   (`CpuNet::running_stats`, `GpuNet::running_stats`), but [`train::Executor::parameters`] and
//!   `set_parameters` carry them, after the [`model::Plan::params`] trainable values
//!   ([`model::Plan::running_stats`] of them), so restoring the best epoch or a checkpoint
//!   restores them too.
//!
//! ## Module map
//!
//! - [`data`]: IDX reader, datasets, the validation split;
//! - [`model`]: the network spec, shape inference, counts, presets, the text format;
//! - [`cpu`]: the reference executor, one file per op family;
//! - [`train`]: the training loop and the [`train::Executor`] interface;
//! - [`gpu`]: the wgpu executor: adapters, one WGSL shader per op and direction, the recorded
//!   step, and [`gpu::verify()`];
//! - [`rng`]: seeded generators shared by both executors.

pub mod bench;
pub mod cpu;
pub mod data;
pub mod error;
pub mod gpu;
pub mod model;
pub mod rng;
pub mod train;

pub use error::{Error, Result};
