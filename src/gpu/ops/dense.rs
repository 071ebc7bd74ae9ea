//! Dense layer launchers (twin of `cpu::dense`): `W: (D_out, D_in)`, `b: (D_out)` in the
//! parameter buffer.

use super::activation::fused_code;
use super::gemm::{GemmParams, gemm_dispatches, scratch_bytes_bound};
use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups, groups_1d};
use crate::model::Activation;

/// `op(A)` is `A` transposed (`A` stored `(K, M)`).
pub const TRANS_A: u32 = 1;
/// `op(B)` is `B` transposed (`B` stored `(N, K)`).
pub const TRANS_B: u32 = 2;
/// `C += op(A)·op(B)` instead of `C = ...`.
pub const ACCUMULATE: u32 = 4;

/// Host twin of `matmul.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    /// The GEMM's sizes: `C (M, N)`, inner dimension `K`.
    pub gemm: GemmParams,
    /// [`TRANS_A`] | [`TRANS_B`] | [`ACCUMULATE`].
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

/// `C (M, N) = op(A) (M, K) · op(B) (K, N)` (or `+=` with [`ACCUMULATE`]) on the tiled GEMM;
/// when `C` has few blocks and `K` is long, `k` is split across workgroups whose partial
/// products go to `scratch` (at least [`GemmParams::scratch_bytes`] long) and a second
/// dispatch adds them.
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
    let gemm = GemmParams::new(m, n, k, true);
    let params = MatmulParams {
        gemm,
        flags,
        a_off: u(a.offset),
        b_off: u(b.offset),
        c_off: u(c.offset),
    };
    gemm_dispatches(
        (Kernel::Matmul, Kernel::MatmulReduce),
        &gemm,
        vec![a.buffer, b.buffer, c.buffer, scratch],
        &params,
    )
}

/// Host twin of `bias_add.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BiasAddParams {
    /// `N·channels·inner`.
    pub total: u32,
    /// Channels.
    pub channels: u32,
    /// Values per channel per example (1 for dense, `H'·W'` for conv).
    pub inner: u32,
    /// Offset of the bias in the parameter buffer.
    pub b_off: u32,
    /// The fused activation ([`super::activation::fused_code`]).
    pub act: u32,
    /// Padding to 32 bytes.
    pub _pad: [u32; 3],
}

/// `y (N, channels, inner) = act(y + b (channels))`, `b` at `b_off` of `params`, `act` the
/// fused activation (none, ReLU or tanh).
pub fn bias_add(
    params: BufferId,
    b_off: usize,
    y: BufferId,
    (n, channels, inner): (usize, usize, usize),
    activation: Option<Activation>,
) -> Dispatch {
    let total = n * channels * inner;
    let p = BiasAddParams {
        total: u(total),
        channels: u(channels),
        inner: u(inner),
        b_off: u(b_off),
        act: fused_code(activation),
        _pad: [0; 3],
    };
    Dispatch::new(Kernel::BiasAdd, groups_1d(total), vec![params, y], &p)
}

/// Host twin of `bias_grad.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BiasGradParams {
    /// Batch size `N`.
    pub n: u32,
    /// Channels.
    pub channels: u32,
    /// Values per channel per example.
    pub inner: u32,
    /// Offset of `db` in the gradient buffer.
    pub out_off: u32,
}

/// `grads[out_off + ch] = Σ_n Σ_j dy[n, ch, j]` for `dy (N, channels, inner)`; one workgroup
/// per channel, a fixed reduction tree (deterministic).
pub fn bias_grad(
    dy: BufferId,
    grads: BufferId,
    out_off: usize,
    n: usize,
    channels: usize,
    inner: usize,
) -> Dispatch {
    let p = BiasGradParams {
        n: u(n),
        channels: u(channels),
        inner: u(inner),
        out_off: u(out_off),
    };
    Dispatch::new(Kernel::BiasGrad, groups(channels, 1), vec![dy, grads], &p)
}

/// Where a dense layer's parameters and their gradients are.
#[derive(Clone, Copy, Debug)]
pub struct DenseLayout {
    /// The flat parameter buffer.
    pub params: BufferId,
    /// The flat gradient buffer (same layout).
    pub grads: BufferId,
    /// Scratch for split products' partial sums, at least [`DenseLayout::scratch_bytes`].
    pub scratch: BufferId,
    /// Offset of `W (D_out, D_in)`.
    pub w_off: usize,
    /// Offset of `b (D_out)`.
    pub b_off: usize,
    /// `D_in`.
    pub d_in: usize,
    /// `D_out`.
    pub d_out: usize,
}

impl DenseLayout {
    /// Scratch bytes [`dense_forward`] and [`dense_backward`] need at batch sizes up to
    /// `capacity`.
    pub fn scratch_bytes(d_in: usize, d_out: usize, capacity: usize) -> usize {
        scratch_bytes_bound(capacity, d_out)
            .max(scratch_bytes_bound(d_out, d_in))
            .max(scratch_bytes_bound(capacity, d_in))
    }
}

/// `y (N, D_out) = act(x (N, D_in) · Wᵀ + b)`: a matmul, then a bias add that also applies the
/// fused activation `act` (none: a plain dense layer).
pub fn dense_forward(
    l: &DenseLayout,
    x: BufferId,
    y: BufferId,
    n: usize,
    activation: Option<Activation>,
) -> Vec<Dispatch> {
    let w = Operand {
        buffer: l.params,
        offset: l.w_off,
    };
    let mut out = matmul(
        x.into(),
        w,
        y.into(),
        l.scratch,
        n,
        l.d_out,
        l.d_in,
        TRANS_B,
    );
    out.push(bias_add(l.params, l.b_off, y, (n, l.d_out, 1), activation));
    out
}

/// Given `dy (N, D_out)`: `dW = dyᵀ · x` and `db = Σ_n dy` written (not added) to the gradient
/// buffer, and, with `dx`, `dx (N, D_in) = dy · W`.
pub fn dense_backward(
    l: &DenseLayout,
    x: BufferId,
    dy: BufferId,
    dx: Option<BufferId>,
    n: usize,
) -> Vec<Dispatch> {
    let dw = Operand {
        buffer: l.grads,
        offset: l.w_off,
    };
    let mut out = matmul(
        dy.into(),
        x.into(),
        dw,
        l.scratch,
        l.d_out,
        l.d_in,
        n,
        TRANS_A,
    );
    out.push(bias_grad(dy, l.grads, l.b_off, n, l.d_out, 1));
    if let Some(dx) = dx {
        let w = Operand {
            buffer: l.params,
            offset: l.w_off,
        };
        out.extend(matmul(
            dy.into(),
            w,
            dx.into(),
            l.scratch,
            n,
            l.d_in,
            l.d_out,
            0,
        ));
    }
    out
}
