//! Whole training steps per preset, executor and batch size, in images/s.
//! `cargo bench --bench train_step [-- MODEL...]` (default: seed9 seed12 seedtf).

use shadernet::bench::bench_training;
use shadernet::cpu::CpuExecutor;
use shadernet::model::{Shape, preset};

fn main() {
    let mut models: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if models.is_empty() {
        models = ["seed9", "seed12", "seedtf"].map(String::from).to_vec();
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{:<8} {:<18} {:>5} {:>10} {:>10} {:>8}",
        "model", "backend", "batch", "images/s", "ms/step", "GFLOP/s"
    );
    for model in &models {
        let Some(network) = preset(model) else {
            eprintln!("unknown preset {model}");
            continue;
        };
        for batch in [16, 128] {
            let plan = match network.plan(Shape::Image { c: 1, h: 28, w: 28 }, 10) {
                Ok(plan) => plan,
                Err(e) => {
                    eprintln!("{model}: {e}");
                    continue;
                }
            };
            let steps = (2048 / batch).clamp(4, 64);
            let row = CpuExecutor::new(&plan, 1, threads)
                .and_then(|mut exec| bench_training(&mut exec, &plan, batch, steps, 5));
            match row {
                Ok(r) => println!(
                    "{:<8} {:<18} {:>5} {:>10.0} {:>10.2} {:>8.1}",
                    r.model, r.backend, r.batch, r.images_per_s, r.ms_per_step, r.gflops
                ),
                Err(e) => eprintln!("{model} @ {batch}: {e}"),
            }
        }
    }
}
