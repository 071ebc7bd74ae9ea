//! The network description: layers and shape inference (the training recipe that travels with a
//! network is [`super::recipe`]'s).
//!
//! A [`Network`] is plain data. [`Network::plan`] checks it against an input shape and a class
//! count and returns a [`Plan`]: every layer's input and output shape, parameter count and
//! forward FLOPs per image. Both executors build themselves from a plan, so a network that
//! plans is a network both can run.

use super::recipe::{Loss, Training, check_training};
use crate::error::{Error, Result};

/// The shape of one example between layers: an image `(C, H, W)` or a flat vector `(D)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `(C, H, W)`.
    Image {
        /// Channels.
        c: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
    /// `(D)`.
    Flat(usize),
}

impl Shape {
    /// Number of `f32` values in one example.
    pub fn size(&self) -> usize {
        match *self {
            Shape::Image { c, h, w } => c * h * w,
            Shape::Flat(d) => d,
        }
    }

    /// `(features, values per feature)` as batchnorm sees them: `(C, H·W)` for an image, `(D, 1)`
    /// for a flat vector.
    pub fn features(&self) -> (usize, usize) {
        match *self {
            Shape::Image { c, h, w } => (c, h * w),
            Shape::Flat(d) => (d, 1),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Image { c, h, w } => write!(f, "{c}x{h}x{w}"),
            Shape::Flat(d) => write!(f, "{d}"),
        }
    }
}

/// Element-wise activation functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `y = tanh(x)`, `dx = dy·(1 − y²)`.
    Tanh,
    /// `y = max(x, 0)`, `dx = dy·[x > 0]`.
    Relu,
}

/// How many outputs a dense layer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Units {
    /// A fixed count.
    Fixed(usize),
    /// As many as the dataset has classes (the output layer of every preset).
    Classes,
}

/// One layer of a network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Layer {
    /// Fully connected: `(N, D_in) → (N, D_out)`, `y = x·Wᵀ + b`, `W: (D_out, D_in)`.
    Dense {
        /// `D_out`.
        units: Units,
    },
    /// 2-D convolution (cross-correlation): `(N, C, H, W) → (N, F, H', W')` with
    /// `H' = (H + 2P − K)/S + 1`; `W: (F, C, K, K)`, bias `(F)`.
    Conv2d {
        /// `F`.
        filters: usize,
        /// `K` (square kernels).
        kernel: usize,
        /// `S`.
        stride: usize,
        /// `P` zeros on every side.
        padding: usize,
    },
    /// Max-pool over `size x size` windows every `stride` pixels, recording the argmax:
    /// `(N, C, H, W) → (N, C, (H − size)/stride + 1, (W − size)/stride + 1)`.
    MaxPool {
        /// Window side.
        size: usize,
        /// Step between windows.
        stride: usize,
    },
    /// `(N, C, H, W) → (N, C·H·W)`: a view, no data moves.
    Flatten,
    /// Inverted dropout: while training each value is zeroed with probability `rate` and the
    /// rest scaled by `1/(1 − rate)`; identity at inference.
    Dropout {
        /// Probability of dropping, in `[0, 1)`.
        rate: f32,
    },
    /// An element-wise activation.
    Activation(Activation),
    /// Batch normalisation over the batch (and, for images, the spatial positions) of each
    /// feature, with learned scale and shift and running statistics for inference.
    BatchNorm,
    /// Softmax over the classes; only as the last layer, paired with the cross-entropy loss.
    Softmax,
}

/// A network: a name, its layers in order, and its default training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// A short name for logs ("seed9", a file name, ...).
    pub name: String,
    /// One line on what it is.
    pub description: String,
    /// Layers, input to output.
    pub layers: Vec<Layer>,
    /// Default training settings.
    pub training: Training,
}

/// One layer after shape inference.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedLayer {
    /// The layer, with [`Units::Classes`] resolved to [`Units::Fixed`].
    pub layer: Layer,
    /// Shape of one input example.
    pub input: Shape,
    /// Shape of one output example.
    pub output: Shape,
    /// Trainable parameters (weights + biases, or scale + shift).
    pub params: usize,
    /// Of which weights (the rest are biases / shifts).
    pub weights: usize,
    /// Forward floating-point operations per image (a multiply-add counts 2).
    pub flops: u64,
}

/// A network checked against an input shape and a class count.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The network.
    pub network: Network,
    /// Shape of one input image.
    pub input: Shape,
    /// Number of classes.
    pub classes: usize,
    /// Layers with shapes and counts.
    pub layers: Vec<PlannedLayer>,
}

impl Plan {
    /// How many terms one example's loss sums: 1 for cross-entropy, the class count for MSE
    /// (`Σ_j (y − t)²`). The mean loss reported divides the loss sum by examples × this, the
    /// mean over outputs that the MSE gradient's `1/(N·K)` differentiates.
    pub fn loss_terms(&self) -> usize {
        match self.network.training.loss {
            Loss::CrossEntropy => 1,
            Loss::Mse => self.classes,
        }
    }

    /// Total trainable parameters (saturating: at most 1,000 layers of at most 2³⁰ values
    /// each cannot overflow a 64-bit `usize`, but a sum never wraps).
    pub fn params(&self) -> usize {
        (self.layers.iter()).fold(0usize, |sum, l| sum.saturating_add(l.params))
    }

    /// Batchnorm running statistics: `2·C` per batchnorm layer (`r_μ` then `r_σ²`). They are
    /// state, not trainable parameters, but travel with them: `Executor::parameters` returns
    /// the [`Plan::params`] trainable values followed by these.
    pub fn running_stats(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| l.layer == Layer::BatchNorm)
            .fold(0usize, |sum, l| sum.saturating_add(l.params))
    }

    /// Forward FLOPs per image, saturating at `u64::MAX` (a layer may count up to 2⁶¹, and a
    /// network has up to 1,000 layers).
    pub fn forward_flops(&self) -> u64 {
        (self.layers.iter()).fold(0u64, |sum, l| sum.saturating_add(l.flops))
    }

    /// Training FLOPs per image: forward plus backward, counted as 3× forward (the backward of
    /// a GEMM-shaped layer costs two GEMMs of the forward's size); saturating.
    pub fn train_flops(&self) -> u64 {
        self.forward_flops().saturating_mul(3)
    }

    /// The activation buffers both executors allocate, and which one each layer reads and
    /// writes.
    pub fn buffers(&self) -> BufferPlan {
        let mut sizes = vec![self.input.size()];
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut current = 0;
        for l in &self.layers {
            let output = if l.layer == Layer::Flatten {
                current
            } else {
                sizes.push(l.output.size());
                sizes.len() - 1
            };
            layers.push((current, output));
            current = output;
        }
        BufferPlan { sizes, layers }
    }
}

/// Activation buffers numbered from 0 (the input): every layer writes a new buffer, except
/// flatten, which reuses its input's (the same values in a new shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferPlan {
    /// Values per example of each buffer.
    pub sizes: Vec<usize>,
    /// `(input, output)` buffer of each layer, in layer order.
    pub layers: Vec<(usize, usize)>,
}

impl Network {
    /// Checks the network against `input` images and `classes` outputs, inferring every shape.
    /// Errors name the network, the layer (1-based) and what was expected.
    pub fn plan(&self, input: Shape, classes: usize) -> Result<Plan> {
        self.plan_unnamed(input, classes).map_err(|e| match e {
            Error::Network { layer, problem, .. } => Error::Network {
                name: Some(self.name.clone()),
                layer,
                problem,
            },
            other => other,
        })
    }

    fn plan_unnamed(&self, input: Shape, classes: usize) -> Result<Plan> {
        if self.layers.is_empty() {
            return Err(Error::network("it has no layers"));
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(Error::network(format!(
                "it has {} layers, more than the {MAX_LAYERS} a network may have",
                self.layers.len()
            )));
        }
        check_training(&self.training)?;
        if classes == 0 {
            return Err(Error::network("it needs at least 1 class"));
        }
        let dims = match input {
            Shape::Image { c, h, w } => vec![c, h, w],
            Shape::Flat(d) => vec![d],
        };
        if dims.contains(&0) || bounded_product(&dims).is_none() {
            return Err(Error::network(format!(
                "its input {input} must be non-empty and hold at most {MAX_VALUES} values"
            )));
        }
        let mut shape = input;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let planned = plan_layer(i, *layer, shape, classes)?;
            if matches!(layer, Layer::Softmax) && i + 1 != self.layers.len() {
                return Err(Error::layer(i, "softmax must be the last layer"));
            }
            shape = planned.output;
            layers.push(planned);
        }
        if shape != Shape::Flat(classes) {
            return Err(Error::network(format!(
                "the output has shape {shape}, but the data has {classes} classes: end with \
                 `flatten` (if needed) and a dense layer of {classes} units"
            )));
        }
        let last = self.layers[self.layers.len() - 1];
        match (self.training.loss, last) {
            (Loss::CrossEntropy, Layer::Softmax) => {}
            (Loss::CrossEntropy, _) => {
                return Err(Error::network(
                    "the cross-entropy loss needs a softmax as the last layer",
                ));
            }
            (Loss::Mse, Layer::Softmax) => {
                return Err(Error::network(
                    "a softmax output is trained with the cross-entropy loss, not MSE",
                ));
            }
            (Loss::Mse, _) => {}
        }
        Ok(Plan {
            network: self.clone(),
            input,
            classes,
            layers,
        })
    }
}

/// The most values one tensor (a layer's output per example, a layer's parameters) may hold:
/// the GPU indexes buffers with 32-bit integers, and 2³⁰ `f32` values already take 4 GiB.
pub const MAX_VALUES: usize = 1 << 30;

/// The most layers a network may have: far more than any useful network, and few enough that
/// the per-layer buffers of a plan stay small next to the memory its tensors need.
pub const MAX_LAYERS: usize = 1000;

/// The product of `factors` when it is at most [`MAX_VALUES`] (checked, so no overflow).
fn bounded_product(factors: &[usize]) -> Option<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
        .filter(|&p| p <= MAX_VALUES)
}

/// [`bounded_product`], or an error naming layer `i` and `what` is too large.
fn bounded(i: usize, what: &str, factors: &[usize]) -> Result<usize> {
    bounded_product(factors).ok_or_else(|| {
        Error::layer(
            i,
            format!("its {what} would hold more than {MAX_VALUES} values"),
        )
    })
}

impl PlannedLayer {
    /// Shape inference for one layer on its own: `layer` on `input` examples (a dense layer of
    /// [`Units::Classes`] gets `classes` units). Errors as [`Network::plan`]'s for layer 1.
    pub fn new(layer: Layer, input: Shape, classes: usize) -> Result<PlannedLayer> {
        plan_layer(0, layer, input, classes)
    }
}

fn plan_layer(i: usize, layer: Layer, input: Shape, classes: usize) -> Result<PlannedLayer> {
    let n = input.size() as u64;
    let (layer, output, params, weights, flops) = match layer {
        Layer::Dense { units } => {
            let d_in = match input {
                Shape::Flat(d) => d,
                Shape::Image { .. } => {
                    return Err(Error::layer(
                        i,
                        format!("dense needs a flat input, got {input}: add `flatten` before it"),
                    ));
                }
            };
            let d_out = match units {
                Units::Fixed(0) => return Err(Error::layer(i, "dense needs at least 1 unit")),
                Units::Fixed(d) => d,
                Units::Classes => classes,
            };
            let weights = bounded(i, "weight matrix", &[d_out, d_in])?;
            (
                Layer::Dense {
                    units: Units::Fixed(d_out),
                },
                Shape::Flat(d_out),
                weights + d_out,
                weights,
                2 * weights as u64 + d_out as u64,
            )
        }
        Layer::Conv2d {
            filters,
            kernel,
            stride,
            padding,
        } => {
            let Shape::Image { c, h, w } = input else {
                return Err(Error::layer(
                    i,
                    format!("conv2d needs an image input (C, H, W), got the flat vector {input}"),
                ));
            };
            if filters == 0 || kernel == 0 || stride == 0 {
                return Err(Error::layer(
                    i,
                    "conv2d needs filters, kernel and stride >= 1",
                ));
            }
            bounded(i, "kernel", &[kernel, kernel])?;
            if padding >= kernel {
                return Err(Error::layer(
                    i,
                    format!("conv2d padding {padding} must be smaller than the kernel {kernel}"),
                ));
            }
            if kernel > h + 2 * padding || kernel > w + 2 * padding {
                return Err(Error::layer(
                    i,
                    format!(
                        "conv2d kernel {kernel} is larger than its padded input {}x{} \
                         ({h}x{w} plus padding {padding})",
                        h + 2 * padding,
                        w + 2 * padding
                    ),
                ));
            }
            let ho = (h + 2 * padding - kernel) / stride + 1;
            let wo = (w + 2 * padding - kernel) / stride + 1;
            let weights = bounded(i, "weights", &[filters, c, kernel, kernel])?;
            let out = bounded(i, "output", &[filters, ho, wo])? as u64;
            (
                layer,
                Shape::Image {
                    c: filters,
                    h: ho,
                    w: wo,
                },
                weights + filters,
                weights,
                out * (2 * (c * kernel * kernel) as u64 + 1),
            )
        }
        Layer::MaxPool { size, stride } => {
            let Shape::Image { c, h, w } = input else {
                return Err(Error::layer(
                    i,
                    format!("maxpool needs an image input, got {input}"),
                ));
            };
            if size == 0 || stride == 0 {
                return Err(Error::layer(i, "maxpool needs size and stride >= 1"));
            }
            if size > h || size > w {
                return Err(Error::layer(
                    i,
                    format!("maxpool window {size} is larger than its input {h}x{w}"),
                ));
            }
            let out = Shape::Image {
                c,
                h: (h - size) / stride + 1,
                w: (w - size) / stride + 1,
            };
            (layer, out, 0, 0, (out.size() * size * size) as u64)
        }
        Layer::Flatten => (layer, Shape::Flat(input.size()), 0, 0, 0),
        Layer::Dropout { rate } => {
            if !(0.0..1.0).contains(&rate) {
                return Err(Error::layer(
                    i,
                    format!("dropout rate must be in [0, 1), got {rate}"),
                ));
            }
            (layer, input, 0, 0, n)
        }
        Layer::Activation(_) => (layer, input, 0, 0, n),
        Layer::BatchNorm => {
            let (features, _) = input.features();
            (layer, input, 2 * features, features, 4 * n)
        }
        Layer::Softmax => {
            if !matches!(input, Shape::Flat(_)) {
                return Err(Error::layer(
                    i,
                    format!("softmax needs a flat input, got {input}"),
                ));
            }
            (layer, input, 0, 0, 3 * n)
        }
    };
    Ok(PlannedLayer {
        layer,
        input,
        output,
        params,
        weights,
        flops,
    })
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layer::Dense {
                units: Units::Fixed(d),
            } => write!(f, "dense {d}"),
            Layer::Dense {
                units: Units::Classes,
            } => write!(f, "dense classes"),
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => write!(
                f,
                "conv {filters} kernel={kernel} stride={stride} padding={padding}"
            ),
            Layer::MaxPool { size, stride } => write!(f, "maxpool {size} stride={stride}"),
            Layer::Flatten => write!(f, "flatten"),
            Layer::Dropout { rate } => write!(f, "dropout {rate}"),
            Layer::Activation(Activation::Tanh) => write!(f, "tanh"),
            Layer::Activation(Activation::Relu) => write!(f, "relu"),
            Layer::BatchNorm => write!(f, "batchnorm"),
            Layer::Softmax => write!(f, "softmax"),
        }
    }
}
