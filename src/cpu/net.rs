//! The CPU executor: a network's forward, backward and update on the host.
//!
//! Every activation lives in a numbered buffer (0 is the input batch); each layer reads one
//! buffer and writes another, except `flatten`, which writes nothing and passes its input's
//! buffer on. A batch is split into contiguous chunks, one per thread; each thread runs the
//! whole network on its chunk with its own scratch and its own parameter gradients, which are
//! then added in a fixed order, so results do not depend on thread timing. Dropout masks are a
//! function of the example's index in the whole batch, so they do not depend on the split.
//!
//! Batch normalisation's statistics span the whole batch, not a thread's chunk: in training,
//! each thread computes its chunk's per-feature partial sums, the threads meet at a barrier
//! (`NormSync` in `worker.rs`) and each adds all threads' partials in thread order, so every thread
//! normalises with the same batch statistics. Results depend on the thread count only through
//! the rounding of those `f64` sums. Inference uses the running statistics, per example. Its running statistics are state, not
//! parameters: [`CpuNet::running_stats`] holds them (mean then variance per batchnorm layer, in
//! layer order), and a training-mode forward pass updates them.

use super::norm::batchnorm_update_running;
use super::optim::{adam_update, decay_weights, ema_update, sgd_update};
use super::team::Team;
use super::worker::{Context, NormSync, Sizes, Worker};
use crate::error::{Error, Result};
use crate::executor::{AdamStep, OptimizerState, dropout_seed};
use crate::model::{
    Activation, ConvShape, Layer, Optimizer, ParamLayout, Plan, PoolShape, initial_parameters,
    initial_running_stats,
};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

/// What one layer does, with its sizes resolved.
#[derive(Clone, Debug)]
pub(super) enum OpKind {
    Dense {
        d_in: usize,
        weight: Range<usize>,
        bias: Range<usize>,
    },
    Conv {
        shape: ConvShape,
        weight: Range<usize>,
        bias: Range<usize>,
    },
    MaxPool {
        shape: PoolShape,
        slot: usize,
    },
    Flatten,
    Dropout {
        rate: f32,
        slot: usize,
    },
    Activation(Activation),
    /// Features `c`, values per feature per example `inner`; `γ`, `β` in the parameters;
    /// `running` = `r_μ` then `r_σ²` in the running statistics; `slot` = its saved statistics.
    /// With `relu`, the ReLU layer that followed it in the plan is done in the same passes
    /// ([`fold_relus_into_batchnorm`]).
    BatchNorm {
        c: usize,
        inner: usize,
        gamma: Range<usize>,
        beta: Range<usize>,
        running: Range<usize>,
        slot: usize,
        relu: bool,
    },
    Softmax,
}

/// One layer (or two, folded): its kind, its index in the plan (which keys its dropout masks)
/// and the buffers it reads and writes.
#[derive(Clone, Debug)]
pub(super) struct Op {
    pub(super) kind: OpKind,
    pub(super) layer: usize,
    pub(super) input: usize,
    pub(super) output: usize,
}

/// Folds each ReLU that directly follows a batchnorm layer into it: the batchnorm op writes
/// `max(0, y)` to the ReLU's output buffer (one walk over the activations instead of two), and
/// its backward first masks the ReLU's output gradient in place, with the same values as the
/// two layers. The batchnorm's own output buffer is then left unused.
fn fold_relus_into_batchnorm(ops: Vec<Op>) -> Vec<Op> {
    let mut folded: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops {
        if let (OpKind::Activation(Activation::Relu), Some(previous)) =
            (&op.kind, folded.last_mut())
            && let OpKind::BatchNorm {
                relu: relu @ false, ..
            } = &mut previous.kind
            && previous.output == op.input
        {
            *relu = true;
            previous.output = op.output;
            continue;
        }
        folded.push(op);
    }
    folded
}

/// Whether a forward pass trains (dropout on, with the masks of `step`) or infers.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Training: dropout draws the masks of this step.
    Train {
        /// Step number fed to the dropout mask.
        step: u32,
    },
    /// Inference: dropout is the identity.
    Eval,
}

/// Loss and accuracy counts of a forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Sum over examples of the per-example loss (CE: `−log p`; MSE: `Σ_j (y − t)²`).
    pub loss_sum: f64,
    /// Examples whose largest output is at the label.
    pub correct: usize,
}

/// The CPU executor for one planned network.
pub struct CpuNet {
    plan: Plan,
    ops: Vec<Op>,
    /// Per-example size of each activation buffer; buffer 0 is the input.
    buffer_sizes: Vec<usize>,
    pool_sizes: Vec<usize>,
    mask_sizes: Vec<usize>,
    scratch_size: usize,
    params: Vec<f32>,
    grads: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    /// With weight averaging, the averaged weights (layout of `params`); else empty.
    ema: Vec<f32>,
    /// Batchnorm running statistics: per batchnorm layer `r_μ (C)` then `r_σ² (C)`.
    running: Vec<f32>,
    /// Batchnorm layers.
    norm_layers: usize,
    /// Updates applied so far.
    updates: u32,
    /// The dense and conv weights that weight decay shrinks ([`ParamLayout::decayed_weights`]).
    decayed: Vec<Range<usize>>,
    dropout_seed: u32,
    /// One worker (its scratch buffers) per thread; thread `t` locks only `workers[t]`.
    workers: Vec<Mutex<Worker>>,
    /// The threads, started once.
    team: Team,
    /// One batchnorm exchange slot per worker ([`NormSync`]).
    norm_slots: Vec<Mutex<Vec<f64>>>,
}

impl CpuNet {
    /// Worker threads in use, the calling thread included (fewer than asked for only if the
    /// system refused to start one).
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Builds the executor for `plan`, starting from the parameters
    /// [`initial_parameters`] draws from `seed`, with `threads` worker threads (at least 1).
    pub fn new(plan: &Plan, seed: u64, threads: usize) -> Result<Self> {
        let mut ops = Vec::new();
        let buffers = plan.buffers();
        let layout = ParamLayout::of(plan);
        let (mut pool_sizes, mut mask_sizes) = (Vec::new(), Vec::new());
        let mut scratch_size = 0;
        let mut norm_layers = 0;
        for (i, (planned, slots)) in plan.layers.iter().zip(&layout.layers).enumerate() {
            let unsupported = || {
                Error::layer(
                    i,
                    format!("{} cannot take input {}", planned.layer, planned.input),
                )
            };
            let kind = match planned.layer {
                Layer::Dense { .. } => OpKind::Dense {
                    d_in: planned.input.size(),
                    weight: slots.weight.clone(),
                    bias: slots.bias.clone(),
                },
                Layer::Conv2d { .. } => {
                    let shape = ConvShape::of(planned).ok_or_else(unsupported)?;
                    scratch_size = scratch_size.max(shape.scratch_size());
                    OpKind::Conv {
                        shape,
                        weight: slots.weight.clone(),
                        bias: slots.bias.clone(),
                    }
                }
                Layer::MaxPool { .. } => {
                    let shape = PoolShape::of(planned).ok_or_else(unsupported)?;
                    pool_sizes.push(planned.output.size());
                    OpKind::MaxPool {
                        shape,
                        slot: pool_sizes.len() - 1,
                    }
                }
                Layer::Flatten => OpKind::Flatten,
                Layer::Dropout { rate } => {
                    mask_sizes.push(planned.output.size());
                    OpKind::Dropout {
                        rate,
                        slot: mask_sizes.len() - 1,
                    }
                }
                Layer::Activation(a) => OpKind::Activation(a),
                Layer::Softmax => OpKind::Softmax,
                Layer::BatchNorm => {
                    let (c, inner) = planned.input.features();
                    norm_layers += 1;
                    OpKind::BatchNorm {
                        c,
                        inner,
                        gamma: slots.weight.clone(),
                        beta: slots.bias.clone(),
                        running: slots.running.clone(),
                        slot: norm_layers - 1,
                        relu: false,
                    }
                }
            };
            let (input, output) = buffers.layers[i];
            ops.push(Op {
                kind,
                layer: i,
                input,
                output,
            });
        }
        let ops = fold_relus_into_batchnorm(ops);
        let initial = initial_parameters(plan, seed);
        let mut net = CpuNet {
            plan: plan.clone(),
            ops,
            buffer_sizes: buffers.sizes,
            pool_sizes,
            mask_sizes,
            scratch_size,
            ema: match plan.network.training.ema {
                Some(_) => initial.clone(),
                None => Vec::new(),
            },
            params: initial,
            grads: vec![0.0; layout.params],
            adam_m: Vec::new(),
            adam_v: Vec::new(),
            running: initial_running_stats(plan),
            norm_layers,
            updates: 0,
            decayed: layout.decayed_weights(plan),
            dropout_seed: dropout_seed(seed),
            workers: Vec::new(),
            team: Team::new(threads.max(1)),
            norm_slots: Vec::new(),
        };
        net.norm_slots = (0..net.team.size()).map(|_| Mutex::default()).collect();
        net.workers = (0..net.team.size())
            .map(|thread| {
                Mutex::new(Worker {
                    thread,
                    ..Worker::default()
                })
            })
            .collect();
        Ok(net)
    }

    /// The plan this executor runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// All parameters, layer by layer, weight `(D_out, D_in)` or `(F, C, K, K)` then bias.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Mutable parameters (same layout as [`CpuNet::params`]).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// Batchnorm running statistics: per batchnorm layer in layer order, `r_μ (C)` then
    /// `r_σ² (C)` (see [`crate::cpu::norm`]); empty without batchnorm.
    pub fn running_stats(&self) -> &[f32] {
        &self.running
    }

    /// Mutable running statistics (same layout as [`CpuNet::running_stats`]).
    pub fn running_stats_mut(&mut self) -> &mut [f32] {
        &mut self.running
    }

    /// The gradient of the mean batch loss from the last [`CpuNet::compute_gradients`].
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// Updates applied so far (the next training step's dropout masks use this number).
    pub fn updates(&self) -> u32 {
        self.updates
    }

    /// The optimiser's state: the update counter, Adam's moments (empty before the first
    /// Adam update, and for SGD) and, with weight averaging, the trained weights.
    pub fn optimizer_state(&self) -> OptimizerState {
        OptimizerState {
            updates: self.updates,
            adam_m: self.adam_m.clone(),
            adam_v: self.adam_v.clone(),
            raw_params: if self.ema.is_empty() {
                Vec::new()
            } else {
                self.params.clone()
            },
        }
    }

    /// Replaces the optimiser's state; the moments (and trained weights) must be empty or as
    /// long as the parameters.
    pub fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        state.check_fits(self.params.len())?;
        self.updates = state.updates;
        self.adam_m = state.adam_m.clone();
        self.adam_v = state.adam_v.clone();
        if !self.ema.is_empty() && !state.raw_params.is_empty() {
            self.params.copy_from_slice(&state.raw_params);
        }
        Ok(())
    }

    /// With weight averaging, the averaged weights (layout of [`CpuNet::params`]); else the
    /// parameters themselves. What evaluation, prediction and checkpoints use.
    pub fn averaged_params(&self) -> &[f32] {
        if self.ema.is_empty() {
            &self.params
        } else {
            &self.ema
        }
    }

    /// Replaces the weights that evaluation uses and training continues from: the parameters
    /// and, with weight averaging, the averaged weights too.
    pub fn set_params(&mut self, weights: &[f32]) {
        self.params.copy_from_slice(weights);
        if !self.ema.is_empty() {
            self.ema.copy_from_slice(weights);
        }
    }

    /// Runs `f` with the averaged weights in place of the trained ones (weight averaging on),
    /// or as it is.
    pub fn with_averaged_weights<R>(&mut self, f: impl FnOnce(&mut CpuNet) -> R) -> R {
        if self.ema.is_empty() {
            return f(self);
        }
        std::mem::swap(&mut self.params, &mut self.ema);
        let result = f(self);
        std::mem::swap(&mut self.params, &mut self.ema);
        result
    }

    /// Runs the network forward on `x: (N, C, H, W)` with labels `(N)` and returns the loss and
    /// accuracy counts; with `outputs`, also copies the network's outputs `(N, classes)` there.
    pub fn forward(
        &mut self,
        x: &[f32],
        labels: &[u8],
        mode: Mode,
        outputs: Option<&mut [f32]>,
    ) -> BatchStats {
        self.run(x, labels, mode, false, outputs)
    }

    /// Forward and backward in training mode with the dropout masks of `step`: fills
    /// [`CpuNet::grads`] with the gradient of the mean loss over the batch and returns the
    /// batch's counts. Does not change the parameters.
    pub fn compute_gradients(&mut self, x: &[f32], labels: &[u8], step: u32) -> BatchStats {
        self.run(x, labels, Mode::Train { step }, true, None)
    }

    /// The mean loss over the batch (what [`CpuNet::compute_gradients`] differentiates).
    pub fn mean_loss(&self, stats: &BatchStats, n: usize) -> f64 {
        stats.loss_sum / (n * self.plan.loss_terms()) as f64
    }

    /// One training step: gradients on the batch, then one optimiser update with rate `lr`.
    pub fn train_step(&mut self, x: &[f32], labels: &[u8], lr: f32) -> BatchStats {
        let stats = self.compute_gradients(x, labels, self.updates);
        self.apply_update(lr);
        stats
    }

    /// Applies the optimiser to the current gradients with rate `lr`.
    pub fn apply_update(&mut self, lr: f32) {
        self.updates += 1;
        match self.plan.network.training.optimizer {
            Optimizer::Sgd => {
                self.decay_weights(lr);
                sgd_update(&mut self.params, &self.grads, lr)
            }
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                if self.adam_m.is_empty() {
                    self.adam_m = vec![0.0; self.params.len()];
                    self.adam_v = vec![0.0; self.params.len()];
                }
                let step = AdamStep {
                    lr,
                    beta1,
                    beta2,
                    epsilon,
                    t: self.updates,
                };
                self.decay_weights(lr);
                adam_update(
                    &mut self.params,
                    &self.grads,
                    &mut self.adam_m,
                    &mut self.adam_v,
                    step,
                );
            }
        }
        if let Some(decay) = self.plan.network.training.ema {
            ema_update(&mut self.ema, &self.params, decay, self.updates);
        }
    }

    /// Decoupled weight decay before an update with rate `lr` (none when `weight_decay` is 0).
    fn decay_weights(&mut self, lr: f32) {
        let lambda = self.plan.network.training.weight_decay;
        if lambda > 0.0 {
            for range in &self.decayed {
                decay_weights(&mut self.params[range.clone()], lr, lambda);
            }
        }
    }

    fn run(
        &mut self,
        x: &[f32],
        labels: &[u8],
        mode: Mode,
        backward: bool,
        outputs: Option<&mut [f32]>,
    ) -> BatchStats {
        let n = labels.len();
        let in_size = self.buffer_sizes[0];
        assert_eq!(
            x.len(),
            n * in_size,
            "input batch does not match its labels"
        );
        let threads = self.workers.len().min(n).max(1);
        let chunk = |t: usize| t * n / threads..(t + 1) * n / threads;
        // Only networks with batchnorm exchange partial sums between threads.
        let sync = (self.norm_layers > 0).then(|| NormSync::new(threads, &self.norm_slots));
        let ctx = Context {
            ops: &self.ops,
            params: &self.params,
            running: &self.running,
            sync: sync.as_ref(),
            classes: self.plan.classes,
            loss: self.plan.network.training.loss,
            smoothing: self.plan.network.training.label_smoothing,
            batch: n,
            dropout_seed: self.dropout_seed,
            precision: self.plan.network.training.matmul_precision,
        };
        let sizes = Sizes {
            buffers: &self.buffer_sizes,
            pools: &self.pool_sizes,
            masks: &self.mask_sizes,
            norms: self.norm_layers,
            scratch: self.scratch_size,
            params: self.params.len(),
        };
        let workers = &self.workers;
        self.team.run(threads, &|t| {
            let mut worker = workers[t].lock().unwrap_or_else(PoisonError::into_inner);
            worker.stats = worker.run(&ctx, &sizes, x, labels, chunk(t), mode, backward);
        });
        if matches!(mode, Mode::Train { .. }) && self.norm_layers > 0 {
            let saved = &worker(&mut self.workers[0]).norms;
            for op in &self.ops {
                if let OpKind::BatchNorm {
                    c,
                    inner,
                    running,
                    slot,
                    ..
                } = &op.kind
                {
                    let (mean, var) = self.running[running.clone()].split_at_mut(*c);
                    batchnorm_update_running(mean, var, &saved[*slot], n * inner);
                }
            }
        }
        if backward {
            self.grads.fill(0.0);
            for w in &mut self.workers[..threads] {
                for (g, &d) in self.grads.iter_mut().zip(&worker(w).dparams) {
                    *g += d;
                }
            }
        }
        if let Some(outputs) = outputs {
            let k = self.plan.classes;
            let last = self.ops.last().map_or(0, |op| op.output);
            for (t, w) in self.workers[..threads].iter_mut().enumerate() {
                let range = chunk(t);
                let len = range.len() * k;
                outputs[range.start * k..range.end * k]
                    .copy_from_slice(&worker(w).acts[last][..len]);
            }
        }
        let stats = self.workers[..threads].iter_mut().map(|w| worker(w).stats);
        stats.fold(BatchStats::default(), |total, s| BatchStats {
            loss_sum: total.loss_sum + s.loss_sum,
            correct: total.correct + s.correct,
        })
    }
}

/// A worker, reached through its mutex without locking (no other thread holds it between steps).
fn worker(slot: &mut Mutex<Worker>) -> &mut Worker {
    slot.get_mut().unwrap_or_else(PoisonError::into_inner)
}
