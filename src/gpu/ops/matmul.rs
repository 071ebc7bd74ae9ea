//! The plain matrix product (`matmul.wgsl` on the tiled GEMM of [`super::gemm`]): what the
//! benchmarks' size ladder measures and the tests check against a plain loop. The layers run
//! their own kernels on the same core ([`super::dense`], [`super::conv`]).

use super::gemm::{GemmParams, gemm_dispatches};
use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel};
use crate::model::MatmulPrecision;

/// `op(A)` is `A` transposed (`A` stored `(K, M)`).
pub const TRANS_A: u32 = 1;
/// `op(B)` is `B` transposed (`B` stored `(N, K)`).
pub const TRANS_B: u32 = 2;

/// Host twin of `matmul.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    /// The GEMM's sizes: `C (M, N)`, inner dimension `K`.
    pub gemm: GemmParams,
    /// [`TRANS_A`] | [`TRANS_B`].
    pub flags: u32,
    /// Offset of `A` in its buffer (elements).
    pub a_off: u32,
    /// Offset of `B`.
    pub b_off: u32,
    /// Offset of `C`.
    pub c_off: u32,
}

/// A matrix operand: a buffer and the element offset where the matrix starts.
#[derive(Clone, Copy, Debug)]
pub struct Operand {
    /// The buffer.
    pub buffer: BufferId,
    /// Element offset.
    pub offset: usize,
}

impl From<BufferId> for Operand {
    fn from(buffer: BufferId) -> Self {
        Operand { buffer, offset: 0 }
    }
}

/// `C (M, N) = op(A) (M, K) · op(B) (K, N)` on the tiled GEMM; when `C` has few blocks and
/// `K` is long, `k` is split across workgroups whose partial products go to `scratch` (at
/// least [`GemmParams::scratch_bytes`] long) and a second dispatch adds them.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: Operand,
    b: Operand,
    c: Operand,
    scratch: BufferId,
    m: usize,
    n: usize,
    k: usize,
    flags: u32,
) -> Vec<Dispatch> {
    let gemm = GemmParams::new(m, n, k);
    let params = MatmulParams {
        gemm,
        flags,
        a_off: u(a.offset),
        b_off: u(b.offset),
        c_off: u(c.offset),
    };
    gemm_dispatches(
        Kernel::Matmul,
        &gemm,
        vec![a.buffer, b.buffer, c.buffer, scratch],
        &params,
        MatmulPrecision::F32,
    )
}
