//! Convolution launchers (twin of `cpu::conv`), direct on the device: no im2col anywhere.
//! `x: (N, C, H, W)`, `W: (F, C, K, K)` and `b: (F)` in the parameter buffer,
//! `y: (N, F, H', W')`.

use super::activation::fused_code;
use super::dense::bias_grad;
use super::u;
use crate::cpu::conv::ConvShape;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups, groups_1d};
use crate::model::Activation;

/// Host twin of the `Params` of `conv_forward.wgsl`, `conv_backward_data.wgsl` and
/// `conv_backward_weights.wgsl` (`a_off`/`b_off` are their two offsets).
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
    /// Forward: weight offset; backward-data: weight offset; backward-weights: `dW` offset.
    pub a_off: u32,
    /// Forward: bias offset; otherwise 0.
    pub b_off: u32,
}

fn params(sh: &ConvShape, n: usize, a_off: usize, b_off: usize) -> ConvParams {
    ConvParams {
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
        a_off: u(a_off),
        b_off: u(b_off),
    }
}

/// Where a convolution's parameters and their gradients are.
#[derive(Clone, Copy, Debug)]
pub struct ConvLayout {
    /// The flat parameter buffer.
    pub params: BufferId,
    /// The flat gradient buffer.
    pub grads: BufferId,
    /// Offset of `W (F, C, K, K)`.
    pub w_off: usize,
    /// Offset of `b (F)`.
    pub b_off: usize,
    /// The sizes.
    pub shape: ConvShape,
}

/// Host twin of `conv_forward.wgsl`'s `Params`: the convolution's sizes and the fused
/// activation.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvForwardParams {
    /// The sizes and offsets.
    pub conv: ConvParams,
    /// The fused activation ([`super::activation::fused_code`]).
    pub act: u32,
    /// Padding to 64 bytes.
    pub _pad: [u32; 3],
}

/// `y[n, f, oy, ox] = act(b[f] + Σ W[f, c, ki, kj]·x[n, c, oy·S + ki − P, ox·S + kj − P])`,
/// one invocation per output; `act` the fused activation (none, ReLU or tanh).
pub fn conv_forward(
    l: &ConvLayout,
    x: BufferId,
    y: BufferId,
    n: usize,
    activation: Option<Activation>,
) -> Dispatch {
    let sh = &l.shape;
    let p = ConvForwardParams {
        conv: params(sh, n, l.w_off, l.b_off),
        act: fused_code(activation),
        _pad: [0; 3],
    };
    Dispatch::new(
        Kernel::ConvForward,
        groups_1d(n * sh.f * sh.ho * sh.wo),
        vec![x, l.params, y],
        &p,
    )
}

/// Given `dy (N, F, H', W')`: `dW` (one workgroup per weight) and `db` written to the gradient
/// buffer, and, with `dx`, `dx (N, C, H, W)` gathered per input element.
pub fn conv_backward(
    l: &ConvLayout,
    x: BufferId,
    dy: BufferId,
    dx: Option<BufferId>,
    n: usize,
) -> Vec<Dispatch> {
    let sh = &l.shape;
    let weights = sh.f * sh.c * sh.k * sh.k;
    let mut out = vec![
        Dispatch::new(
            Kernel::ConvBackwardWeights,
            groups(weights, 1),
            vec![x, dy, l.grads],
            &params(sh, n, l.w_off, 0),
        ),
        bias_grad(dy, l.grads, l.b_off, n, sh.f, sh.ho * sh.wo),
    ];
    if let Some(dx) = dx {
        out.push(Dispatch::new(
            Kernel::ConvBackwardData,
            groups_1d(n * sh.c * sh.h * sh.w),
            vec![dy, l.params, dx],
            &params(sh, n, l.w_off, 0),
        ));
    }
    out
}
