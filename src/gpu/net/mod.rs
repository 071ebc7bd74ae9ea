//! The recorded step: a planned network on the device.
//!
//! [`GpuNet`] mirrors `cpu::CpuNet`: numbered activation buffers (0 is the input batch), each
//! layer reading one and writing another (`flatten` passes its input's buffer on: a view), one
//! flat parameter buffer and one flat gradient buffer with the crate's layout, Adam's moments,
//! max-pool argmax masks and dropout masks, all allocated once for a maximum batch size. A
//! whole training step (gather, forward, loss and metrics, backward, update) is one dispatch list
//! ([`GpuNet::step_dispatches`], plain data), recorded into one command encoder and submitted
//! once. Losses and correct counts are added up on the device and read back only by
//! [`GpuNet::take_totals`].
//!
//! [`super::executor::GpuExecutor`] puts it behind [`crate::executor::Executor`]: the training
//! data lives on the device as bytes and a step uploads only its batch indices. The step's
//! dispatch list is built in `step.rs`, following the fusion rules of `fusion.rs`; `limits.rs`
//! checks a plan against the device before anything is allocated, and `state.rs` moves
//! parameters, optimiser state and statistics between host and device.
//!
//! With augmentation on (`Training::augment` > 0, image inputs), a training step gathers into
//! a buffer of its own and `augment.wgsl` warps it into the input buffer, drawing the warps of
//! `data::augment` for (augment seed, step, index); evaluation never augments.
//!
//! Batchnorm running statistics live in one device buffer (per batchnorm layer `r_μ (C)` then
//! `r_σ² (C)`, as [`crate::model::initial_running_stats`] lays them out); a training step updates them on the device.

mod fusion;
mod limits;
mod state;
mod step;

use fusion::{absorbed_by_later, fused_activation, fused_dropout};
pub use limits::check_limits;
use limits::{binding_limit, scratch_bytes};

use super::context::Gpu;
use super::kernel::{BufferId, Buffers, Program};
use super::ops::conv::ConvLayout;
use super::ops::data::{DeviceDataset, TOTALS_BYTES, ZERO_TOTALS, upload};
use super::ops::dense::DenseLayout;
use super::ops::norm::NormLayout;
use crate::data::Dataset;
use crate::data::augment::augment_seed;
use crate::error::{Error, Result};
use crate::executor::{check_data, dropout_seed};
use crate::model::{
    Activation, ConvShape, Layer, Optimizer, ParamLayout, Plan, PoolShape, Shape,
    initial_parameters, initial_running_stats,
};
use std::collections::HashMap;

/// What one layer does on the device, with its buffers.
#[derive(Clone, Debug)]
enum OpKind {
    Dense(DenseLayout),
    Conv(ConvLayout),
    MaxPool { shape: PoolShape, argmax: BufferId },
    Flatten,
    Dropout { rate: f32, mask: BufferId },
    Activation(Activation),
    BatchNorm(NormLayout),
    Softmax,
}

#[derive(Clone, Debug)]
struct Op {
    kind: OpKind,
    input: usize,
    output: usize,
}

/// Whether a step trains (with its learning rate) or only runs forward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepMode {
    /// Forward, loss, backward and one optimiser update with rate `lr`; dropout draws the
    /// masks of step [`GpuNet::updates`].
    Train {
        /// Learning rate.
        lr: f32,
    },
    /// Forward and loss only; dropout is the identity.
    Eval,
}

/// Which running totals a step adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Totals {
    /// Training steps' totals.
    Train,
    /// Evaluation totals.
    Eval,
}

impl StepMode {
    /// The totals a step of this mode adds its metrics to.
    pub fn totals(self) -> Totals {
        match self {
            StepMode::Train { .. } => Totals::Train,
            StepMode::Eval => Totals::Eval,
        }
    }
}

/// Loss sum, correct count and example count read back from the device.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeviceTotals {
    /// Σ per-example loss (CE `−ln p`, MSE `Σ_j (y − t)²`).
    pub loss_sum: f64,
    /// Examples whose first argmax is the label.
    pub correct: usize,
    /// Examples.
    pub count: usize,
}

impl DeviceTotals {
    /// The totals from the raw words of a totals buffer ([`TOTALS_BYTES`]): loss sum and its
    /// Kahan compensation (`f32` bits), correct count, example count.
    pub fn from_raw(raw: &[u32]) -> DeviceTotals {
        let (sum, comp) = (f32::from_bits(raw[0]) as f64, f32::from_bits(raw[1]) as f64);
        DeviceTotals {
            loss_sum: sum - comp,
            correct: raw[2] as usize,
            count: raw[3] as usize,
        }
    }
}

/// A planned network resident on one GPU. Every method takes the [`Gpu`] it was built on.
pub struct GpuNet {
    plan: Plan,
    ops: Vec<Op>,
    /// Per-example size of each activation buffer.
    sizes: Vec<usize>,
    arena: Buffers,
    acts: Vec<BufferId>,
    act_grads: Vec<BufferId>,
    params: BufferId,
    grads: BufferId,
    moments: Option<(BufferId, BufferId)>,
    /// Batchnorm running statistics (4 unused bytes without batchnorm).
    running: BufferId,
    n_running: usize,
    labels: BufferId,
    indices: BufferId,
    totals: [BufferId; 2],
    n_params: usize,
    capacity: usize,
    updates: u32,
    dropout_seed: u32,
    /// Where a training step gathers its batch before the warp, with augmentation on.
    augment_src: Option<BufferId>,
    augment_seed: u32,
    programs: HashMap<(usize, bool, Option<BufferId>), Program>,
}

impl GpuNet {
    /// Builds the network for batches of up to `capacity` examples, with the parameters
    /// ([`initial_parameters`]), dropout seed and augment seed of a run with seed `seed`, as the
    /// CPU executor derives them, so both executors start identical. Checks every buffer
    /// against the device's limits first.
    pub fn new(gpu: &Gpu, plan: &Plan, seed: u64, capacity: usize) -> Result<GpuNet> {
        let initial = initial_parameters(plan, seed);
        let mut net = GpuNet::with_params(gpu, plan, &initial, capacity)?;
        net.dropout_seed = dropout_seed(seed);
        net.augment_seed = augment_seed(seed);
        Ok(net)
    }

    /// Builds the network with the given flat parameters (layout in the crate doc), fresh
    /// batchnorm running statistics (`r_μ = 0`, `r_σ² = 1`) and dropout seed 0; see
    /// [`GpuNet::new`].
    pub fn with_params(gpu: &Gpu, plan: &Plan, initial: &[f32], capacity: usize) -> Result<GpuNet> {
        let capacity = capacity.max(1);
        check_limits(gpu, plan, capacity)?;
        let mut arena = Buffers::new();
        let n_params = plan.params();
        if initial.len() != n_params {
            return Err(Error::Config(format!(
                "expected {n_params} parameters, got {}",
                initial.len()
            )));
        }
        let params = arena.with_data(gpu, "parameters", initial);
        let grads = arena.alloc(gpu, "gradients", 4 * n_params);
        let moments = match plan.network.training.optimizer {
            Optimizer::Adam { .. } => {
                let zeros = vec![0.0f32; n_params];
                Some((
                    arena.with_data(gpu, "adam m", &zeros),
                    arena.with_data(gpu, "adam v", &zeros),
                ))
            }
            Optimizer::Sgd => None,
        };
        let running_init = initial_running_stats(plan);
        let n_running = running_init.len();
        let running = if n_running == 0 {
            arena.alloc(gpu, "batchnorm running statistics", 4)
        } else {
            arena.with_data(gpu, "batchnorm running statistics", &running_init)
        };
        let scratch = arena.alloc(
            gpu,
            "split-k partial products",
            scratch_bytes(plan, capacity).max(4),
        );
        let buffers = plan.buffers();
        let layout = ParamLayout::of(plan);
        let mut ops = Vec::new();
        for (i, (planned, slots)) in plan.layers.iter().zip(&layout.layers).enumerate() {
            let unsupported = || {
                Error::layer(
                    i,
                    format!(
                        "the GPU executor cannot run {} on input {}",
                        planned.layer, planned.input
                    ),
                )
            };
            let kind = match planned.layer {
                Layer::Dense { .. } => OpKind::Dense(DenseLayout {
                    params,
                    grads,
                    scratch,
                    w_off: slots.weight.start,
                    b_off: slots.bias.start,
                    d_in: planned.input.size(),
                    d_out: planned.output.size(),
                }),
                Layer::Conv2d { .. } => OpKind::Conv(ConvLayout {
                    params,
                    grads,
                    scratch,
                    w_off: slots.weight.start,
                    b_off: slots.bias.start,
                    shape: ConvShape::of(planned).ok_or_else(unsupported)?,
                }),
                Layer::MaxPool { .. } => OpKind::MaxPool {
                    shape: PoolShape::of(planned).ok_or_else(unsupported)?,
                    argmax: arena.alloc(gpu, "argmax", 4 * capacity * planned.output.size()),
                },
                Layer::Flatten => OpKind::Flatten,
                Layer::Dropout { rate } => OpKind::Dropout {
                    rate,
                    mask: arena.alloc(gpu, "dropout mask", 4 * capacity * planned.output.size()),
                },
                Layer::Activation(a) => OpKind::Activation(a),
                Layer::BatchNorm => {
                    let (c, inner) = planned.input.features();
                    OpKind::BatchNorm(NormLayout {
                        params,
                        grads,
                        g_off: slots.weight.start,
                        running,
                        r_off: slots.running.start,
                        saved: arena.alloc(gpu, "batchnorm saved statistics", 4 * 3 * c),
                        c,
                        inner,
                    })
                }
                Layer::Softmax => OpKind::Softmax,
            };
            let (input, output) = buffers.layers[i];
            ops.push(Op {
                kind,
                input,
                output,
            });
        }
        let sizes = buffers.sizes;
        // Buffers only a fused layer would have written get a placeholder.
        let unused: Vec<usize> = (0..ops.len())
            .filter(|&i| fused_activation(&ops, i).is_some() || fused_dropout(&ops, i).is_some())
            .map(|i| ops[i].output)
            .collect();
        let acts = sizes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let len = if unused.contains(&i) {
                    4
                } else {
                    4 * capacity * s
                };
                arena.alloc(gpu, &format!("activation {i}"), len)
            })
            .collect();
        // Buffer 0 (the input) never needs a gradient, nor the output of a layer whose backward
        // a later kernel applies (`absorbed`), nor a pool's output that a fused dropout
        // replaces.
        let no_grad: Vec<usize> = (0..ops.len())
            .filter(|&i| absorbed_by_later(&ops, i) || fused_dropout(&ops, i).is_some())
            .map(|i| ops[i].output)
            .chain([0])
            .collect();
        let act_grads = sizes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let len = if no_grad.contains(&i) {
                    4
                } else {
                    4 * capacity * s
                };
                arena.alloc(gpu, &format!("activation gradient {i}"), len)
            })
            .collect();
        let totals = [
            arena.alloc(gpu, "train totals", TOTALS_BYTES),
            arena.alloc(gpu, "eval totals", TOTALS_BYTES),
        ];
        for t in totals {
            arena.write(gpu, t, 0, &ZERO_TOTALS);
        }
        let augment_src = (plan.network.training.augment > 0.0
            && matches!(plan.input, Shape::Image { .. }))
        .then(|| arena.alloc(gpu, "batch before augmentation", 4 * capacity * sizes[0]));
        Ok(GpuNet {
            plan: plan.clone(),
            ops,
            sizes,
            labels: arena.alloc(gpu, "labels", 4 * capacity),
            indices: arena.alloc(gpu, "batch indices", 4 * capacity),
            arena,
            acts,
            act_grads,
            params,
            grads,
            moments,
            running,
            n_running,
            totals,
            n_params,
            capacity,
            updates: 0,
            dropout_seed: 0,
            augment_src,
            augment_seed: 0,
            programs: HashMap::new(),
        })
    }

    /// The plan this network runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The largest batch the buffers hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Updates applied so far (the next training step's dropout masks use this number).
    pub fn updates(&self) -> u32 {
        self.updates
    }

    /// Device bytes held by this network's buffers (constant after construction except for
    /// uploaded datasets).
    pub fn device_bytes(&self) -> u64 {
        self.arena.total_bytes()
    }

    /// Uploads a dataset into this network's buffer arena (images as packed bytes).
    pub fn upload(&mut self, gpu: &Gpu, data: &Dataset) -> Result<DeviceDataset> {
        check_data(&self.plan, data)?;
        let bytes = data.images.len() as u64;
        let limit = binding_limit(gpu);
        if bytes > limit {
            return Err(Error::Gpu(format!(
                "the dataset's {bytes} bytes of images exceed this adapter's \
                 max_storage_buffer_binding_size / max_buffer_size of {limit} bytes"
            )));
        }
        Ok(upload(gpu, &mut self.arena, data))
    }

    /// Frees a dataset uploaded by [`GpuNet::upload`] (and forgets the programs bound to it).
    pub fn release(&mut self, data: &DeviceDataset) {
        self.programs.retain(|key, _| key.2 != Some(data.images));
        self.arena.release(data.images);
        self.arena.release(data.labels);
    }

    /// Writes a host batch `x (n, C, H, W)` and its labels into the input buffers, for
    /// [`GpuNet::step`] with no dataset (tests and `verify`).
    pub fn load_batch(&self, gpu: &Gpu, x: &[f32], labels: &[u8]) -> Result<()> {
        let n = labels.len();
        self.check_batch(n)?;
        if x.len() != n * self.sizes[0] {
            return Err(Error::Config(format!(
                "a batch of {n} labels needs {} input values, got {}",
                n * self.sizes[0],
                x.len()
            )));
        }
        self.arena.write(gpu, self.acts[0], 0, x);
        let labels: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        self.arena.write(gpu, self.labels, 0, &labels);
        Ok(())
    }

    fn check_batch(&self, n: usize) -> Result<()> {
        if n == 0 || n > self.capacity {
            return Err(Error::Config(format!(
                "a batch of {n} examples does not fit this GPU network, built for 1 to {}",
                self.capacity
            )));
        }
        Ok(())
    }

    /// The buffers the network's dispatches refer to.
    pub fn arena(&self) -> &Buffers {
        &self.arena
    }

    /// Writes the batch's image numbers for the next step's gather.
    pub fn write_indices(&self, gpu: &Gpu, indices: &[u32]) -> Result<()> {
        self.check_batch(indices.len())?;
        self.arena.write(gpu, self.indices, 0, indices);
        Ok(())
    }

    /// Zeroes the running totals `which` without reading them (queued: no wait).
    pub fn reset_totals(&self, gpu: &Gpu, which: Totals) {
        self.arena
            .write(gpu, self.totals[which as usize], 0, &ZERO_TOTALS);
    }

    /// Reads and resets the running totals (the only read-back of training metrics).
    pub fn take_totals(&self, gpu: &Gpu, which: Totals) -> Result<DeviceTotals> {
        let id = self.totals[which as usize];
        let raw = self.arena.read_u32(gpu, id, 4)?;
        self.reset_totals(gpu, which);
        Ok(DeviceTotals::from_raw(&raw))
    }

    /// The network's outputs `(n, classes)` of the last step.
    pub fn outputs(&self, gpu: &Gpu, n: usize) -> Result<Vec<f32>> {
        let last = self.ops.last().map_or(0, |op| op.output);
        self.arena
            .read_f32(gpu, self.acts[last], n * self.plan.classes)
    }
}
