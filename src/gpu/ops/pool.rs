//! Max-pool launchers (twin of `cpu::pool`). `x: (N, C, H, W)`, `y` and `argmax:
//! (N, C, H', W')`; `argmax` holds indices into `x` as `u32`, as on the CPU.

use super::activation::{InputGrad, fused_code};
use super::u;
use crate::cpu::pool::PoolShape;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups_1d};

/// Host twin of the `Params` of `maxpool_forward.wgsl` and `maxpool_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    /// Forward: outputs `N·C·H'·W'`; backward: inputs `N·C·H·W`.
    pub total: u32,
    /// `H`.
    pub h: u32,
    /// `W`.
    pub w: u32,
    /// Window side.
    pub size: u32,
    /// Step between windows.
    pub stride: u32,
    /// `H'`.
    pub ho: u32,
    /// `W'`.
    pub wo: u32,
    /// Backward: the activation before the pool whose backward is fused in ([`fused_code`]);
    /// forward: 0.
    pub act: u32,
}

fn params(sh: &PoolShape, total: usize, act: u32) -> PoolParams {
    PoolParams {
        total: u(total),
        h: u(sh.h),
        w: u(sh.w),
        size: u(sh.size),
        stride: u(sh.stride),
        ho: u(sh.ho),
        wo: u(sh.wo),
        act,
    }
}

/// `y = max of each window`, `argmax = its index into x` (first on ties).
pub fn maxpool_forward(
    sh: &PoolShape,
    x: BufferId,
    y: BufferId,
    argmax: BufferId,
    n: usize,
) -> Dispatch {
    let total = n * sh.c * sh.ho * sh.wo;
    Dispatch::new(
        Kernel::MaxPoolForward,
        groups_1d(total),
        vec![x, y, argmax],
        &params(sh, total, 0),
    )
}

/// `dx[i] = Σ dy[o]` over the outputs `o` with `argmax[o] = i`: each input gathers from the
/// windows that cover it (no atomics, same order as the CPU's scatter); then through the
/// backward of `dx.through` (read from the pool's input `x`) when an activation before the
/// pool is fused in.
pub fn maxpool_backward(
    sh: &PoolShape,
    dy: BufferId,
    argmax: BufferId,
    x: BufferId,
    dx: InputGrad,
    n: usize,
) -> Dispatch {
    let total = n * sh.c * sh.h * sh.w;
    Dispatch::new(
        Kernel::MaxPoolBackward,
        groups_1d(total),
        vec![dy, argmax, x, dx.buffer],
        &params(sh, total, fused_code(dx.through)),
    )
}
