//! An in-place progress line on stderr, for a terminal only (`train` checks `IsTerminal`).

use std::io::Write;
use std::time::{Duration, Instant};

/// Redraws one line on stderr at most ten times a second.
pub struct ProgressBar {
    last_draw: Option<Instant>,
    started: Instant,
    label: String,
    shown: bool,
}

impl ProgressBar {
    /// A bar that has drawn nothing yet.
    pub fn new() -> Self {
        ProgressBar {
            last_draw: None,
            started: Instant::now(),
            label: String::new(),
            shown: false,
        }
    }

    /// Shows `done` of `total` `unit`s (steps, images) of the work called `label`, with the rate
    /// and the time left.
    pub fn update(&mut self, label: &str, done: usize, total: usize, unit: &str) {
        if label != self.label {
            self.label = label.to_string();
            self.started = Instant::now();
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now - t < Duration::from_millis(100))
            && done < total
        {
            return;
        }
        self.last_draw = Some(now);
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(width);
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let left = (total.saturating_sub(done)) as f64 / rate.max(1e-9);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K{label} [{}{}] {done}/{total} {unit}, {rate:.0}/s, {left:.0} s left",
            "#".repeat(filled),
            "-".repeat(width - filled)
        );
        let _ = err.flush();
        self.shown = true;
    }

    /// Erases the line, so that a log line can take its place.
    pub fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.shown = false;
            self.last_draw = None;
        }
    }
}
