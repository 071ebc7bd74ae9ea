//! Convolution launchers (twin of `cpu::conv`): implicit GEMMs on the tiled GEMM of
//! [`super::gemm`], the im2col matrix read straight from the images, never stored.
//! `x: (N, C, H, W)`, `W: (F, C, K, K)` and `b: (F)` in the parameter buffer,
//! `y: (N, F, H', W')`.

use super::activation::{InputGrad, fused_code};
use super::gemm::{GemmParams, gemm_dispatches, scratch_bytes_bound};
use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel};
use crate::model::Activation;
use crate::model::{ConvShape, MatmulPrecision};

/// Host twin of `conv_common.wgsl`'s `Conv`, in the `Params` of the three convolution kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    /// `N`.
    pub n: u32,
    /// `C`.
    pub c: u32,
    /// `H`.
    pub h: u32,
    /// `W`.
    pub w: u32,
    /// `F`.
    pub f: u32,
    /// `K`.
    pub k: u32,
    /// `S`.
    pub s: u32,
    /// `P`.
    pub pad: u32,
    /// `H'`.
    pub ho: u32,
    /// `W'`.
    pub wo: u32,
    /// Forward and data gradient: weight offset; weight gradient: `dW` offset.
    pub a_off: u32,
    /// Forward: bias offset; weight gradient: `db` offset; data gradient: 0.
    pub b_off: u32,
}

/// Where a convolution's parameters and their gradients are.
#[derive(Clone, Copy, Debug)]
pub struct ConvLayout {
    /// The flat parameter buffer.
    pub params: BufferId,
    /// The flat gradient buffer.
    pub grads: BufferId,
    /// Scratch for split products' partial sums, at least [`ConvLayout::scratch_bytes`] for
    /// the largest batch.
    pub scratch: BufferId,
    /// Offset of `W (F, C, K, K)`.
    pub w_off: usize,
    /// Offset of `b (F)`.
    pub b_off: usize,
    /// The sizes.
    pub shape: ConvShape,
    /// The products' operands (the network's `matmul_precision`).
    pub precision: MatmulPrecision,
}

impl ConvLayout {
    /// Scratch bytes [`conv_forward`] and [`conv_backward`] need for a convolution of this
    /// shape at batch sizes up to `capacity`.
    pub fn scratch_bytes(shape: &ConvShape, capacity: usize) -> usize {
        let sh = shape;
        scratch_bytes_bound(sh.f, capacity * sh.ho * sh.wo)
            .max(scratch_bytes_bound(sh.f, sh.c * sh.k * sh.k + 1))
            .max(scratch_bytes_bound(sh.c, capacity * sh.h * sh.w))
    }

    /// The `Params` of one of this layer's products at batch `n`: `b_off` as [`ConvParams`]
    /// says (0 for the data gradient), `act` and `dropout` as [`ConvGemmParams`] says.
    fn params(
        &self,
        gemm: GemmParams,
        n: usize,
        b_off: usize,
        act: u32,
        dropout: u32,
    ) -> ConvGemmParams {
        let sh = &self.shape;
        ConvGemmParams {
            gemm,
            conv: ConvParams {
                n: u(n),
                c: u(sh.c),
                h: u(sh.h),
                w: u(sh.w),
                f: u(sh.f),
                k: u(sh.k),
                s: u(sh.s),
                pad: u(sh.p),
                ho: u(sh.ho),
                wo: u(sh.wo),
                a_off: u(self.w_off),
                b_off: u(b_off),
            },
            act,
            dropout,
            _pad: [0; 2],
        }
    }
}

/// Host twin of `conv_common.wgsl`'s `Params`, shared by the three convolution kernels: the
/// GEMM's sizes, the convolution's, and the fused activation and dropout.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvGemmParams {
    /// The GEMM's sizes.
    pub gemm: GemmParams,
    /// The convolution's sizes and offsets.
    pub conv: ConvParams,
    /// [`fused_code`]: forward, the activation applied to `y`; data gradient, the backward of
    /// the activation before the convolution; weight gradient, 0.
    pub act: u32,
    /// Data gradient: 1 when the mask of a dropout before the convolution applies, else 0.
    pub dropout: u32,
    /// Padding to 80 bytes.
    pub _pad: [u32; 2],
}

/// `y[n, f, oy, ox] = act(b[f] + Σ W[f, c, ki, kj]·x[n, c, oy·S + ki − P, ox·S + kj − P])`,
/// an implicit GEMM with `M = F`, `N = N·H'·W'`, `K = C·K·K` (split along `k` when its blocks
/// are few, then summed in a fixed order); `act` the fused activation (none, ReLU or tanh).
pub fn conv_forward(
    l: &ConvLayout,
    x: BufferId,
    y: BufferId,
    n: usize,
    activation: Option<Activation>,
) -> Vec<Dispatch> {
    let sh = &l.shape;
    let gemm = GemmParams::new(sh.f, n * sh.ho * sh.wo, sh.c * sh.k * sh.k);
    gemm_dispatches(
        Kernel::ConvForward,
        &gemm,
        vec![x, l.params, y, l.scratch],
        &l.params(gemm, n, l.b_off, fused_code(activation), 0),
        l.precision,
    )
}

/// Given `dy (N, F, H', W')`: `dW` and `db` written to the gradient buffer by one implicit GEMM
/// (`M = F`, `N = C·K·K + 1`, `K = N·H'·W'`), and, with `dx`, `dx (N, C, H, W)` by another
/// (`M = C`, `N = N·H·W`, `K = F·K·K`) that goes through the backwards of the dropout and
/// activation before the convolution that `dx` fuses in; each split along `k` when its blocks are
/// few, then summed in a fixed order.
pub fn conv_backward(
    l: &ConvLayout,
    x: BufferId,
    dy: BufferId,
    dx: Option<InputGrad>,
    n: usize,
) -> Vec<Dispatch> {
    let sh = &l.shape;
    let gemm = GemmParams::new(sh.f, sh.c * sh.k * sh.k + 1, n * sh.ho * sh.wo);
    let mut out = gemm_dispatches(
        Kernel::ConvBackwardWeights,
        &gemm,
        vec![x, dy, l.grads, l.scratch],
        &l.params(gemm, n, l.b_off, 0, 0),
        l.precision,
    );
    if let Some(dx) = dx {
        let gemm = GemmParams::new(sh.c, n * sh.h * sh.w, sh.f * sh.k * sh.k);
        let (activation_output, mask, dropout) = dx.fused_buffers(x);
        out.extend(gemm_dispatches(
            Kernel::ConvBackwardData,
            &gemm,
            vec![dy, l.params, activation_output, mask, dx.buffer, l.scratch],
            &l.params(gemm, n, 0, fused_code(dx.through), dropout),
            l.precision,
        ));
    }
    out
}
