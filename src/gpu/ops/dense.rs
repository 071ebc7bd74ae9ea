//! Dense layer launchers (twin of `cpu::dense`): `W: (D_out, D_in)`, `b: (D_out)` in the
//! parameter buffer; three GEMMs on the tiled core of [`super::gemm`], each with its bias,
//! activation or bias gradient in the product itself rather than a dispatch of its own.

use super::activation::{InputGrad, fused_code};
use super::gemm::{GemmParams, gemm_dispatches, scratch_bytes_bound};
use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel};
use crate::model::{Activation, MatmulPrecision};

/// Host twin of `dense_common.wgsl`'s `Params`, shared by the three dense kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DenseParams {
    /// The GEMM's sizes.
    pub gemm: GemmParams,
    /// Offset of `W` (or `dW`, in the gradient buffer).
    pub w_off: u32,
    /// Offset of `b` (or `db`).
    pub b_off: u32,
    /// The fused activation ([`fused_code`]): forward, applied to `y`; data gradient, the
    /// backward of the activation before the layer; weight gradient, 0.
    pub act: u32,
    /// Data gradient: 1 when the mask of a dropout before the layer applies, else 0.
    pub dropout: u32,
}

/// Where a dense layer's parameters and their gradients are.
#[derive(Clone, Copy, Debug)]
pub struct DenseLayout {
    /// The flat parameter buffer.
    pub params: BufferId,
    /// The flat gradient buffer (same layout).
    pub grads: BufferId,
    /// Scratch for split products' partial sums, at least [`DenseLayout::scratch_bytes`].
    pub scratch: BufferId,
    /// Offset of `W (D_out, D_in)`.
    pub w_off: usize,
    /// Offset of `b (D_out)`.
    pub b_off: usize,
    /// `D_in`.
    pub d_in: usize,
    /// `D_out`.
    pub d_out: usize,
    /// The products' operands (the network's `matmul_precision`).
    pub precision: MatmulPrecision,
}

impl DenseLayout {
    /// Scratch bytes [`dense_forward`] and [`dense_backward`] need at batch sizes up to
    /// `capacity`.
    pub fn scratch_bytes(d_in: usize, d_out: usize, capacity: usize) -> usize {
        scratch_bytes_bound(capacity, d_out)
            .max(scratch_bytes_bound(d_out, d_in + 1))
            .max(scratch_bytes_bound(capacity, d_in))
    }

    fn params(&self, gemm: GemmParams, act: u32, dropout: u32) -> DenseParams {
        DenseParams {
            gemm,
            w_off: u(self.w_off),
            b_off: u(self.b_off),
            act,
            dropout,
        }
    }
}

/// `y (N, D_out) = act(x (N, D_in) · Wᵀ + b)`: one GEMM (`M = N`, `N = D_out`, `K = D_in`)
/// that adds the bias and applies the fused activation `act` (none: a plain dense layer) as it
/// stores; split along `k` when its blocks are few, then summed in a fixed order.
pub fn dense_forward(
    l: &DenseLayout,
    x: BufferId,
    y: BufferId,
    n: usize,
    activation: Option<Activation>,
) -> Vec<Dispatch> {
    let gemm = GemmParams::new(n, l.d_out, l.d_in);
    gemm_dispatches(
        Kernel::DenseForward,
        &gemm,
        vec![x, l.params, y, l.scratch],
        &l.params(gemm, fused_code(activation), 0),
        l.precision,
    )
}

/// Given `dy (N, D_out)`: `dW = dyᵀ · x` and `db = Σ_n dy` written (not added) to the gradient
/// buffer by one GEMM (`M = D_out`, `N = D_in + 1`, `K = N`: `db` is the product with a
/// column of ones), and, with `dx`, `dx (N, D_in) = dy · W` (`M = N`, `N = D_in`, `K = D_out`),
/// through the backwards of the dropout and activation before the layer that `dx` fuses in.
pub fn dense_backward(
    l: &DenseLayout,
    x: BufferId,
    dy: BufferId,
    dx: Option<InputGrad>,
    n: usize,
) -> Vec<Dispatch> {
    let gemm = GemmParams::new(l.d_out, l.d_in + 1, n);
    let mut out = gemm_dispatches(
        Kernel::DenseBackwardWeights,
        &gemm,
        vec![x, dy, l.grads, l.scratch],
        &l.params(gemm, 0, 0),
        l.precision,
    );
    if let Some(dx) = dx {
        let gemm = GemmParams::new(n, l.d_in, l.d_out);
        let (activation_output, mask, dropout) = dx.fused_buffers(x);
        out.extend(gemm_dispatches(
            Kernel::DenseBackwardData,
            &gemm,
            vec![dy, l.params, activation_output, mask, dx.buffer, l.scratch],
            &l.params(gemm, fused_code(dx.through), dropout),
            l.precision,
        ));
    }
    out
}
