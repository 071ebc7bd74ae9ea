//! Dropout launchers (twin of `cpu::dropout`): the mask of element `i` of the batch is a pure
//! function of `(seed, step, layer, i)` through `rng::counter_uniform`, ported bit-exactly to
//! WGSL, so both executors draw identical masks.

use super::activation::{InputGrad, fused_code};
use super::u;
use crate::executor::DropoutKey;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups_1d};

/// Host twin of `common.wgsl`'s `Dropout`: which mask a kernel draws for what it writes
/// (`dropout_multiplier`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DropoutUniform {
    /// The run's dropout seed.
    pub seed: u32,
    /// The training step.
    pub step: u32,
    /// The layer index.
    pub layer: u32,
    /// Drop probability (0: keep everything, no draws).
    pub rate: f32,
    /// `1/(1 − rate)`, computed here exactly as the CPU twin does.
    pub scale: f32,
    /// Padding to 32 bytes.
    pub _pad: [u32; 3],
}

impl DropoutUniform {
    /// The mask of dropout layer `key.layer` at `rate` (0 at inference).
    pub fn new(rate: f32, key: DropoutKey) -> Self {
        DropoutUniform {
            seed: key.seed,
            step: key.step,
            layer: key.layer,
            rate,
            scale: 1.0 / (1.0 - rate),
            _pad: [0; 3],
        }
    }
}

/// Host twin of `dropout_forward.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DropoutParams {
    /// Elements `N·size`.
    pub total: u32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 3],
    /// The mask.
    pub drop: DropoutUniform,
}

/// Host twin of `dropout_backward.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DropoutBackwardParams {
    /// Elements.
    pub total: u32,
    /// The activation before the dropout whose backward is fused in ([`fused_code`]).
    pub act: u32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 2],
}

/// `mask[i] = 1/(1 − rate)` if `counter_uniform(seed, step, layer, i) >= rate` else 0;
/// `y = x·mask`, over the whole batch (`total = N·size`).
pub fn dropout_forward(
    x: BufferId,
    y: BufferId,
    mask: BufferId,
    total: usize,
    rate: f32,
    key: DropoutKey,
) -> Dispatch {
    let p = DropoutParams {
        total: u(total),
        _pad: [0; 3],
        drop: DropoutUniform::new(rate, key),
    };
    Dispatch::new(
        Kernel::DropoutForward,
        groups_1d(total),
        vec![x, y, mask],
        &p,
    )
}

/// `dx = dy·mask`, through the backward of `dx.through` (read from the dropout's input `x`)
/// when an activation before the dropout is fused in.
pub fn dropout_backward(
    dy: BufferId,
    mask: BufferId,
    x: BufferId,
    dx: InputGrad,
    total: usize,
) -> Dispatch {
    debug_assert!(
        dx.dropout.is_none(),
        "a dropout before a dropout is not fused into it"
    );
    let p = DropoutBackwardParams {
        total: u(total),
        act: fused_code(dx.through),
        _pad: [0; 2],
    };
    Dispatch::new(
        Kernel::DropoutBackward,
        groups_1d(total),
        vec![dy, mask, x, dx.buffer],
        &p,
    )
}
