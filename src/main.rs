//! The `shadernet` command line: train, eval, predict, models, info, verify, bench, augment.

mod cli;

use cli::evaluate::*;
use cli::tools::*;
use cli::train::*;

use clap::{Parser, Subcommand, ValueEnum};
use cli::progress::ProgressBar;
use shadernet::cpu::CpuExecutor;
use shadernet::data::preprocess::{load_grey, mnist_style};
use shadernet::data::{Dataset, TrainTest, load_dir};
use shadernet::error::{Error, Result};
use shadernet::executor::Executor;
use shadernet::gpu::{Gpu, GpuExecutor};
use shadernet::model::{
    Layer, Network, PRESET_NAMES, Plan, Shape, load_network, network_to_text, preset,
};
use shadernet::run::Checkpoint;
use shadernet::run::plots::{curves_png, misclassified_png};
use shadernet::run::rundir::{BEST, LAST, RunDir, json_number, json_string};
use shadernet::train::{Best, Observer, RunState, Splits, train_from};
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

/// Which executor runs the network: shared by train, eval and predict.
#[derive(clap::Args)]
struct ExecutorArgs {
    /// Which executor runs the network.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// With `--backend gpu` or `auto`: the adapter whose name contains this text (see
    /// `shadernet info`).
    #[arg(long)]
    adapter: Option<String>,
    /// Worker threads of the CPU executor (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    give_mesa_a_runtime_dir();
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

/// `--threads`, or every core when it is not given.
fn worker_threads(threads: Option<usize>) -> Result<usize> {
    match threads {
        Some(0) => Err(Error::Config("--threads must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// The GPU `backend` asks for: `gpu` opens the adapter `adapter` names (or the best one) and
/// fails when there is none; `auto` opens the named adapter too, or without a name a hardware
/// GPU when there is one; `cpu` opens none, and naming an adapter for it is an error.
fn open_gpu(backend: Backend, adapter: Option<&str>) -> Result<Option<Arc<Gpu>>> {
    Ok(match (backend, adapter) {
        (Backend::Cpu, Some(_)) => return Err(adapter_needs_a_gpu()),
        (Backend::Cpu, None) => None,
        (Backend::Gpu, _) | (Backend::Auto, Some(_)) => Some(Gpu::new(adapter)?),
        (Backend::Auto, None) => Gpu::hardware()?,
    }
    .map(Arc::new))
}

fn adapter_needs_a_gpu() -> Error {
    Error::Config("--adapter needs --backend gpu (or auto)".into())
}

/// What the executor flags choose, checked before anything starts: the CPU executor's worker
/// threads, and the GPU to run on ([`open_gpu`]), if any.
fn choose_executor(args: &ExecutorArgs) -> Result<(usize, Option<Arc<Gpu>>)> {
    let threads = worker_threads(args.threads)?;
    Ok((threads, open_gpu(args.backend, args.adapter.as_deref())?))
}

/// The executor [`choose_executor`] chose: on `gpu` when there is one, else on the CPU with
/// `threads` workers; `batch` is the largest batch it must take.
fn make_executor(
    plan: &Plan,
    seed: u64,
    (threads, gpu): (usize, Option<Arc<Gpu>>),
    batch: usize,
) -> Result<Box<dyn Executor>> {
    Ok(match gpu {
        Some(gpu) => Box::new(GpuExecutor::new(gpu, plan, seed, batch)?),
        None => Box::new(CpuExecutor::new(plan, seed, threads)?),
    })
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

/// The executor for a checkpoint, with its parameters loaded.
fn checkpoint_executor(
    checkpoint: &Checkpoint,
    args: &ExecutorArgs,
) -> Result<(Plan, Box<dyn Executor>)> {
    let plan = checkpoint.plan()?;
    let chosen = choose_executor(args)?;
    let mut executor = make_executor(&plan, checkpoint.seed, chosen, EVAL_BATCH)?;
    executor.set_parameters(&checkpoint.params)?;
    Ok((plan, executor))
}

/// Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set" when that
/// variable is missing (containers, CI, ssh sessions), which reads like a shadernet failure.
/// When it is unset, point it at a private (0700) directory under the temp dir first.
fn give_mesa_a_runtime_dir() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
            return;
        }
        // One directory per user, reused; used only if it is ours and private. `/proc/self`
        // belongs to this process's user (Linux, where Mesa's Vulkan drivers live).
        let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
            return;
        };
        let dir = std::env::temp_dir().join(format!("shadernet-runtime-{me}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let private = std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == me && m.mode() & 0o077 == 0);
        if private {
            // SAFETY: called first thing in `main`, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}
