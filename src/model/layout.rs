//! The one parameter layout table: which tensor of which layer lies where.
//!
//! llm.c's `fill_in_parameter_sizes` in Rust: [`ParamLayout::of`] walks a plan once, and
//! everything that places parameters reads it — both executors' allocation, the initial values
//! ([`initial_parameters`], [`initial_running_stats`]), checkpoints' tensor names and shapes.
//!
//! - The trainable parameters form one flat `f32` vector, layer by layer, weight then bias:
//!   dense `W (D_out, D_in)` then `b (D_out)`; conv `W (F, C, K, K)` then `b (F)`; batchnorm
//!   `γ (C)` then `β (C)` (named `weight` and `bias`, as PyTorch's `BatchNorm`).
//! - Batchnorm running statistics form a second vector, per batchnorm layer in layer order
//!   `r_μ (C)` then `r_σ² (C)`. Executors' `parameters()` append it after the trainable ones.

use super::{Init, Layer, Plan};
use crate::rng::Rng;
use std::ops::Range;

/// Where one layer's values lie. Ranges are empty for what a layer does not have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerSlots {
    /// The weight (dense, conv) or `γ` (batchnorm), in the parameter vector.
    pub weight: Range<usize>,
    /// The bias (dense, conv) or `β` (batchnorm), in the parameter vector.
    pub bias: Range<usize>,
    /// `r_μ` then `r_σ²` (batchnorm), in the running-statistics vector.
    pub running: Range<usize>,
}

/// One named tensor: its name, its PyTorch shape, and where it lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSlot {
    /// `"{layer}.weight"`, `"{layer}.bias"`, `"{layer}.running_mean"` or `"{layer}.running_var"`.
    pub name: String,
    /// The 0-based layer it belongs to.
    pub layer: usize,
    /// Its shape, e.g. `(D_out, D_in)` or `(F, C, K, K)`.
    pub shape: Vec<usize>,
    /// Its elements: in the parameter vector for parameters; for running statistics, in the
    /// parameter vector extended by the running statistics (from [`ParamLayout::params`] on).
    pub range: Range<usize>,
}

/// The layout of a plan's parameters and running statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    /// One entry per layer, in layer order.
    pub layers: Vec<LayerSlots>,
    /// The trainable parameter tensors, in vector order.
    pub tensors: Vec<TensorSlot>,
    /// The running-statistics tensors, in vector order.
    pub running_tensors: Vec<TensorSlot>,
    /// Length of the parameter vector.
    pub params: usize,
    /// Length of the running-statistics vector.
    pub running: usize,
}

impl ParamLayout {
    /// The layout of `plan`.
    pub fn of(plan: &Plan) -> ParamLayout {
        let mut layout = ParamLayout {
            layers: Vec::with_capacity(plan.layers.len()),
            tensors: Vec::new(),
            running_tensors: Vec::new(),
            params: 0,
            running: 0,
        };
        for (i, planned) in plan.layers.iter().enumerate() {
            let (c_in, _) = planned.input.features();
            // The weight's PyTorch shape, the bias's length, and the running statistics' features.
            let (weight_shape, bias, features) = match planned.layer {
                Layer::Dense { .. } => {
                    let d_out = planned.output.size();
                    (vec![d_out, planned.input.size()], d_out, 0)
                }
                Layer::Conv2d {
                    filters, kernel, ..
                } => (vec![filters, c_in, kernel, kernel], filters, 0),
                Layer::BatchNorm => (vec![c_in], c_in, c_in),
                Layer::MaxPool { .. }
                | Layer::Flatten
                | Layer::Dropout { .. }
                | Layer::Activation(_)
                | Layer::Softmax => (Vec::new(), 0, 0),
            };
            let weights = if weight_shape.is_empty() {
                0
            } else {
                weight_shape.iter().product()
            };
            debug_assert_eq!(weights + bias, planned.params, "layer {i}: planned params");
            let weight = layout.take_params(i, "weight", weight_shape, weights);
            let bias = layout.take_params(i, "bias", vec![bias], bias);
            let running = layout.running..layout.running + 2 * features;
            for (k, suffix) in ["running_mean", "running_var"].into_iter().enumerate() {
                if features > 0 {
                    let start = plan.params() + running.start + k * features;
                    layout.running_tensors.push(TensorSlot {
                        name: format!("{i}.{suffix}"),
                        layer: i,
                        shape: vec![features],
                        range: start..start + features,
                    });
                }
            }
            layout.running = running.end;
            layout.layers.push(LayerSlots {
                weight,
                bias,
                running,
            });
        }
        layout
    }

    /// The ranges weight decay ([`crate::model::Training::weight_decay`]) shrinks: the weight
    /// of every dense and conv layer of `plan` (the plan this layout was made of), in layer
    /// order; biases and batchnorm's `γ` and `β` are left out.
    pub fn decayed_weights(&self, plan: &Plan) -> Vec<Range<usize>> {
        plan.layers
            .iter()
            .zip(&self.layers)
            .filter(|(planned, _)| {
                matches!(planned.layer, Layer::Dense { .. } | Layer::Conv2d { .. })
            })
            .map(|(_, slots)| slots.weight.clone())
            .collect()
    }

    /// Appends a parameter tensor of `len` values (none when 0) and returns its range.
    fn take_params(
        &mut self,
        layer: usize,
        suffix: &str,
        shape: Vec<usize>,
        len: usize,
    ) -> Range<usize> {
        let range = self.params..self.params + len;
        if len > 0 {
            self.tensors.push(TensorSlot {
                name: format!("{layer}.{suffix}"),
                layer,
                shape,
                range: range.clone(),
            });
        }
        self.params = range.end;
        range
    }
}

/// The parameters a run with seed `seed` starts from (both executors start from these), drawn
/// as the network's [`Init`] says from stream 1 of `seed`, layer by layer: dense and conv
/// weights with `fan_in = D_in` or `C·K·K` and `fan_out = D_out` or `F·K·K` (uniform init draws
/// their biases too, right after the weights; the others leave biases 0); batchnorm `γ = 1`,
/// `β = 0`.
pub fn initial_parameters(plan: &Plan, seed: u64) -> Vec<f32> {
    let layout = ParamLayout::of(plan);
    let mut params = vec![0.0; layout.params];
    let mut rng = Rng::derived(seed, 1);
    let init = plan.network.training.init;
    for (planned, slots) in plan.layers.iter().zip(&layout.layers) {
        let (fan_in, fan_out) = match planned.layer {
            Layer::Dense { .. } => (planned.input.size(), planned.output.size()),
            Layer::Conv2d {
                filters, kernel, ..
            } => {
                let (c, _) = planned.input.features();
                (c * kernel * kernel, filters * kernel * kernel)
            }
            Layer::BatchNorm => {
                params[slots.weight.clone()].fill(1.0);
                continue;
            }
            Layer::MaxPool { .. }
            | Layer::Flatten
            | Layer::Dropout { .. }
            | Layer::Activation(_)
            | Layer::Softmax => continue,
        };
        match init {
            Init::Uniform => {
                for w in &mut params[slots.weight.start..slots.bias.end] {
                    *w = rng.uniform_range(-0.5, 0.5) as f32;
                }
            }
            Init::Glorot => {
                let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
                for w in &mut params[slots.weight.clone()] {
                    *w = rng.uniform_range(-a, a) as f32;
                }
            }
            Init::He => {
                let std = (2.0 / fan_in as f64).sqrt();
                for w in &mut params[slots.weight.clone()] {
                    *w = (rng.normal() * std) as f32;
                }
            }
        }
    }
    params
}

/// The running statistics a fresh network starts with: per batchnorm layer `r_μ = 0 (C)` then
/// `r_σ² = 1 (C)`, in layer order.
pub fn initial_running_stats(plan: &Plan) -> Vec<f32> {
    let layout = ParamLayout::of(plan);
    let mut running = vec![0.0; layout.running];
    for slots in &layout.layers {
        let half = slots.running.len() / 2;
        running[slots.running.start + half..slots.running.end].fill(1.0);
    }
    running
}
