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
