//! `shadernet models`, `info`, `verify`, `bench` and `augment`.

use super::common::{Backend, adapter_needs_a_gpu, open_gpu, worker_threads};
use super::flags;
use super::output::{errln, outln};
use shadernet::bench::bench_row;
use shadernet::cpu::CpuExecutor;
use shadernet::data::augment::write_augment_grid;
use shadernet::data::load_dir;
use shadernet::error::{Error, Result};
use shadernet::executor::Executor;
use shadernet::gpu::{Gpu, GpuExecutor};
use shadernet::model::{AugmentRanges, Network, PRESET_NAMES, Plan, Shape, load_network, preset};
use std::path::PathBuf;
use std::sync::Arc;

/// The flags of `shadernet bench`.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// Presets or network files to time (repeatable; default: seed9, seed12, seedtf).
    #[arg(long = "model", short)]
    pub(crate) models: Vec<String>,
    /// Batch sizes, 1 to 65536 (repeatable; default: 16 and 128).
    #[arg(long = "batch-size", value_parser = flags::batch_size, allow_negative_numbers = true)]
    pub(crate) batch_sizes: Vec<usize>,
    /// Executors (repeatable; default: cpu, plus gpu when a hardware GPU is present).
    #[arg(long = "backend", value_enum)]
    pub(crate) backends: Vec<Backend>,
    /// With a GPU backend: the adapter whose name contains this text.
    #[arg(long)]
    pub(crate) adapter: Option<String>,
    /// Timed steps per run, 1 to 100000 (default: about 1,024 images' worth, 4 to 64 steps).
    #[arg(long, value_parser = flags::steps, allow_negative_numbers = true)]
    pub(crate) steps: Option<usize>,
    /// Timed runs per row, 1 to 1000; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = flags::repeats,
          allow_negative_numbers = true)]
    pub(crate) repeats: usize,
    /// The device's peak f32 GFLOP/s (a positive number), to print each row's share of it.
    #[arg(long, value_parser = flags::peak_gflops, allow_hyphen_values = true)]
    pub(crate) peak_gflops: Option<f64>,
    /// Worker threads of the CPU executor (default: all cores; at most the larger of 64 and
    /// 4 x the cores).
    #[arg(long, value_parser = flags::threads, allow_negative_numbers = true)]
    pub(crate) threads: Option<usize>,
    /// The most memory a row's executor may plan for, such as 16G or 512M (default: the
    /// SHADERNET_MEMORY_LIMIT variable, else 80% of this machine's memory).
    #[arg(long, value_name = "SIZE", value_parser = super::memory::limit_flag, allow_hyphen_values = true)]
    pub(crate) memory_limit: Option<shadernet::model::memory::MemoryLimit>,
    /// One JSON object per row instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The flags of `shadernet augment`.
#[derive(clap::Args)]
pub(crate) struct AugmentArgs {
    /// The PNG file to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// How many digits (rows), 1 to 1000 (at most the training images).
    #[arg(long, default_value_t = 8, value_parser = flags::augment_count,
          allow_negative_numbers = true)]
    pub(crate) count: usize,
    /// Seed of the warps.
    #[arg(long, default_value_t = 1, value_parser = flags::seed, allow_negative_numbers = true)]
    pub(crate) seed: u64,
    /// The data directory (as for `train`).
    #[arg(long, default_value = "data/mnist")]
    pub(crate) data: PathBuf,
    /// Draw the warps of this preset's or network file's `augment` ranges (default: the seed
    /// report's ranges, scaling ±20%, rotation ±25°, zoom ±20%, translation ±2 px).
    #[arg(long)]
    pub(crate) model: Option<String>,
}

/// `shadernet models`: each network's layers, shapes, parameters and FLOPs.
pub(crate) fn run_models(names: &[String]) -> Result<()> {
    let networks: Vec<Network> = if names.is_empty() {
        PRESET_NAMES.iter().filter_map(|n| preset(n)).collect()
    } else {
        names
            .iter()
            .map(|n| load_network(n))
            .collect::<Result<_>>()?
    };
    let mnist = Shape::Image { c: 1, h: 28, w: 28 };
    for network in networks {
        let plan = network.plan(mnist, 10)?;
        print_plan(&plan);
    }
    Ok(())
}

/// One network's table for `shadernet models`.
fn print_plan(plan: &Plan) {
    let net = &plan.network;
    let t = &net.training;
    outln!("{}: {}", net.name, net.description);
    outln!(
        "  {:<3} {:<38} {:>10} {:>10} {:>12}",
        "#",
        "layer",
        "output",
        "params",
        "MFLOP/image"
    );
    outln!("  {:<3} {:<38} {:>10}", "", "input", plan.input.to_string());
    for (i, layer) in plan.layers.iter().enumerate() {
        outln!(
            "  {:<3} {:<38} {:>10} {:>10} {:>12.3}",
            i + 1,
            layer.layer.to_string(),
            layer.output.to_string(),
            layer.params,
            layer.flops as f64 / 1e6
        );
    }
    outln!(
        "  total: {} parameters, {:.3} MFLOP/image forward, {:.3} MFLOP/image training",
        plan.params(),
        plan.forward_flops() as f64 / 1e6,
        plan.train_flops() as f64 / 1e6
    );
    let smoothing = if t.label_smoothing > 0.0 {
        format!(" (label smoothing {})", t.label_smoothing)
    } else {
        String::new()
    };
    let ema = t.ema.map_or(String::new(), |d| format!(", weight EMA {d}"));
    let decay = if t.weight_decay > 0.0 {
        format!(", weight decay {}", t.weight_decay)
    } else {
        String::new()
    };
    outln!(
        "  defaults: {:?} loss{smoothing}, {:?}, lr {}, batch {}, {} epochs, {:?} init, {:?} schedule, augment {}, early stopping {}{ema}{decay}\n",
        t.loss,
        t.optimizer,
        t.lr,
        t.batch_size,
        t.epochs,
        t.init,
        t.schedule,
        t.augment,
        t.early_stopping.map_or("off".to_string(), |e| format!(
            "patience {} min_delta_rel {}",
            e.patience, e.min_delta_rel
        ))
    );
}

/// `shadernet info`: the GPU adapters wgpu sees, with their limits.
pub(crate) fn run_info() -> Result<()> {
    let adapters = shadernet::gpu::list_adapters()?;
    if adapters.is_empty() {
        outln!(
            "no GPU adapters found. On Debian/Ubuntu, `apt-get install -y mesa-vulkan-drivers` \
             gives Mesa's lavapipe, a software Vulkan device; `WGPU_BACKEND` selects a backend."
        );
        return Ok(());
    }
    for (i, a) in adapters.iter().enumerate() {
        outln!(
            "adapter {i}: {} ({}, {}{})",
            a.name,
            a.backend,
            a.device_type,
            if a.is_software { ", software" } else { "" }
        );
        outln!("  driver: {}", a.driver);
        outln!(
            "  max storage binding {} MiB, max buffer {} MiB, {} storage buffers/stage",
            a.max_storage_buffer_binding_size >> 20,
            a.max_buffer_size >> 20,
            a.max_storage_buffers_per_shader_stage
        );
        outln!(
            "  workgroups/dim {}, invocations/workgroup {}, workgroup storage {} KiB, timestamps {}",
            a.max_compute_workgroups_per_dimension,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroup_storage_size >> 10,
            if a.timestamp_query { "yes" } else { "no" }
        );
    }
    Ok(())
}

/// `shadernet verify`: every GPU op against the CPU executor; an error on a mismatch.
pub(crate) fn run_verify(adapter: Option<&str>) -> Result<()> {
    let gpu = Gpu::new(adapter)?;
    outln!(
        "verifying {} ({}) against the CPU executor",
        gpu.summary.name,
        gpu.summary.backend
    );
    let rows = shadernet::verify::verify(&gpu)?;
    let width = rows.iter().map(|r| r.op.chars().count()).max().unwrap_or(2);
    outln!(
        "{:<width$} {:>12} {:>12}  result",
        "op",
        "max abs err",
        "max rel err"
    );
    for row in &rows {
        outln!(
            "{:<width$} {:>12.3e} {:>12.3e}  {}",
            row.op,
            row.max_abs,
            row.max_rel,
            if row.pass { "ok" } else { "MISMATCH" }
        );
    }
    let failed: Vec<_> = rows.iter().filter(|r| !r.pass).collect();
    for row in &failed {
        errln!("{row}");
    }
    if !failed.is_empty() {
        return Err(Error::Gpu(format!(
            "{} of {} checks differ from the CPU executor beyond their tolerance (at least \
             {} + {} x |cpu|): this adapter or driver computes wrong results",
            failed.len(),
            rows.len(),
            shadernet::verify::VERIFY_ABS,
            shadernet::verify::VERIFY_REL
        )));
    }
    outln!("all {} checks agree with the CPU executor", rows.len());
    Ok(())
}

/// `shadernet bench`: a table (or JSON rows) of timed training steps.
pub(crate) fn run_bench(args: BenchArgs) -> Result<()> {
    /// Which executor a benchmark row runs on.
    enum BenchBackend {
        Cpu(usize),
        Gpu(Arc<Gpu>),
    }
    let models = if args.models.is_empty() {
        vec!["seed9".into(), "seed12".into(), "seedtf".into()]
    } else {
        args.models.clone()
    };
    let batches = if args.batch_sizes.is_empty() {
        vec![16, 128]
    } else {
        args.batch_sizes.clone()
    };
    // Every number's range was checked as the command line was parsed (flags.rs).
    let threads = worker_threads(args.threads)?;
    super::memory::set_limit(args.memory_limit.clone())?;
    let mut backends = Vec::new();
    let wanted = if args.backends.is_empty() {
        vec![Backend::Cpu, Backend::Auto]
    } else {
        args.backends.clone()
    };
    if args.adapter.is_some() && wanted.iter().all(|b| matches!(b, Backend::Cpu)) {
        return Err(adapter_needs_a_gpu());
    }
    for backend in wanted {
        match backend {
            Backend::Cpu => backends.push(BenchBackend::Cpu(threads)),
            gpu => backends.extend(open_gpu(gpu, args.adapter.as_deref())?.map(BenchBackend::Gpu)),
        }
    }
    if !args.json {
        outln!(
            "{:<8} {:<46} {:>5} {:>10} {:>10} {:>8} {:>7} {:>10} {:>8} {:>11}",
            "model",
            "backend",
            "batch",
            "images/s",
            "ms/step",
            "GFLOP/s",
            "% peak",
            "dispatches",
            "submits",
            "first step"
        );
    }
    let mnist = Shape::Image { c: 1, h: 28, w: 28 };
    let mut failures = 0;
    for model in &models {
        let plan = load_network(model)?.plan(mnist, 10)?;
        for backend in &backends {
            for &batch in &batches {
                let steps = args.steps.unwrap_or((1024 / batch).clamp(4, 64));
                let build = |batch| -> Result<Box<dyn Executor>> {
                    let threads = match backend {
                        BenchBackend::Cpu(threads) => Some(*threads),
                        BenchBackend::Gpu(_) => None,
                    };
                    super::memory::check_executor_memory(&plan, threads, batch)?;
                    Ok(match backend {
                        BenchBackend::Cpu(threads) => {
                            Box::new(CpuExecutor::new(&plan, 1, *threads)?)
                        }
                        BenchBackend::Gpu(gpu) => {
                            Box::new(GpuExecutor::new(gpu.clone(), &plan, 1, batch)?)
                        }
                    })
                };
                let row = match bench_row(&plan, &build, batch, steps, args.repeats) {
                    Ok(row) => row,
                    Err(e) => {
                        errln!("{model} at batch {batch}: {e}");
                        failures += 1;
                        continue;
                    }
                };
                if args.json {
                    outln!("{}", row.to_json()?);
                    continue;
                }
                let optional = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
                outln!(
                    "{:<8} {:<46} {:>5} {:>10.0} {:>10.2} {:>8.1} {:>7} {:>10} {:>8} {:>8.0} ms",
                    row.model,
                    row.backend,
                    row.batch,
                    row.images_per_s,
                    row.ms_per_step,
                    row.gflops,
                    optional(args.peak_gflops.map(|p| 100.0 * row.gflops / p)),
                    optional(row.dispatches_per_step),
                    optional(row.submits_per_step),
                    row.first_step_ms
                );
            }
        }
    }
    if failures > 0 {
        return Err(Error::Config(format!("{failures} benchmark rows failed")));
    }
    Ok(())
}

/// `shadernet augment`: a PNG grid of training digits and their random warps.
pub(crate) fn run_augment(args: AugmentArgs) -> Result<()> {
    let ranges = match &args.model {
        Some(model) => load_network(model)?.training.augment_ranges,
        None => AugmentRanges::default(),
    };
    let data = load_dir(&args.data)?;
    let count = args.count.min(data.train.len());
    write_augment_grid(&data.train, count, args.seed, &ranges, &args.out)?;
    outln!(
        "wrote {}: {count} training digits, each followed by random warps",
        args.out.display()
    );
    Ok(())
}
