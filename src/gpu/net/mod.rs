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
//! [`super::executor::GpuExecutor`] puts it behind [`crate::train::Executor`]: the training
//! data lives on the device as bytes and a step uploads only its batch indices. The step's
//! dispatch list is built in `step.rs`.
//!
//! With augmentation on (`Training::augment` > 0, image inputs), a training step gathers into
//! a buffer of its own and `augment.wgsl` warps it into the input buffer, drawing the warps of
//! `data::augment` for (augment seed, step, index); evaluation never augments.
//!
//! Batchnorm running statistics live in one device buffer (per batchnorm layer `r_μ (C)` then
//! `r_σ² (C)`, as [`CpuNet::running_stats`]); a training step updates them on the device.

mod step;

use super::context::Gpu;
use super::kernel::{BufferId, Buffers, MAX_GROUPS_PER_DIM, Program};
use super::ops::conv::ConvLayout;
use super::ops::data::{DeviceDataset, TOTALS_BYTES, upload};
use super::ops::dense::DenseLayout;
use super::ops::gemm::BLOCK_N;
use super::ops::norm::NormLayout;
use crate::cpu::CpuNet;
use crate::cpu::conv::ConvShape;
use crate::cpu::dropout::dropout_seed;
use crate::cpu::net::initial_running_stats;
use crate::cpu::pool::PoolShape;
use crate::data::Dataset;
use crate::data::augment::augment_seed;
use crate::error::{Error, Result};
use crate::model::{Activation, Layer, Optimizer, Plan, Shape, Units};
use crate::train::{OptimizerState, check_data};
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

/// The activation fused into op `index` (a dense or conv layer directly followed by tanh or
/// ReLU): that layer's kernel applies it and writes the activation's output buffer, so the
/// layer's own output buffer is never used (no backward pass reads it either: the
/// activation's backward uses its output).
fn fused_activation(ops: &[Op], index: usize) -> Option<Activation> {
    match (&ops[index].kind, ops.get(index + 1).map(|next| &next.kind)) {
        (OpKind::Dense(_) | OpKind::Conv(_), Some(OpKind::Activation(a))) => Some(*a),
        _ => None,
    }
}

/// The element-wise layers just before op `index` whose backward op `index`'s backward kernel
/// applies as it writes its input gradient, so that they have no backward dispatch and their
/// output gradients no buffer (none of them at the network's input, where no gradient is
/// wanted):
/// - before a dense or conv layer, a dropout (the data gradient's store multiplies by its
///   mask), unless that dropout is fused into a max-pool before it, and then the ReLU or tanh
///   before that dropout, if any;
/// - otherwise a ReLU or tanh directly before a dense, conv, max-pool or dropout layer (unless
///   that dropout is itself taken by the layer after it).
///
/// The activation's derivative is read from its output: the dropout's input, or the layer's
/// own input when no dropout sits between.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Absorbed {
    /// The dropout layer's index and mask.
    dropout: Option<(usize, BufferId)>,
    /// The activation layer's index and kind.
    activation: Option<(usize, Activation)>,
}

impl Absorbed {
    /// The first layer whose input gradient the kernel writes: the earliest absorbed one.
    fn first(&self, index: usize) -> usize {
        self.activation
            .map(|(a, _)| a)
            .or(self.dropout.map(|(d, _)| d))
            .unwrap_or(index)
    }

    fn contains(&self, layer: usize) -> bool {
        self.dropout.is_some_and(|(d, _)| d == layer)
            || self.activation.is_some_and(|(a, _)| a == layer)
    }
}

fn absorbed(ops: &[Op], index: usize) -> Absorbed {
    let Some(op) = ops.get(index) else {
        return Absorbed::default();
    };
    let at = |i: usize| ops.get(i).filter(|op| op.input != 0).map(|op| &op.kind);
    let activation_at = |i: usize| match at(i) {
        Some(OpKind::Activation(a)) => Some((i, *a)),
        _ => None,
    };
    let Some(before) = index.checked_sub(1) else {
        return Absorbed::default();
    };
    let layer = matches!(op.kind, OpKind::Dense(_) | OpKind::Conv(_));
    let dropout_in_pool = before > 0 && fused_dropout(ops, before - 1).is_some();
    if let (true, Some(OpKind::Dropout { mask, .. }), false) = (layer, at(before), dropout_in_pool)
    {
        return Absorbed {
            dropout: Some((before, *mask)),
            activation: before.checked_sub(1).and_then(activation_at),
        };
    }
    let takes_activation = match op.kind {
        OpKind::Dense(_) | OpKind::Conv(_) | OpKind::MaxPool { .. } => true,
        OpKind::Dropout { .. } => !absorbed(ops, index + 1).contains(index),
        _ => false,
    };
    Absorbed {
        dropout: None,
        activation: activation_at(before).filter(|_| takes_activation),
    }
}

/// Whether op `index`'s backward is done by a later layer's kernel ([`absorbed`]).
fn absorbed_by_later(ops: &[Op], index: usize) -> bool {
    absorbed(ops, index + 1).contains(index) || absorbed(ops, index + 2).contains(index)
}

/// The dropout fused into op `index`: a max-pool directly followed by a dropout layer, whose
/// rate and mask buffer this returns. The pool's forward draws the dropout's mask and writes
/// the dropout's output (the pool's own output buffer is never used); the pool's backward
/// reads the dropout's output gradient and applies the mask as it gathers (the dropout's input
/// gradient has no buffer either).
fn fused_dropout(ops: &[Op], index: usize) -> Option<(f32, BufferId)> {
    match (&ops[index].kind, &ops.get(index + 1)?.kind) {
        (OpKind::MaxPool { .. }, OpKind::Dropout { rate, mask }) => Some((*rate, *mask)),
        _ => None,
    }
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
    /// Builds the network for batches of up to `capacity` examples, with the parameters and
    /// dropout seed that `CpuNet::new(plan, seed, 1)` starts from and the augment seed of
    /// `CpuExecutor::new(plan, seed, _)`, so both executors start identical. Checks every
    /// buffer against the device's limits first.
    pub fn new(gpu: &Gpu, plan: &Plan, seed: u64, capacity: usize) -> Result<GpuNet> {
        let cpu = CpuNet::new(plan, seed, 1)?;
        let mut net = GpuNet::with_params(gpu, plan, cpu.params(), capacity)?;
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
        let mut r_off = 0;
        let buffers = plan.buffers();
        let mut ops = Vec::new();
        let mut offset = 0;
        for (i, planned) in plan.layers.iter().enumerate() {
            let kind = match (planned.layer, planned.input, planned.output) {
                (
                    Layer::Dense {
                        units: Units::Fixed(d_out),
                    },
                    Shape::Flat(d_in),
                    _,
                ) => {
                    let w_off = offset;
                    offset += d_out * d_in + d_out;
                    OpKind::Dense(DenseLayout {
                        params,
                        grads,
                        scratch,
                        w_off,
                        b_off: w_off + d_out * d_in,
                        d_in,
                        d_out,
                    })
                }
                (Layer::Conv2d { .. }, _, _) if ConvShape::of(planned).is_some() => {
                    let shape = ConvShape::of(planned).expect("checked by the guard");
                    let (filters, weights) = (shape.f, shape.f * shape.col_rows());
                    let w_off = offset;
                    offset += weights + filters;
                    OpKind::Conv(ConvLayout {
                        params,
                        grads,
                        scratch,
                        w_off,
                        b_off: w_off + weights,
                        shape,
                    })
                }
                (
                    Layer::MaxPool { size, stride },
                    Shape::Image { c, h, w },
                    Shape::Image { h: ho, w: wo, .. },
                ) => OpKind::MaxPool {
                    shape: PoolShape {
                        c,
                        h,
                        w,
                        size,
                        stride,
                        ho,
                        wo,
                    },
                    argmax: arena.alloc(gpu, "argmax", 4 * capacity * planned.output.size()),
                },
                (Layer::Flatten, _, _) => OpKind::Flatten,
                (Layer::Dropout { rate }, _, _) => OpKind::Dropout {
                    rate,
                    mask: arena.alloc(gpu, "dropout mask", 4 * capacity * planned.output.size()),
                },
                (Layer::Activation(a), _, _) => OpKind::Activation(a),
                (Layer::BatchNorm, input, _) => {
                    let (c, inner) = input.features();
                    let layout = NormLayout {
                        params,
                        grads,
                        g_off: offset,
                        running,
                        r_off,
                        saved: arena.alloc(gpu, "batchnorm saved statistics", 4 * 3 * c),
                        c,
                        inner,
                    };
                    offset += 2 * c;
                    r_off += 2 * c;
                    OpKind::BatchNorm(layout)
                }
                (Layer::Softmax, _, _) => OpKind::Softmax,
                (layer, input, _) => {
                    return Err(Error::layer(
                        i,
                        format!("the GPU executor cannot run {layer} on input {input}"),
                    ));
                }
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
            .filter(|&i| absorbed_by_later(&ops, i))
            .map(|i| ops[i].output)
            .chain(
                (0..ops.len())
                    .filter(|&i| fused_dropout(&ops, i).is_some())
                    .map(|i| ops[i].output),
            )
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
            arena.write(gpu, t, 0, &[0u32; 4]);
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
            .write(gpu, self.totals[which as usize], 0, &[0u32; 4]);
    }

    /// Reads and resets the running totals (the only read-back of training metrics).
    pub fn take_totals(&self, gpu: &Gpu, which: Totals) -> Result<DeviceTotals> {
        let id = self.totals[which as usize];
        let raw = self.arena.read_u32(gpu, id, 4)?;
        self.reset_totals(gpu, which);
        let (sum, comp) = (f32::from_bits(raw[0]) as f64, f32::from_bits(raw[1]) as f64);
        Ok(DeviceTotals {
            loss_sum: sum - comp,
            correct: raw[2] as usize,
            count: raw[3] as usize,
        })
    }

    /// The network's outputs `(n, classes)` of the last step.
    pub fn outputs(&self, gpu: &Gpu, n: usize) -> Result<Vec<f32>> {
        let last = self.ops.last().map_or(0, |op| op.output);
        self.arena
            .read_f32(gpu, self.acts[last], n * self.plan.classes)
    }

    /// All parameters (crate layout).
    pub fn parameters(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        self.arena.read_f32(gpu, self.params, self.n_params)
    }

    /// The gradient of the mean batch loss from the last training step.
    pub fn gradients(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        self.arena.read_f32(gpu, self.grads, self.n_params)
    }

    /// Every dropout layer's mask `(n, size)` from the last training step, in layer order.
    pub fn dropout_masks(&self, gpu: &Gpu, n: usize) -> Result<Vec<Vec<f32>>> {
        let mut masks = Vec::new();
        for op in &self.ops {
            if let OpKind::Dropout { mask, .. } = op.kind {
                masks.push(self.arena.read_f32(gpu, mask, n * self.sizes[op.output])?);
            }
        }
        Ok(masks)
    }

    /// The batchnorm running statistics (layout of [`CpuNet::running_stats`]; empty without
    /// batchnorm).
    pub fn running_stats(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        if self.n_running == 0 {
            return Ok(Vec::new());
        }
        self.arena.read_f32(gpu, self.running, self.n_running)
    }

    /// Replaces the batchnorm running statistics (layout of [`GpuNet::running_stats`]).
    pub fn set_running_stats(&self, gpu: &Gpu, stats: &[f32]) -> Result<()> {
        if stats.len() != self.n_running {
            return Err(Error::Config(format!(
                "expected {} batchnorm running statistics, got {}",
                self.n_running,
                stats.len()
            )));
        }
        self.arena.write(gpu, self.running, 0, stats);
        Ok(())
    }

    /// The optimiser's state: the update counter and Adam's moments read back from the device
    /// (empty for SGD).
    pub fn optimizer_state(&self, gpu: &Gpu) -> Result<OptimizerState> {
        let (adam_m, adam_v) = match self.moments {
            Some((m, v)) => (
                self.arena.read_f32(gpu, m, self.n_params)?,
                self.arena.read_f32(gpu, v, self.n_params)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(OptimizerState {
            updates: self.updates,
            adam_m,
            adam_v,
        })
    }

    /// Replaces the optimiser's state: the update counter, and Adam's moments written to the
    /// device (empty moments mean zeros).
    pub fn set_optimizer_state(&mut self, gpu: &Gpu, state: &OptimizerState) -> Result<()> {
        let n = self.n_params;
        let ok = |len: usize| len == 0 || len == n;
        if !ok(state.adam_m.len()) || state.adam_m.len() != state.adam_v.len() {
            return Err(Error::Config(format!(
                "optimiser moments of {} and {} values do not fit a network of {n} parameters",
                state.adam_m.len(),
                state.adam_v.len()
            )));
        }
        if let Some((m, v)) = self.moments {
            let zeros;
            let (dm, dv) = if state.adam_m.is_empty() {
                zeros = vec![0.0f32; n];
                (&zeros[..], &zeros[..])
            } else {
                (&state.adam_m[..], &state.adam_v[..])
            };
            self.arena.write(gpu, m, 0, dm);
            self.arena.write(gpu, v, 0, dv);
        }
        self.updates = state.updates;
        Ok(())
    }

    /// Replaces all parameters (crate layout).
    pub fn set_parameters(&self, gpu: &Gpu, params: &[f32]) -> Result<()> {
        if params.len() != self.n_params {
            return Err(Error::Config(format!(
                "expected {} parameters, got {}",
                self.n_params,
                params.len()
            )));
        }
        self.arena.write(gpu, self.params, 0, params);
        Ok(())
    }
}

/// The largest buffer a shader may bind on `gpu`, bytes.
fn binding_limit(gpu: &Gpu) -> u64 {
    gpu.limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size)
}

/// Checks that every buffer of `plan` at batch `capacity` fits the device's binding limit and
/// that every convolution's GEMM launch fits the workgroups a grid dimension may have; the
/// error names the limit, the buffer or layer, and the largest batch that fits.
pub fn check_limits(gpu: &Gpu, plan: &Plan, capacity: usize) -> Result<()> {
    let limit = binding_limit(gpu);
    let params = 4 * plan.params() as u64;
    if params > limit {
        return Err(Error::Gpu(format!(
            "the network's {params} bytes of parameters exceed this adapter's \
             max_storage_buffer_binding_size of {limit} bytes"
        )));
    }
    let (largest, name) = std::iter::once((plan.input.size(), "the input".to_string()))
        .chain(plan.layers.iter().enumerate().map(|(i, l)| {
            (
                l.output.size(),
                format!("layer {} ({})'s output", i + 1, l.layer),
            )
        }))
        .max_by_key(|(s, _)| *s)
        .expect("the input is always there");
    let bytes = 4 * largest as u64 * capacity as u64;
    if bytes > limit {
        let fits = limit / (4 * largest as u64);
        return Err(Error::Gpu(format!(
            "a batch of {capacity} needs {bytes} bytes for {name}, over this adapter's \
             max_storage_buffer_binding_size of {limit} bytes: the largest batch that fits is \
             {fits}"
        )));
    }
    // A convolution's GEMMs launch one workgroup per BLOCK_N pixels of the whole batch (its
    // input's for the data gradient, its output's otherwise) along one grid dimension. (For a
    // first layer, whose data gradient never runs, this is a little conservative.)
    for (i, l) in plan.layers.iter().enumerate() {
        let Some(sh) = ConvShape::of(l) else { continue };
        let pixels = (sh.h * sh.w).max(sh.ho * sh.wo);
        let groups = (capacity * pixels).div_ceil(BLOCK_N);
        if groups > MAX_GROUPS_PER_DIM as usize {
            let fits = MAX_GROUPS_PER_DIM as usize * BLOCK_N / pixels;
            return Err(Error::Gpu(format!(
                "a batch of {capacity} gives layer {} ({})'s matrix products {groups} \
                 workgroups along one dimension, over the {MAX_GROUPS_PER_DIM} a launch may \
                 have: the largest batch that fits is {fits}",
                i + 1,
                l.layer
            )));
        }
    }
    Ok(())
}

/// Bytes of the scratch buffer that every layer's split products share (they run one after
/// another): the largest any dense or convolution layer needs at batch sizes up to `capacity`.
fn scratch_bytes(plan: &Plan, capacity: usize) -> usize {
    plan.layers
        .iter()
        .map(|planned| match (planned.layer, planned.input) {
            (
                Layer::Dense {
                    units: Units::Fixed(d_out),
                },
                Shape::Flat(d_in),
            ) => DenseLayout::scratch_bytes(d_in, d_out, capacity),
            (Layer::Conv2d { .. }, _) => ConvShape::of(planned)
                .map(|shape| ConvLayout::scratch_bytes(&shape, capacity))
                .unwrap_or(0),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of ops from short names, numbering buffers as the planner does (flatten passes
    /// its input's buffer on); dropout `i`'s mask is buffer `100 + i`. Sizes are dummies: only
    /// the fusion rules look at these.
    fn chain(names: &[&str]) -> Vec<Op> {
        let b = BufferId(0);
        let mut buffer = 0;
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let kind = match *name {
                    "dense" => OpKind::Dense(DenseLayout {
                        params: b,
                        grads: b,
                        scratch: b,
                        w_off: 0,
                        b_off: 0,
                        d_in: 1,
                        d_out: 1,
                    }),
                    "conv" => OpKind::Conv(ConvLayout {
                        params: b,
                        grads: b,
                        scratch: b,
                        w_off: 0,
                        b_off: 0,
                        shape: ConvShape {
                            c: 1,
                            h: 1,
                            w: 1,
                            f: 1,
                            k: 1,
                            s: 1,
                            p: 0,
                            ho: 1,
                            wo: 1,
                        },
                    }),
                    "pool" => OpKind::MaxPool {
                        shape: PoolShape {
                            c: 1,
                            h: 2,
                            w: 2,
                            size: 2,
                            stride: 2,
                            ho: 1,
                            wo: 1,
                        },
                        argmax: b,
                    },
                    "dropout" => OpKind::Dropout {
                        rate: 0.2,
                        mask: BufferId(100 + i),
                    },
                    "relu" => OpKind::Activation(Activation::Relu),
                    "tanh" => OpKind::Activation(Activation::Tanh),
                    "batchnorm" => OpKind::BatchNorm(NormLayout {
                        params: b,
                        grads: b,
                        g_off: 0,
                        running: b,
                        r_off: 0,
                        saved: b,
                        c: 1,
                        inner: 1,
                    }),
                    "flatten" => OpKind::Flatten,
                    other => panic!("no op {other}"),
                };
                let input = buffer;
                if !matches!(kind, OpKind::Flatten) {
                    buffer += 1;
                }
                Op {
                    kind,
                    input,
                    output: buffer,
                }
            })
            .collect()
    }

    fn takes(dropout: Option<usize>, activation: Option<(usize, Activation)>) -> Absorbed {
        Absorbed {
            dropout: dropout.map(|d| (d, BufferId(100 + d))),
            activation,
        }
    }

    #[test]
    fn each_backward_is_taken_by_exactly_one_kernel() {
        use Activation::{Relu, Tanh};
        // seed12's blocks: the second conv takes the dropout and the ReLU before it; the pool
        // takes its ReLU; the dropout after the pool is fused into the pool (forward and
        // backward), not taken by anyone; flatten keeps the last dropout from the dense layer.
        let ops = chain(&[
            "conv", "relu", "dropout", "conv", "relu", "pool", "dropout", "flatten", "dense",
        ]);
        assert_eq!(absorbed(&ops, 3), takes(Some(2), Some((1, Relu))));
        assert_eq!(absorbed(&ops, 5), takes(None, Some((4, Relu))));
        assert!(fused_dropout(&ops, 5).is_some());
        assert_eq!(absorbed(&ops, 8), takes(None, None));
        let later: Vec<usize> = (0..ops.len())
            .filter(|&i| absorbed_by_later(&ops, i))
            .collect();
        assert_eq!(later, [1, 2, 4]);

        // Two dropouts: the dense layer takes the second; the first takes the ReLU.
        let ops = chain(&["dense", "relu", "dropout", "dropout", "dense"]);
        assert_eq!(absorbed(&ops, 4), takes(Some(3), None));
        assert_eq!(absorbed(&ops, 3), takes(None, None));
        assert_eq!(absorbed(&ops, 2), takes(None, Some((1, Relu))));

        // A dropout before a pool takes the tanh; the pool takes nothing.
        let ops = chain(&["conv", "tanh", "dropout", "pool"]);
        assert_eq!(absorbed(&ops, 3), takes(None, None));
        assert_eq!(absorbed(&ops, 2), takes(None, Some((1, Tanh))));

        // Batchnorm then a dropout: the dense layer takes the dropout alone.
        let ops = chain(&["dense", "batchnorm", "dropout", "dense"]);
        assert_eq!(absorbed(&ops, 3), takes(Some(2), None));

        // Nothing at the input is taken: no gradient is wanted there.
        let ops = chain(&["relu", "dropout", "conv"]);
        assert_eq!(absorbed(&ops, 2), takes(Some(1), None));
        let ops = chain(&["dropout", "flatten", "dense"]);
        assert_eq!(absorbed(&ops, 2), takes(None, None));
        assert!(!absorbed_by_later(&ops, 0));
    }
}
