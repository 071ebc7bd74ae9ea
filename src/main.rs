//! The `shadernet` command line: train, models, info.

use clap::{Parser, Subcommand, ValueEnum};
use shadernet::cpu::CpuExecutor;
use shadernet::data::load_dir;
use shadernet::error::{Error, Result};
use shadernet::gpu::{Gpu, GpuExecutor};
use shadernet::model::{Network, PRESET_NAMES, Plan, Shape, load_network, preset};
use shadernet::train::{Executor, train};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Train image-recognition networks from scratch: every layer a WGSL compute shader, with a CPU
/// reference executor.
#[derive(Parser)]
#[command(name = "shadernet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network on MNIST (or any IDX dataset) and report its test error.
    Train(TrainArgs),
    /// List the preset networks: layers, output shapes, parameters, FLOPs per image.
    Models {
        /// Presets or network files to show (default: every preset).
        names: Vec<String>,
    },
    /// List the GPU adapters wgpu can see, with backend and limits.
    Info,
    /// Time whole training steps: images/s, ms per step, GFLOP/s per preset, executor, batch.
    Bench(BenchArgs),
    /// Compare every GPU op and a whole training step with the CPU executor on this machine's
    /// GPU; prints max absolute and relative errors, exits non-zero on a mismatch.
    Verify {
        /// Pick the adapter whose name contains this text (see `shadernet info`).
        #[arg(long)]
        adapter: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// The CPU reference executor.
    Cpu,
    /// The wgpu executor on a GPU adapter (a software one such as lavapipe counts).
    Gpu,
    /// A hardware GPU if there is one, else the CPU executor.
    Auto,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Presets or network files to time (repeatable; default: seed9, seed12, seedtf).
    #[arg(long = "model", short)]
    models: Vec<String>,
    /// Batch sizes (repeatable; default: 16 and 128).
    #[arg(long = "batch-size")]
    batch_sizes: Vec<usize>,
    /// Executors (repeatable; default: cpu, plus gpu when a hardware GPU is present).
    #[arg(long = "backend", value_enum)]
    backends: Vec<Backend>,
    /// With a GPU backend: the adapter whose name contains this text.
    #[arg(long)]
    adapter: Option<String>,
    /// Timed steps per run (default: about 1,024 images' worth, 4 to 64 steps).
    #[arg(long)]
    steps: Option<usize>,
    /// Timed runs per row; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// The device's peak f32 GFLOP/s, to print each row's share of it.
    #[arg(long)]
    peak_gflops: Option<f64>,
    /// Worker threads of the CPU executor (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// One JSON object per row instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// A preset (see `shadernet models`) or a network file.
    #[arg(long, short, default_value = "fast")]
    model: String,
    /// Epochs (default: the model's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step (default: the model's; 1 = per-sample SGD).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Base learning rate (default: the model's).
    #[arg(long)]
    lr: Option<f32>,
    /// Seed for initialisation, shuffling, the validation split and dropout.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz].
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Training images held out for validation (model selection), chosen by the seed.
    #[arg(long, default_value_t = 5000)]
    validation: usize,
    /// Which executor runs the network.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// With `--backend gpu`: the adapter whose name contains this text (see `shadernet info`).
    #[arg(long)]
    adapter: Option<String>,
    /// Worker threads of the CPU executor (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// With a GPU backend: print the GPU time of each kernel in one training step (from
    /// timestamp queries) before training.
    #[arg(long)]
    profile: bool,
    /// Print only the final summary line.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Models { names } => run_models(&names),
        Command::Info => run_info(),
        Command::Verify { adapter } => run_verify(adapter.as_deref()),
        Command::Bench(args) => run_bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_train(args: TrainArgs) -> Result<()> {
    let mut network = load_network(&args.model)?;
    let t = &mut network.training;
    if let Some(epochs) = args.epochs {
        t.epochs = epochs;
    }
    if let Some(batch) = args.batch_size {
        t.batch_size = batch;
    }
    if let Some(lr) = args.lr {
        t.lr = lr;
    }
    if t.batch_size == 0 {
        return Err(Error::Config("--batch-size must be at least 1".into()));
    }
    let data = load_dir(&args.data).map_err(|e| match e {
        Error::Data { path, problem } if !args.data.exists() => Error::Data {
            path,
            problem: format!("{problem} (pass --data DIR with the four MNIST IDX files)"),
        },
        other => other,
    })?;
    let (train_set, validation) = if args.validation == 0 {
        if network.training.early_stopping.is_some() {
            return Err(Error::Config(format!(
                "--validation 0: {} uses early stopping, which needs a validation split",
                network.name
            )));
        }
        let all: Vec<u32> = (0..data.train.len() as u32).collect();
        (data.train.subset(&all), data.train.subset(&[]))
    } else {
        data.train.split_validation(args.validation, args.seed)?
    };
    let input = Shape::Image {
        c: data.train.channels,
        h: data.train.height,
        w: data.train.width,
    };
    let plan = network.plan(input, data.train.classes)?;
    let threads = match args.threads {
        Some(0) => return Err(Error::Config("--threads must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let cpu = || -> Result<Box<dyn Executor>> {
        Ok(Box::new(CpuExecutor::new(&plan, args.seed, threads)?))
    };
    let on_gpu = |gpu: Gpu| -> Result<Box<dyn Executor>> {
        let batch = plan.network.training.batch_size;
        Ok(Box::new(GpuExecutor::new(
            Arc::new(gpu),
            &plan,
            args.seed,
            batch,
        )?))
    };
    if args.adapter.is_some() && matches!(args.backend, Backend::Cpu) {
        return Err(Error::Config("--adapter needs --backend gpu".into()));
    }
    let gpu = match args.backend {
        Backend::Cpu => None,
        Backend::Gpu => Some(Gpu::new(args.adapter.as_deref())?),
        Backend::Auto => Gpu::hardware()?,
    };
    if args.profile {
        let Some(gpu) = &gpu else {
            return Err(Error::Config(
                "--profile times GPU kernels: use it with --backend gpu".into(),
            ));
        };
        print_profile(gpu, &plan)?;
    }
    let mut executor: Box<dyn Executor> = match gpu {
        Some(gpu) => on_gpu(gpu)?,
        None => cpu()?,
    };
    let t = &plan.network.training;
    let quiet = args.quiet;
    let mut log = |line: &str| {
        if !quiet {
            println!("{line}");
        }
    };
    log(&format!(
        "{}: {} parameters, {:.2} MFLOP/image forward | {} training, {} validation, {} test images | {} | batch {}, lr {}, {} epochs",
        plan.network.name,
        plan.params(),
        plan.forward_flops() as f64 / 1e6,
        train_set.len(),
        validation.len(),
        data.test.len(),
        executor.describe(),
        t.batch_size,
        t.lr,
        t.epochs
    ));
    if t.augment > 0.0 {
        log(&format!(
            "note: data augmentation (chance {}) is not implemented yet; training without it",
            t.augment
        ));
    }
    let report = train(
        executor.as_mut(),
        t,
        args.seed,
        &train_set,
        &validation,
        &data.test,
        &mut log,
    )?;
    let chosen = &report.epochs.get(report.chosen_epoch.wrapping_sub(1));
    println!(
        "{}: test error {:.2}% ({} of {}) | model of epoch {}{} | {} epochs in {:.1} s on {}",
        plan.network.name,
        100.0 * report.test.error_rate(),
        report.test.count - report.test.correct,
        report.test.count,
        report.chosen_epoch,
        chosen.map_or(String::new(), |e| format!(
            " (validation error {:.2}%)",
            100.0 * e.validation.error_rate()
        )),
        report.epochs.len(),
        report.seconds,
        executor.describe()
    );
    Ok(())
}

fn run_models(names: &[String]) -> Result<()> {
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

fn print_plan(plan: &Plan) {
    let net = &plan.network;
    let t = &net.training;
    println!("{}: {}", net.name, net.description);
    println!(
        "  {:<3} {:<38} {:>10} {:>10} {:>12}",
        "#", "layer", "output", "params", "MFLOP/image"
    );
    println!("  {:<3} {:<38} {:>10}", "", "input", plan.input.to_string());
    for (i, layer) in plan.layers.iter().enumerate() {
        println!(
            "  {:<3} {:<38} {:>10} {:>10} {:>12.3}",
            i + 1,
            layer.layer.to_string(),
            layer.output.to_string(),
            layer.params,
            layer.flops as f64 / 1e6
        );
    }
    println!(
        "  total: {} parameters, {:.3} MFLOP/image forward, {:.3} MFLOP/image training",
        plan.params(),
        plan.forward_flops() as f64 / 1e6,
        plan.train_flops() as f64 / 1e6
    );
    println!(
        "  defaults: {:?} loss, {:?}, lr {}, batch {}, {} epochs, {:?} init, {:?} schedule, augment {}, early stopping {}\n",
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

fn run_info() -> Result<()> {
    let adapters = shadernet::gpu::list_adapters();
    if adapters.is_empty() {
        println!(
            "no GPU adapters found. On Debian/Ubuntu, `apt-get install -y mesa-vulkan-drivers` \
             gives Mesa's lavapipe, a software Vulkan device; `WGPU_BACKEND` selects a backend."
        );
        return Ok(());
    }
    for (i, a) in adapters.iter().enumerate() {
        println!(
            "adapter {i}: {} ({}, {}{})",
            a.name,
            a.backend,
            a.device_type,
            if a.is_software { ", software" } else { "" }
        );
        println!("  driver: {}", a.driver);
        println!(
            "  max storage binding {} MiB, max buffer {} MiB, {} storage buffers/stage",
            a.max_storage_buffer_binding_size >> 20,
            a.max_buffer_size >> 20,
            a.max_storage_buffers_per_shader_stage
        );
        println!(
            "  workgroups/dim {}, invocations/workgroup {}, workgroup storage {} KiB, timestamps {}",
            a.max_compute_workgroups_per_dimension,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroup_storage_size >> 10,
            if a.timestamp_query { "yes" } else { "no" }
        );
    }
    Ok(())
}

fn run_verify(adapter: Option<&str>) -> Result<()> {
    let gpu = Gpu::new(adapter)?;
    println!(
        "verifying {} ({}) against the CPU executor",
        gpu.summary.name, gpu.summary.backend
    );
    let rows = shadernet::gpu::verify(&gpu)?;
    println!(
        "{:<40} {:>12} {:>12}  result",
        "op", "max abs err", "max rel err"
    );
    for row in &rows {
        println!(
            "{:<40} {:>12.3e} {:>12.3e}  {}",
            row.op,
            row.max_abs,
            row.max_rel,
            if row.pass { "ok" } else { "MISMATCH" }
        );
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    if failed > 0 {
        return Err(Error::Gpu(format!(
            "{failed} of {} checks differ from the CPU executor beyond tolerance \
             ({} + {} x |cpu|): this adapter or driver computes wrong results",
            rows.len(),
            shadernet::gpu::verify::VERIFY_ABS,
            shadernet::gpu::verify::VERIFY_REL
        )));
    }
    println!("all {} checks agree with the CPU executor", rows.len());
    Ok(())
}

fn print_profile(gpu: &Gpu, plan: &Plan) -> Result<()> {
    let batch = plan.network.training.batch_size;
    let Some(times) = shadernet::gpu::profile::profile_training_step(gpu, plan, batch, 10)? else {
        println!(
            "profile: {} has no timestamp queries; no per-kernel times",
            gpu.summary.name
        );
        return Ok(());
    };
    let total: f64 = times.iter().map(|t| t.ms).sum();
    println!(
        "profile: GPU time per training step at batch {batch}, {total:.3} ms in all (median of 10)"
    );
    println!(
        "  {:<30} {:>10} {:>10} {:>6}",
        "kernel", "dispatches", "ms/step", "%"
    );
    for t in &times {
        println!(
            "  {:<30} {:>10} {:>10.3} {:>5.1}%",
            t.kernel,
            t.dispatches,
            t.ms,
            100.0 * t.ms / total.max(1e-12)
        );
    }
    Ok(())
}

fn run_bench(args: BenchArgs) -> Result<()> {
    use shadernet::bench::{BenchBackend, bench_row};
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
    if batches.contains(&0) || args.steps == Some(0) || args.repeats == 0 {
        return Err(Error::Config(
            "--batch-size, --steps and --repeats must be at least 1".into(),
        ));
    }
    let threads = match args.threads {
        Some(0) => return Err(Error::Config("--threads must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut backends = Vec::new();
    let wanted = if args.backends.is_empty() {
        vec![Backend::Cpu, Backend::Auto]
    } else {
        args.backends.clone()
    };
    for backend in wanted {
        match backend {
            Backend::Cpu => backends.push(BenchBackend::Cpu(threads)),
            Backend::Gpu => backends.push(BenchBackend::Gpu(Arc::new(Gpu::new(
                args.adapter.as_deref(),
            )?))),
            Backend::Auto => {
                if let Some(gpu) = Gpu::hardware()? {
                    backends.push(BenchBackend::Gpu(Arc::new(gpu)));
                }
            }
        }
    }
    if !args.json {
        println!(
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
                let row = match bench_row(&plan, backend, batch, steps, args.repeats) {
                    Ok(row) => row,
                    Err(e) => {
                        eprintln!("{model} at batch {batch}: {e}");
                        failures += 1;
                        continue;
                    }
                };
                if args.json {
                    println!("{}", row.to_json());
                    continue;
                }
                let optional = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
                println!(
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
