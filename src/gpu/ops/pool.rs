//! Max-pool launchers (twin of `cpu::pool`). `x: (N, C, H, W)`, `y` and `argmax:
//! (N, C, H', W')`; `argmax` holds indices into `x` as `u32`, as on the CPU. A dropout right
//! after the pool can be fused in: the pool's forward draws its mask and writes its output,
//! the pool's backward applies its backward as it gathers.

use super::activation::{InputGrad, fused_code};
use super::dropout::DropoutUniform;
use super::u;
use crate::executor::DropoutKey;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups_1d};
use crate::model::PoolShape;

/// Host twin of the sizes that open the `Params` of both max-pool kernels.
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
    /// Padding to 32 bytes.
    pub _pad: u32,
}

/// Host twin of `maxpool_common.wgsl`'s `Params` (both forward kernels).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolForwardParams {
    /// The sizes.
    pub pool: PoolParams,
    /// The fused dropout's mask (unused without one).
    pub drop: DropoutUniform,
}

/// Host twin of `maxpool_backward.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolBackwardParams {
    /// The sizes.
    pub pool: PoolParams,
    /// 1 when the mask of a dropout after the pool applies, else 0.
    pub dropout: u32,
    /// The activation before the pool whose backward is fused in ([`fused_code`]).
    pub act: u32,
    /// Padding to 48 bytes.
    pub _pad: [u32; 2],
}

/// A dropout fused into the max-pool before it: its mask buffer `(N, C, H', W')`, its rate (0
/// at inference: a plain copy, mask 1) and which mask to draw.
#[derive(Clone, Copy, Debug)]
pub struct PoolDropout {
    /// The dropout's mask buffer.
    pub mask: BufferId,
    /// Drop probability.
    pub rate: f32,
    /// Seed, step and the dropout's layer index.
    pub key: DropoutKey,
}

fn params(sh: &PoolShape, total: usize) -> PoolParams {
    PoolParams {
        total: u(total),
        h: u(sh.h),
        w: u(sh.w),
        size: u(sh.size),
        stride: u(sh.stride),
        ho: u(sh.ho),
        wo: u(sh.wo),
        _pad: 0,
    }
}

/// `y = max of each window`, `argmax = its index into x` (first on ties); with `dropout`,
/// `y = max·mask` and the mask written to `dropout.mask`, `y` then being the dropout's output.
pub fn maxpool_forward(
    sh: &PoolShape,
    x: BufferId,
    y: BufferId,
    argmax: BufferId,
    n: usize,
    dropout: Option<PoolDropout>,
) -> Dispatch {
    let total = n * sh.c * sh.ho * sh.wo;
    let p = PoolForwardParams {
        pool: params(sh, total),
        drop: dropout.map_or(bytemuck::Zeroable::zeroed(), |d| {
            DropoutUniform::new(d.rate, d.key)
        }),
    };
    match dropout {
        None => Dispatch::new(
            Kernel::MaxPoolForward,
            groups_1d(total),
            vec![x, y, argmax],
            &p,
        ),
        Some(d) => Dispatch::new(
            Kernel::MaxPoolDropoutForward,
            groups_1d(total),
            vec![x, y, argmax, d.mask],
            &p,
        ),
    }
}

/// `dx[i] = Σ g[o]` over the outputs `o` with `argmax[o] = i`: each input gathers from the
/// windows that cover it (no atomics, same order as the CPU's scatter), `g = dy`, or with the
/// mask of a dropout after the pool fused in, `g = dy·mask` (that dropout's backward); then
/// through the backward of `dx.through` (read from the pool's input `x`) when an activation
/// before the pool is fused in.
#[allow(clippy::too_many_arguments)]
pub fn maxpool_backward(
    sh: &PoolShape,
    dy: BufferId,
    argmax: BufferId,
    dropout_mask: Option<BufferId>,
    x: BufferId,
    dx: InputGrad,
    n: usize,
) -> Dispatch {
    debug_assert!(
        dx.dropout.is_none(),
        "a dropout before a pool is not fused into it"
    );
    let total = n * sh.c * sh.h * sh.w;
    let p = PoolBackwardParams {
        pool: params(sh, total),
        dropout: u32::from(dropout_mask.is_some()),
        act: fused_code(dx.through),
        _pad: [0; 2],
    };
    // Without a dropout the mask binding is never read; argmax (also read-only) stands in.
    Dispatch::new(
        Kernel::MaxPoolBackward,
        groups_1d(total),
        vec![dy, argmax, dropout_mask.unwrap_or(argmax), x, dx.buffer],
        &p,
    )
}
