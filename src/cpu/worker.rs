//! One thread's share of a batch: its scratch buffers and the forward and backward pass of
//! every layer over its chunk of examples ([`super::net::CpuNet`] runs one per thread).

use super::activation::{
    relu_backward, relu_backward_in_place, relu_forward, tanh_backward, tanh_forward,
};
use super::conv::{conv_backward, conv_forward};
use super::dense::{dense_backward, dense_forward};
use super::dropout::{dropout_backward, dropout_forward};
use super::loss::{
    count_correct, cross_entropy_sum, mse_backward, mse_sum, softmax_cross_entropy_backward,
    softmax_forward,
};
use super::net::{BatchStats, Mode, Op, OpKind};
use super::norm::{
    NormSaved, batchnorm_backward_dx, batchnorm_backward_sums, batchnorm_forward_eval,
    batchnorm_normalize, batchnorm_square_sums, batchnorm_sums,
};
use super::pool::{maxpool_backward, maxpool_forward};
use crate::executor::DropoutKey;
use crate::model::{Activation, Loss, MatmulPrecision, NormShape};
use std::ops::Range;
use std::sync::{Barrier, Mutex, PoisonError};

/// One thread's scratch: activations, gradients, masks and parameter gradients.
#[derive(Default)]
pub(super) struct Worker {
    /// This worker's place in the thread order (0 = the calling thread).
    pub(super) thread: usize,
    pub(super) capacity: usize,
    pub(super) acts: Vec<Vec<f32>>,
    pub(super) grads: Vec<Vec<f32>>,
    pub(super) argmax: Vec<Vec<u32>>,
    pub(super) masks: Vec<Vec<f32>>,
    pub(super) norms: Vec<NormSaved>,
    pub(super) scratch: Vec<f32>,
    pub(super) dparams: Vec<f32>,
    /// Loss and correct count of this worker's chunk in the last step.
    pub(super) stats: BatchStats,
    /// Batchnorm scratch: this chunk's partial sums and the batch's totals (mean, variance).
    pub(super) norm_part: Vec<f64>,
    pub(super) norm_mean: Vec<f64>,
    pub(super) norm_var: Vec<f64>,
}

/// Read-only state shared by the worker threads.
pub(super) struct Context<'a> {
    pub(super) ops: &'a [Op],
    pub(super) params: &'a [f32],
    pub(super) running: &'a [f32],
    /// Present when the network has batchnorm layers.
    pub(super) sync: Option<&'a NormSync<'a>>,
    pub(super) classes: usize,
    pub(super) loss: Loss,
    /// Label smoothing of the cross-entropy loss.
    pub(super) smoothing: f32,
    pub(super) batch: usize,
    pub(super) dropout_seed: u32,
    /// How the dense and convolution products treat their operands.
    pub(super) precision: MatmulPrecision,
}

impl Context<'_> {
    /// The batchnorm exchange (only batchnorm layers call this, and their networks have one).
    fn sync(&self) -> &NormSync<'_> {
        self.sync
            .expect("CpuNet::run creates a NormSync for networks with batchnorm layers")
    }
}

/// Where the worker threads exchange batchnorm partial sums: one slot per thread (kept by
/// [`super::net::CpuNet`] across steps, so a step allocates nothing here) and a barrier for the
/// `threads` taking part in this step. Every thread must call [`NormSync::all_reduce`] equally
/// often (they run the same layers in the same mode, so they do).
pub(super) struct NormSync<'a> {
    barrier: Barrier,
    threads: usize,
    slots: &'a [Mutex<Vec<f64>>],
}

impl<'a> NormSync<'a> {
    /// The exchange for `threads` threads over the first `threads` of `slots`.
    pub(super) fn new(threads: usize, slots: &'a [Mutex<Vec<f64>>]) -> Self {
        debug_assert!(threads <= slots.len());
        NormSync {
            barrier: Barrier::new(threads),
            threads,
            slots,
        }
    }

    /// Publishes `thread`'s partial sums, waits for every thread, and writes the sum of all
    /// threads' partials, added in thread order (the same bits on every thread), to `total`.
    pub(super) fn all_reduce(&self, thread: usize, partial: &[f64], total: &mut [f64]) {
        // A poisoned slot means another thread panicked; its contents are still plain numbers.
        let slot = |t: usize| self.slots[t].lock().unwrap_or_else(PoisonError::into_inner);
        {
            let mut mine = slot(thread);
            mine.clear();
            mine.extend_from_slice(partial);
        }
        self.barrier.wait();
        total.fill(0.0);
        for t in 0..self.threads {
            for (sum, v) in total.iter_mut().zip(slot(t).iter()) {
                *sum += v;
            }
        }
        // No thread overwrites its slot before every thread has read them all.
        self.barrier.wait();
    }
}

/// Per-example buffer sizes.
pub(super) struct Sizes<'a> {
    pub(super) buffers: &'a [usize],
    pub(super) pools: &'a [usize],
    pub(super) masks: &'a [usize],
    pub(super) norms: usize,
    pub(super) scratch: usize,
    pub(super) params: usize,
}

impl Worker {
    /// Grows the scratch to hold `n` examples (allocates only when the batch grows).
    pub(super) fn reserve(&mut self, sizes: &Sizes, n: usize) {
        if n <= self.capacity && !self.acts.is_empty() {
            return;
        }
        self.capacity = n;
        self.acts = sizes.buffers.iter().map(|s| vec![0.0; s * n]).collect();
        self.grads = sizes.buffers.iter().map(|s| vec![0.0; s * n]).collect();
        self.argmax = sizes.pools.iter().map(|s| vec![0; s * n]).collect();
        self.masks = sizes.masks.iter().map(|s| vec![0.0; s * n]).collect();
        self.norms = vec![NormSaved::default(); sizes.norms];
        self.scratch = vec![0.0; sizes.scratch];
        self.dparams = vec![0.0; sizes.params];
    }

    /// Forward (and backward) over examples `range` of the batch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
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
        for op in ctx.ops {
            self.forward_op(ctx, sizes, op, n, mode, range.start);
        }
        let k = ctx.classes;
        let last = ctx.ops.last().map_or(0, |op| op.output);
        let outputs = &self.acts[last][..n * k];
        let stats = BatchStats {
            loss_sum: match ctx.loss {
                Loss::CrossEntropy => cross_entropy_sum(outputs, labels, k, ctx.smoothing),
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
    pub(super) fn forward_op(
        &mut self,
        ctx: &Context,
        sizes: &Sizes,
        op: &Op,
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
                let (w, b) = (&p[weight.clone()], &p[bias.clone()]);
                dense_forward(x, w, b, y, n, *d_in, ctx.precision)
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
                &mut self.scratch,
                shape,
                n,
                ctx.precision,
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
                        layer: op.layer as u32,
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
                relu,
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
                        let (part, mean, var) =
                            (&mut self.norm_part, &mut self.norm_mean, &mut self.norm_var);
                        for v in [&mut *part, &mut *mean, &mut *var] {
                            v.resize(*c, 0.0);
                        }
                        batchnorm_sums(x, sh, part);
                        ctx.sync().all_reduce(self.thread, part, mean);
                        mean.iter_mut().for_each(|s| *s /= m);
                        batchnorm_square_sums(x, mean, sh, part);
                        ctx.sync().all_reduce(self.thread, part, var);
                        var.iter_mut().for_each(|s| *s /= m);
                        let saved = &mut self.norms[*slot];
                        batchnorm_normalize(x, g, b, mean, var, y, saved, sh, *relu)
                    }
                    Mode::Eval => {
                        let (mean, var) = ctx.running[running.clone()].split_at(*c);
                        batchnorm_forward_eval(x, g, b, mean, var, y, sh, *relu)
                    }
                }
            }
            OpKind::Softmax => softmax_forward(x, y, ctx.classes),
            OpKind::Flatten => unreachable!("flatten shares its input's buffer"),
        }
        self.acts[op.output] = out;
    }

    pub(super) fn backward(&mut self, ctx: &Context, sizes: &Sizes, labels: &[u8], n: usize) {
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
            Loss::CrossEntropy => {
                softmax_cross_entropy_backward(last_out, labels, dz, k, scale, ctx.smoothing)
            }
            Loss::Mse => mse_backward(last_out, labels, dz, k, scale),
        }
        for op in ops {
            self.backward_op(ctx, sizes, op, n);
        }
    }

    pub(super) fn backward_op(&mut self, ctx: &Context, sizes: &Sizes, op: &Op, n: usize) {
        if op.input == op.output {
            return; // flatten
        }
        let want_dx = op.input != 0;
        if let OpKind::BatchNorm { relu: true, .. } = op.kind {
            // The folded ReLU's backward, over its output gradient (read by nothing else).
            let len = n * sizes.buffers[op.output];
            let y = &self.acts[op.output][..len];
            relu_backward_in_place(y, &mut self.grads[op.output][..len]);
        }
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
                let w = &p[weight.clone()];
                dense_backward(x, w, dy, dx, dw, db, n, *d_in, ctx.precision);
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
                    &mut self.scratch,
                    shape,
                    n,
                    ctx.precision,
                );
            }
            // Parameter-free layers at the input have nothing to propagate.
            OpKind::MaxPool { slot, .. } => {
                if want_dx {
                    maxpool_backward(dy, &self.argmax[*slot][..dy.len()], dx)
                }
            }
            OpKind::Dropout { slot, .. } => {
                if want_dx {
                    dropout_backward(dy, &self.masks[*slot][..dy.len()], dx)
                }
            }
            OpKind::Activation(activation) => match activation {
                _ if !want_dx => {}
                Activation::Tanh => tanh_backward(y, dy, dx),
                Activation::Relu => relu_backward(y, dy, dx),
            },
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
                let (part, sums) = (&mut self.norm_part, &mut self.norm_mean);
                part.resize(2 * c, 0.0);
                sums.resize(2 * c, 0.0);
                batchnorm_backward_sums(x, saved, dy, sh, part);
                ctx.sync().all_reduce(self.thread, part, sums);
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
                    batchnorm_backward_dx(x, g, saved, dy, sums, count, dx, sh);
                }
            }
            OpKind::Softmax => unreachable!("softmax is fused into the loss"),
            OpKind::Flatten => unreachable!("flatten returned above: it reuses its input's buffer"),
        }
        self.grads[op.input] = dx_buf;
    }
}

/// Mutable views of a layer's weight and bias gradients (bias follows weight).
pub(super) fn split_pair<'a>(
    all: &'a mut [f32],
    weight: &Range<usize>,
    bias: &Range<usize>,
) -> (&'a mut [f32], &'a mut [f32]) {
    let (w, rest) = all[weight.start..bias.end].split_at_mut(weight.len());
    (w, &mut rest[..bias.len()])
}
