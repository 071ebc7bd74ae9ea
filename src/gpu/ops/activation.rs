//! Activation launchers (twin of `cpu::activation`), element-wise over `total` values.

use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups_1d};
use crate::model::Activation;

/// Host twin of the `Params` of `activation_forward.wgsl` and `activation_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ActivationParams {
    /// Elements.
    pub total: u32,
    /// [`fused_code`]: 1 = ReLU, 2 = tanh.
    pub kind: u32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 2],
}

/// The code of an activation fused into the kernel producing its input (`fused_activation` in
/// `common.wgsl`): 0 none, 1 ReLU, 2 tanh.
pub fn fused_code(activation: Option<Activation>) -> u32 {
    match activation {
        None => 0,
        Some(Activation::Relu) => 1,
        Some(Activation::Tanh) => 2,
    }
}

/// Where a layer's input gradient goes, and the element-wise layers just before it whose
/// backward the layer's kernel applies as it writes (so that they need no dispatch of their
/// own). With `g` the layer's own input gradient: first, with `dropout` (dense and conv data
/// gradients only), `g·mask`; then, with `through`, `·[a > 0]` (ReLU) or `·(1 − a²)` (tanh),
/// `a` the activation's output — the dropout's input, or without a dropout the layer's own
/// input; without either, `dx = g`.
#[derive(Clone, Copy, Debug)]
pub struct InputGrad {
    /// The buffer `dx` is written to.
    pub buffer: BufferId,
    /// The activation fused in, if any.
    pub through: Option<Activation>,
    /// The dropout fused in, if any.
    pub dropout: Option<DropoutGrad>,
}

/// A dropout whose backward a dense or conv data gradient applies: its mask, and its input
/// (the output of the activation before it, when that is fused in too).
#[derive(Clone, Copy, Debug)]
pub struct DropoutGrad {
    /// The dropout's mask `(N, size)`.
    pub mask: BufferId,
    /// The dropout's input.
    pub input: BufferId,
}

impl InputGrad {
    /// The buffers a data-gradient kernel binds for the fused layers, given the layer's own
    /// input `x`: where the activation's output is read (`x` without a dropout) and the mask
    /// (`x` again, read-only and never read, without one); and the dropout flag.
    pub fn fused_buffers(&self, x: BufferId) -> (BufferId, BufferId, u32) {
        match self.dropout {
            Some(d) => (d.input, d.mask, 1),
            None => (x, x, 0),
        }
    }
}

impl From<BufferId> for InputGrad {
    fn from(buffer: BufferId) -> Self {
        InputGrad {
            buffer,
            through: None,
            dropout: None,
        }
    }
}

fn params(kind: Activation, total: usize) -> ActivationParams {
    ActivationParams {
        total: u(total),
        kind: fused_code(Some(kind)),
        _pad: [0; 2],
    }
}

/// `y = tanh(x)` or `max(x, 0)`.
pub fn activation_forward(kind: Activation, x: BufferId, y: BufferId, total: usize) -> Dispatch {
    Dispatch::new(
        Kernel::ActivationForward,
        groups_1d(total),
        vec![x, y],
        &params(kind, total),
    )
}

/// `dx = dy·(1 − y²)` or `dy·[y > 0]`, from the forward output `y`.
pub fn activation_backward(
    kind: Activation,
    y: BufferId,
    dy: BufferId,
    dx: BufferId,
    total: usize,
) -> Dispatch {
    Dispatch::new(
        Kernel::ActivationBackward,
        groups_1d(total),
        vec![y, dy, dx],
        &params(kind, total),
    )
}
