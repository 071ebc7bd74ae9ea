//! Loss launchers (twin of `cpu::loss`): the gradient, and the batch's loss sum and correct
//! count added to the running totals, in one dispatch. Labels are `u32` on the device.

use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel};

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
    /// Label smoothing `ε` of the cross-entropy (0 for MSE).
    pub smoothing: f32,
}

/// Where a loss kernel writes: the gradient at its input `(N, K)`, and the running totals
/// ([`super::dataset::TOTALS_BYTES`]) the batch's loss sum and correct count are added to.
#[derive(Clone, Copy, Debug)]
pub struct LossOutputs {
    /// The gradient at the loss's input `(N, K)`.
    pub grad: BufferId,
    /// The running totals.
    pub totals: BufferId,
}

fn params(n: usize, k: usize, scale: f32, smoothing: f32) -> LossParams {
    LossParams {
        n: u(n),
        k: u(k),
        scale,
        smoothing,
    }
}

/// Fused softmax–cross-entropy on `logits (N, K)` with label smoothing `smoothing` (`ε`; the
/// targets `t = (1 − ε)·onehot + ε/K`): `probs = softmax(logits)`, `dz = (p − t)·scale`, and
/// `Σ_n Σ_j −t·ln max(p, 1e-12)` and the count of examples whose first argmax is the label
/// added to the totals (one workgroup, a fixed order); twin of `cpu::loss`.
#[allow(clippy::too_many_arguments)]
pub fn softmax_cross_entropy(
    logits: BufferId,
    labels: BufferId,
    probs: BufferId,
    out: LossOutputs,
    n: usize,
    k: usize,
    scale: f32,
    smoothing: f32,
) -> Dispatch {
    let buffers = vec![labels, out.totals, logits, probs, out.grad];
    Dispatch::new(
        Kernel::SoftmaxCrossEntropy,
        [1, 1, 1],
        buffers,
        &params(n, k, scale, smoothing),
    )
}

/// Squared error of `y (N, K)` against one-hot labels: `dy = 2·(y − onehot)·scale`, and
/// Σ_n Σ_j (y − t)² and the count of examples whose first argmax is the label added to the
/// totals (one workgroup, a fixed order).
pub fn mse(
    y: BufferId,
    labels: BufferId,
    out: LossOutputs,
    n: usize,
    k: usize,
    scale: f32,
) -> Dispatch {
    Dispatch::new(
        Kernel::Mse,
        [1, 1, 1],
        vec![labels, out.totals, y, out.grad],
        &params(n, k, scale, 0.0),
    )
}
