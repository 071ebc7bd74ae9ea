//! Per-kernel GPU time of one training step, from timestamp queries.
//!
//! The step of a network is built as in training (same dispatch list), then replayed with each
//! dispatch in its own compute pass bracketed by timestamps. The network is a private copy with
//! synthetic inputs, so profiling never disturbs a training run. Adapters without
//! `TIMESTAMP_QUERY` get `None`.

use super::context::Gpu;
use super::kernel::{Buffers, Dispatch, Program};
use super::net::{GpuNet, StepMode, Totals};
use crate::error::Result;
use crate::model::Plan;

/// GPU time spent in one kernel during one step.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// Shader file of the kernel, e.g. `conv_forward.wgsl`.
    pub kernel: String,
    /// Dispatches of this kernel per step.
    pub dispatches: usize,
    /// Milliseconds per step (median over the repeats), summed over its dispatches.
    pub ms: f64,
}

/// Per-kernel time of a training step of `plan` at batch `n` on `gpu`: the median of `repeats`
/// timed replays, sorted by time, largest first. `None` when the device has no timestamp queries.
pub fn profile_training_step(
    gpu: &Gpu,
    plan: &Plan,
    n: usize,
    repeats: usize,
) -> Result<Option<Vec<KernelTime>>> {
    if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        return Ok(None);
    }
    let net = GpuNet::new(gpu, plan, 1, n)?;
    let input = vec![0.5f32; n * plan.input.size()];
    let labels: Vec<u8> = (0..n).map(|i| (i % plan.classes) as u8).collect();
    net.load_batch(gpu, &input, &labels)?;
    let dispatches = net.step_dispatches(n, StepMode::Train { lr: 1e-4 }, None, Totals::Train);
    let Some(medians) = time_dispatches(gpu, net.arena(), &dispatches, repeats)? else {
        return Ok(None);
    };
    let mut by_kernel: Vec<KernelTime> = Vec::new();
    for (dispatch, ms) in dispatches.iter().zip(medians) {
        let name = dispatch.kernel.file().to_string();
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
    Ok(Some(by_kernel))
}

/// GPU milliseconds of each of `dispatches` (bound to `arena`): the median of `repeats` timed
/// replays after one warm-up. `None` when the device has no timestamp queries.
pub fn time_dispatches(
    gpu: &Gpu,
    arena: &Buffers,
    dispatches: &[Dispatch],
    repeats: usize,
) -> Result<Option<Vec<f64>>> {
    if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        return Ok(None);
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
    Ok(Some(
        samples
            .into_iter()
            .map(|mut times| {
                times.sort_by(f64::total_cmp);
                times[times.len() / 2]
            })
            .collect(),
    ))
}
