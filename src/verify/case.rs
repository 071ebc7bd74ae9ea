//! The one harness every GPU-vs-CPU comparison uses (`verify`, the tests, the kernels bench):
//! [`Case`] holds a comparison's device buffers, [`compare`] holds GPU values to the CPU twin's
//! as a [`VerifyRow`], and a [`Check`] is a prepared comparison — inputs uploaded, the GPU
//! launches, and the CPU reference values each output must match — that can be run and
//! compared, or only timed.

use crate::error::Result;
use crate::gpu::context::Gpu;
use crate::gpu::kernel::{self, BufferId, Buffers, Dispatch};
use crate::gpu::net::DeviceTotals;
use crate::gpu::ops::conv::ConvLayout;
use crate::gpu::ops::dense::DenseLayout;
use crate::model::{ConvShape, MatmulPrecision};
use crate::rng::Rng;
use std::fmt;

/// How close a GPU value must be to the CPU's: `|gpu − cpu| <= abs + rel·|cpu|` (NaN fails).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub abs: f32,
    /// Relative part.
    pub rel: f32,
}

impl Tolerance {
    /// Bit-for-bit equality (the same operations in the same order).
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// `abs + rel·|cpu|`.
    pub const fn new(abs: f32, rel: f32) -> Tolerance {
        Tolerance { abs, rel }
    }

    /// For sums of `k` products of values in [−1, 1]: `1e-5·max(1, √(k/16))` absolute (rounding
    /// differences grow like √k in sums that cancel to near 0) and `1e-5` relative.
    pub fn for_sums(k: usize) -> Tolerance {
        Tolerance::new(1e-5 * (k as f32 / 16.0).sqrt().max(1.0), 1e-5)
    }

    /// The looser of the two in each part.
    pub fn at_least(self, other: Tolerance) -> Tolerance {
        Tolerance::new(self.abs.max(other.abs), self.rel.max(other.rel))
    }
}

/// One comparison of GPU values with the CPU twin's.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyRow {
    /// What was compared, e.g. `conv 5x5 same backward dW`.
    pub op: String,
    /// Largest `|gpu − cpu|` (NaN if any value is NaN).
    pub max_abs: f32,
    /// Largest `|gpu − cpu| / max(|cpu|, 1e-6)`.
    pub max_rel: f32,
    /// The tolerance it was held to.
    pub tolerance: Tolerance,
    /// Whether every element was within the tolerance and the lengths agreed.
    pub pass: bool,
    /// The first few elements out of tolerance: `(index, gpu, cpu)`.
    pub mismatches: Vec<(usize, f32, f32)>,
    /// Elements out of tolerance in all.
    pub mismatched: usize,
    /// Elements compared (the CPU's count; a GPU result of another length fails).
    pub len: usize,
}

impl fmt::Display for VerifyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} of {} values differ beyond {} + {}·|cpu| (max abs {:.3e}, max rel {:.3e})",
            self.op,
            self.mismatched,
            self.len,
            self.tolerance.abs,
            self.tolerance.rel,
            self.max_abs,
            self.max_rel
        )?;
        for (i, g, c) in &self.mismatches {
            write!(f, "; [{i}] gpu {g} cpu {c}")?;
        }
        Ok(())
    }
}

/// Compares `gpu` with the CPU twin's `cpu` element by element under `tolerance`.
pub fn compare(op: &str, gpu: &[f32], cpu: &[f32], tolerance: Tolerance) -> VerifyRow {
    let (mut max_abs, mut max_rel) = (0.0f32, 0.0f32);
    let (mut mismatches, mut mismatched) = (Vec::new(), 0);
    for (i, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
        let d = (g - c).abs();
        if d.is_nan() || d > tolerance.abs + tolerance.rel * c.abs() {
            mismatched += 1;
            if mismatches.len() < 5 {
                mismatches.push((i, g, c));
            }
        }
        max_abs = if d.is_nan() || max_abs.is_nan() {
            f32::NAN
        } else {
            max_abs.max(d)
        };
        max_rel = max_rel.max(d / c.abs().max(1e-6));
    }
    VerifyRow {
        op: op.to_string(),
        max_abs,
        max_rel,
        tolerance,
        pass: mismatched == 0 && gpu.len() == cpu.len(),
        mismatches,
        mismatched: mismatched + gpu.len().abs_diff(cpu.len()),
        len: cpu.len(),
    }
}

/// `len` values uniform in `[-1, 1)` from `seed`.
pub fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
        .collect()
}

/// The device buffers of one comparison. Outputs are poisoned with NaN, so an element a kernel
/// forgot to write fails.
pub struct Case<'g> {
    /// The device.
    pub gpu: &'g Gpu,
    /// The buffers.
    pub arena: Buffers,
}

impl<'g> Case<'g> {
    /// No buffers yet.
    pub fn new(gpu: &'g Gpu) -> Self {
        Case {
            gpu,
            arena: Buffers::new(),
        }
    }

    /// A buffer holding `data`.
    pub fn input(&mut self, data: &[f32]) -> BufferId {
        self.arena.with_data(self.gpu, "input", data)
    }

    /// A buffer holding `data` as `u32` words.
    pub fn input_u32(&mut self, data: &[u32]) -> BufferId {
        self.arena.with_data(self.gpu, "input", data)
    }

    /// An output of `len` values poisoned with NaN (a `u32` output reads it as 0x7fc00000).
    pub fn output(&mut self, len: usize) -> BufferId {
        let id = self.arena.alloc(self.gpu, "output", 4 * len);
        self.arena.fill_f32(self.gpu, id, len, f32::NAN);
        id
    }

    /// Runs `dispatches` in one submit and waits.
    pub fn run(&self, dispatches: &[Dispatch]) -> Result<()> {
        kernel::run(self.gpu, &self.arena, dispatches)
    }

    /// The first `len` values of `id`.
    pub fn read(&self, id: BufferId, len: usize) -> Result<Vec<f32>> {
        self.arena.read_f32(self.gpu, id, len)
    }

    /// The first `len` words of `id`.
    pub fn read_u32(&self, id: BufferId, len: usize) -> Result<Vec<u32>> {
        self.arena.read_u32(self.gpu, id, len)
    }

    async fn read_async<T: bytemuck::Pod>(&self, id: BufferId, len: usize) -> Result<Vec<T>> {
        self.arena.read_async(self.gpu, id, len).await
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
    /// with scratch for batches up to `n`; float32 products (set `precision` for others).
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
            precision: MatmulPrecision::F32,
        }
    }

    /// A convolution `W (F, C, K, K)`, `b (F)` of `shape` on the device after `lead` other
    /// values, with scratch for batches up to `n`; float32 products (set `precision` for others).
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
            precision: MatmulPrecision::F32,
        }
    }
}

/// One output to compare after a [`Check`] ran: `values.len()` values of `buffer` from element
/// `offset` (read as `u32` words with `words`), against the CPU twin's `values`.
pub struct Expected {
    /// The row's name.
    pub op: String,
    /// Where the GPU wrote it.
    pub buffer: BufferId,
    /// First element.
    pub offset: usize,
    /// The CPU twin's values.
    pub values: Vec<f32>,
    /// How close they must be.
    pub tolerance: Tolerance,
    /// How the buffer holds the values.
    pub read: Read,
}

/// How an [`Expected`] output is stored on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// `f32` values.
    Floats,
    /// `u32` words (argmax indices, counts), compared as numbers.
    Words,
    /// A loss kernel's running totals (four words from the start of the buffer), compared as
    /// `[loss sum, correct, count]` ([`DeviceTotals::from_raw`]).
    Totals,
}

/// A prepared comparison: buffers, the launches, and what each output must be.
pub struct Check<'g> {
    /// Its buffers (inputs uploaded, outputs poisoned).
    pub case: Case<'g>,
    /// The GPU launches, in order.
    pub dispatches: Vec<Dispatch>,
    /// What to compare afterwards.
    pub expected: Vec<Expected>,
}

impl<'g> Check<'g> {
    /// A check with no launches yet.
    pub fn new(gpu: &'g Gpu) -> Self {
        Check {
            case: Case::new(gpu),
            dispatches: Vec::new(),
            expected: Vec::new(),
        }
    }

    /// Compares `len(values)` values of `buffer` from `offset` with `values` after the run.
    pub fn expect(
        &mut self,
        op: impl Into<String>,
        buffer: BufferId,
        offset: usize,
        values: Vec<f32>,
        tolerance: Tolerance,
    ) {
        self.expected.push(Expected {
            op: op.into(),
            buffer,
            offset,
            values,
            tolerance,
            read: Read::Floats,
        });
    }

    /// Like [`Check::expect`] for a buffer of `u32` words, compared exactly.
    pub fn expect_words(
        &mut self,
        op: impl Into<String>,
        buffer: BufferId,
        offset: usize,
        values: &[u32],
    ) {
        self.expected.push(Expected {
            op: op.into(),
            buffer,
            offset,
            values: values.iter().map(|&v| v as f32).collect(),
            tolerance: Tolerance::EXACT,
            read: Read::Words,
        });
    }

    /// Compares the running totals in `buffer` with `[loss_sum, correct, count]`, the loss sum
    /// within `tolerance` (the counts must be exact, and are, far below 2²⁴).
    pub fn expect_totals(
        &mut self,
        op: impl Into<String>,
        buffer: BufferId,
        [loss_sum, correct, count]: [f64; 3],
        tolerance: Tolerance,
    ) {
        self.expected.push(Expected {
            op: op.into(),
            buffer,
            offset: 0,
            values: vec![loss_sum as f32, correct as f32, count as f32],
            tolerance,
            read: Read::Totals,
        });
    }

    /// Runs the launches once and compares every expected output, each held to its tolerance
    /// loosened to at least `floor`.
    pub fn run(&self, floor: Tolerance) -> Result<Vec<VerifyRow>> {
        pollster::block_on(self.run_async(floor))
    }

    /// [`Check::run`] without blocking (for a browser).
    pub async fn run_async(&self, floor: Tolerance) -> Result<Vec<VerifyRow>> {
        self.case.run(&self.dispatches)?;
        let outputs = self.outputs_async().await?;
        let rows = self.expected.iter().zip(&outputs);
        Ok(rows
            .map(|(e, got)| compare(&e.op, got, &e.values, e.tolerance.at_least(floor)))
            .collect())
    }

    /// What the GPU wrote where each expected output lies (after [`Check::run`]).
    pub fn outputs(&self) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.outputs_async())
    }

    async fn outputs_async(&self) -> Result<Vec<Vec<f32>>> {
        let mut outputs = Vec::with_capacity(self.expected.len());
        for e in &self.expected {
            let len = e.offset + e.values.len();
            outputs.push(match e.read {
                Read::Floats => {
                    self.case.read_async::<f32>(e.buffer, len).await?[e.offset..].to_vec()
                }
                Read::Words => {
                    let words = self.case.read_async::<u32>(e.buffer, len).await?;
                    words[e.offset..].iter().map(|&v| v as f32).collect()
                }
                Read::Totals => {
                    let raw = self.case.read_async::<u32>(e.buffer, 4).await?;
                    let t = DeviceTotals::from_raw(&raw);
                    vec![t.loss_sum as f32, t.correct as f32, t.count as f32]
                }
            });
        }
        Ok(outputs)
    }
}
