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
//! ([`NormSync`]) and each adds all threads' partials in thread order, so every thread
//! normalises with the same batch statistics. Results depend on the thread count only through
//! the rounding of those `f64` sums. Inference uses the running statistics, per example. Its running statistics are state, not
//! parameters: [`CpuNet::running_stats`] holds them (mean then variance per batchnorm layer, in
//! layer order), and a training-mode forward pass updates them.

use super::activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
use super::conv::{ConvShape, conv_backward, conv_forward};
use super::dense::{dense_backward, dense_forward};
use super::dropout::{DropoutKey, dropout_backward, dropout_forward, dropout_seed};
use super::loss::{
    count_correct, cross_entropy_sum, mse_backward, mse_sum, softmax_cross_entropy_backward,
    softmax_forward,
};
use super::norm::{
    NormSaved, NormShape, batchnorm_backward_dx, batchnorm_backward_sums, batchnorm_forward_eval,
    batchnorm_normalize, batchnorm_square_sums, batchnorm_sums, batchnorm_update_running,
};
use super::optim::{AdamStep, adam_update, sgd_update};
use super::pool::{PoolShape, maxpool_backward, maxpool_forward};
use crate::error::{Error, Result};
use crate::model::{Activation, Init, Layer, Loss, Optimizer, Plan, Shape, Units};
use crate::rng::Rng;
use crate::train::OptimizerState;
use std::ops::Range;
use std::sync::{Barrier, Mutex};

/// What one layer does, with its sizes resolved.
#[derive(Clone, Debug)]
enum OpKind {
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
    BatchNorm {
        c: usize,
        inner: usize,
        gamma: Range<usize>,
        beta: Range<usize>,
        running: Range<usize>,
        slot: usize,
    },
    Softmax,
}

/// One layer: its kind and the buffers it reads and writes.
#[derive(Clone, Debug)]
struct Op {
    kind: OpKind,
    input: usize,
    output: usize,
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

/// One thread's scratch: activations, gradients, masks and parameter gradients.
#[derive(Default)]
struct Worker {
    /// This worker's place in the thread order (0 = the calling thread).
    thread: usize,
    capacity: usize,
    acts: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
    argmax: Vec<Vec<u32>>,
    masks: Vec<Vec<f32>>,
    norms: Vec<NormSaved>,
    col: Vec<f32>,
    dparams: Vec<f32>,
}

/// The CPU executor for one planned network.
pub struct CpuNet {
    plan: Plan,
    ops: Vec<Op>,
    /// Per-example size of each activation buffer; buffer 0 is the input.
    buffer_sizes: Vec<usize>,
    pool_sizes: Vec<usize>,
    mask_sizes: Vec<usize>,
    col_size: usize,
    params: Vec<f32>,
    grads: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    /// Batchnorm running statistics: per batchnorm layer `r_μ (C)` then `r_σ² (C)`.
    running: Vec<f32>,
    /// Batchnorm layers.
    norm_layers: usize,
    /// Updates applied so far.
    updates: u32,
    dropout_seed: u32,
    workers: Vec<Worker>,
}

impl CpuNet {
    /// Builds the executor for `plan`, initialising the parameters from `seed` as the
    /// network's [`Init`] says, with `threads` worker threads (at least 1).
    pub fn new(plan: &Plan, seed: u64, threads: usize) -> Result<Self> {
        let mut ops = Vec::new();
        let mut buffer_sizes = vec![plan.input.size()];
        let (mut pool_sizes, mut mask_sizes) = (Vec::new(), Vec::new());
        let mut col_size = 0;
        let mut n_params = 0;
        let mut take = |len: usize| {
            n_params += len;
            n_params - len..n_params
        };
        let mut current = 0;
        let (mut n_running, mut norm_layers) = (0, 0);
        for (i, planned) in plan.layers.iter().enumerate() {
            let kind = match (planned.layer, planned.input, planned.output) {
                (
                    Layer::Dense {
                        units: Units::Fixed(d_out),
                    },
                    Shape::Flat(d_in),
                    _,
                ) => OpKind::Dense {
                    d_in,
                    weight: take(d_out * d_in),
                    bias: take(d_out),
                },
                (Layer::Conv2d { .. }, _, _) if ConvShape::of(planned).is_some() => {
                    let shape = ConvShape::of(planned).expect("checked by the guard");
                    let (filters, weights) = (shape.f, shape.f * shape.col_rows());
                    col_size = col_size.max(shape.col_rows() * shape.col_cols());
                    OpKind::Conv {
                        shape,
                        weight: take(weights),
                        bias: take(filters),
                    }
                }
                (
                    Layer::MaxPool { size, stride },
                    Shape::Image { c, h, w },
                    Shape::Image { h: ho, w: wo, .. },
                ) => {
                    pool_sizes.push(planned.output.size());
                    OpKind::MaxPool {
                        shape: PoolShape {
                            c,
                            h,
                            w,
                            size,
                            stride,
                            ho,
                            wo,
                        },
                        slot: pool_sizes.len() - 1,
                    }
                }
                (Layer::Flatten, _, _) => OpKind::Flatten,
                (Layer::Dropout { rate }, _, _) => {
                    mask_sizes.push(planned.output.size());
                    OpKind::Dropout {
                        rate,
                        slot: mask_sizes.len() - 1,
                    }
                }
                (Layer::Activation(a), _, _) => OpKind::Activation(a),
                (Layer::Softmax, _, _) => OpKind::Softmax,
                (Layer::BatchNorm, input, _) => {
                    let (c, inner) = match input {
                        Shape::Image { c, h, w } => (c, h * w),
                        Shape::Flat(d) => (d, 1),
                    };
                    n_running += 2 * c;
                    norm_layers += 1;
                    OpKind::BatchNorm {
                        c,
                        inner,
                        gamma: take(c),
                        beta: take(c),
                        running: n_running - 2 * c..n_running,
                        slot: norm_layers - 1,
                    }
                }
                (layer, input, _) => {
                    return Err(Error::layer(
                        i,
                        format!("{layer} cannot take input {input}"),
                    ));
                }
            };
            let output = if matches!(kind, OpKind::Flatten) {
                current
            } else {
                buffer_sizes.push(planned.output.size());
                buffer_sizes.len() - 1
            };
            ops.push(Op {
                kind,
                input: current,
                output,
            });
            current = output;
        }
        let mut net = CpuNet {
            plan: plan.clone(),
            ops,
            buffer_sizes,
            pool_sizes,
            mask_sizes,
            col_size,
            params: vec![0.0; n_params],
            grads: vec![0.0; n_params],
            adam_m: Vec::new(),
            adam_v: Vec::new(),
            running: initial_running_stats(plan),
            norm_layers,
            updates: 0,
            dropout_seed: dropout_seed(seed),
            workers: (0..threads.max(1))
                .map(|thread| Worker {
                    thread,
                    ..Worker::default()
                })
                .collect(),
        };
        net.initialise(seed);
        Ok(net)
    }

    fn initialise(&mut self, seed: u64) {
        let mut rng = Rng::derived(seed, 1);
        let init = self.plan.network.training.init;
        for op in &self.ops {
            let (weight, bias, fan_in, fan_out) = match &op.kind {
                OpKind::Dense { d_in, weight, bias } => {
                    (weight.clone(), bias.clone(), *d_in, bias.len())
                }
                OpKind::Conv {
                    shape,
                    weight,
                    bias,
                } => (
                    weight.clone(),
                    bias.clone(),
                    shape.col_rows(),
                    shape.f * shape.k * shape.k,
                ),
                OpKind::BatchNorm { gamma, .. } => {
                    self.params[gamma.clone()].fill(1.0);
                    continue;
                }
                _ => continue,
            };
            match init {
                Init::Uniform => {
                    for w in &mut self.params[weight.start..bias.end] {
                        *w = rng.uniform_range(-0.5, 0.5) as f32;
                    }
                }
                Init::Glorot => {
                    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
                    for w in &mut self.params[weight] {
                        *w = rng.uniform_range(-a, a) as f32;
                    }
                }
                Init::He => {
                    let std = (2.0 / fan_in as f64).sqrt();
                    for w in &mut self.params[weight] {
                        *w = (rng.normal() * std) as f32;
                    }
                }
            }
        }
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

    /// The optimiser's state: the update counter and Adam's moments (empty before the first
    /// Adam update, and for SGD).
    pub fn optimizer_state(&self) -> OptimizerState {
        OptimizerState {
            updates: self.updates,
            adam_m: self.adam_m.clone(),
            adam_v: self.adam_v.clone(),
        }
    }

    /// Replaces the optimiser's state; the moments must be empty or as long as the parameters.
    pub fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        let n = self.params.len();
        let ok = |len: usize| len == 0 || len == n;
        if !ok(state.adam_m.len()) || state.adam_m.len() != state.adam_v.len() {
            return Err(Error::Config(format!(
                "optimiser moments of {} and {} values do not fit a network of {n} parameters",
                state.adam_m.len(),
                state.adam_v.len()
            )));
        }
        self.updates = state.updates;
        self.adam_m = state.adam_m.clone();
        self.adam_v = state.adam_v.clone();
        Ok(())
    }

    fn classes(&self) -> usize {
        self.plan.classes
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
        match self.plan.network.training.loss {
            Loss::CrossEntropy => stats.loss_sum / n as f64,
            Loss::Mse => stats.loss_sum / (n * self.classes()) as f64,
        }
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
            Optimizer::Sgd => sgd_update(&mut self.params, &self.grads, lr),
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
                adam_update(
                    &mut self.params,
                    &self.grads,
                    &mut self.adam_m,
                    &mut self.adam_v,
                    step,
                );
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
        let sync = NormSync::new(threads);
        let chunks: Vec<Range<usize>> = (0..threads)
            .map(|t| t * n / threads..(t + 1) * n / threads)
            .collect();
        let ctx = Context {
            ops: &self.ops,
            params: &self.params,
            running: &self.running,
            sync: &sync,
            classes: self.plan.classes,
            loss: self.plan.network.training.loss,
            batch: n,
            dropout_seed: self.dropout_seed,
        };
        let sizes = Sizes {
            buffers: &self.buffer_sizes,
            pools: &self.pool_sizes,
            masks: &self.mask_sizes,
            norms: self.norm_layers,
            col: self.col_size,
            params: self.params.len(),
        };
        let workers = &mut self.workers[..threads];
        let mut results = vec![BatchStats::default(); threads];
        std::thread::scope(|scope| {
            let mut jobs = workers.iter_mut().zip(&chunks).zip(results.iter_mut());
            let first = jobs.next();
            for ((worker, range), result) in jobs {
                let (ctx, sizes) = (&ctx, &sizes);
                scope.spawn(move || {
                    *result = worker.run(ctx, sizes, x, labels, range.clone(), mode, backward);
                });
            }
            if let Some(((worker, range), result)) = first {
                *result = worker.run(&ctx, &sizes, x, labels, range.clone(), mode, backward);
            }
        });
        if matches!(mode, Mode::Train { .. }) && self.norm_layers > 0 {
            let saved = &self.workers[0].norms;
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
            for worker in &self.workers[..threads] {
                for (g, &d) in self.grads.iter_mut().zip(&worker.dparams) {
                    *g += d;
                }
            }
        }
        if let Some(outputs) = outputs {
            let k = self.plan.classes;
            let last = self.ops.last().map_or(0, |op| op.output);
            for (worker, range) in self.workers.iter().zip(&chunks) {
                let len = range.len() * k;
                outputs[range.start * k..range.end * k].copy_from_slice(&worker.acts[last][..len]);
            }
        }
        BatchStats {
            loss_sum: results.iter().map(|r| r.loss_sum).sum(),
            correct: results.iter().map(|r| r.correct).sum(),
        }
    }
}

/// Read-only state shared by the worker threads.
struct Context<'a> {
    ops: &'a [Op],
    params: &'a [f32],
    running: &'a [f32],
    sync: &'a NormSync,
    classes: usize,
    loss: Loss,
    batch: usize,
    dropout_seed: u32,
}

/// Where the worker threads exchange batchnorm partial sums: one slot per thread and a
/// barrier. Every thread must call [`NormSync::all_reduce`] equally often (they run the same
/// layers in the same mode, so they do).
struct NormSync {
    barrier: Barrier,
    partials: Vec<Mutex<Vec<f64>>>,
}

impl NormSync {
    fn new(threads: usize) -> Self {
        NormSync {
            barrier: Barrier::new(threads),
            partials: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Publishes `thread`'s partial sums, waits for every thread, and returns the sum of all
    /// threads' partials, added in thread order (the same bits on every thread).
    fn all_reduce(&self, thread: usize, partial: &[f64]) -> Vec<f64> {
        // A poisoned slot means another thread panicked; its contents are still plain numbers.
        let slot = |t: usize| self.partials[t].lock().unwrap_or_else(|e| e.into_inner());
        *slot(thread) = partial.to_vec();
        self.barrier.wait();
        let mut total = vec![0.0; partial.len()];
        for t in 0..self.partials.len() {
            for (sum, v) in total.iter_mut().zip(slot(t).iter()) {
                *sum += v;
            }
        }
        // No thread overwrites its slot before every thread has read them all.
        self.barrier.wait();
        total
    }
}

/// Per-example buffer sizes.
struct Sizes<'a> {
    buffers: &'a [usize],
    pools: &'a [usize],
    masks: &'a [usize],
    norms: usize,
    col: usize,
    params: usize,
}

impl Worker {
    /// Grows the scratch to hold `n` examples (allocates only when the batch grows).
    fn reserve(&mut self, sizes: &Sizes, n: usize) {
        if n <= self.capacity && !self.acts.is_empty() {
            return;
        }
        self.capacity = n;
        self.acts = sizes.buffers.iter().map(|s| vec![0.0; s * n]).collect();
        self.grads = sizes.buffers.iter().map(|s| vec![0.0; s * n]).collect();
        self.argmax = sizes.pools.iter().map(|s| vec![0; s * n]).collect();
        self.masks = sizes.masks.iter().map(|s| vec![0.0; s * n]).collect();
        self.norms = vec![NormSaved::default(); sizes.norms];
        self.col = vec![0.0; sizes.col];
        self.dparams = vec![0.0; sizes.params];
    }

    /// Forward (and backward) over examples `range` of the batch.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        ctx: &Context,
        sizes: &Sizes,
        x: &[f32],
        labels: &[u8],
        range: Range<usize>,
        mode: Mode,
        backward: bool,
    ) -> BatchStats {
        let n = range.len();
        self.reserve(sizes, n);
        let in_size = sizes.buffers[0];
        self.acts[0][..n * in_size].copy_from_slice(&x[range.start * in_size..range.end * in_size]);
        let labels = &labels[range.clone()];
        for (index, op) in ctx.ops.iter().enumerate() {
            self.forward_op(ctx, sizes, op, index, n, mode, range.start);
        }
        let k = ctx.classes;
        let last = ctx.ops.last().map_or(0, |op| op.output);
        let outputs = &self.acts[last][..n * k];
        let stats = BatchStats {
            loss_sum: match ctx.loss {
                Loss::CrossEntropy => cross_entropy_sum(outputs, labels, k),
                Loss::Mse => mse_sum(outputs, labels, k),
            },
            correct: count_correct(outputs, labels, k),
        };
        if backward {
            self.backward(ctx, sizes, labels, n);
        }
        stats
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_op(
        &mut self,
        ctx: &Context,
        sizes: &Sizes,
        op: &Op,
        index: usize,
        n: usize,
        mode: Mode,
        offset: usize,
    ) {
        if op.input == op.output {
            return; // flatten: a view
        }
        let mut out = std::mem::take(&mut self.acts[op.output]);
        let y = &mut out[..n * sizes.buffers[op.output]];
        let x = &self.acts[op.input][..n * sizes.buffers[op.input]];
        let p = ctx.params;
        match &op.kind {
            OpKind::Dense { d_in, weight, bias } => {
                dense_forward(x, &p[weight.clone()], &p[bias.clone()], y, n, *d_in)
            }
            OpKind::Conv {
                shape,
                weight,
                bias,
            } => conv_forward(
                x,
                &p[weight.clone()],
                &p[bias.clone()],
                y,
                &mut self.col,
                shape,
                n,
            ),
            OpKind::MaxPool { shape, slot } => {
                let argmax = &mut self.argmax[*slot][..y.len()];
                maxpool_forward(x, y, argmax, shape, n)
            }
            OpKind::Dropout { rate, slot } => match mode {
                Mode::Train { step } => {
                    let key = DropoutKey {
                        seed: ctx.dropout_seed,
                        step,
                        layer: index as u32,
                    };
                    let mask = &mut self.masks[*slot][..y.len()];
                    dropout_forward(x, y, mask, *rate, key, offset * sizes.buffers[op.input]);
                }
                Mode::Eval => y.copy_from_slice(x),
            },
            OpKind::Activation(Activation::Tanh) => tanh_forward(x, y),
            OpKind::Activation(Activation::Relu) => relu_forward(x, y),
            OpKind::BatchNorm {
                c,
                inner,
                gamma,
                beta,
                running,
                slot,
            } => {
                let sh = NormShape {
                    n,
                    c: *c,
                    inner: *inner,
                };
                let (g, b) = (&p[gamma.clone()], &p[beta.clone()]);
                match mode {
                    Mode::Train { .. } => {
                        // Batch statistics: this chunk's sums, added up over all threads.
                        let m = (ctx.batch * inner) as f64;
                        let mut part = vec![0.0; *c];
                        batchnorm_sums(x, sh, &mut part);
                        let mean: Vec<f64> = ctx
                            .sync
                            .all_reduce(self.thread, &part)
                            .iter()
                            .map(|s| s / m)
                            .collect();
                        batchnorm_square_sums(x, &mean, sh, &mut part);
                        let var: Vec<f64> = ctx
                            .sync
                            .all_reduce(self.thread, &part)
                            .iter()
                            .map(|s| s / m)
                            .collect();
                        let saved = &mut self.norms[*slot];
                        batchnorm_normalize(x, g, b, &mean, &var, y, saved, sh)
                    }
                    Mode::Eval => {
                        let (mean, var) = ctx.running[running.clone()].split_at(*c);
                        batchnorm_forward_eval(x, g, b, mean, var, y, sh)
                    }
                }
            }
            OpKind::Softmax => softmax_forward(x, y, ctx.classes),
            OpKind::Flatten => unreachable!("flatten shares its input's buffer"),
        }
        self.acts[op.output] = out;
    }

    fn backward(&mut self, ctx: &Context, sizes: &Sizes, labels: &[u8], n: usize) {
        self.dparams.fill(0.0);
        let k = ctx.classes;
        let mut ops = ctx.ops.iter().rev().peekable();
        // The loss gradient: fused into the softmax's input for cross-entropy.
        let (start, scale) = match ctx.loss {
            Loss::CrossEntropy => {
                let softmax = ops.next().expect("a planned network has layers");
                (softmax, 1.0 / ctx.batch as f32)
            }
            Loss::Mse => {
                let last = ops.peek().expect("a planned network has layers");
                (*last, 1.0 / (ctx.batch * k) as f32)
            }
        };
        let buffer = match ctx.loss {
            Loss::CrossEntropy => start.input,
            Loss::Mse => start.output,
        };
        let last_out = &self.acts[start.output][..n * k];
        let dz = &mut self.grads[buffer][..n * k];
        match ctx.loss {
            Loss::CrossEntropy => softmax_cross_entropy_backward(last_out, labels, dz, k, scale),
            Loss::Mse => mse_backward(last_out, labels, dz, k, scale),
        }
        for op in ops {
            self.backward_op(ctx, sizes, op, n);
        }
    }

    fn backward_op(&mut self, ctx: &Context, sizes: &Sizes, op: &Op, n: usize) {
        if op.input == op.output {
            return; // flatten
        }
        let want_dx = op.input != 0;
        let mut dx_buf = std::mem::take(&mut self.grads[op.input]);
        let dx = &mut dx_buf[..n * sizes.buffers[op.input]];
        let dy = &self.grads[op.output][..n * sizes.buffers[op.output]];
        let x = &self.acts[op.input][..n * sizes.buffers[op.input]];
        let y = &self.acts[op.output][..n * sizes.buffers[op.output]];
        let p = ctx.params;
        match &op.kind {
            OpKind::Dense { d_in, weight, bias } => {
                let (dw, db) = split_pair(&mut self.dparams, weight, bias);
                let dx = want_dx.then_some(dx);
                dense_backward(x, &p[weight.clone()], dy, dx, dw, db, n, *d_in);
            }
            OpKind::Conv {
                shape,
                weight,
                bias,
            } => {
                let (dw, db) = split_pair(&mut self.dparams, weight, bias);
                let dx = want_dx.then_some(dx);
                conv_backward(
                    x,
                    &p[weight.clone()],
                    dy,
                    dx,
                    dw,
                    db,
                    &mut self.col,
                    shape,
                    n,
                );
            }
            OpKind::MaxPool { slot, .. } if want_dx => {
                maxpool_backward(dy, &self.argmax[*slot][..dy.len()], dx)
            }
            OpKind::Dropout { slot, .. } if want_dx => {
                dropout_backward(dy, &self.masks[*slot][..dy.len()], dx)
            }
            OpKind::Activation(Activation::Tanh) if want_dx => tanh_backward(y, dy, dx),
            OpKind::Activation(Activation::Relu) if want_dx => relu_backward(y, dy, dx),
            OpKind::BatchNorm {
                c,
                inner,
                gamma,
                beta,
                slot,
                ..
            } => {
                let sh = NormShape {
                    n,
                    c: *c,
                    inner: *inner,
                };
                let saved = &self.norms[*slot];
                let mut part = vec![0.0; 2 * c];
                batchnorm_backward_sums(x, saved, dy, sh, &mut part);
                let sums = ctx.sync.all_reduce(self.thread, &part);
                // `sums` = [dβ, dγ] of the whole batch: thread 0 records them, so adding the
                // threads' parameter gradients counts them once.
                if self.thread == 0 {
                    let (dg, db) = split_pair(&mut self.dparams, gamma, beta);
                    for ch in 0..*c {
                        db[ch] = sums[ch] as f32;
                        dg[ch] = sums[c + ch] as f32;
                    }
                }
                if want_dx {
                    let count = ctx.batch * inner;
                    let g = &p[gamma.clone()];
                    batchnorm_backward_dx(x, g, saved, dy, &sums, count, dx, sh);
                }
            }
            OpKind::Softmax => unreachable!("softmax is fused into the loss"),
            _ => {} // a parameter-free layer at the input: nothing to propagate
        }
        self.grads[op.input] = dx_buf;
    }
}

/// Mutable views of a layer's weight and bias gradients (bias follows weight).
fn split_pair<'a>(
    all: &'a mut [f32],
    weight: &Range<usize>,
    bias: &Range<usize>,
) -> (&'a mut [f32], &'a mut [f32]) {
    let (w, rest) = all[weight.start..bias.end].split_at_mut(weight.len());
    (w, &mut rest[..bias.len()])
}

/// The running statistics a fresh network starts with: per batchnorm layer `r_μ = 0 (C)` then
/// `r_σ² = 1 (C)`, in layer order.
pub fn initial_running_stats(plan: &Plan) -> Vec<f32> {
    let mut out = Vec::new();
    for l in &plan.layers {
        if l.layer == Layer::BatchNorm {
            let c = match l.input {
                Shape::Image { c, .. } => c,
                Shape::Flat(d) => d,
            };
            out.extend(std::iter::repeat_n(0.0, c));
            out.extend(std::iter::repeat_n(1.0, c));
        }
    }
    out
}
