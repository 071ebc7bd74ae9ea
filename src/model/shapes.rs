//! The resolved sizes of one layer's work, shared by both executors, their kernels and tests:
//! a convolution ([`ConvShape`]), a max-pool ([`PoolShape`]) and a batch normalisation
//! ([`NormShape`], with batchnorm's constants [`BN_EPSILON`] and [`BN_MOMENTUM`]).

use super::{Layer, PlannedLayer, Shape};

/// The sizes of one convolution: `x: (N, C, H, W)`, `W: (F, C, K, K)`, `y: (N, F, H', W')`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels `C`.
    pub c: usize,
    /// Input height `H`.
    pub h: usize,
    /// Input width `W`.
    pub w: usize,
    /// Filters `F`.
    pub f: usize,
    /// Kernel side `K`.
    pub k: usize,
    /// Stride `S`.
    pub s: usize,
    /// Padding `P`.
    pub p: usize,
    /// Output height `H' = (H + 2P − K)/S + 1`.
    pub ho: usize,
    /// Output width `W'`.
    pub wo: usize,
}

impl ConvShape {
    /// The sizes of a planned conv2d layer; `None` for any other layer.
    pub fn of(planned: &PlannedLayer) -> Option<ConvShape> {
        match (planned.layer, planned.input, planned.output) {
            (
                Layer::Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                },
                Shape::Image { c, h, w },
                Shape::Image { h: ho, w: wo, .. },
            ) => Some(ConvShape {
                c,
                h,
                w,
                f: filters,
                k: kernel,
                s: stride,
                p: padding,
                ho,
                wo,
            }),
            _ => None,
        }
    }

    /// Rows of the column matrix: `C·K·K`.
    pub fn col_rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Columns of the column matrix: `H'·W'`.
    pub fn col_cols(&self) -> usize {
        self.ho * self.wo
    }

    /// Rows of each of the input's `S²` phase planes (see [`ConvShape::scratch_size`]):
    /// `⌈(H + 2P)/S⌉`.
    pub fn phase_rows(&self) -> usize {
        (self.h + 2 * self.p).div_ceil(self.s)
    }

    /// Columns of each phase plane: `⌈(W + 2P)/S⌉`.
    pub fn phase_cols(&self) -> usize {
        (self.w + 2 * self.p).div_ceil(self.s)
    }

    /// Values of the CPU executor's scratch for one convolution call: the column matrix
    /// `(C·K·K) × (H'·W')`, the transposed weight gradient `(C·K·K) × F`, then the input padded
    /// by `P` and split into its `S²` phases, `C·S²` planes of `phase_rows × phase_cols`.
    pub fn scratch_size(&self) -> usize {
        self.col_rows() * (self.col_cols() + self.f)
            + self.c * self.s * self.s * self.phase_rows() * self.phase_cols()
    }

    /// Values of one input image: `C·H·W`.
    pub fn in_size(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Values of one output image: `F·H'·W'`.
    pub fn out_size(&self) -> usize {
        self.f * self.ho * self.wo
    }
}

/// The sizes of one max-pool: `x: (N, C, H, W)`, `y: (N, C, H', W')` with
/// `H' = (H − size)/stride + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    /// Channels `C`.
    pub c: usize,
    /// Input height `H`.
    pub h: usize,
    /// Input width `W`.
    pub w: usize,
    /// Window side.
    pub size: usize,
    /// Step between windows.
    pub stride: usize,
    /// Output height `H'`.
    pub ho: usize,
    /// Output width `W'`.
    pub wo: usize,
}

impl PoolShape {
    /// The sizes of a planned max-pool layer; `None` for any other layer.
    pub fn of(planned: &PlannedLayer) -> Option<PoolShape> {
        match (planned.layer, planned.input, planned.output) {
            (
                Layer::MaxPool { size, stride },
                Shape::Image { c, h, w },
                Shape::Image { h: ho, w: wo, .. },
            ) => Some(PoolShape {
                c,
                h,
                w,
                size,
                stride,
                ho,
                wo,
            }),
            _ => None,
        }
    }
}

/// Batchnorm's `ε` added to the variance (PyTorch's default).
pub const BN_EPSILON: f32 = 1e-5;

/// Batchnorm's weight of the new batch statistics in the running statistics (PyTorch's
/// default momentum).
pub const BN_MOMENTUM: f32 = 0.1;

/// The layout of a batch-normalised tensor `(N, C, I)`: `I = H·W` values per channel of an
/// image, or `I = 1` for flat inputs `(N, D)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormShape {
    /// `N`.
    pub n: usize,
    /// `C` features (channels).
    pub c: usize,
    /// `I` values per feature per example (`H·W`, or 1 for flat inputs).
    pub inner: usize,
}

impl NormShape {
    /// `m = N·I`, the values each feature's statistics span.
    pub fn count(&self) -> usize {
        self.n * self.inner
    }

    /// The values of feature `ch`: one contiguous run of `I` indices into `(N, C, I)` per
    /// example, `(n·C + ch)·I .. (n·C + ch + 1)·I` for `n` in `0..N`.
    pub fn planes(&self, ch: usize) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (0..self.n).map(move |n| {
            let start = (n * self.c + ch) * self.inner;
            start..start + self.inner
        })
    }
}
