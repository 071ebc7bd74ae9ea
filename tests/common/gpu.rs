//! GPU test helpers: one shared device per test binary (and one with runtime checks on every
//! kernel), the library's verification harness (`shadernet::verify::{Case, compare}`) with
//! device errors as panics, and shapes from the model's shape inference.
#![allow(dead_code)]

use shadernet::cpu::conv::conv_backward;
use shadernet::cpu::dense::dense_backward;
use shadernet::gpu::kernel::{BufferId, Dispatch};
use shadernet::gpu::{Gpu, NO_ADAPTER_HINT};
use shadernet::model::{ConvShape, Layer, MatmulPrecision, PlannedLayer, PoolShape, Shape};
#[allow(unused_imports)]
pub use shadernet::verify::random;
use shadernet::verify::{self, Tolerance, compare};
use std::sync::OnceLock;

/// The environment variable that lets a machine without a GPU skip the GPU tests.
pub const SKIP_VAR: &str = "SHADERNET_SKIP_GPU_TESTS";

/// The shared device, or `None` when there is no adapter and `SHADERNET_SKIP_GPU_TESTS=1`
/// asks to skip. With no adapter and no opt-out, panics with how to get one (lavapipe).
pub fn gpu_or_skip() -> Option<&'static Gpu> {
    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();
    match GPU.get_or_init(|| Gpu::new(None).map_err(|e| e.to_string())) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") => {
            eprintln!("GPU test skipped by request ({SKIP_VAR}=1): {e}");
            None
        }
        Err(e) => {
            // Errors from `Gpu::new` already carry the hint when no adapter was found.
            let hint = if e.contains(NO_ADAPTER_HINT) {
                ""
            } else {
                NO_ADAPTER_HINT
            };
            panic!("{e}\n{hint}\nTo skip the GPU tests on purpose, set {SKIP_VAR}=1.")
        }
    }
}

/// A second device on the same adapter whose kernels all keep wgpu's runtime checks, the
/// GEMMs included ([`Gpu::with_runtime_checks`]). An in-bounds kernel computes the same bits
/// with checks and without; an out-of-bounds read or write does not (a check clamps the index),
/// so tests that compare the two catch one on lavapipe. Skips or fails as [`gpu_or_skip`].
pub fn checked_gpu_or_skip() -> Option<&'static Gpu> {
    static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| {
        gpu_or_skip()?;
        Some(
            Gpu::new(None)
                .expect("a second device")
                .with_runtime_checks(),
        )
    })
    .as_ref()
}

/// Asserts `|gpu − cpu| <= abs + rel·|cpu|` element-wise (NaN always fails) with the
/// library's [`compare`], which reports the largest difference and the first mismatches.
pub fn assert_close(name: &str, gpu: &[f32], cpu: &[f32], abs: f32, rel: f32) {
    let row = compare(name, gpu, cpu, Tolerance::new(abs, rel));
    assert!(row.pass, "{row}");
}

/// The library's [`verify::Case`] on the shared device, with device errors as panics.
pub struct Case(pub verify::Case<'static>);

impl std::ops::Deref for Case {
    type Target = verify::Case<'static>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Case {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Case {
    pub fn new(gpu: &'static Gpu) -> Self {
        Case(verify::Case::new(gpu))
    }

    pub fn run(&self, dispatches: &[Dispatch]) {
        self.0.run(dispatches).unwrap();
    }

    pub fn read(&self, id: BufferId, len: usize) -> Vec<f32> {
        self.0.read(id, len).unwrap()
    }

    pub fn read_u32(&self, id: BufferId, len: usize) -> Vec<u32> {
        self.0.read_u32(id, len).unwrap()
    }
}

/// A convolution's sizes with its output size worked out by the model's shape inference: `C`
/// channels of `H x W` in, `F` filters of `K x K`, stride `S`, padding `P`.
pub fn conv_shape(
    c: usize,
    h: usize,
    w: usize,
    f: usize,
    k: usize,
    s: usize,
    p: usize,
) -> ConvShape {
    let layer = Layer::Conv2d {
        filters: f,
        kernel: k,
        stride: s,
        padding: p,
    };
    let planned = PlannedLayer::new(layer, Shape::Image { c, h, w }, 1).unwrap();
    ConvShape::of(&planned).expect("a conv layer")
}

/// The CPU executor's dense backward at batch `n` (`x`, `w`, `dy` as [`dense_backward`]
/// takes them, float32 products): `(dx, dW, db)`.
pub fn dense_backward_ref(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    n: usize,
    d_in: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d_out = w.len() / d_in;
    let (mut dx, mut dw, mut db) = (vec![0.0; n * d_in], vec![0.0; w.len()], vec![0.0; d_out]);
    dense_backward(
        x,
        w,
        dy,
        Some(&mut dx),
        &mut dw,
        &mut db,
        n,
        d_in,
        MatmulPrecision::F32,
    );
    (dx, dw, db)
}

/// The CPU executor's convolution backward at batch `n` (`x`, `w`, `dy` as
/// [`conv_backward`] takes them): `(dx, dW, db)`.
pub fn conv_backward_ref(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    sh: &ConvShape,
    n: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut col = vec![0.0; sh.scratch_size()];
    let mut dx = vec![0.0; n * sh.c * sh.h * sh.w];
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; sh.f]);
    conv_backward(
        x,
        w,
        dy,
        Some(&mut dx),
        &mut dw,
        &mut db,
        &mut col,
        sh,
        n,
        MatmulPrecision::F32,
    );
    (dx, dw, db)
}

/// A max-pool's sizes with its output size worked out by the model's shape inference.
pub fn pool_shape(c: usize, h: usize, w: usize, size: usize, stride: usize) -> PoolShape {
    let layer = Layer::MaxPool { size, stride };
    let planned = PlannedLayer::new(layer, Shape::Image { c, h, w }, 1).unwrap();
    PoolShape::of(&planned).expect("a max-pool layer")
}
