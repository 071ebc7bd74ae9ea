//! Kernels, buffers and dispatch lists.
//!
//! Every shader in `shaders/` follows one skeleton: `common.wgsl` prepended (the flat-index
//! helpers; the host declares the shared workgroup size `WG` before it), a `Params` uniform at binding 0 padded to a
//! multiple of 16 bytes (its host twin is a `#[repr(C)] bytemuck::Pod` struct in
//! [`super::ops`]), then storage buffers at bindings 1.., and a bounds guard on the first line
//! of `main`. Kernels of one family share a `*_common.wgsl` prepended to their file (the
//! `Params` and helpers of the convolutions, dense layers, max-pools and losses). The matrix
//! products share one `main`: an op's file supplies its operands and output (`load_a4`,
//! `load_b4`, `store_c`, `partials`) and `gemm_core.wgsl` (or, for the sum of a split product,
//! `gemm_reduce.wgsl`) is appended; the losses share theirs, in `loss_common.wgsl` (one
//! workgroup looping over the batch, no bounds guard). The bind-group layouts are written out
//! here, with `read_only` set, so this table documents every shader's interface;
//! `tests/shaders.rs` holds it (and every `Params` twin's size) to the shaders with naga.
//!
//! This file is the catalogue ([`Kernel`]: each kernel's source and bindings); `compile` turns a
//! kernel into a pipeline ([`Kernels`]), `buffers` holds the device buffers ([`Buffers`]), and
//! `dispatch` the launches: host dispatch is data, a step is a `Vec<`[`Dispatch`]`>` (kernel,
//! workgroup counts, buffer ids, parameter bytes) that a test can inspect before anything runs,
//! and a [`Program`] turns a list into bind groups once and replays it, with new parameter
//! bytes, every step.

use crate::gpu::ops::gemm::NARROW_BLOCK_M;

mod buffers;
mod compile;
mod dispatch;

pub use buffers::{BufferId, Buffers};
pub use compile::{Compiled, Kernels, PADDED_STAGING_BYTES, kernel_source};

/// How a kernel is built: the GEMM kernels ([`Kernel::is_gemm`]) come in block heights and
/// operand precisions; every other kernel has one build, the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Blocks of [`NARROW_BLOCK_M`] rows instead of `BLOCK_M` (a product of at most that many
    /// rows, see [`GemmParams::narrow`](crate::gpu::ops::gemm::GemmParams::narrow)).
    pub narrow: bool,
    /// Both operands rounded to bfloat16 as they are staged (a network with `matmul_precision
    /// bf16`, [`MatmulPrecision::Bf16`](crate::model::MatmulPrecision::Bf16)); sums in float32.
    pub bf16: bool,
}

impl Variant {
    /// The four builds of a GEMM kernel, as indices `0..4` of [`Variant::index`].
    pub const COUNT: usize = 4;

    /// This build's index in `0..Variant::COUNT`.
    pub fn index(self) -> usize {
        usize::from(self.narrow) * 2 + usize::from(self.bf16)
    }
}
pub use dispatch::{Dispatch, Program, groups, groups_1d, run};

/// Invocations per workgroup of every kernel but the GEMM core (`gemm_core.wgsl` sets its own
/// from its block size: 256 for the 128 x 128 blocks, 128 for the narrow 64 x 128 ones). The
/// shaders read it as `WG`, which the host declares ([`kernel_source`]).
pub const WORKGROUP_SIZE: u32 = 64;

/// The most workgroups a launch puts in one dimension (WebGPU's guaranteed minimum).
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// Every compute kernel: one per op file in `shaders/`, two (the product and the sum of its
/// split) per matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `matmul.wgsl` on `gemm_core.wgsl`: `C = op(A)·op(B)` (benchmarks and tests).
    Matmul,
    /// `matmul.wgsl` on `gemm_reduce.wgsl`: the sum of a split matmul's partial products.
    MatmulReduce,
    /// `dense_forward.wgsl` on `gemm_core.wgsl`: `x·Wᵀ` plus bias and activation.
    DenseForward,
    /// `dense_forward.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products, plus
    /// bias and activation.
    DenseForwardReduce,
    /// `dense_backward_data.wgsl` on `gemm_core.wgsl`: `dx = dy·W`, through the backward of a
    /// fused activation.
    DenseBackwardData,
    /// `dense_backward_data.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products.
    DenseBackwardDataReduce,
    /// `dense_backward_weights.wgsl` on `gemm_core.wgsl`: `dW` and `db` of a dense layer.
    DenseBackwardWeights,
    /// `dense_backward_weights.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial
    /// products.
    DenseBackwardWeightsReduce,
    /// `conv_forward.wgsl` on `gemm_core.wgsl`: convolution plus bias and activation, an
    /// implicit GEMM.
    ConvForward,
    /// `conv_forward.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products, plus
    /// bias and activation.
    ConvForwardReduce,
    /// `conv_backward_data.wgsl` on `gemm_core.wgsl`: `dx` of a convolution, gathered, through
    /// the backward of a fused activation.
    ConvBackwardData,
    /// `conv_backward_data.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products.
    ConvBackwardDataReduce,
    /// `conv_backward_weights.wgsl` on `gemm_core.wgsl`: `dW` and `db` of a convolution.
    ConvBackwardWeights,
    /// `conv_backward_weights.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial
    /// products.
    ConvBackwardWeightsReduce,
    /// `maxpool_forward.wgsl`: max and argmax of each window.
    MaxPoolForward,
    /// `maxpool_dropout_forward.wgsl`: max and argmax of each window, times the mask of the
    /// dropout after the pool, fused in.
    MaxPoolDropoutForward,
    /// `maxpool_backward.wgsl`: `dx` routed through the argmax, gathered, through the backwards
    /// of a fused dropout and a fused activation.
    MaxPoolBackward,
    /// `activation_forward.wgsl`: tanh or ReLU.
    ActivationForward,
    /// `activation_backward.wgsl`: their derivatives from the forward output, where no
    /// neighbouring kernel takes them in.
    ActivationBackward,
    /// `dropout_forward.wgsl`: counter-based mask and `y = x·mask`.
    DropoutForward,
    /// `dropout_backward.wgsl`: `dx = dy·mask`, through the backward of a fused activation.
    DropoutBackward,
    /// `softmax_cross_entropy.wgsl`: probabilities and gradient, and the batch's loss and
    /// correct count added to the running totals, in one workgroup.
    SoftmaxCrossEntropy,
    /// `mse.wgsl`: gradient of the squared error, and the batch's loss and correct count added
    /// to the running totals, in one workgroup.
    Mse,
    /// `sgd.wgsl`: `w ← w − lr·g`.
    Sgd,
    /// `adam.wgsl`: Adam with both moments on the device.
    Adam,
    /// `ema.wgsl`: weight averaging after an update.
    Ema,
    /// `weight_decay.wgsl`: decoupled weight decay of one weight tensor before an update.
    WeightDecay,
    /// `gather.wgsl`: batch images from the device-resident byte dataset, scaled to [0, 1].
    Gather,
    /// `batchnorm_forward.wgsl`: batch (or running) statistics and `y = γ·x̂ + β`, one
    /// workgroup per feature.
    BatchNormForward,
    /// `batchnorm_backward.wgsl`: `dγ`, `dβ` and `dx`, one workgroup per feature.
    BatchNormBackward,
    /// `augment.wgsl`: random affine warps of a gathered training batch.
    Augment,
}

/// Storage bindings of a kernel, in binding order (from 1): `true` = read-only.
const R: bool = true;
const W: bool = false;

impl Kernel {
    /// All kernels.
    pub const ALL: [Kernel; 31] = [
        Kernel::Matmul,
        Kernel::MatmulReduce,
        Kernel::DenseForward,
        Kernel::DenseForwardReduce,
        Kernel::DenseBackwardData,
        Kernel::DenseBackwardDataReduce,
        Kernel::DenseBackwardWeights,
        Kernel::DenseBackwardWeightsReduce,
        Kernel::ConvForward,
        Kernel::ConvForwardReduce,
        Kernel::ConvBackwardData,
        Kernel::ConvBackwardDataReduce,
        Kernel::ConvBackwardWeights,
        Kernel::ConvBackwardWeightsReduce,
        Kernel::MaxPoolForward,
        Kernel::MaxPoolDropoutForward,
        Kernel::MaxPoolBackward,
        Kernel::ActivationForward,
        Kernel::ActivationBackward,
        Kernel::DropoutForward,
        Kernel::DropoutBackward,
        Kernel::SoftmaxCrossEntropy,
        Kernel::Mse,
        Kernel::Sgd,
        Kernel::Adam,
        Kernel::Ema,
        Kernel::WeightDecay,
        Kernel::Gather,
        Kernel::BatchNormForward,
        Kernel::BatchNormBackward,
        Kernel::Augment,
    ];

    /// The op's file name in `shaders/` (labels and profiles show it); the second pass of a
    /// split GEMM adds " (split sum)". A kernel is compiled from `common.wgsl`, its family's
    /// `*_common.wgsl` if it has one, its file, and for a matrix product `gemm_core.wgsl` or
    /// `gemm_reduce.wgsl`.
    pub fn file(self) -> &'static str {
        self.info().0
    }

    /// How pipelines, profiles and debuggers name this kernel built as `variant`: its
    /// [`Kernel::file`], with " (64-row blocks)" for a GEMM kernel built on narrow blocks and
    /// " (bf16 operands)" for one that rounds its operands.
    pub fn label(self, variant: Variant) -> String {
        let mut label = self.file().to_string();
        if variant.narrow {
            label += &format!(" ({NARROW_BLOCK_M}-row blocks)");
        }
        if variant.bf16 {
            label += " (bf16 operands)";
        }
        label
    }

    /// The storage bindings (1, 2, ...): `true` where the shader only reads the buffer.
    pub fn storage(self) -> &'static [bool] {
        self.info().2
    }

    fn source(self) -> &'static str {
        self.info().1
    }

    /// Whether this is a GEMM kernel (the `main` of `gemm_core.wgsl`). These are compiled
    /// without wgpu's runtime checks, which cost them measurably (docs/GPU_KERNELS.md, v11):
    /// mostly the clamp on every workgroup-memory index and the counter naga adds to every
    /// loop. Tests run them with the checks too and demand the same bits
    /// ([`Kernels::with_runtime_checks`]). The core and the product
    /// files keep their accesses in bounds themselves: every load and store is guarded by the
    /// matrix sizes (`M`, `N`, the split's end of `k`) that the host sized the buffers for, a
    /// load's fallback index is the first element of a non-empty buffer, the workgroup-memory
    /// indices are in range by construction, and every loop runs to a uniform bound. On an
    /// adapter with less workgroup memory than their padded staging rows take
    /// ([`PADDED_STAGING_BYTES`] for 128-row blocks), they are compiled with unpadded ones
    /// (`ROW_PAD` 0 in `gemm_core.wgsl`).
    pub fn is_gemm(self) -> bool {
        self.split_sum().is_some()
    }

    /// A GEMM kernel's second pass, the sum of a split product's partial sums (the same file
    /// on `gemm_reduce.wgsl`); `None` for every other kernel.
    pub fn split_sum(self) -> Option<Kernel> {
        use Kernel::*;
        Some(match self {
            Matmul => MatmulReduce,
            DenseForward => DenseForwardReduce,
            DenseBackwardData => DenseBackwardDataReduce,
            DenseBackwardWeights => DenseBackwardWeightsReduce,
            ConvForward => ConvForwardReduce,
            ConvBackwardData => ConvBackwardDataReduce,
            ConvBackwardWeights => ConvBackwardWeightsReduce,
            _ => return None,
        })
    }

    fn info(self) -> (&'static str, &'static str, &'static [bool]) {
        macro_rules! shader {
            ($file:literal, $bindings:expr) => {
                (
                    $file,
                    include_str!(concat!("../../shaders/", $file)),
                    $bindings,
                )
            };
            // An op's file after the declarations and helpers it shares with a sibling.
            ($file:literal after $common:literal, $bindings:expr) => {
                (
                    $file,
                    concat!(
                        include_str!(concat!("../../shaders/", $common)),
                        "\n",
                        include_str!(concat!("../../shaders/", $file)),
                    ),
                    $bindings,
                )
            };
            // A matrix product: the op's file (after the layer kind's `*_common.wgsl`),
            // then the shared `main` of `gemm_core.wgsl`, or of `gemm_reduce.wgsl` for the sum
            // of a split product.
            ($main:literal, $name:expr, $file:literal $(after $common:literal)?, $bindings:expr) => {
                (
                    $name,
                    concat!(
                        $(include_str!(concat!("../../shaders/", $common)), "\n",)?
                        include_str!(concat!("../../shaders/", $file)),
                        "\n",
                        include_str!(concat!("../../shaders/", $main)),
                    ),
                    $bindings,
                )
            };
        }
        // A matrix product's two kernels share a file and bindings: the GEMM (the `main` of
        // `gemm_core.wgsl`) and, for the `*Reduce` kernel, the sum of a split product's partial
        // sums (`gemm_reduce.wgsl`).
        use Kernel::*;
        let split_sum = Kernel::ALL.iter().any(|k| k.split_sum() == Some(self));
        macro_rules! product {
            ($file:literal $(after $common:literal)?, $bindings:expr) => {
                if split_sum {
                    shader!(
                        "gemm_reduce.wgsl",
                        concat!($file, " (split sum)"),
                        $file $(after $common)?,
                        $bindings
                    )
                } else {
                    shader!("gemm_core.wgsl", $file, $file $(after $common)?, $bindings)
                }
            };
        }
        match self {
            // a, b, c, partials
            Matmul | MatmulReduce => product!("matmul.wgsl", &[R, R, W, W]),
            // x, params, y, partials
            DenseForward | DenseForwardReduce => {
                product!("dense_forward.wgsl" after "dense_common.wgsl", &[R, R, W, W])
            }
            // dy, params, activation output, dropout mask, dx, partials
            DenseBackwardData | DenseBackwardDataReduce => {
                product!("dense_backward_data.wgsl" after "dense_common.wgsl", &[R, R, R, R, W, W])
            }
            // x, dy, grads, partials
            DenseBackwardWeights | DenseBackwardWeightsReduce => {
                product!("dense_backward_weights.wgsl" after "dense_common.wgsl", &[R, R, W, W])
            }
            // x, params, y, partials
            ConvForward | ConvForwardReduce => {
                product!("conv_forward.wgsl" after "conv_common.wgsl", &[R, R, W, W])
            }
            // dy, params, activation output, dropout mask, dx, partials
            ConvBackwardData | ConvBackwardDataReduce => {
                product!("conv_backward_data.wgsl" after "conv_common.wgsl", &[R, R, R, R, W, W])
            }
            // x, dy, grads, partials
            ConvBackwardWeights | ConvBackwardWeightsReduce => {
                product!("conv_backward_weights.wgsl" after "conv_common.wgsl", &[R, R, W, W])
            }
            // x, y, argmax
            MaxPoolForward => {
                shader!("maxpool_forward.wgsl" after "maxpool_common.wgsl", &[R, W, W])
            }
            // x, y, argmax, mask
            MaxPoolDropoutForward => {
                shader!("maxpool_dropout_forward.wgsl" after "maxpool_common.wgsl", &[R, W, W, W])
            }
            // dy, argmax, mask, x, dx
            MaxPoolBackward => shader!("maxpool_backward.wgsl", &[R, R, R, R, W]),
            // x, y
            ActivationForward => shader!("activation_forward.wgsl", &[R, W]),
            // y, dy, dx
            ActivationBackward => shader!("activation_backward.wgsl", &[R, R, W]),
            // x, y, mask
            DropoutForward => shader!("dropout_forward.wgsl", &[R, W, W]),
            // dy, mask, x, dx
            DropoutBackward => shader!("dropout_backward.wgsl", &[R, R, R, W]),
            // labels, totals, logits, probs, dz
            SoftmaxCrossEntropy => {
                shader!("softmax_cross_entropy.wgsl" after "loss_common.wgsl", &[R, W, R, W, W])
            }
            // labels, totals, y, dy
            Mse => shader!("mse.wgsl" after "loss_common.wgsl", &[R, W, R, W]),
            // grads, params
            Sgd => shader!("sgd.wgsl", &[R, W]),
            // grads, params, m, v
            Adam => shader!("adam.wgsl", &[R, W, W, W]),
            // params, ema
            Ema => shader!("ema.wgsl", &[R, W]),
            // params
            WeightDecay => shader!("weight_decay.wgsl", &[W]),
            // indices, images, all_labels, x, labels
            Gather => shader!("gather.wgsl", &[R, R, R, W, W]),
            // x, params, y, saved, running
            BatchNormForward => shader!("batchnorm_forward.wgsl", &[R, R, W, W, W]),
            // x, dy, params, saved, grads, dx
            BatchNormBackward => shader!("batchnorm_backward.wgsl", &[R, R, R, R, W, W]),
            // src, x
            Augment => shader!("augment.wgsl", &[R, W]),
        }
    }
}
