//! One launcher per CPU twin: each function turns buffer ids and sizes into the [`Dispatch`]es
//! of one op, next to the `#[repr(C)] bytemuck::Pod` twin of its shader's `Params`.
//!
//! Offsets (`*_off`) are in `f32` elements: all parameters live in one flat buffer and all
//! parameter gradients in another, with the layout of the crate doc, so a layer's weights are
//! a range of that buffer, not a buffer of their own.
//!
//! [`Dispatch`]: super::kernel::Dispatch

pub mod activation;
pub mod augment;
pub mod conv;
pub mod dataset;
pub mod dense;
pub mod dropout;
pub mod gemm;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;

/// `usize` to the `u32` a shader takes. Plans hold at most `model::MAX_VALUES` (2³⁰) values per
/// tensor and are checked against the device limits before any dispatch is built, so a size
/// that does not fit is a bug in this crate: it panics in every build rather than truncate.
pub(crate) fn u(v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("{v} does not fit a shader's u32"))
}
