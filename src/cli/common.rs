//! What several subcommands share: the executor flags, choosing and building an executor,
//! loading a data directory, and checking that data fits a checkpoint's network.

use super::flags;
use super::memory;
use shadernet::cpu::CpuExecutor;
use shadernet::data::{
    DEFAULT_DATA_LIMIT, Dataset, LoadOptions, TrainTest, load_dir_with, load_test_dir,
};
use shadernet::error::{Error, Result};
use shadernet::executor::Executor;
use shadernet::gpu::{Gpu, GpuExecutor};
use shadernet::model::memory::MemoryLimit;
use shadernet::model::{Plan, Shape};
use shadernet::run::Checkpoint;
use std::path::Path;
use std::sync::Arc;

/// Which executor runs a network (`--backend`).
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Backend {
    /// The CPU reference executor.
    Cpu,
    /// The wgpu executor on a GPU adapter (a software one such as lavapipe counts).
    Gpu,
    /// A hardware GPU if there is one, else the CPU executor.
    Auto,
}

/// Which executor runs the network: shared by train, eval and predict.
#[derive(Clone, clap::Args)]
pub(crate) struct ExecutorArgs {
    /// Which executor runs the network.
    #[arg(long, value_enum, default_value = "cpu")]
    pub(crate) backend: Backend,
    /// With `--backend gpu` or `auto`: the adapter whose name contains this text (see
    /// `shadernet info`).
    #[arg(long)]
    pub(crate) adapter: Option<String>,
    /// Worker threads of the CPU executor (default: all cores; at most the larger of 64 and
    /// 4 x the cores).
    #[arg(long, value_parser = flags::threads, allow_negative_numbers = true)]
    pub(crate) threads: Option<usize>,
    /// The most memory the executor may plan for, such as 16G or 512M (default: the
    /// SHADERNET_MEMORY_LIMIT variable, else 80% of this machine's memory).
    #[arg(long, value_name = "SIZE", value_parser = memory::limit_flag, allow_hyphen_values = true)]
    pub(crate) memory_limit: Option<MemoryLimit>,
}

/// `--threads` (checked again here: a resume may take the count from its checkpoint), or every
/// core when it is not given.
pub(crate) fn worker_threads(threads: Option<usize>) -> Result<usize> {
    match threads {
        Some(n) => flags::threads(&n.to_string())
            .map_err(|problem| Error::Config(format!("--threads {n}: {problem}"))),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// The GPU `backend` asks for: `gpu` opens the adapter `adapter` names (or the best one) and
/// fails when there is none; `auto` opens the named adapter too, or without a name a hardware
/// GPU when there is one; `cpu` opens none, and naming an adapter for it is an error.
pub(crate) fn open_gpu(backend: Backend, adapter: Option<&str>) -> Result<Option<Arc<Gpu>>> {
    Ok(match (backend, adapter) {
        (Backend::Cpu, Some(_)) => return Err(adapter_needs_a_gpu()),
        (Backend::Cpu, None) => None,
        (Backend::Gpu, _) | (Backend::Auto, Some(_)) => Some(Gpu::new(adapter)?),
        (Backend::Auto, None) => Gpu::hardware()?,
    }
    .map(Arc::new))
}

/// The error for `--adapter` without a GPU backend.
pub(crate) fn adapter_needs_a_gpu() -> Error {
    Error::Config("--adapter needs --backend gpu (or auto)".into())
}

/// What the executor flags choose, checked before anything starts: the CPU executor's worker
/// threads, and the GPU to run on ([`open_gpu`]), if any.
pub(crate) fn choose_executor(args: &ExecutorArgs) -> Result<(usize, Option<Arc<Gpu>>)> {
    let threads = worker_threads(args.threads)?;
    memory::set_limit(args.memory_limit.clone())?;
    Ok((threads, open_gpu(args.backend, args.adapter.as_deref())?))
}

/// The executor [`choose_executor`] chose: on `gpu` when there is one, else on the CPU with
/// `threads` workers; `batch` is the largest batch it must take.
pub(crate) fn make_executor(
    plan: &Plan,
    seed: u64,
    (threads, gpu): (usize, Option<Arc<Gpu>>),
    batch: usize,
) -> Result<Box<dyn Executor>> {
    memory::check_executor_memory(plan, gpu.is_none().then_some(threads), batch)?;
    Ok(match gpu {
        Some(gpu) => Box::new(GpuExecutor::new(gpu, plan, seed, batch)?),
        None => Box::new(CpuExecutor::new(plan, seed, threads)?),
    })
}

/// Loads a data directory's training and test files, with `classes` fixed (`--classes`) or
/// taken from the training labels; hints at `--data` when the directory does not exist.
pub(crate) fn load_data(dir: &Path, classes: Option<usize>) -> Result<TrainTest> {
    let options = LoadOptions {
        classes,
        ..LoadOptions::default()
    };
    load_dir_with(dir, &options).map_err(|e| hint_data(dir, e, "the four MNIST IDX files"))
}

/// Loads only a data directory's test files (`t10k-*`), for a network of `classes` outputs:
/// what `eval` needs. Hints at `--data` when the directory does not exist.
pub(crate) fn load_test_data(dir: &Path, classes: usize) -> Result<Dataset> {
    load_test_dir(dir, classes, DEFAULT_DATA_LIMIT)
        .map_err(|e| hint_data(dir, e, "the two t10k IDX files"))
}

/// `e` with a hint at `--data DIR` (holding `files`) when `dir` does not exist.
fn hint_data(dir: &Path, e: Error, files: &str) -> Error {
    match e {
        Error::Data { path, problem } if !dir.exists() => Error::Data {
            path,
            problem: format!("{problem} (pass --data DIR with {files})"),
        },
        other => other,
    }
}

/// The input shape of a dataset's images.
pub(crate) fn input_shape(data: &Dataset) -> Shape {
    Shape::Image {
        c: data.channels,
        h: data.height,
        w: data.width,
    }
}

/// Checks that `data`'s images and classes fit the network of `checkpoint` (read from `path`).
pub(crate) fn check_fits(checkpoint: &Checkpoint, path: &Path, data: &Dataset) -> Result<()> {
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
