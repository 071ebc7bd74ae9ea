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

/// Where a layer's input gradient goes, and the activation just before the layer whose
/// backward the layer's kernel applies as it writes (so that activation needs no dispatch of
/// its own): with `through`, `dx = g·[x > 0]` (ReLU) or `g·(1 − x²)` (tanh), `g` the layer's
/// own input gradient and `x` its input, which is the activation's output; without, `dx = g`.
#[derive(Clone, Copy, Debug)]
pub struct InputGrad {
    /// The buffer `dx` is written to.
    pub buffer: BufferId,
    /// The activation fused in, if any.
    pub through: Option<Activation>,
}

impl From<BufferId> for InputGrad {
    fn from(buffer: BufferId) -> Self {
        InputGrad {
            buffer,
            through: None,
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
