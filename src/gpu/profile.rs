//! Per-kernel GPU time of one training step, from timestamp queries.
//!
//! The step of a network is built as in training (same dispatch list), then replayed with each
//! dispatch in its own compute pass bracketed by timestamps. The network is a private copy with
//! synthetic inputs, so profiling never disturbs a training run. Adapters without
//! `TIMESTAMP_QUERY` get synchronised host time instead: each dispatch submitted on its own and
//! waited for, which adds the submission's overhead to every kernel ([`Clock::Host`]).

use super::context::Gpu;
use super::kernel::{Buffers, Dispatch, Program};
use super::net::{GpuNet, StepMode};
use crate::error::Result;
use crate::model::Plan;
use std::time::Instant;

/// Where kernel times come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// GPU timestamp queries around each dispatch.
    Timestamps,
    /// Host time around each dispatch submitted alone and waited for (adapters without
    /// timestamp queries); includes the submission's overhead.
    Host,
}

impl Clock {
    /// How the times were taken, for printing.
    pub fn describe(self) -> &'static str {
        match self {
            Clock::Timestamps => "GPU timestamp queries",
            Clock::Host => "host time around each dispatch, synchronised (no timestamp queries)",
        }
    }
}

/// GPU time spent in one kernel during one step.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// The kernel's [`Kernel::label`](crate::gpu::Kernel::label), e.g. `conv_forward.wgsl` or
    /// `conv_forward.wgsl (64-row blocks)`.
    pub kernel: String,
    /// Dispatches of this kernel per step.
    pub dispatches: usize,
    /// Milliseconds per step (median over the repeats), summed over its dispatches.
    pub ms: f64,
}

/// Per-kernel time of a training step of `plan` at batch `n` on `gpu`: the median of `repeats`
/// timed replays, sorted by time, largest first, and the clock that measured them.
pub fn profile_training_step(
    gpu: &Gpu,
    plan: &Plan,
    n: usize,
    repeats: usize,
) -> Result<(Vec<KernelTime>, Clock)> {
    let net = GpuNet::new(gpu, plan, 1, n)?;
    let input = vec![0.5f32; n * plan.input.size()];
    let labels: Vec<u8> = (0..n).map(|i| (i % plan.classes) as u8).collect();
    net.load_batch(gpu, &input, &labels)?;
    let dispatches = net.step_dispatches(n, StepMode::Train { lr: 1e-4 }, None);
    let (medians, clock) = time_dispatches(gpu, net.arena(), &dispatches, repeats)?;
    let mut by_kernel: Vec<KernelTime> = Vec::new();
    for (dispatch, ms) in dispatches.iter().zip(medians) {
        let name = dispatch.label();
        match by_kernel.iter_mut().find(|k| k.kernel == name) {
            Some(entry) => {
                entry.dispatches += 1;
                entry.ms += ms;
            }
            None => by_kernel.push(KernelTime {
                kernel: name,
                dispatches: 1,
                ms,
            }),
        }
    }
    by_kernel.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok((by_kernel, clock))
}

/// Milliseconds of each of `dispatches` (bound to `arena`): the median of `repeats` timed
/// replays after one warm-up, from timestamp queries when the device has them, else from
/// [`host_time_dispatches`].
pub fn time_dispatches(
    gpu: &Gpu,
    arena: &Buffers,
    dispatches: &[Dispatch],
    repeats: usize,
) -> Result<(Vec<f64>, Clock)> {
    if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        let ms = host_time_dispatches(gpu, arena, dispatches, repeats)?;
        return Ok((ms, Clock::Host));
    }
    let program = Program::new(gpu, arena, dispatches)?;
    let count = dispatches.len() as u32;
    let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("profile"),
        ty: wgpu::QueryType::Timestamp,
        count: 2 * count,
    });
    let resolved = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("profile timestamps"),
        size: 16 * count as u64,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let tick_ns = gpu.queue.get_timestamp_period() as f64;
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); dispatches.len()];
    for replay in 0..repeats.max(1) + 1 {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        program.record_timed(gpu, &mut encoder, &queries);
        encoder.resolve_query_set(&queries, 0..2 * count, &resolved, 0);
        gpu.queue.submit([encoder.finish()]);
        let bytes = gpu.read_bytes(&resolved, 0, 16 * count as u64)?;
        let ticks: &[u64] = bytemuck::cast_slice(&bytes);
        // The first replay warms caches and is not counted.
        if replay > 0 {
            for (i, pair) in ticks.chunks_exact(2).enumerate() {
                samples[i].push(pair[1].saturating_sub(pair[0]) as f64 * tick_ns / 1e6);
            }
        }
    }
    Ok((medians(samples), Clock::Timestamps))
}

/// Milliseconds of each of `dispatches` by host clock: every replay submits the dispatches in
/// order, each alone, timing from its submission to the device going idle (so each time
/// includes a submission's overhead). The median of `repeats` replays after one warm-up.
pub fn host_time_dispatches(
    gpu: &Gpu,
    arena: &Buffers,
    dispatches: &[Dispatch],
    repeats: usize,
) -> Result<Vec<f64>> {
    let programs = dispatches
        .iter()
        .map(|d| Program::new(gpu, arena, std::slice::from_ref(d)))
        .collect::<Result<Vec<_>>>()?;
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); dispatches.len()];
    for replay in 0..repeats.max(1) + 1 {
        for (program, times) in programs.iter().zip(&mut samples) {
            gpu.wait()?;
            let start = Instant::now();
            program.submit(gpu);
            gpu.wait()?;
            // The first replay compiles pipelines and warms caches and is not counted.
            if replay > 0 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    Ok(medians(samples))
}

/// The median of each list.
fn medians(samples: Vec<Vec<f64>>) -> Vec<f64> {
    samples
        .into_iter()
        .map(|mut times| {
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        })
        .collect()
}
