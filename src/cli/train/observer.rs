//! What a run shows and writes while it trains: the CLI's observer (epoch lines, the progress
//! bar, and after every epoch the checkpoints, metrics and curves in the run directory) and
//! the command line that `command.txt` records.

use crate::cli::output::outln;
use crate::cli::progress::Progress;
use shadernet::error::Result;
use shadernet::executor::Executor;
use shadernet::model::{Network, Shape};
use shadernet::run::Checkpoint;
use shadernet::run::plots::curves_png;
use shadernet::run::rundir::{BEST, LAST, RunDir};
use shadernet::train::{EpochSnapshot, Observer, RunState};

/// The parts of a run that every checkpoint repeats.
pub(super) struct RunInfo {
    pub(super) network: Network,
    pub(super) input: Shape,
    pub(super) classes: usize,
    pub(super) seed: u64,
    pub(super) validation: usize,
    pub(super) data: String,
    pub(super) backend: String,
}

impl RunInfo {
    /// The checkpoint of `state`, with the parameters and optimiser state the loop read back
    /// after the epoch (`snapshot`: nothing is read from the device again).
    fn checkpoint(
        &self,
        executor: &mut dyn Executor,
        state: &RunState,
        snapshot: &EpochSnapshot,
    ) -> Result<Checkpoint> {
        let optimizer = match &snapshot.optimizer {
            Some(optimizer) => optimizer.clone(),
            // The executor's own error: it cannot save its optimiser state.
            None => executor.optimizer_state()?,
        };
        Ok(Checkpoint {
            network: self.network.clone(),
            input: self.input,
            classes: self.classes,
            params: snapshot.params.clone(),
            optimizer,
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
pub(super) struct CliObserver {
    pub(super) quiet: bool,
    pub(super) progress: Progress,
    pub(super) run: RunDir,
    pub(super) info: RunInfo,
    pub(super) epochs: usize,
}

impl Observer for CliObserver {
    fn line(&mut self, line: &str) {
        if !self.quiet {
            self.progress.suspend(|| outln!("{line}"));
        }
    }

    fn progress(&mut self, epoch: usize, done: usize, total: usize) {
        self.progress.update(
            &format!("epoch {epoch}/{}", self.epochs),
            done,
            total,
            "steps",
        );
    }

    fn epoch_end(
        &mut self,
        executor: &mut dyn Executor,
        state: &RunState,
        snapshot: &EpochSnapshot,
        improved: bool,
    ) -> Result<()> {
        self.progress.clear();
        // Last before best: a kill between the two leaves a `last` that names itself as the
        // best epoch, which is what resuming then uses.
        let checkpoint = self.info.checkpoint(executor, state, snapshot)?;
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

/// The command line, quoted where a word needs it (bytes that are not UTF-8 shown as U+FFFD:
/// `command.txt` is a note for people; the run's paths are in its checkpoint).
pub(super) fn command_line() -> String {
    std::env::args_os()
        .map(|a| {
            let a = a.to_string_lossy().into_owned();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
