//! `train --profile`: per-kernel GPU times of a step come from timestamp queries, or from
//! synchronised host time on adapters without them.

mod common;
#[path = "common/gpu.rs"]
mod gpu_common;

use common::plan;
use gpu_common::gpu_or_skip;
use shadernet::gpu::net::{GpuNet, StepMode};
use shadernet::gpu::profile::{Clock, host_time_dispatches, profile_training_step};
use shadernet::model::Shape;

#[test]
fn a_profile_names_every_kernel_of_the_step_with_its_time() {
    let Some(gpu) = gpu_or_skip() else { return };
    let net = "conv 4 kernel=3\nrelu\nmaxpool 2\ndropout 0.2\nflatten\ndense classes\nsoftmax\n";
    let plan = plan(net, Shape::Image { c: 1, h: 8, w: 8 }, 3);
    let (times, clock) = profile_training_step(gpu, &plan, 5, 3).unwrap();
    let timestamps = gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY);
    assert_eq!(clock == Clock::Timestamps, timestamps);
    let names: Vec<&str> = times.iter().map(|t| t.kernel.as_str()).collect();
    for kernel in [
        "conv_forward.wgsl (64-row blocks)",
        "maxpool_backward.wgsl",
        "adam.wgsl",
        "maxpool_dropout_forward.wgsl",
    ] {
        assert!(names.contains(&kernel), "{kernel} missing from {names:?}");
    }
    assert!(times.iter().all(|t| t.ms >= 0.0 && t.dispatches >= 1));
    assert!(times.iter().map(|t| t.ms).sum::<f64>() > 0.0, "{times:?}");
    assert!(
        times.windows(2).all(|w| w[0].ms >= w[1].ms),
        "sorted by time"
    );
}

#[test]
fn host_timing_times_every_dispatch_of_a_step() {
    // The fallback for adapters without timestamp queries, exercised on any adapter.
    let Some(gpu) = gpu_or_skip() else { return };
    let net = "conv 4 kernel=3\nrelu\nflatten\ndense classes\nsoftmax\n";
    let plan = plan(net, Shape::Image { c: 1, h: 8, w: 8 }, 3);
    let gpu_net = GpuNet::new(gpu, &plan, 1, 5).unwrap();
    let dispatches = gpu_net.step_dispatches(5, StepMode::Train { lr: 1e-3 }, None);
    let ms = host_time_dispatches(gpu, gpu_net.arena(), &dispatches, 3).unwrap();
    assert_eq!(ms.len(), dispatches.len());
    assert!(ms.iter().all(|&t| t > 0.0 && t.is_finite()), "{ms:?}");
}

#[test]
fn profile_needs_a_gpu_backend() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args(["train", "--profile", "--backend", "cpu"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--profile times GPU kernels"));
}
