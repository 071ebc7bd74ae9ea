//! The `shadernet` command line: train, eval, predict, models, info, verify.

mod progress;

use clap::{Parser, Subcommand, ValueEnum};
use progress::ProgressBar;
use shadernet::cpu::CpuExecutor;
use shadernet::data::preprocess::{load_grey, mnist_style};
use shadernet::data::{Dataset, TrainTest, load_dir};
use shadernet::error::{Error, Result};
use shadernet::gpu::{Gpu, GpuExecutor};
use shadernet::model::{
    Layer, Network, PRESET_NAMES, Plan, Shape, load_network, network_to_text, preset,
};
use shadernet::train::plots::{curves_png, misclassified_png};
use shadernet::train::rundir::{BEST, LAST, RunDir, json_number, json_string};
use shadernet::train::{Best, Checkpoint, Executor, Observer, RunState, Splits, train_from};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
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
    /// Train a network on MNIST (or any IDX dataset) and report its test error; writes a run
    /// directory with checkpoints, metrics and plots.
    Train(TrainArgs),
    /// Evaluate a checkpoint on the test set: test error, per-class accuracy, confusion matrix.
    Eval(EvalArgs),
    /// Classify pictures of digits (PNG or JPEG) with a checkpoint.
    Predict(PredictArgs),
    /// List the preset networks: layers, output shapes, parameters, FLOPs per image.
    Models {
        /// Presets or network files to show (default: every preset).
        names: Vec<String>,
    },
    /// List the GPU adapters wgpu can see, with backend and limits.
    Info,
    /// Write a PNG grid of training digits (first column) next to random augmentation warps.
    Augment {
        /// The PNG file to write.
        #[arg(long)]
        out: PathBuf,
        /// How many digits (rows).
        #[arg(long, default_value_t = 8)]
        count: usize,
        /// Seed of the warps.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The data directory (as for `train`).
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
    },
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

/// Which executor runs the network: shared by train, eval and predict.
#[derive(clap::Args)]
struct ExecutorArgs {
    /// Which executor runs the network.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// With `--backend gpu`: the adapter whose name contains this text (see `shadernet info`).
    #[arg(long)]
    adapter: Option<String>,
    /// Worker threads of the CPU executor (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// A preset (see `shadernet models`) or a network file [default: fast]. With --resume, it
    /// must be the checkpoint's network.
    #[arg(long, short)]
    model: Option<String>,
    /// Epochs (default: the model's; with --resume, the checkpoint's, and may be raised).
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step (default: the model's; 1 = per-sample SGD).
    #[arg(long, conflicts_with = "resume")]
    batch_size: Option<usize>,
    /// Base learning rate (default: the model's).
    #[arg(long, conflicts_with = "resume")]
    lr: Option<f32>,
    /// Seed for initialisation, shuffling, the validation split and dropout [default: 1].
    #[arg(long, conflicts_with = "resume")]
    seed: Option<u64>,
    /// Directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] [default: data/mnist, or
    /// the checkpoint's with --resume].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Training images held out for validation (model selection), chosen by the seed
    /// [default: 5000].
    #[arg(long, conflicts_with = "resume")]
    validation: Option<usize>,
    /// The run directory for checkpoints, metrics and plots [default:
    /// runs/<model>-<YYYYmmdd-HHMMSS>].
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue a run: its run directory, or a checkpoint file in it. Continues exactly
    /// (parameters, optimiser moments, epoch, RNG streams); the run directory is the
    /// checkpoint's.
    #[arg(long)]
    resume: Option<PathBuf>,
    #[command(flatten)]
    executor: ExecutorArgs,
    /// With a GPU backend: print the GPU time of each kernel in one training step (from
    /// timestamp queries) before training.
    #[arg(long)]
    profile: bool,
    /// Print only the final summary line (no epoch lines, no progress bar).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// The checkpoint (e.g. runs/seed9-.../best.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The data directory whose t10k-* files are evaluated [default: the checkpoint's].
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    executor: ExecutorArgs,
    /// Print one JSON object (`test_error`, `per_class`, `confusion`, ...) on one line.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct PredictArgs {
    /// The checkpoint (e.g. runs/seed9-.../best.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// PNG or JPEG pictures, one digit each (dark on light or light on dark).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    executor: ExecutorArgs,
    /// Print one JSON object per image and line: `file`, `class`, `probabilities`.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Eval(args) => run_eval(args),
        Command::Predict(args) => run_predict(args),
        Command::Models { names } => run_models(&names),
        Command::Info => run_info(),
        Command::Augment {
            out,
            count,
            seed,
            data,
        } => run_augment(&out, count, seed, &data),
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

/// Builds the executor the flags ask for; `batch` is the largest batch it must take.
fn make_executor(
    plan: &Plan,
    seed: u64,
    args: &ExecutorArgs,
    batch: usize,
) -> Result<Box<dyn Executor>> {
    let threads = match args.threads {
        Some(0) => return Err(Error::Config("--threads must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if args.adapter.is_some() && matches!(args.backend, Backend::Cpu) {
        return Err(Error::Config("--adapter needs --backend gpu".into()));
    }
    let cpu =
        || -> Result<Box<dyn Executor>> { Ok(Box::new(CpuExecutor::new(plan, seed, threads)?)) };
    let on_gpu = |gpu: Gpu| -> Result<Box<dyn Executor>> {
        Ok(Box::new(GpuExecutor::new(
            Arc::new(gpu),
            plan,
            seed,
            batch,
        )?))
    };
    match args.backend {
        Backend::Cpu => cpu(),
        Backend::Gpu => on_gpu(Gpu::new(args.adapter.as_deref())?),
        Backend::Auto => match Gpu::hardware()? {
            Some(gpu) => on_gpu(gpu),
            None => cpu(),
        },
    }
}

/// Loads a data directory, hinting at `--data` when it does not exist.
fn load_data(dir: &Path) -> Result<TrainTest> {
    load_dir(dir).map_err(|e| match e {
        Error::Data { path, problem } if !dir.exists() => Error::Data {
            path,
            problem: format!("{problem} (pass --data DIR with the four MNIST IDX files)"),
        },
        other => other,
    })
}

/// The input shape of a dataset's images.
fn input_shape(data: &Dataset) -> Shape {
    Shape::Image {
        c: data.channels,
        h: data.height,
        w: data.width,
    }
}

/// Checks that `data`'s images and classes fit the network of `checkpoint` (read from `path`).
fn check_fits(checkpoint: &Checkpoint, path: &Path, data: &Dataset) -> Result<()> {
    let input = input_shape(data);
    if input != checkpoint.input || data.classes > checkpoint.classes {
        return Err(Error::data(
            path,
            format!(
                "the checkpoint's network takes {} images into {} classes, but the data has {} \
                 images and {} classes",
                checkpoint.input, checkpoint.classes, input, data.classes
            ),
        ));
    }
    Ok(())
}

/// A checkpoint path from `--resume DIR_OR_FILE`, with its run directory.
fn resume_paths(arg: &Path) -> Result<(RunDir, PathBuf)> {
    if arg.is_dir() {
        let file = arg.join(LAST);
        if !file.exists() {
            return Err(Error::Config(format!(
                "--resume {}: the directory has no {LAST}, expected a run directory written by                  `shadernet train`",
                arg.display()
            )));
        }
        return Ok((RunDir::open(arg)?, file));
    }
    if !arg.exists() {
        return Err(Error::Config(format!(
            "--resume {}: no such run directory or checkpoint file",
            arg.display()
        )));
    }
    let dir = match arg.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((RunDir::open(&dir)?, arg.to_path_buf()))
}

/// The parts of a run that every checkpoint repeats.
struct RunInfo {
    network: Network,
    input: Shape,
    classes: usize,
    seed: u64,
    validation: usize,
    data: String,
    backend: String,
}

impl RunInfo {
    fn checkpoint(&self, executor: &mut dyn Executor, state: &RunState) -> Result<Checkpoint> {
        Ok(Checkpoint {
            network: self.network.clone(),
            input: self.input,
            classes: self.classes,
            params: executor.parameters()?,
            optimizer: executor.optimizer_state()?,
            seed: self.seed,
            validation: self.validation,
            data: self.data.clone(),
            backend: self.backend.clone(),
            epochs: state.epochs.clone(),
            best: state.best.as_ref().map(|b| (b.epoch, b.error)),
            stopped_early: state.stopped_early,
        })
    }
}

/// What `train` shows and writes while it runs: epoch lines, a progress bar on a terminal,
/// and after every epoch the checkpoints, metrics and curves in the run directory.
struct CliObserver {
    quiet: bool,
    bar: Option<ProgressBar>,
    run: RunDir,
    info: RunInfo,
    epochs: usize,
}

impl Observer for CliObserver {
    fn line(&mut self, line: &str) {
        if !self.quiet {
            if let Some(bar) = &mut self.bar {
                bar.clear();
            }
            println!("{line}");
        }
    }

    fn progress(&mut self, epoch: usize, done: usize, total: usize) {
        if let Some(bar) = &mut self.bar {
            bar.update(
                &format!("epoch {epoch}/{}", self.epochs),
                done,
                total,
                "steps",
            );
        }
    }

    fn epoch_end(
        &mut self,
        executor: &mut dyn Executor,
        state: &RunState,
        improved: bool,
    ) -> Result<()> {
        if let Some(bar) = &mut self.bar {
            bar.clear();
        }
        // Last before best: a kill between the two leaves a `last` that names itself as the
        // best epoch, which is what resuming then uses.
        let checkpoint = self.info.checkpoint(executor, state)?;
        let bytes = checkpoint.to_bytes()?;
        self.run.write(LAST, &bytes)?;
        if improved {
            self.run.write(BEST, &bytes)?;
        }
        self.run.write_metrics(&state.epochs)?;
        self.run.write("curves.png", &curves_png(&state.epochs)?)?;
        Ok(())
    }
}

fn run_train(args: TrainArgs) -> Result<()> {
    let resumed = match &args.resume {
        Some(arg) => {
            let (run, file) = resume_paths(arg)?;
            Some((run, Checkpoint::load(&file)?, file))
        }
        None => None,
    };
    let mut network = match (&resumed, &args.model) {
        (Some((_, checkpoint, _)), _) => checkpoint.network.clone(),
        (None, model) => load_network(model.as_deref().unwrap_or("fast"))?,
    };
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
    let (seed, validation_count, data_dir) = match &resumed {
        Some((_, c, _)) => (
            c.seed,
            c.validation,
            args.data.clone().unwrap_or_else(|| PathBuf::from(&c.data)),
        ),
        None => (
            args.seed.unwrap_or(1),
            args.validation.unwrap_or(5000),
            args.data
                .clone()
                .unwrap_or_else(|| PathBuf::from("data/mnist")),
        ),
    };
    let data = load_data(&data_dir)?;
    if let Some((_, checkpoint, file)) = &resumed {
        if let Some(model) = &args.model {
            let asked = load_network(model)?.plan(checkpoint.input, checkpoint.classes)?;
            checkpoint.check_network(&asked, file)?;
        }
        check_fits(checkpoint, file, &data.train)?;
    }
    let (train_set, validation) = if validation_count == 0 {
        if network
            .training
            .early_stopping
            .is_some_and(|e| e.monitor == shadernet::model::Monitor::Validation)
        {
            return Err(Error::Config(format!(
                "--validation 0: {} uses early stopping on the validation error, which needs a validation split",
                network.name
            )));
        }
        let all: Vec<u32> = (0..data.train.len() as u32).collect();
        (data.train.subset(&all), data.train.subset(&[]))
    } else {
        data.train.split_validation(validation_count, seed)?
    };
    let plan = network.plan(input_shape(&data.train), data.train.classes)?;
    let batch = plan.network.training.batch_size;
    if args.profile {
        let gpu = match args.executor.backend {
            Backend::Cpu => None,
            Backend::Gpu => Some(Gpu::new(args.executor.adapter.as_deref())?),
            Backend::Auto => Gpu::hardware()?,
        };
        let Some(gpu) = gpu else {
            return Err(Error::Config(
                "--profile times GPU kernels: use it with --backend gpu".into(),
            ));
        };
        print_profile(&gpu, &plan)?;
    }
    let mut executor = make_executor(&plan, seed, &args.executor, batch)?;
    let mut state = RunState::default();
    let resumed_on = resumed.as_ref().map(|(_, c, _)| c.backend.clone());
    let run = match resumed {
        Some((run, checkpoint, file)) => {
            executor.set_parameters(&checkpoint.params)?;
            executor.set_optimizer_state(&checkpoint.optimizer)?;
            state = resume_state(&run, &checkpoint, &file)?;
            run.append_line("command.txt", &command_line())?;
            run
        }
        None => {
            let path = args
                .out
                .clone()
                .unwrap_or_else(|| RunDir::default_path(&plan.network.name));
            let run = RunDir::create(&path)?;
            run.write("command.txt", format!("{}\n", command_line()).as_bytes())?;
            run
        }
    };
    run.write("network.txt", network_to_text(&plan.network).as_bytes())?;
    let t = &plan.network.training;
    let quiet = args.quiet;
    let info = RunInfo {
        network: plan.network.clone(),
        input: plan.input,
        classes: plan.classes,
        seed,
        validation: validation_count,
        data: data_dir.display().to_string(),
        backend: executor.describe(),
    };
    let mut observer = CliObserver {
        quiet,
        bar: (!quiet && std::io::stderr().is_terminal()).then(ProgressBar::new),
        run: run.clone(),
        info,
        epochs: t.epochs,
    };
    observer.line(&format!(
        "{}: {} parameters, {:.2} MFLOP/image forward | {} training, {} validation, {} test images | {} | batch {}, lr {}, {} epochs | run directory {}",
        plan.network.name,
        plan.params(),
        plan.forward_flops() as f64 / 1e6,
        train_set.len(),
        validation.len(),
        data.test.len(),
        executor.describe(),
        t.batch_size,
        t.lr,
        t.epochs,
        run.path().display()
    ));
    if state.stopped_early {
        observer.line(&format!(
            "the run stopped early after epoch {}: evaluating its best model",
            state.epochs.len()
        ));
    } else if !state.epochs.is_empty() {
        observer.line(&format!(
            "resuming after epoch {} ({} updates)",
            state.epochs.len(),
            executor.optimizer_state()?.updates
        ));
    }
    if let Some(before) = &resumed_on
        && *before != executor.describe()
    {
        observer.line(&format!(
            "note: the run so far used {before}, it continues on {}: the numbers will not be \
             bit-identical to a run that never stopped",
            executor.describe()
        ));
    }
    let splits = Splits {
        train: &train_set,
        validation: &validation,
        test: &data.test,
    };
    let report = train_from(executor.as_mut(), t, seed, &splits, state, &mut observer)?;
    let all: Vec<u32> = (0..data.test.len() as u32).collect();
    let outputs = executor.predict(&data.test, &all)?;
    run.write(
        "misclassified.png",
        &misclassified_png(&data.test, &outputs, plan.classes)?,
    )?;
    let chosen = &report.epochs.get(report.chosen_epoch.wrapping_sub(1));
    println!(
        "{}: test error {:.2}% ({} of {}) | model of epoch {}{} | {} epochs in {:.1} s on {} | {}",
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
        executor.describe(),
        run.path().display()
    );
    Ok(())
}

/// The loop's state from a checkpoint, with the best epoch's parameters from the checkpoint
/// itself or from `best.safetensors` beside it.
fn resume_state(run: &RunDir, checkpoint: &Checkpoint, file: &Path) -> Result<RunState> {
    let best = match checkpoint.best {
        None => None,
        Some((epoch, error)) if epoch == checkpoint.epoch() => {
            // The newest best: also repair best.safetensors if a kill came between the writes.
            run.write(BEST, &checkpoint.to_bytes()?)?;
            Some(Best {
                error,
                epoch,
                params: checkpoint.params.clone(),
            })
        }
        Some((epoch, error)) => {
            let path = run.file(BEST);
            let best = Checkpoint::load(&path).map_err(|e| {
                Error::data(
                    file,
                    format!(
                        "resuming needs the best epoch's weights (epoch {epoch}) from {}: {e}",
                        path.display()
                    ),
                )
            })?;
            best.check_network(&checkpoint.plan()?, &path)?;
            if best.epoch() != epoch {
                return Err(Error::data(
                    &path,
                    format!(
                        "holds epoch {} of `{}`, but {} names epoch {epoch} of `{}` as the best",
                        best.epoch(),
                        best.network.name,
                        file.display(),
                        checkpoint.network.name
                    ),
                ));
            }
            Some(Best {
                error,
                epoch,
                params: best.params,
            })
        }
    };
    Ok(RunState {
        epochs: checkpoint.epochs.clone(),
        best,
        stopped_early: checkpoint.stopped_early,
    })
}

/// The command line, quoted where a word needs it.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The executor for a checkpoint, with its parameters loaded.
fn checkpoint_executor(
    checkpoint: &Checkpoint,
    args: &ExecutorArgs,
) -> Result<(Plan, Box<dyn Executor>)> {
    let plan = checkpoint.plan()?;
    let mut executor = make_executor(&plan, checkpoint.seed, args, EVAL_BATCH)?;
    executor.set_parameters(&checkpoint.params)?;
    Ok((plan, executor))
}

/// Images per forward pass in eval and predict.
const EVAL_BATCH: usize = 256;

fn run_eval(args: EvalArgs) -> Result<()> {
    let checkpoint = Checkpoint::load(&args.checkpoint)?;
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(&checkpoint.data));
    let data = load_data(&data_dir)?;
    check_fits(&checkpoint, &args.checkpoint, &data.test)?;
    let (plan, mut executor) = checkpoint_executor(&checkpoint, &args.executor)?;
    let test = &data.test;
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let mut bar = std::io::stderr().is_terminal().then(ProgressBar::new);
    let mut outputs = Vec::with_capacity(test.len() * plan.classes);
    for chunk in all.chunks(4 * EVAL_BATCH) {
        outputs.extend(executor.predict(test, chunk)?);
        if let Some(bar) = &mut bar {
            bar.update(
                "evaluating",
                outputs.len() / plan.classes,
                test.len(),
                "images",
            );
        }
    }
    if let Some(bar) = &mut bar {
        bar.clear();
    }
    let k = plan.classes;
    let mut confusion = vec![vec![0usize; k]; k];
    for (row, &label) in outputs.chunks_exact(k).zip(&test.labels) {
        confusion[usize::from(label)][argmax(row)] += 1;
    }
    let wrong: usize = (0..k)
        .map(|t| {
            (0..k)
                .filter(|&p| p != t)
                .map(|p| confusion[t][p])
                .sum::<usize>()
        })
        .sum();
    let test_error = wrong as f64 / test.len().max(1) as f64;
    let per_class: Vec<Option<f64>> = (0..k)
        .map(|t| {
            let n: usize = confusion[t].iter().sum();
            (n > 0).then(|| confusion[t][t] as f64 / n as f64)
        })
        .collect();
    if args.json {
        let per_class: Vec<String> = per_class
            .iter()
            .map(|a| a.map_or("null".into(), json_number))
            .collect();
        let confusion: Vec<String> = confusion
            .iter()
            .map(|row| {
                let cells: Vec<String> = row.iter().map(usize::to_string).collect();
                format!("[{}]", cells.join(","))
            })
            .collect();
        println!(
            "{{\"checkpoint\":{},\"network\":{},\"epoch\":{},\"images\":{},\"test_error\":{},\"per_class\":[{}],\"confusion\":[{}]}}",
            json_string(&args.checkpoint.display().to_string()),
            json_string(&plan.network.name),
            checkpoint.epoch(),
            test.len(),
            json_number(test_error),
            per_class.join(","),
            confusion.join(",")
        );
        return Ok(());
    }
    println!(
        "{} (epoch {}, {}): test error {:.2}% ({wrong} of {}) on {}",
        plan.network.name,
        checkpoint.epoch(),
        args.checkpoint.display(),
        100.0 * test_error,
        test.len(),
        executor.describe()
    );
    println!("per-class accuracy:");
    for (c, acc) in per_class.iter().enumerate() {
        let n: usize = confusion[c].iter().sum();
        match acc {
            Some(a) => println!("  {c:>3}: {:>7.2}%  of {n}", 100.0 * a),
            None => println!("  {c:>3}:       -  (no test images)"),
        }
    }
    println!("confusion matrix (rows: true class, columns: predicted class):");
    let header: String = (0..k).map(|p| format!("{p:>6}")).collect();
    println!("  {:>3} {header}", "");
    for (t, row) in confusion.iter().enumerate() {
        let cells: String = row.iter().map(|n| format!("{n:>6}")).collect();
        println!("  {t:>3} {cells}");
    }
    Ok(())
}

fn run_predict(args: PredictArgs) -> Result<()> {
    let checkpoint = Checkpoint::load(&args.checkpoint)?;
    let Shape::Image { c: 1, h, w } = checkpoint.input else {
        return Err(Error::data(
            &args.checkpoint,
            format!(
                "predict takes grey pictures, but this network's input is {} (C x H x W)",
                checkpoint.input
            ),
        ));
    };
    let mut images = Vec::with_capacity(args.images.len() * h * w);
    for path in &args.images {
        let grey = load_grey(path)?;
        let digit = mnist_style(&grey, h, w).map_err(|e| Error::data(path, e.to_string()))?;
        images.extend(digit.iter().map(|&v| (v * 255.0).round() as u8));
    }
    let n = args.images.len();
    let data = Dataset {
        images,
        labels: vec![0; n],
        channels: 1,
        height: h,
        width: w,
        classes: checkpoint.classes,
    };
    let (plan, mut executor) = checkpoint_executor(&checkpoint, &args.executor)?;
    let all: Vec<u32> = (0..n as u32).collect();
    let outputs = executor.predict(&data, &all)?;
    let k = plan.classes;
    let softmax_output = plan.layers.last().map(|l| l.layer) == Some(Layer::Softmax);
    for (path, row) in args.images.iter().zip(outputs.chunks_exact(k)) {
        let probabilities = if softmax_output {
            row.to_vec()
        } else {
            softmax(row)
        };
        let class = argmax(&probabilities);
        if args.json {
            let p: Vec<String> = probabilities
                .iter()
                .map(|&v| {
                    if v.is_finite() {
                        v.to_string()
                    } else {
                        "null".into()
                    }
                })
                .collect();
            println!(
                "{{\"file\":{},\"class\":{class},\"probabilities\":[{}]}}",
                json_string(&path.display().to_string()),
                p.join(",")
            );
        } else {
            let p: Vec<String> = probabilities
                .iter()
                .enumerate()
                .map(|(c, v)| format!("{c}:{v:.3}"))
                .collect();
            println!(
                "{}: {class} (probability {:.3}) | {}",
                path.display(),
                probabilities[class],
                p.join(" ")
            );
        }
    }
    Ok(())
}

/// Index of the largest value (the first on ties).
fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Softmax of raw outputs (for networks whose last layer is not a softmax).
fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
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

fn run_augment(
    out: &std::path::Path,
    count: usize,
    seed: u64,
    data: &std::path::Path,
) -> Result<()> {
    use shadernet::data::augment::{AugmentRanges, write_augment_grid};
    if count == 0 {
        return Err(Error::Config("--count must be at least 1".into()));
    }
    let data = load_dir(data)?;
    let count = count.min(data.train.len());
    write_augment_grid(&data.train, count, seed, &AugmentRanges::default(), out)?;
    println!(
        "wrote {}: {count} training digits, each followed by random warps",
        out.display()
    );
    Ok(())
}
