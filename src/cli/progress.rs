//! The progress line on stderr, drawn by `indicatif`: only where stderr is a terminal
//! (indicatif hides it in pipes, files and on `TERM=dumb`), and never with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressState, ProgressStyle};
use std::fmt::Write;

/// One progress line for a sequence of tasks (the epochs of a run, an evaluation): each task
/// (label) gets a fresh bar, so its rate and time left are its own.
pub(crate) struct Progress {
    /// Whether anything may be drawn (false with `--quiet`).
    visible: bool,
    /// The current task's label and bar, while one is shown.
    bar: Option<(String, ProgressBar)>,
}

impl Progress {
    /// A progress line that draws nothing yet; with `visible` false it never does.
    pub(crate) fn new(visible: bool) -> Self {
        Progress { visible, bar: None }
    }

    /// Shows `done` of `total` `unit`s (steps, images) of the work called `label`, with the rate
    /// and the time left (at most 20 redraws a second).
    pub(crate) fn update(&mut self, label: &str, done: usize, total: usize, unit: &str) {
        if !self.visible {
            return;
        }
        if self.bar.as_ref().is_none_or(|(shown, _)| shown != label) {
            self.clear();
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
                    .with_style(style())
                    .with_message(label.to_string())
                    .with_prefix(unit.to_string())
                    // Dropped on an error: the error message then starts on a clean line.
                    .with_finish(ProgressFinish::AndClear);
            self.bar = Some((label.to_string(), bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    /// Runs `print` (which writes a log line) with the line erased, then draws it again.
    pub(crate) fn suspend(&self, print: impl FnOnce()) {
        match &self.bar {
            Some((_, bar)) => bar.suspend(print),
            None => print(),
        }
    }

    /// Erases the line: the task is over.
    pub(crate) fn clear(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `epoch 2/10 [#########---------] 430/860 steps, 4712/s, 3 s left`.
fn style() -> ProgressStyle {
    const TEMPLATE: &str = "{msg} [{bar:30}] {pos}/{len} {prefix}, {rate}, {left}";
    ProgressStyle::with_template(TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#-")
        .with_key("rate", |state: &ProgressState, out: &mut dyn Write| {
            let _ = write!(out, "{:.0}/s", state.per_sec());
        })
        .with_key("left", |state: &ProgressState, out: &mut dyn Write| {
            let _ = write!(out, "{:.0} s left", state.eta().as_secs_f64());
        })
}
