//! Loss launchers (twin of `cpu::loss`): per-example loss and correct flag, and the gradient,
//! in one pass. Labels are `u32` on the device.

use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups_1d};

/// Host twin of the `Params` of `softmax_cross_entropy.wgsl` and `mse.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossParams {
    /// Examples `N`.
    pub n: u32,
    /// Classes `K`.
    pub k: u32,
    /// Gradient scale: `1/N` (cross-entropy) or `1/(N·K)` (MSE).
    pub scale: f32,
    /// Padding to 16 bytes.
    pub _pad: u32,
}

/// The buffers a loss writes.
#[derive(Clone, Copy, Debug)]
pub struct LossOutputs {
    /// Per-example loss `(N)`: CE `−ln max(p[label], 1e-12)`, MSE `Σ_j (y − t)²`.
    pub loss: BufferId,
    /// Per-example `u32` flag `(N)`: first argmax equals the label.
    pub correct: BufferId,
    /// The gradient at the loss's input `(N, K)`.
    pub grad: BufferId,
}

/// Fused softmax–cross-entropy on `logits (N, K)`: `probs = softmax(logits)`, the loss and
/// flags, and `dz = (p − onehot)·scale`.
pub fn softmax_cross_entropy(
    logits: BufferId,
    labels: BufferId,
    probs: BufferId,
    out: LossOutputs,
    n: usize,
    k: usize,
    scale: f32,
) -> Dispatch {
    let p = LossParams {
        n: u(n),
        k: u(k),
        scale,
        _pad: 0,
    };
    let buffers = vec![logits, labels, probs, out.loss, out.correct, out.grad];
    Dispatch::new(Kernel::SoftmaxCrossEntropy, groups_1d(n), buffers, &p)
}

/// Squared error of `y (N, K)` against one-hot labels: the loss and flags, and
/// `dy = 2·(y − onehot)·scale`.
pub fn mse(
    y: BufferId,
    labels: BufferId,
    out: LossOutputs,
    n: usize,
    k: usize,
    scale: f32,
) -> Dispatch {
    let p = LossParams {
        n: u(n),
        k: u(k),
        scale,
        _pad: 0,
    };
    Dispatch::new(
        Kernel::Mse,
        groups_1d(n),
        vec![y, labels, out.loss, out.correct, out.grad],
        &p,
    )
}
