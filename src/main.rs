//! The `shadernet` command line: train, eval, predict, models, info, verify, bench, augment.

mod cli;

use clap::{Parser, Subcommand};
use cli::evaluate::{EvalArgs, PredictArgs, run_eval, run_predict};
use cli::tools::{
    AugmentArgs, BenchArgs, run_augment, run_bench, run_info, run_models, run_verify,
};
use cli::train::{TrainArgs, run as run_train};
use std::process::ExitCode;

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
    Augment(AugmentArgs),
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

fn main() -> ExitCode {
    give_mesa_a_runtime_dir();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Eval(args) => run_eval(args),
        Command::Predict(args) => run_predict(args),
        Command::Models { names } => run_models(&names),
        Command::Info => run_info(),
        Command::Augment(args) => run_augment(args),
        Command::Verify { adapter } => run_verify(adapter.as_deref()),
        Command::Bench(args) => run_bench(args),
    };
    // Output that could not be written fails the command only after its work is done.
    match result.and_then(|()| cli::output::finish()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::output::errln!("error: {e}");
            ExitCode::FAILURE
        }
    }
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
