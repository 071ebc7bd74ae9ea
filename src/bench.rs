//! Training-step benchmarks: images per second of whole steps (forward, loss, backward,
//! update) on synthetic MNIST-shaped data, for any executor: it sees only the neutral
//! [`Executor`] interface, and the caller (the CLI, the bench harness) picks the executor.
//!
//! Timing: a few warm-up steps, then `repeats` timed runs of `steps` steps each, each run ended
//! by reading the metrics back (which waits for a GPU to finish); the row reports the median
//! run. GFLOP/s come from the analytic count of [`Plan::train_flops`].

use crate::data::Dataset;
use crate::error::Result;
use crate::executor::Executor;
use crate::model::{Plan, Shape};
use crate::rng::Rng;
use crate::run::rundir::{rounded, to_json};
use serde::{Serialize, Serializer};
use std::time::Instant;

/// Untimed steps before the timed runs (fewer when a run has fewer steps).
const WARM_UP_STEPS: usize = 3;

/// One row of `shadernet bench`. Serialises (`--json`, [`BenchRow::to_json`]) to an object
/// with these fields in this order, timings rounded to the decimals the table shows, the
/// GPU-only counts `null` on the CPU.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// Network name.
    pub model: String,
    /// Executor description.
    pub backend: String,
    /// Images per step.
    pub batch: usize,
    /// Training images per second (median run).
    #[serde(serialize_with = "decimals::<1, _>")]
    pub images_per_s: f64,
    /// Milliseconds per step (median run).
    #[serde(serialize_with = "decimals::<3, _>")]
    pub ms_per_step: f64,
    /// Achieved GFLOP/s against the analytic training FLOPs.
    #[serde(serialize_with = "decimals::<2, _>")]
    pub gflops: f64,
    /// Milliseconds from building the executor (pipelines included) to the end of its first step.
    #[serde(serialize_with = "decimals::<1, _>")]
    pub first_step_ms: f64,
    /// GPU only: queue submits per step (the step's own, plus the metrics read-back of each
    /// timed run spread over its steps).
    #[serde(serialize_with = "optional_decimals::<2, _>")]
    pub submits_per_step: Option<f64>,
    /// GPU only: compute dispatches per step.
    #[serde(serialize_with = "optional_decimals::<2, _>")]
    pub dispatches_per_step: Option<f64>,
}

impl BenchRow {
    /// The row as one line of JSON (for `--json`).
    pub fn to_json(&self) -> Result<String> {
        to_json(self)
    }
}

/// Serialises `x` rounded to `N` decimals ([`rounded`]).
fn decimals<const N: usize, S: Serializer>(
    x: &f64,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_f64(rounded(*x, N))
}

/// Serialises `x` rounded to `N` decimals, `None` as `null`.
fn optional_decimals<const N: usize, S: Serializer>(
    x: &Option<f64>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    x.map(|x| rounded(x, N)).serialize(serializer)
}

/// Builds an executor for `plan` with `build` (given the batch size), runs one step, then times
/// `steps` steps `repeats` times ([`bench_training`]). Executors that launch work on a device
/// also get their submits and dispatches per step counted ([`Executor::launch_counts`]).
pub fn bench_row(
    plan: &Plan,
    build: &dyn Fn(usize) -> Result<Box<dyn Executor>>,
    batch: usize,
    steps: usize,
    repeats: usize,
) -> Result<BenchRow> {
    let data = synthetic_dataset(plan, batch, 3);
    let first: Vec<u32> = (0..batch as u32).collect();
    let start = Instant::now();
    let mut executor = build(batch)?;
    executor.train_step(&data, &first, 1e-4)?;
    executor.take_train_metrics()?;
    let first_step_ms = start.elapsed().as_secs_f64() * 1e3;
    let before = executor.launch_counts();
    let mut row = bench_training(executor.as_mut(), plan, batch, steps, repeats)?;
    row.first_step_ms = first_step_ms;
    if let (Some((submits, dispatches)), Some((s, d))) = (before, executor.launch_counts()) {
        // bench_training's warm-up steps (up to 3) and `repeats` timed runs of `steps` steps.
        let steps = steps.max(1);
        let steps_run = (steps.min(WARM_UP_STEPS) + steps * repeats.max(1)) as f64;
        row.submits_per_step = Some((s - submits) as f64 / steps_run);
        row.dispatches_per_step = Some((d - dispatches) as f64 / steps_run);
    }
    Ok(row)
}

/// A seeded random dataset of `n` images shaped for `plan`, labels below its class count.
pub fn synthetic_dataset(plan: &Plan, n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (channels, height, width) = match plan.input {
        Shape::Image { c, h, w } => (c, h, w),
        Shape::Flat(d) => (d, 1, 1),
    };
    let size = channels * height * width;
    Dataset {
        images: (0..n * size).map(|_| rng.below(256) as u8).collect(),
        labels: (0..n).map(|_| rng.below(plan.classes) as u8).collect(),
        channels,
        height,
        width,
        classes: plan.classes,
    }
}

/// Times training steps of `batch` images on `executor` (built for `plan`): `steps` steps per
/// run, `repeats` runs, median reported.
pub fn bench_training(
    executor: &mut dyn Executor,
    plan: &Plan,
    batch: usize,
    steps: usize,
    repeats: usize,
) -> Result<BenchRow> {
    let data = synthetic_dataset(plan, batch * steps.max(1), 7);
    let batches: Vec<Vec<u32>> = (0..steps.max(1))
        .map(|s| ((s * batch) as u32..((s + 1) * batch) as u32).collect())
        .collect();
    for indices in batches.iter().take(WARM_UP_STEPS) {
        executor.train_step(&data, indices, 1e-4)?;
    }
    executor.take_train_metrics()?;
    let mut runs = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        for indices in &batches {
            executor.train_step(&data, indices, 1e-4)?;
        }
        executor.take_train_metrics()?;
        runs.push(start.elapsed().as_secs_f64() / batches.len() as f64);
    }
    runs.sort_by(f64::total_cmp);
    let seconds_per_step = runs[runs.len() / 2];
    let images_per_s = batch as f64 / seconds_per_step;
    Ok(BenchRow {
        model: plan.network.name.clone(),
        backend: executor.describe(),
        batch,
        images_per_s,
        ms_per_step: seconds_per_step * 1e3,
        gflops: images_per_s * plan.train_flops() as f64 / 1e9,
        first_step_ms: 0.0,
        submits_per_step: None,
        dispatches_per_step: None,
    })
}
