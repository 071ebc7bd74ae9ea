//! The run directory: everything one training run leaves behind.
//!
//! ```text
//! runs/seed9-20261126-223015/
//!   command.txt          the command line that started the run (and each resume)
//!   network.txt          the network and training settings, in the network file format
//!   metrics.csv          one row per epoch: loss, errors, learning rate, seconds
//!   metrics.jsonl        the same, one JSON object per line
//!   curves.png           loss and error per epoch
//!   misclassified.png    test digits the final model gets wrong, predicted and true labels
//!   last.safetensors     the state after the latest epoch (what `--resume` continues)
//!   best.safetensors     the epoch with the lowest validation error (with a validation split)
//! ```
//!
//! Every file is replaced atomically, so a run killed at any moment leaves complete files.

use super::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::train::EpochLog;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The latest checkpoint's file name.
pub const LAST: &str = "last.safetensors";
/// The best checkpoint's file name.
pub const BEST: &str = "best.safetensors";

/// A run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// `runs/<model>-<YYYYmmdd-HHMMSS>` (UTC), with `-2`, `-3`, ... appended if that exists.
    pub fn default_path(model: &str) -> PathBuf {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let model: String = model
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = PathBuf::from("runs").join(format!("{model}-{}", timestamp(secs)));
        let mut path = base.clone();
        let mut n = 2;
        while path.exists() {
            path = PathBuf::from(format!("{}-{n}", base.display()));
            n += 1;
        }
        path
    }

    /// Creates the directory for a new run; refuses one that already holds a run's checkpoint.
    pub fn create(path: &Path) -> Result<RunDir> {
        if path.join(LAST).exists() {
            return Err(Error::Config(format!(
                "{} already holds a training run ({LAST}): pass `--resume {}` to continue it, \
                 or choose another --out",
                path.display(),
                path.display()
            )));
        }
        std::fs::create_dir_all(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            action: "creating the run directory",
            source,
        })?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// An existing run directory (for `--resume`).
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.is_dir() {
            return Err(Error::Config(format!(
                "{} is not a run directory",
                path.display()
            )));
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Replaces the file `name` with `bytes`, atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    /// Appends a line to the text file `name` (e.g. `command.txt` on every resume).
    pub fn append_line(&self, name: &str, line: &str) -> Result<()> {
        let path = self.file(name);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(line);
        text.push('\n');
        write_atomic(&path, text.as_bytes())
    }

    /// Rewrites `metrics.csv` and `metrics.jsonl` from the whole history.
    pub fn write_metrics(&self, epochs: &[EpochLog]) -> Result<()> {
        self.write("metrics.csv", metrics_csv(epochs).as_bytes())?;
        self.write("metrics.jsonl", metrics_jsonl(epochs).as_bytes())
    }
}

/// An epoch's validation loss and error, `None` without a validation split.
fn validation_metrics(e: &EpochLog) -> Option<(f64, f64)> {
    (e.validation.count > 0).then(|| (e.validation.mean_loss(), e.validation.error_rate()))
}

/// The CSV header and one row per epoch (validation fields empty without a validation split).
pub fn metrics_csv(epochs: &[EpochLog]) -> String {
    let mut out = String::from(
        "epoch,train_loss,train_error,validation_loss,validation_error,lr,seconds,images_per_second\n",
    );
    for e in epochs {
        let (validation_loss, validation_error) = validation_metrics(e)
            .map_or((String::new(), String::new()), |(l, r)| {
                (l.to_string(), r.to_string())
            });
        out += &format!(
            "{},{},{},{},{},{},{:.3},{:.1}\n",
            e.epoch,
            e.train.mean_loss(),
            e.train.error_rate(),
            validation_loss,
            validation_error,
            e.lr,
            e.seconds,
            e.images_per_second()
        );
    }
    out
}

/// One JSON object per epoch and line (validation fields `null` without a validation split).
pub fn metrics_jsonl(epochs: &[EpochLog]) -> String {
    let mut out = String::new();
    for e in epochs {
        let (validation_loss, validation_error) = validation_metrics(e)
            .map_or(("null".into(), "null".into()), |(l, r)| {
                (json_number(l), json_number(r))
            });
        out += &format!(
            "{{\"epoch\":{},\"train_loss\":{},\"train_error\":{},\"validation_loss\":{},\
             \"validation_error\":{},\"lr\":{},\"seconds\":{:.3},\"images_per_second\":{:.1}}}\n",
            e.epoch,
            json_number(e.train.mean_loss()),
            json_number(e.train.error_rate()),
            validation_loss,
            validation_error,
            e.lr,
            e.seconds,
            e.images_per_second()
        );
    }
    out
}

/// A number as JSON has it (`null` for NaN and infinities, which JSON cannot write).
pub fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

/// A string as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\n' => out += "\\n",
            '\r' => out += "\\r",
            '\t' => out += "\\t",
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `YYYYmmdd-HHMMSS` (UTC) of `secs` since the Unix epoch.
fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "19700101-000000");
        // 2026-11-26 22:30:15 UTC.
        assert_eq!(timestamp(1_795_732_215), "20261126-223015");
        assert_eq!(timestamp(951_782_400), "20000229-000000");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(json_number(f64::NAN), "null");
    }
}
