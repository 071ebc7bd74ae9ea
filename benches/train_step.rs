//! Whole training steps per preset, executor and batch size, in images/s: the same rows as
//! `shadernet bench`. `cargo bench --bench train_step [-- MODEL...]` (default: seed9 seed12
//! seedtf; the GPU rows run when a hardware GPU is present).

use shadernet::bench::bench_row;
use shadernet::cpu::CpuExecutor;
use shadernet::error::Result;
use shadernet::executor::Executor;
use shadernet::gpu::{Gpu, GpuExecutor};
use shadernet::model::{Shape, preset};
use std::sync::Arc;

fn main() {
    let mut models: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if models.is_empty() {
        models = ["seed9", "seed12", "seedtf"].map(String::from).to_vec();
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut backends = vec![None];
    if let Ok(Some(gpu)) = Gpu::hardware() {
        backends.push(Some(Arc::new(gpu)));
    }
    println!(
        "{:<8} {:<40} {:>5} {:>10} {:>10} {:>8}",
        "model", "backend", "batch", "images/s", "ms/step", "GFLOP/s"
    );
    for model in &models {
        let Some(plan) =
            preset(model).and_then(|n| n.plan(Shape::Image { c: 1, h: 28, w: 28 }, 10).ok())
        else {
            eprintln!("unknown preset {model}");
            continue;
        };
        for backend in &backends {
            for batch in [16, 128] {
                let steps = (1024 / batch).clamp(4, 64);
                let build = |batch| -> Result<Box<dyn Executor>> {
                    Ok(match backend {
                        None => Box::new(CpuExecutor::new(&plan, 1, threads)?),
                        Some(gpu) => Box::new(GpuExecutor::new(gpu.clone(), &plan, 1, batch)?),
                    })
                };
                match bench_row(&plan, &build, batch, steps, 5) {
                    Ok(r) => println!(
                        "{:<8} {:<40} {:>5} {:>10.0} {:>10.2} {:>8.1}",
                        r.model, r.backend, r.batch, r.images_per_s, r.ms_per_step, r.gflops
                    ),
                    Err(e) => eprintln!("{model} at batch {batch}: {e}"),
                }
            }
        }
    }
}
