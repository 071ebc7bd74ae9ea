//! The execution plan: a planned network lowered for the GPU without a device.
//!
//! [`ExecutionPlan::new`] walks the model's plan once and decides everything a device run
//! needs, as plain data: each layer's op with its buffers ([`BufferId`]s, numbered in the order
//! [`ExecutionPlan::buffers`] lists them), which kernels do which layers' work ([`fusion`]: an
//! activation fused into the dense or conv layer before it, a dropout into the max-pool before
//! it, element-wise backward passes into the next layer's data gradient), the buffer list
//! (label, bytes, initial contents; fused-away outputs and gradients get a 4-byte placeholder),
//! and each step's dispatch list ([`ExecutionPlan::step_dispatches`], in `step.rs`).
//! It holds no wgpu types, so tests inspect buffer sizes and dispatch lists on any machine;
//! [`crate::gpu::net::GpuNet`] materialises the buffers and pipelines and submits the lists.
//!
//! Buffers mirror the CPU executor's: numbered activation buffers (0 is the input batch), each
//! layer reading one and writing another (`flatten` passes its input's buffer on: a view), one
//! flat parameter buffer and one flat gradient buffer in [`crate::model::ParamLayout`]'s
//! layout, Adam's moments, max-pool argmax masks, dropout masks and batchnorm statistics, all
//! sized once for a maximum batch. With augmentation on (image inputs), a training step
//! gathers into a buffer of its own and `augment.wgsl` warps it into the input buffer.

pub mod fusion;
mod step;

pub use step::StepKeys;

use crate::error::{Error, Result};
use crate::gpu::kernel::BufferId;
use crate::gpu::ops::conv::ConvLayout;
use crate::gpu::ops::dataset::TOTALS_BYTES;
use crate::gpu::ops::dense::DenseLayout;
use crate::gpu::ops::norm::NormLayout;
use crate::model::memory::MemoryNeed;
use crate::model::{Activation, ConvShape, Layer, Optimizer, ParamLayout, Plan, PoolShape, Shape};
use fusion::Fusion;

/// What one layer does on the device, with its buffers.
#[derive(Clone, Debug)]
pub enum OpKind {
    /// A dense layer's parameters and sizes.
    Dense(DenseLayout),
    /// A convolution's parameters and sizes.
    Conv(ConvLayout),
    /// A max-pool and its argmax buffer `(N, C, H', W')`.
    MaxPool {
        /// Its sizes.
        shape: PoolShape,
        /// Where the forward pass records each output's source index.
        argmax: BufferId,
    },
    /// A view: no kernel.
    Flatten,
    /// Inverted dropout and its mask buffer (same shape as its input).
    Dropout {
        /// Probability of dropping.
        rate: f32,
        /// The mask the forward pass draws, `1/(1 − rate)` or 0 per value.
        mask: BufferId,
    },
    /// An element-wise activation.
    Activation(Activation),
    /// Batch normalisation's parameters, running statistics and saved statistics.
    BatchNorm(NormLayout),
    /// The softmax, fused with the cross-entropy loss's kernel.
    Softmax,
}

/// One layer on the device: its op and the activation buffers it reads and writes.
#[derive(Clone, Debug)]
pub struct Op {
    /// What it does.
    pub kind: OpKind,
    /// The activation buffer it reads (index into [`ExecutionPlan::acts`]).
    pub input: usize,
    /// The activation buffer it writes.
    pub output: usize,
}

/// Whether a step trains (with its learning rate) or only runs forward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepMode {
    /// Forward, loss, backward and one optimiser update with rate `lr`; dropout draws the
    /// masks of the step's [`StepKeys::step`].
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

/// What a buffer holds when the runtime creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Zeros (every buffer wgpu creates starts so).
    Zeros,
    /// The initial parameters the runtime is given.
    Parameters,
    /// Fresh batchnorm running statistics ([`crate::model::initial_running_stats`]).
    RunningStats,
}

/// One device buffer of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferSpec {
    /// Its label in validation errors and debuggers.
    pub label: String,
    /// Its size in bytes (at least 4).
    pub bytes: usize,
    /// What it starts with.
    pub contents: Contents,
}

/// A planned network lowered for the GPU at batches of up to [`ExecutionPlan::capacity`].
#[derive(Clone, Debug)]
pub struct ExecutionPlan {
    plan: Plan,
    /// One op per layer, in layer order.
    pub ops: Vec<Op>,
    /// The fusion decisions for each op, in layer order ([`fusion::lower`]).
    pub fusion: Vec<Fusion>,
    /// Values per example of each activation buffer.
    pub sizes: Vec<usize>,
    buffers: Vec<BufferSpec>,
    /// Activation buffers `(capacity, sizes[i])`.
    pub acts: Vec<BufferId>,
    /// Their gradients (placeholders where no kernel writes one).
    pub act_grads: Vec<BufferId>,
    /// The flat parameter vector.
    pub params: BufferId,
    /// The flat gradient vector.
    pub grads: BufferId,
    /// Adam's `m` and `v`, laid out like the parameters.
    pub moments: Option<(BufferId, BufferId)>,
    /// With weight averaging, the averaged weights (layout of the parameters): what an
    /// evaluation step reads instead of the parameters.
    pub ema: Option<BufferId>,
    /// Batchnorm running statistics (4 unused bytes without batchnorm).
    pub running: BufferId,
    /// Values in [`ExecutionPlan::running`].
    pub n_running: usize,
    /// The batch's labels as `u32`.
    pub labels: BufferId,
    /// The batch's image numbers, for the gather.
    pub indices: BufferId,
    /// Training and evaluation totals ([`Totals`]).
    pub totals: [BufferId; 2],
    /// Parameters.
    pub n_params: usize,
    /// The dense and conv weights that weight decay shrinks ([`ParamLayout::decayed_weights`]).
    pub decayed: Vec<std::ops::Range<usize>>,
    /// The largest batch.
    capacity: usize,
    /// Where a training step gathers its batch before the warp, with augmentation on.
    pub augment_src: Option<BufferId>,
}

/// Hands out [`BufferId`]s in the order the runtime will create the buffers.
#[derive(Default)]
struct BufferList(Vec<BufferSpec>);

impl BufferList {
    fn add(&mut self, label: &str, bytes: usize, contents: Contents) -> BufferId {
        self.0.push(BufferSpec {
            label: label.to_string(),
            bytes: bytes.max(4),
            contents,
        });
        BufferId(self.0.len() - 1)
    }

    /// One buffer per activation buffer `i` (`sizes[i]` values per example at batch
    /// `capacity`), labelled `"{label} {i}"`; those in `placeholders` get 4 bytes, unused.
    fn per_activation(
        &mut self,
        label: &str,
        sizes: &[usize],
        capacity: usize,
        placeholders: &[usize],
    ) -> Vec<BufferId> {
        (sizes.iter().enumerate())
            .map(|(i, s)| {
                let bytes = if placeholders.contains(&i) {
                    4
                } else {
                    4 * capacity * s
                };
                self.add(&format!("{label} {i}"), bytes, Contents::Zeros)
            })
            .collect()
    }
}

impl ExecutionPlan {
    /// Lowers `plan` for batches of up to `capacity` examples (at least 1). Errors name a
    /// layer the GPU executor cannot run.
    pub fn new(plan: &Plan, capacity: usize) -> Result<ExecutionPlan> {
        let capacity = capacity.max(1);
        check_capacity(&plan.buffers().sizes, capacity)?;
        let layout = ParamLayout::of(plan);
        let n_params = layout.params;
        let precision = plan.network.training.matmul_precision;
        let mut list = BufferList::default();
        let params = list.add("parameters", 4 * n_params, Contents::Parameters);
        let grads = list.add("gradients", 4 * n_params, Contents::Zeros);
        let moments = match plan.network.training.optimizer {
            Optimizer::Adam { .. } => Some((
                list.add("adam m", 4 * n_params, Contents::Zeros),
                list.add("adam v", 4 * n_params, Contents::Zeros),
            )),
            Optimizer::Sgd => None,
        };
        let ema = plan
            .network
            .training
            .ema
            .map(|_| list.add("averaged weights", 4 * n_params, Contents::Parameters));
        let running = list.add(
            "batchnorm running statistics",
            4 * layout.running,
            Contents::RunningStats,
        );
        let scratch = list.add(
            "split-k partial products",
            scratch_bytes(plan, capacity),
            Contents::Zeros,
        );
        let buffers = plan.buffers();
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
            let per_batch = 4 * capacity * planned.output.size();
            let kind = match planned.layer {
                Layer::Dense { .. } => OpKind::Dense(DenseLayout {
                    params,
                    grads,
                    scratch,
                    w_off: slots.weight.start,
                    b_off: slots.bias.start,
                    d_in: planned.input.size(),
                    d_out: planned.output.size(),
                    precision,
                }),
                Layer::Conv2d { .. } => OpKind::Conv(ConvLayout {
                    params,
                    grads,
                    scratch,
                    w_off: slots.weight.start,
                    b_off: slots.bias.start,
                    shape: ConvShape::of(planned).ok_or_else(unsupported)?,
                    precision,
                }),
                Layer::MaxPool { .. } => OpKind::MaxPool {
                    shape: PoolShape::of(planned).ok_or_else(unsupported)?,
                    argmax: list.add("argmax", per_batch, Contents::Zeros),
                },
                Layer::Flatten => OpKind::Flatten,
                Layer::Dropout { rate } => OpKind::Dropout {
                    rate,
                    mask: list.add("dropout mask", per_batch, Contents::Zeros),
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
                        saved: list.add("batchnorm saved statistics", 4 * 3 * c, Contents::Zeros),
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
        let fusion = fusion::lower(&ops);
        let sizes = buffers.sizes;
        // Buffers only a fused layer would have written get a placeholder.
        let unused: Vec<usize> = (0..ops.len())
            .filter(|&i| fusion[i].activation.is_some() || fusion[i].dropout.is_some())
            .map(|i| ops[i].output)
            .collect();
        let acts = list.per_activation("activation", &sizes, capacity, &unused);
        // Buffer 0 (the input) never needs a gradient, nor the output of a layer whose backward
        // a later kernel applies (`absorbed`), nor a pool's output that a fused dropout
        // replaces.
        let no_grad: Vec<usize> = (0..ops.len())
            .filter(|&i| fusion[i].absorbed_by_later || fusion[i].dropout.is_some())
            .map(|i| ops[i].output)
            .chain([0])
            .collect();
        let act_grads = list.per_activation("activation gradient", &sizes, capacity, &no_grad);
        let totals = [
            list.add("train totals", TOTALS_BYTES, Contents::Zeros),
            list.add("eval totals", TOTALS_BYTES, Contents::Zeros),
        ];
        let augment_src = (plan.network.training.augment > 0.0
            && matches!(plan.input, Shape::Image { .. }))
        .then(|| {
            let bytes = 4 * capacity * sizes[0];
            list.add("batch before augmentation", bytes, Contents::Zeros)
        });
        Ok(ExecutionPlan {
            plan: plan.clone(),
            ops,
            fusion,
            sizes,
            labels: list.add("labels", 4 * capacity, Contents::Zeros),
            indices: list.add("batch indices", 4 * capacity, Contents::Zeros),
            buffers: list.0,
            acts,
            act_grads,
            params,
            grads,
            moments,
            ema,
            running,
            n_running: layout.running,
            totals,
            n_params,
            decayed: layout.decayed_weights(plan),
            capacity,
            augment_src,
        })
    }

    /// The model's plan this lowers.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The largest batch the buffers hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Every buffer, in [`BufferId`] order.
    pub fn buffers(&self) -> &[BufferSpec] {
        &self.buffers
    }

    /// Bytes of all buffers (datasets uploaded later not included).
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().map(|b| b.bytes as u64).sum()
    }

    /// What these buffers take, by kind: the parameter-shaped ones (parameters, gradient,
    /// Adam's moments, averaged weights, running statistics), the per-activation ones
    /// (activations, their gradients, argmax and dropout masks) and the rest as workspace
    /// (split-k scratch, the batch before augmentation, labels, totals, saved statistics).
    pub fn memory_need(&self) -> MemoryNeed {
        let bytes = |ids: &mut dyn Iterator<Item = BufferId>| -> u64 {
            ids.map(|id| self.buffers[id.0].bytes as u64).sum()
        };
        let moments = self.moments.into_iter().flat_map(|(m, v)| [m, v]);
        let parameters = bytes(
            &mut [self.params, self.grads, self.running]
                .into_iter()
                .chain(moments)
                .chain(self.ema),
        );
        let masks = self.ops.iter().filter_map(|op| match op.kind {
            OpKind::MaxPool { argmax, .. } => Some(argmax),
            OpKind::Dropout { mask, .. } => Some(mask),
            _ => None,
        });
        let activations = bytes(
            &mut (self.acts.iter().chain(&self.act_grads))
                .copied()
                .chain(masks),
        );
        MemoryNeed {
            parameters,
            thread_gradients: 0,
            activations,
            workspace: self.bytes() - parameters - activations,
        }
    }
}

/// The most values one device buffer may hold: kernels index buffers with 32-bit integers.
pub const MAX_BUFFER_VALUES: u64 = u32::MAX as u64;

/// Refuses a batch of `capacity` whose largest activation buffer (`sizes` values per example)
/// would hold more than [`MAX_BUFFER_VALUES`]. Every other size the plan and its launchers
/// compute from the batch is a small multiple of that one, so past this check none overflows.
fn check_capacity(sizes: &[usize], capacity: usize) -> Result<()> {
    let largest = sizes.iter().copied().max().unwrap_or(1).max(1) as u64;
    let values = largest.checked_mul(capacity as u64);
    if values.is_none_or(|v| v > MAX_BUFFER_VALUES) {
        return Err(Error::Gpu(format!(
            "a batch of {capacity} is too large for the GPU executor: an activation of \
             {largest} values per example would hold more than the {MAX_BUFFER_VALUES} values \
             a kernel can index (32-bit); the largest batch for this network is {}",
            MAX_BUFFER_VALUES / largest
        )));
    }
    Ok(())
}

/// Bytes of the scratch buffer that every layer's split products share (they run one after
/// another): the largest any dense or convolution layer needs at batch sizes up to `capacity`.
pub fn scratch_bytes(plan: &Plan, capacity: usize) -> usize {
    plan.layers
        .iter()
        .map(|planned| match planned.layer {
            Layer::Dense { .. } => {
                DenseLayout::scratch_bytes(planned.input.size(), planned.output.size(), capacity)
            }
            Layer::Conv2d { .. } => ConvShape::of(planned)
                .map_or(0, |shape| ConvLayout::scratch_bytes(&shape, capacity)),
            Layer::MaxPool { .. }
            | Layer::Flatten
            | Layer::Dropout { .. }
            | Layer::Activation(_)
            | Layer::BatchNorm
            | Layer::Softmax => 0,
        })
        .max()
        .unwrap_or(0)
}
