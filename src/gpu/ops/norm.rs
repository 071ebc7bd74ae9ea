//! Batch normalisation launchers (twin of `cpu::norm`): `x`, `y: (N, C, I)` with `I = H·W`
//! for images and 1 for flat inputs; `γ (C)` then `β (C)` in the parameter buffer; the running
//! statistics `r_μ (C)` then `r_σ² (C)` in a running-statistics buffer; the batch statistics the
//! training forward saves for the backward, `[μ (C), σ² (C), 1/√(σ² + ε) (C)]`, in a buffer of
//! the layer's own. One workgroup per feature, fixed reduction trees: deterministic.

use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups};
use crate::model::{BN_EPSILON, BN_MOMENTUM};

/// Where a batchnorm layer's parameters, statistics and gradients are.
#[derive(Clone, Copy, Debug)]
pub struct NormLayout {
    /// The flat parameter buffer.
    pub params: BufferId,
    /// The flat gradient buffer (same layout).
    pub grads: BufferId,
    /// Offset of `γ (C)`; `β (C)` follows it.
    pub g_off: usize,
    /// The running-statistics buffer.
    pub running: BufferId,
    /// Offset of `r_μ (C)` in it; `r_σ² (C)` follows.
    pub r_off: usize,
    /// The saved batch statistics, `3·C` values.
    pub saved: BufferId,
    /// `C` features.
    pub c: usize,
    /// `I` values per feature per example.
    pub inner: usize,
}

/// Host twin of `batchnorm_forward.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormForwardParams {
    /// `N`.
    pub n: u32,
    /// `C`.
    pub channels: u32,
    /// `I`.
    pub inner: u32,
    /// 1: batch statistics, saved, and the running statistics updated; 0: running statistics.
    pub train: u32,
    /// Offset of `γ`.
    pub g_off: u32,
    /// Offset of `r_μ`.
    pub r_off: u32,
    /// Weight of the batch in the running statistics (0.1).
    pub momentum: f32,
    /// `ε` (1e-5).
    pub eps: f32,
}

/// Host twin of `batchnorm_backward.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormBackwardParams {
    /// `N`.
    pub n: u32,
    /// `C`.
    pub channels: u32,
    /// `I`.
    pub inner: u32,
    /// 1: write `dx`.
    pub has_dx: u32,
    /// Offset of `dγ` in the gradient buffer (`dβ` follows).
    pub g_off: u32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 3],
}

/// Training (`train`): batch statistics `μ`, `σ²` saved, running statistics moved towards
/// them, `y = γ·(x − μ)/√(σ² + ε) + β`; inference: the same with the running statistics.
pub fn batchnorm_forward(
    l: &NormLayout,
    x: BufferId,
    y: BufferId,
    n: usize,
    train: bool,
) -> Dispatch {
    let p = NormForwardParams {
        n: u(n),
        channels: u(l.c),
        inner: u(l.inner),
        train: u32::from(train),
        g_off: u(l.g_off),
        r_off: u(l.r_off),
        momentum: BN_MOMENTUM,
        eps: BN_EPSILON,
    };
    Dispatch::new(
        Kernel::BatchNormForward,
        groups(l.c, 1),
        vec![x, l.params, y, l.saved, l.running],
        &p,
    )
}

/// Given `dy (N, C, I)` and the saved statistics of the last training forward: writes (not
/// adds) `dγ = Σ dy·x̂` and `dβ = Σ dy` to the gradient buffer, and with `write_dx`,
/// `dx = γ/(m·√(σ² + ε))·(m·dy − dβ − x̂·dγ)`. `dx` is always bound (a buffer not otherwise
/// used by this dispatch); it is written only when `write_dx`.
pub fn batchnorm_backward(
    l: &NormLayout,
    x: BufferId,
    dy: BufferId,
    dx: BufferId,
    write_dx: bool,
    n: usize,
) -> Dispatch {
    let p = NormBackwardParams {
        n: u(n),
        channels: u(l.c),
        inner: u(l.inner),
        has_dx: u32::from(write_dx),
        g_off: u(l.g_off),
        _pad: [0; 3],
    };
    Dispatch::new(
        Kernel::BatchNormBackward,
        groups(l.c, 1),
        vec![x, dy, l.params, l.saved, l.grads, dx],
        &p,
    )
}
