//! Optimiser launchers (twin of `cpu::optim`) over the whole flat parameter vector; Adam's
//! moments live on the device.

use super::u;
use crate::executor::AdamStep;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups_1d};
use std::ops::Range;

/// Host twin of `sgd.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SgdParams {
    /// Parameters.
    pub total: u32,
    /// Learning rate.
    pub lr: f32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 2],
}

/// `w ← w − lr·g` over `total` parameters.
pub fn sgd(grads: BufferId, params: BufferId, total: usize, lr: f32) -> Dispatch {
    let p = SgdParams {
        total: u(total),
        lr,
        _pad: [0; 2],
    };
    Dispatch::new(Kernel::Sgd, groups_1d(total), vec![grads, params], &p)
}

/// Host twin of `adam.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamParams {
    /// Parameters.
    pub total: u32,
    /// Learning rate.
    pub lr: f32,
    /// β1.
    pub beta1: f32,
    /// `1 − β1`.
    pub one_minus_beta1: f32,
    /// β2.
    pub beta2: f32,
    /// `1 − β2`.
    pub one_minus_beta2: f32,
    /// `1 − β1ᵗ`.
    pub c1: f32,
    /// `1 − β2ᵗ`.
    pub c2: f32,
    /// ε.
    pub epsilon: f32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 3],
}

/// One Adam update at 1-based step `s.t` over `total` parameters, moments `m` and `v`.
pub fn adam(
    grads: BufferId,
    params: BufferId,
    m: BufferId,
    v: BufferId,
    total: usize,
    s: AdamStep,
) -> Dispatch {
    let p = AdamParams {
        total: u(total),
        lr: s.lr,
        beta1: s.beta1,
        one_minus_beta1: 1.0 - s.beta1,
        beta2: s.beta2,
        one_minus_beta2: 1.0 - s.beta2,
        c1: 1.0 - s.beta1.powi(s.t as i32),
        c2: 1.0 - s.beta2.powi(s.t as i32),
        epsilon: s.epsilon,
        _pad: [0; 3],
    };
    Dispatch::new(
        Kernel::Adam,
        groups_1d(total),
        vec![grads, params, m, v],
        &p,
    )
}

/// Host twin of `ema.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EmaParams {
    /// Parameters.
    pub total: u32,
    /// This update's decay `d_t` ([`crate::model::ema_decay`]).
    pub decay: f32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 2],
}

/// Weight averaging after an update: `ema ← d·ema + (1 − d)·w` over `total` parameters, `d`
/// this update's decay (twin of `cpu::optim::ema_update`).
pub fn ema(params: BufferId, ema: BufferId, total: usize, decay: f32) -> Dispatch {
    let p = EmaParams {
        total: u(total),
        decay,
        _pad: [0; 2],
    };
    Dispatch::new(Kernel::Ema, groups_1d(total), vec![params, ema], &p)
}

/// Host twin of `weight_decay.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct WeightDecayParams {
    /// First value of the tensor in the parameter vector.
    pub offset: u32,
    /// Values in the tensor.
    pub total: u32,
    /// `lr_t·λ`.
    pub rate: f32,
    /// Padding to 16 bytes.
    pub _pad: u32,
}

/// Decoupled weight decay of the weight tensor `range` of the parameter vector before an update
/// with rate `lr`: `w ← w − (lr·λ)·w` (twin of `cpu::optim::decay_weights`).
pub fn weight_decay(params: BufferId, range: Range<usize>, lr: f32, lambda: f32) -> Dispatch {
    let p = WeightDecayParams {
        offset: u(range.start),
        total: u(range.len()),
        rate: lr * lambda,
        _pad: 0,
    };
    Dispatch::new(
        Kernel::WeightDecay,
        groups_1d(range.len()),
        vec![params],
        &p,
    )
}
