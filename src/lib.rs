#![warn(missing_docs)]
//! # shadernet
//!
//! Train image-recognition networks from scratch. Every layer's forward and backward pass is a
//! WGSL compute shader run through `wgpu` (any Vulkan, Metal or DX12 GPU); a plain CPU executor
//! runs the same network as the reference that every GPU kernel is held to.
//!
//! ```text
//!      data: IDX files, datasets,          model: layers, shapes, the plan, the one
//!      validation split, augmentation      parameter layout table, the training recipe
//!                  └──────────────┬───────────────┘
//!                                 ▼
//!      executor: the Executor interface, Metrics, optimiser state, Adam's step, dropout keys
//!                  ┌──────────────┴───────────────┐
//!                  ▼                              ▼
//!      cpu: reference executor          gpu: wgpu executor (shaders/*.wgsl)
//!                  └──────────────┬───────────────┘
//!                                 ▼
//!      verify: the one module that sees both executors (GPU op vs CPU twin)
//!
//!      train: the loop (epochs, batches, schedule, early stopping), on any Executor
//!      run: what a run leaves (checkpoints, run directory, plots)     bench: timed steps
//!      the `shadernet` binary (src/main.rs, src/cli): picks an executor, wires it all up
//! ```
//!
//! Arrows only point down: `cpu` and `gpu` never use each other, the loop or the run
//! artefacts; `model` uses neither executor nor the data; the loop sees only the
//! [`executor::Executor`] interface. `tests/layering.rs` parses every source file and fails on
//! any edge outside its table, however it is spelled.
//!
//! ## Dimension letters
//!
//! Used in every shape comment: `N` batch, `C` channels in, `F` filters (channels out),
//! `H`/`W` height and width, `K` kernel size, `S` stride, `P` padding, `D_in`/`D_out` dense
//! sizes. Tensors are row-major; images are `(N, C, H, W)`.
//!
//! ## Layouts (shared by both executors and by checkpoints)
//!
//! [`model::ParamLayout`] is the one table of where each tensor lies; allocation on both
//! executors, the initial values and checkpoints all read it.
//! - dense weight `(D_out, D_in)`, bias `(D_out)`: `y = x·Wᵀ + b`, as `torch.nn.Linear`;
//! - convolution weight `(F, C, K, K)`, bias `(F)`, as `torch.nn.Conv2d`;
//! - batchnorm scale `γ (C)` then shift `β (C)` (`C` = channels of an image, or the features of a
//!   flat input), initialised to 1 and 0, as `torch.nn.BatchNorm1d/2d`;
//! - all parameters of a network live in one flat `f32` vector, layer by layer, weight then bias;
//! - batchnorm running statistics (`r_μ (C)` then `r_σ² (C)` per batchnorm layer, in layer order)
//!   are state, not trainable parameters: the executors keep them apart from the flat vector,
//!   but [`executor::Executor::parameters`] and `set_parameters` carry them after the
//!   [`model::Plan::params`] trainable values ([`model::Plan::running_stats`] of them), so
//!   restoring the best epoch or a checkpoint restores them too.
//!
//! ## Adding a layer type
//!
//! Every per-layer `match` is exhaustive (no `_ =>` arm), so the compiler lists the places:
//! 1. [`model::Layer`]: the variant, its shape inference and counts (`model/spec.rs`), its line
//!    in the network text format (`model/text/parse.rs` and `model/text/write.rs`), its
//!    parameters and initial values
//!    (`model/layout.rs`);
//! 2. the CPU twin: `cpu/<op>.rs` (forward and backward), its step in `cpu/net.rs` and
//!    `cpu/worker.rs`;
//! 3. the GPU kernel: `shaders/<op>_forward.wgsl` and `_backward.wgsl`, the kernel's entry in
//!    `gpu/kernel.rs`, its launcher `gpu/ops/<op>.rs`, its step in `gpu/net/mod.rs` and
//!    `gpu/net/step.rs`;
//! 4. the checks: a finite-difference test (`tests/cpu_gradcheck.rs`), a GPU-vs-CPU test
//!    (`tests/gpu_vs_cpu.rs`) and a row of [`verify()`](verify::verify).
//!
//! ## Module map
//!
//! - [`error`]: one error type with context;
//! - [`files`]: the files a user names are read only when they are regular files;
//! - [`rng`]: seeded and counter-based generators that both executors reproduce;
//! - [`model`]: the network spec, shape inference, the parameter layout, the recipe, counts,
//!   presets, the text format;
//! - [`data`]: IDX reader, datasets, the validation split, augmentation;
//! - [`executor`]: the [`executor::Executor`] interface and what both executors share;
//! - [`cpu`]: the reference executor, one file per op family;
//! - [`gpu`]: the wgpu executor: adapters, one WGSL shader per op and direction, the recorded
//!   step;
//! - [`verify`]: every GPU op against its CPU twin on the user's GPU;
//! - [`train`]: the training loop and the learning-rate schedules;
//! - [`run`]: checkpoints, the run directory, plots;
//! - [`mod@bench`]: timed training steps on any executor.

pub mod bench;
pub mod cpu;
pub mod data;
pub mod error;
pub mod executor;
pub mod files;
pub mod gpu;
pub mod model;
pub mod rng;
pub mod run;
pub mod train;
pub mod verify;

pub use error::{Error, Result};
