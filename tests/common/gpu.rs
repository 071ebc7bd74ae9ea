//! GPU test helpers: one shared device per test binary, a case builder with layer set-ups
//! (`Case::dense`, `Case::conv`, `conv_shape`), and float comparisons that report the worst
//! difference and the first mismatching indices.
#![allow(dead_code)]

use shadernet::cpu::conv::conv_backward;
use shadernet::gpu::kernel::{self, BufferId, Buffers, Dispatch};
use shadernet::gpu::ops::conv::ConvLayout;
use shadernet::gpu::ops::dense::DenseLayout;
use shadernet::gpu::{Gpu, NO_ADAPTER_HINT};
use shadernet::model::{ConvShape, Layer, PlannedLayer, PoolShape, Shape};
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

/// Asserts `|gpu − cpu| <= abs + rel·|cpu|` element-wise (NaN always fails), reporting the
/// largest difference and the first mismatching indices.
pub fn assert_close(name: &str, gpu: &[f32], cpu: &[f32], abs: f32, rel: f32) {
    assert_eq!(gpu.len(), cpu.len(), "{name}: lengths differ");
    let mut worst = (0.0f32, 0usize);
    let mut bad = Vec::new();
    let mut mismatches = 0;
    for (i, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
        let diff = (g - c).abs();
        let ok = diff <= abs + rel * c.abs();
        if !ok || diff.is_nan() {
            mismatches += 1;
            if bad.len() < 8 {
                bad.push(format!("[{i}] gpu {g} cpu {c}"));
            }
            if diff.is_nan() || diff > worst.0 {
                worst = (if diff.is_nan() { f32::NAN } else { diff }, i);
            }
        } else if diff > worst.0 && !worst.0.is_nan() {
            worst = (diff, i);
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: {} of {} values differ (max diff {} at [{}]); first: {}",
        mismatches,
        gpu.len(),
        worst.0,
        worst.1,
        bad.join(", ")
    );
}

/// `len` values uniform in `[-1, 1)` from `seed`.
pub fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = shadernet::rng::Rng::new(seed);
    (0..len)
        .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
        .collect()
}

/// Buffers for one comparison.
pub struct Case {
    pub gpu: &'static Gpu,
    pub arena: Buffers,
}

impl Case {
    pub fn new(gpu: &'static Gpu) -> Self {
        Case {
            gpu,
            arena: Buffers::new(),
        }
    }

    pub fn input(&mut self, data: &[f32]) -> BufferId {
        self.arena.with_data(self.gpu, "input", data)
    }

    pub fn input_u32(&mut self, data: &[u32]) -> BufferId {
        self.arena.with_data(self.gpu, "input", data)
    }

    /// An output of `len` values poisoned with NaN (u32 outputs read it as 0x7fc00000).
    pub fn output(&mut self, len: usize) -> BufferId {
        let id = self.arena.alloc(self.gpu, "output", 4 * len);
        self.arena.fill_f32(self.gpu, id, len, f32::NAN);
        id
    }

    pub fn run(&self, dispatches: &[Dispatch]) {
        kernel::run(self.gpu, &self.arena, dispatches).unwrap();
    }

    pub fn read(&self, id: BufferId, len: usize) -> Vec<f32> {
        self.arena.read_f32(self.gpu, id, len).unwrap()
    }

    pub fn read_u32(&self, id: BufferId, len: usize) -> Vec<u32> {
        self.arena.read_u32(self.gpu, id, len).unwrap()
    }

    /// A parameter buffer holding `lead` filler values (so the layer starts mid-buffer, as
    /// layers do), then `w`, then `b`; a NaN-poisoned gradient buffer of the same length.
    fn layer_buffers(&mut self, lead: usize, w: &[f32], b: &[f32]) -> (BufferId, BufferId) {
        let mut flat = vec![0.5; lead];
        flat.extend_from_slice(w);
        flat.extend_from_slice(b);
        (self.input(&flat), self.output(flat.len()))
    }

    /// A dense layer `W (D_out, D_in)`, `b (D_out)` on the device after `lead` other values,
    /// with scratch for batches up to `n`.
    pub fn dense(&mut self, lead: usize, w: &[f32], b: &[f32], n: usize) -> DenseLayout {
        let (d_out, d_in) = (b.len(), w.len() / b.len());
        let (params, grads) = self.layer_buffers(lead, w, b);
        DenseLayout {
            params,
            grads,
            scratch: self.output(DenseLayout::scratch_bytes(d_in, d_out, n) / 4),
            w_off: lead,
            b_off: lead + w.len(),
            d_in,
            d_out,
        }
    }

    /// A convolution `W (F, C, K, K)`, `b (F)` of `shape` on the device after `lead` other
    /// values, with scratch for batches up to `n`.
    pub fn conv(
        &mut self,
        lead: usize,
        w: &[f32],
        b: &[f32],
        shape: ConvShape,
        n: usize,
    ) -> ConvLayout {
        let (params, grads) = self.layer_buffers(lead, w, b);
        ConvLayout {
            params,
            grads,
            scratch: self.output(ConvLayout::scratch_bytes(&shape, n) / 4),
            w_off: lead,
            b_off: lead + w.len(),
            shape,
        }
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

/// The CPU executor's convolution backward at batch `n` (`x`, `w`, `dy` as
/// [`conv_backward`] takes them): `(dx, dW, db)`.
pub fn conv_backward_ref(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    sh: &ConvShape,
    n: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut col = vec![0.0; sh.col_rows() * sh.col_cols()];
    let mut dx = vec![0.0; n * sh.c * sh.h * sh.w];
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; sh.f]);
    conv_backward(x, w, dy, Some(&mut dx), &mut dw, &mut db, &mut col, sh, n);
    (dx, dw, db)
}

/// A max-pool's sizes with its output size worked out by the model's shape inference.
pub fn pool_shape(c: usize, h: usize, w: usize, size: usize, stride: usize) -> PoolShape {
    let layer = Layer::MaxPool { size, stride };
    let planned = PlannedLayer::new(layer, Shape::Image { c, h, w }, 1).unwrap();
    PoolShape::of(&planned).expect("a max-pool layer")
}
