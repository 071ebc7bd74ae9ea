//! Resuming a run: the run directory and checkpoint that `--resume` names, the CPU threads the
//! run used, and the training loop's state rebuilt from the checkpoint.

use crate::cli::flags;
use shadernet::error::{Error, Result};
use shadernet::run::Checkpoint;
use shadernet::run::rundir::{BEST, LAST, RunDir};
use shadernet::train::{Best, RunState};
use std::path::{Path, PathBuf};

/// The run directory of `--resume DIR_OR_FILE`, locked, with the checkpoint to continue:
/// the directory's `last.safetensors`, or the named checkpoint, which must be that directory's
/// `last.safetensors` or `best.safetensors` (a loose checkpoint elsewhere is not a run).
pub(super) fn resume_paths(arg: &Path) -> Result<(RunDir, PathBuf)> {
    // RunDir::open's refusals start with the directory.
    let flagged = |prefix: String| {
        move |e: Error| match e {
            Error::Config(problem) => Error::Config(format!("{prefix}{problem}")),
            other => other,
        }
    };
    if arg.is_dir() {
        let run = RunDir::open(arg).map_err(flagged("--resume ".into()))?;
        return Ok((run, arg.join(LAST)));
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
    let name = arg.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name != LAST && name != BEST {
        return Err(Error::Config(format!(
            "--resume {}: a run continues from its run directory's {LAST} (or {BEST}), not \
             from another checkpoint file; pass `--resume <run dir>`, or start a new run",
            arg.display()
        )));
    }
    let run = RunDir::open(&dir).map_err(flagged(format!("--resume {}: ", arg.display())))?;
    Ok((run, arg.to_path_buf()))
}

/// The CPU worker threads of the executor a checkpoint's `backend` names (`cpu (2 threads)`),
/// `None` for a GPU or an unreadable description.
pub(super) fn threads_of(backend: &str) -> Option<usize> {
    let count = backend.strip_prefix("cpu (")?.strip_suffix(')')?;
    let (n, word) = count.split_once(' ')?;
    let n: usize = n.parse().ok()?;
    // A count no machine runs (a damaged file) is not followed: the default applies.
    // (A count beyond what --threads allows here is not followed either: the default applies,
    // with the note that the run continues on other threads.)
    (matches!(word, "thread" | "threads") && (1..=flags::max_threads()).contains(&n)).then_some(n)
}

/// The loop's state from a checkpoint, with the best epoch's parameters from the checkpoint
/// itself or from `best.safetensors` beside it.
pub(super) fn resume_state(run: &RunDir, checkpoint: &Checkpoint, file: &Path) -> Result<RunState> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_inherits_only_a_thread_count_that_threads_allows() {
        assert_eq!(threads_of("cpu (1 thread)"), Some(1));
        assert_eq!(threads_of("cpu (2 threads)"), Some(2));
        let cap = flags::max_threads();
        assert_eq!(threads_of(&format!("cpu ({cap} threads)")), Some(cap));
        // A damaged or foreign count falls back to the default (with the note on stderr).
        for backend in [
            format!("cpu ({} threads)", cap + 1),
            "cpu (0 threads)".into(),
            "cpu (100000000 threads)".into(),
            "gpu: llvmpipe".into(),
        ] {
            assert_eq!(threads_of(&backend), None, "{backend}");
        }
    }
}
