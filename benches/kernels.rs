//! Every op at the shapes of seed12 and seedtf, and a matmul size ladder, on both executors,
//! with GFLOP/s from the analytic counts. `cargo bench --bench kernels`. On the GPU, the
//! check tables of `shadernet verify` (`verify::FAMILIES`) are timed at the networks' own
//! shapes: the launches the tests hold to the CPU are the ones timed.
//!
//! CPU times are host medians of repeated calls (one thread, as each worker runs them). GPU
//! times come from timestamp queries around each dispatch (a whole training step of the
//! network, broken down by kernel), or, on adapters without them, from synchronised host time
//! around each dispatch submitted alone; on a software adapter only batch 16 is run unless
//! `SHADERNET_BENCH_ALL=1`. `cargo bench --bench kernels -- cpu` (or `gpu`) runs one executor's
//! half only; `-- bf16` only compares the bfloat16 GEMM (`matmul_precision bf16`) with the
//! float32 one on `best`'s per-image products.

use shadernet::cpu::activation::{relu_backward, relu_forward};
use shadernet::cpu::conv::{conv_backward, conv_forward};
use shadernet::cpu::gemm::{Mat, gemm};
use shadernet::cpu::gemm_bf16::{PackedA, gemm_bf16};
use shadernet::cpu::pool::{maxpool_backward, maxpool_forward};
use shadernet::gpu::Gpu;
use shadernet::gpu::kernel::Buffers;
use shadernet::gpu::ops::gemm::scratch_bytes_bound;
use shadernet::gpu::ops::matmul::matmul;
use shadernet::gpu::profile::{Clock, profile_training_step, time_dispatches};
use shadernet::model::ConvShape;
use shadernet::model::MatmulPrecision;
use shadernet::model::PoolShape;
use shadernet::model::{Layer, Plan, Shape, preset};
use shadernet::verify::{FAMILIES, Sizes};
use std::time::Instant;

/// Median seconds of `repeats` calls of `f`, after one warm-up call.
fn time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut runs: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn plan(name: &str) -> Option<Plan> {
    preset(name)?
        .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
        .ok()
}

fn cpu_matmul_ladder() {
    println!("\nCPU matmul (the gemm crate, one thread)");
    println!("{:>18} {:>10} {:>10}", "M x K x N", "ms", "GFLOP/s");
    for (m, k, n) in [
        (64, 64, 64),
        (127, 127, 127),
        (128, 128, 128),
        (257, 257, 257),
        (512, 512, 512),
        (1024, 1024, 1024),
        (16, 3136, 10),
        (32, 400, 784),
        (64, 1200, 196),
    ] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let seconds = time(5, || {
            gemm(m, k, n, Mat::rows(&a, k), Mat::rows(&b, n), 0.0, &mut c)
        });
        let gflops = 2.0 * (m * k * n) as f64 / seconds / 1e9;
        println!(
            "{:>18} {:>10.3} {:>10.1}",
            format!("{m}x{k}x{n}"),
            seconds * 1e3,
            gflops
        );
    }
}

/// The bfloat16 GEMM against the gemm crate's float32 one on the per-image products of
/// `best`'s convolutions (forward `W·col`, weight gradient `col·dyᵀ`, data gradient `Wᵀ·dy`);
/// the weights of the forward and data-gradient products packed once, outside the timing, as
/// a convolution packs them once per batch.
fn cpu_bf16_matmul() {
    println!(
        "\nCPU matmul per image of best, one thread: float32 (gemm crate) and bfloat16 operands"
    );
    println!(
        "{:>26} {:>10} {:>10} {:>10}",
        "product, M x K x N", "f32 GF/s", "bf16 GF/s", "bf16/f32"
    );
    // (name, m, k, n, A transposed, B transposed)
    for (name, m, k, n, at, bt) in [
        ("conv2 fwd", 32, 288, 576, false, false),
        ("conv2 dW", 288, 576, 32, false, true),
        ("conv2 dX", 288, 32, 576, true, false),
        ("conv3 fwd", 32, 800, 144, false, false),
        ("conv3 dW", 800, 144, 32, false, true),
        ("conv3 dX", 800, 32, 144, true, false),
        ("conv5 fwd", 64, 576, 64, false, false),
        ("conv6 fwd", 64, 1600, 16, false, false),
        ("conv6 dW", 1600, 16, 64, false, true),
    ] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let am = if at {
            Mat::transposed(&a, m)
        } else {
            Mat::rows(&a, k)
        };
        let bm = if bt {
            Mat::transposed(&b, k)
        } else {
            Mat::rows(&b, n)
        };
        let flop = 2.0 * (m * k * n) as f64;
        let mut f32_runs = Vec::new();
        let mut bf16_runs = Vec::new();
        for _ in 0..5 {
            f32_runs.push(time(20, || gemm(m, k, n, am, bm, 0.0, &mut c)));
            if name.ends_with("dW") {
                bf16_runs.push(time(20, || gemm_bf16(m, k, n, am, bm, 0.0, &mut c)));
            } else {
                // A is the layer's weights, rounded and packed once per batch (as conv layers do).
                let packed = PackedA::new(m, k, n, am);
                bf16_runs.push(time(20, || packed.gemm(bm, 0.0, &mut c)));
            }
        }
        let median = |runs: &mut Vec<f64>| {
            runs.sort_by(f64::total_cmp);
            runs[runs.len() / 2]
        };
        let (f, h) = (median(&mut f32_runs), median(&mut bf16_runs));
        println!(
            "{:>26} {:>10.1} {:>10.1} {:>10.2}",
            format!("{name}, {m}x{k}x{n}"),
            flop / f / 1e9,
            flop / h / 1e9,
            f / h
        );
    }
}

fn cpu_network_ops(name: &str, batch: usize) {
    let Some(plan) = plan(name) else { return };
    println!("\nCPU ops of {name} at batch {batch} (one thread)");
    println!("{:<34} {:>10} {:>10} {:>10}", "op", "ms", "GFLOP/s", "GB/s");
    for (i, layer) in plan.layers.iter().enumerate() {
        match (layer.layer, layer.input, layer.output) {
            (Layer::Conv2d { .. }, _, _) => {
                let Some(sh) = ConvShape::of(layer) else {
                    continue;
                };
                let (c, h, w, filters, kernel) = (sh.c, sh.h, sh.w, sh.f, sh.k);
                let (ho, wo) = (sh.ho, sh.wo);
                let x = vec![0.5f32; batch * c * h * w];
                let wt = vec![0.01f32; filters * c * kernel * kernel];
                let b = vec![0.0f32; filters];
                let mut y = vec![0.0f32; batch * filters * ho * wo];
                let mut col = vec![0.0f32; sh.scratch_size()];
                let flops = 2.0 * (batch * filters * ho * wo * c * kernel * kernel) as f64;
                let t = time(3, || {
                    conv_forward(
                        &x,
                        &wt,
                        &b,
                        &mut y,
                        &mut col,
                        &sh,
                        batch,
                        MatmulPrecision::F32,
                    )
                });
                println!(
                    "{:<34} {:>10.3} {:>10.1} {:>10}",
                    format!("{}: conv forward", i + 1),
                    t * 1e3,
                    flops / t / 1e9,
                    ""
                );
                let mut dx = vec![0.0f32; x.len()];
                let mut dw = vec![0.0f32; wt.len()];
                let mut db = vec![0.0f32; filters];
                let t = time(3, || {
                    conv_backward(
                        &x,
                        &wt,
                        &y,
                        Some(&mut dx),
                        &mut dw,
                        &mut db,
                        &mut col,
                        &sh,
                        batch,
                        MatmulPrecision::F32,
                    )
                });
                println!(
                    "{:<34} {:>10.3} {:>10.1} {:>10}",
                    format!("{}: conv backward (dW and dx)", i + 1),
                    t * 1e3,
                    2.0 * flops / t / 1e9,
                    ""
                );
            }
            (
                Layer::MaxPool { size, stride },
                Shape::Image { c, h, w },
                Shape::Image { h: ho, w: wo, .. },
            ) => {
                let sh = PoolShape {
                    c,
                    h,
                    w,
                    size,
                    stride,
                    ho,
                    wo,
                };
                let x: Vec<f32> = (0..batch * c * h * w).map(|i| (i % 7) as f32).collect();
                let mut y = vec![0.0f32; batch * c * ho * wo];
                let mut arg = vec![0u32; y.len()];
                let bytes = 4.0 * (x.len() + 2 * y.len()) as f64;
                let t = time(5, || maxpool_forward(&x, &mut y, &mut arg, &sh, batch));
                println!(
                    "{:<34} {:>10.3} {:>10} {:>10.1}",
                    format!("{}: maxpool forward", i + 1),
                    t * 1e3,
                    "",
                    bytes / t / 1e9
                );
                let mut dx = vec![0.0f32; x.len()];
                let t = time(5, || maxpool_backward(&y, &arg, &mut dx));
                println!(
                    "{:<34} {:>10.3} {:>10} {:>10.1}",
                    format!("{}: maxpool backward", i + 1),
                    t * 1e3,
                    "",
                    bytes / t / 1e9
                );
            }
            (Layer::Activation(_), input, _) => {
                let x: Vec<f32> = (0..batch * input.size())
                    .map(|i| (i % 5) as f32 - 2.0)
                    .collect();
                let mut y = vec![0.0f32; x.len()];
                let t = time(5, || relu_forward(&x, &mut y));
                println!(
                    "{:<34} {:>10.3} {:>10} {:>10.1}",
                    format!("{}: relu forward", i + 1),
                    t * 1e3,
                    "",
                    8.0 * x.len() as f64 / t / 1e9
                );
                let mut dx = vec![0.0f32; x.len()];
                let t = time(5, || relu_backward(&y, &x, &mut dx));
                println!(
                    "{:<34} {:>10.3} {:>10} {:>10.1}",
                    format!("{}: relu backward", i + 1),
                    t * 1e3,
                    "",
                    12.0 * x.len() as f64 / t / 1e9
                );
            }
            _ => {}
        }
    }
}

fn gpu_matmul_ladder(gpu: &Gpu, max: usize) {
    let clock = if gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        Clock::Timestamps
    } else {
        Clock::Host
    };
    println!(
        "\nGPU matmul (matmul.wgsl), {}; {}",
        gpu.summary.name,
        clock.describe()
    );
    println!("{:>18} {:>10} {:>10}", "M x K x N", "ms", "GFLOP/s");
    for size in [64, 127, 128, 257, 512, 1024, 2048, 4096]
        .into_iter()
        .filter(|&s| s <= max)
    {
        let mut arena = Buffers::new();
        let a = arena.alloc(gpu, "a", 4 * size * size);
        let b = arena.alloc(gpu, "b", 4 * size * size);
        let c = arena.alloc(gpu, "c", 4 * size * size);
        let scratch = arena.alloc(gpu, "scratch", scratch_bytes_bound(size, size));
        let dispatches = matmul(a.into(), b.into(), c.into(), scratch, size, size, size, 0);
        match time_dispatches(gpu, &arena, &dispatches, 3) {
            Ok((ms, _)) => {
                let ms: f64 = ms.iter().sum();
                let gflops = 2.0 * (size as f64).powi(3) / (ms / 1e3) / 1e9;
                println!(
                    "{:>18} {:>10.3} {:>10.1}",
                    format!("{size}x{size}x{size}"),
                    ms,
                    gflops
                );
            }
            Err(e) => return println!("  error: {e}"),
        }
    }
}

/// Each op family's checks of `shadernet verify` at the shapes of `name`'s layers, batch
/// `batch`: GPU milliseconds per check (its forward and backward launches together).
fn gpu_family_checks(gpu: &Gpu, name: &str, batch: usize) {
    let Some(plan) = plan(name) else { return };
    println!("\nGPU op checks at {name}'s shapes, batch {batch} (forward and backward together)");
    for family in &FAMILIES {
        for check in (family.build)(gpu, Sizes::Network { plan: &plan, batch }) {
            let label = check
                .expected
                .first()
                .map_or(family.name, |e| e.op.as_str());
            match time_dispatches(gpu, &check.case.arena, &check.dispatches, 3) {
                Ok((ms, _)) => println!(
                    "  {:<70} {:>3} dispatches {:>10.3} ms",
                    label,
                    check.dispatches.len(),
                    ms.iter().sum::<f64>()
                ),
                Err(e) => println!("  {label}: {e}"),
            }
        }
    }
}

fn gpu_network_ops(gpu: &Gpu, name: &str, batch: usize) {
    let Some(plan) = plan(name) else { return };
    match profile_training_step(gpu, &plan, batch, 3) {
        Ok((times, clock)) => {
            let total: f64 = times.iter().map(|t| t.ms).sum();
            println!(
                "\nGPU kernels of one {name} training step at batch {batch}: {total:.2} ms, {:.1} GFLOP/s overall ({})",
                batch as f64 * plan.train_flops() as f64 / (total / 1e3) / 1e9,
                clock.describe()
            );
            for t in times {
                println!(
                    "  {:<44} {:>3} dispatches {:>10.3} ms",
                    t.kernel, t.dispatches, t.ms
                );
            }
        }
        Err(e) => println!("\n{name} at batch {batch} on the GPU: {e}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "bf16") {
        cpu_bf16_matmul();
        return;
    }
    let only: Vec<&String> = args.iter().filter(|a| *a == "cpu" || *a == "gpu").collect();
    let wanted = |executor: &str| only.is_empty() || only.iter().any(|a| *a == executor);
    // Presets named on the command line (e.g. `cargo bench --bench kernels -- cpu best`) replace
    // the default rows of the CPU ops table.
    let named: Vec<(&String, usize)> = (args.iter())
        .filter_map(|a| preset(a).map(|p| (a, p.training.batch_size)))
        .collect();
    if wanted("cpu") {
        if named.is_empty() {
            cpu_matmul_ladder();
            cpu_bf16_matmul();
            for name in ["seed12", "seedtf"] {
                for batch in [16, 128] {
                    cpu_network_ops(name, batch);
                }
            }
            cpu_network_ops("best", 128);
        }
        for (name, batch) in named {
            cpu_network_ops(name, batch);
        }
    }
    if !wanted("gpu") {
        return;
    }
    match Gpu::new(None) {
        Ok(gpu) => {
            let everything = !gpu.summary.is_software
                || std::env::var("SHADERNET_BENCH_ALL").is_ok_and(|v| v == "1");
            gpu_matmul_ladder(&gpu, if everything { 4096 } else { 512 });
            for name in ["seed12", "seedtf"] {
                for batch in if everything { vec![16, 128] } else { vec![16] } {
                    gpu_network_ops(&gpu, name, batch);
                    gpu_family_checks(&gpu, name, batch);
                }
            }
        }
        Err(e) => println!("\nno GPU benchmarks: {e}"),
    }
}
