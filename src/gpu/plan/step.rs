//! The dispatch list of one training or evaluation step: gather (and augment) the batch,
//! forward with activations fused into their producers, the loss (fused with the softmax, and
//! adding the batch's metrics to the totals), backward, and the optimiser update.

use super::{ExecutionPlan, OpKind, StepMode};
use crate::executor::{AdamStep, DropoutKey};
use crate::gpu::kernel::Dispatch;
use crate::gpu::ops::activation::{
    DropoutGrad, InputGrad, activation_backward, activation_forward,
};
use crate::gpu::ops::augment::{AugmentKey, augment};
use crate::gpu::ops::conv::{conv_backward, conv_forward};
use crate::gpu::ops::dataset::{DeviceDataset, gather};
use crate::gpu::ops::dense::{dense_backward, dense_forward};
use crate::gpu::ops::dropout::{dropout_backward, dropout_forward};
use crate::gpu::ops::loss::{LossOutputs, mse, softmax_cross_entropy};
use crate::gpu::ops::norm::{batchnorm_backward, batchnorm_forward};
use crate::gpu::ops::optim::{adam, ema, sgd, weight_decay};
use crate::gpu::ops::pool::{PoolDropout, maxpool_backward, maxpool_forward};
use crate::model::{Loss, Optimizer, Shape, ema_decay};

/// The random keys of one step: which masks and warps it draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepKeys {
    /// Updates applied before this step: the step number dropout and augmentation draw for,
    /// and Adam's `t − 1`.
    pub step: u32,
    /// The run's dropout seed ([`crate::executor::dropout_seed`]).
    pub dropout_seed: u32,
    /// The run's augment seed ([`crate::data::augment::augment_seed`]).
    pub augment_seed: u32,
}

impl ExecutionPlan {
    /// The dispatch list of one step on `n` examples: with `data`, a gather of the batch whose
    /// indices are in the index buffer (for training with augmentation on, then the warp of
    /// step `keys.step`); then the forward pass, the loss (fused with the softmax for
    /// cross-entropy; it adds the batch's loss and correct count to the mode's totals,
    /// [`StepMode::totals`]), and for training the backward pass and the optimiser update
    /// (Adam's step `t` = `keys.step` + 1).
    pub fn step_dispatches(
        &self,
        n: usize,
        mode: StepMode,
        data: Option<&DeviceDataset>,
        keys: StepKeys,
    ) -> Vec<Dispatch> {
        let train = matches!(mode, StepMode::Train { .. });
        let k = self.plan.classes;
        let mut list = Vec::new();
        if let Some(data) = data {
            match (train, self.augment_src, self.plan.input) {
                (true, Some(raw), Shape::Image { c, h, w }) => {
                    let key = AugmentKey {
                        seed: keys.augment_seed,
                        step: keys.step,
                        chance: self.plan.network.training.augment,
                        ranges: self.plan.network.training.augment_ranges,
                    };
                    list.push(gather(data, self.indices, raw, self.labels, n));
                    list.push(augment(raw, self.acts[0], n, (c, h, w), &key));
                }
                _ => list.push(gather(data, self.indices, self.acts[0], self.labels, n)),
            }
        }
        // An activation right after a dense or conv layer is fused into that layer's kernel
        // (`fused_activation`), and a dropout right after a max-pool into the pool's
        // (`fused_dropout`): that kernel then writes the next layer's output buffer.
        // At inference a dropout rate of 0 keeps everything with scale 1: an exact copy.
        let dropout_rate = |rate: f32| if train { rate } else { 0.0 };
        let mut fused_into_previous = false;
        for (index, op) in self.ops.iter().enumerate() {
            if std::mem::take(&mut fused_into_previous) {
                continue;
            }
            let (x, mut y) = (self.acts[op.input], self.acts[op.output]);
            let total = n * self.sizes[op.output];
            let fusion = &self.fusion[index];
            let activation = fusion.activation;
            let dropout = fusion.dropout.map(|(rate, mask)| PoolDropout {
                mask,
                rate: dropout_rate(rate),
                key: dropout_key(keys, index + 1),
            });
            if activation.is_some() || dropout.is_some() {
                fused_into_previous = true;
                y = self.acts[self.ops[index + 1].output];
            }
            match &op.kind {
                OpKind::Dense(l) => list.extend(dense_forward(l, x, y, n, activation)),
                OpKind::Conv(l) => list.extend(conv_forward(l, x, y, n, activation)),
                OpKind::MaxPool { shape, argmax } => {
                    list.push(maxpool_forward(shape, x, y, *argmax, n, dropout))
                }
                OpKind::Dropout { rate, mask } => {
                    let key = dropout_key(keys, index);
                    list.push(dropout_forward(
                        x,
                        y,
                        *mask,
                        total,
                        dropout_rate(*rate),
                        key,
                    ));
                }
                OpKind::Activation(a) => list.push(activation_forward(*a, x, y, total)),
                OpKind::BatchNorm(l) => list.push(batchnorm_forward(l, x, y, n, train)),
                OpKind::Flatten | OpKind::Softmax => {}
            }
        }
        let last = self.ops.last().expect("a planned network has layers");
        let loss = self.plan.network.training.loss;
        let grad_buffer = match loss {
            Loss::CrossEntropy => self.act_grads[last.input],
            Loss::Mse => self.act_grads[last.output],
        };
        let out = LossOutputs {
            grad: grad_buffer,
            totals: self.totals[mode.totals() as usize],
        };
        list.push(match loss {
            Loss::CrossEntropy => {
                let (z, p) = (self.acts[last.input], self.acts[last.output]);
                let smoothing = self.plan.network.training.label_smoothing;
                softmax_cross_entropy(z, self.labels, p, out, n, k, 1.0 / n as f32, smoothing)
            }
            Loss::Mse => mse(
                self.acts[last.output],
                self.labels,
                out,
                n,
                k,
                1.0 / (n * k) as f32,
            ),
        });
        let StepMode::Train { lr } = mode else {
            // Evaluation reads the averaged weights, with weight averaging on.
            if let Some(averaged) = self.ema {
                for dispatch in &mut list {
                    for buffer in &mut dispatch.buffers {
                        if *buffer == self.params {
                            *buffer = averaged;
                        }
                    }
                }
            }
            return list;
        };
        // The backwards of element-wise layers are applied by the kernel of the layer after them
        // when `absorbed` says so: that kernel writes the earliest absorbed layer's input
        // gradient. A dropout fused into the pool before it has its backward done by the
        // pool's, which reads the dropout's output gradient.
        for (index, op) in self.ops.iter().enumerate().rev() {
            let fusion = &self.fusion[index];
            if fusion.backward_elsewhere {
                continue;
            }
            let want_dx = op.input != 0;
            let (x, y) = (self.acts[op.input], self.acts[op.output]);
            let dropout = fusion.dropout;
            let dy = match dropout {
                Some(_) => self.act_grads[self.ops[index + 1].output],
                None => self.act_grads[op.output],
            };
            let takes = fusion.absorbs;
            let dx = InputGrad {
                buffer: self.act_grads[self.ops[takes.first(index)].input],
                through: takes.activation.map(|(_, a)| a),
                dropout: takes.dropout.map(|(d, mask)| DropoutGrad {
                    mask,
                    input: self.acts[self.ops[d].input],
                }),
            };
            let total = n * self.sizes[op.output];
            match &op.kind {
                OpKind::Dense(l) => list.extend(dense_backward(l, x, dy, want_dx.then_some(dx), n)),
                OpKind::Conv(l) => list.extend(conv_backward(l, x, dy, want_dx.then_some(dx), n)),
                // Parameter-free layers at the input have nothing to propagate.
                OpKind::MaxPool { shape, argmax } => {
                    if want_dx {
                        let mask = dropout.map(|(_, mask)| mask);
                        list.push(maxpool_backward(shape, dy, *argmax, mask, x, dx, n))
                    }
                }
                OpKind::Dropout { mask, .. } => {
                    if want_dx {
                        list.push(dropout_backward(dy, *mask, x, dx, total))
                    }
                }
                OpKind::Activation(a) => {
                    if want_dx {
                        list.push(activation_backward(*a, y, dy, dx.buffer, total))
                    }
                }
                // At the input, `dx` is the 4-byte gradient buffer 0, bound but not written.
                OpKind::BatchNorm(l) => {
                    list.push(batchnorm_backward(l, x, dy, dx.buffer, want_dx, n))
                }
                // A view, and the softmax that the loss kernel's gradient already includes.
                OpKind::Flatten | OpKind::Softmax => {}
            }
        }
        let lambda = self.plan.network.training.weight_decay;
        if lambda > 0.0 {
            for range in &self.decayed {
                list.push(weight_decay(self.params, range.clone(), lr, lambda));
            }
        }
        list.push(match self.plan.network.training.optimizer {
            Optimizer::Sgd => sgd(self.grads, self.params, self.n_params, lr),
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                let (m, v) = self.moments.expect("Adam moments are allocated with Adam");
                let step = AdamStep {
                    lr,
                    beta1,
                    beta2,
                    epsilon,
                    t: keys.step + 1,
                };
                adam(self.grads, self.params, m, v, self.n_params, step)
            }
        });
        if let (Some(averaged), Some(decay)) = (self.ema, self.plan.network.training.ema) {
            let d = ema_decay(decay, keys.step + 1);
            list.push(ema(self.params, averaged, self.n_params, d));
        }
        list
    }
}

/// Which mask dropout layer `layer` draws in the step of `keys`.
fn dropout_key(keys: StepKeys, layer: usize) -> DropoutKey {
    DropoutKey {
        seed: keys.dropout_seed,
        step: keys.step,
        layer: layer as u32,
    }
}
