//! The run directory: everything one training run leaves behind.
//!
//! ```text
//! runs/seed9-20261126-223015/
//!   command.txt          the command line that started the run (and each resume)
//!   network.txt          the network and training settings, in the network file format
//!   metrics.csv          one row per epoch: loss, errors, learning rate, seconds, training
//!                        seconds and their running sum (time to accuracy)
//!   metrics.jsonl        the same, one JSON object per line
//!   curves.png           loss and error per epoch
//!   misclassified.png    test digits the final model gets wrong, predicted and true labels
//!   last.safetensors     the state after the latest epoch (what `--resume` continues)
//!   best.safetensors     the epoch with the lowest validation error (with a validation split)
//!   .lock                held (an OS advisory lock) by the one process writing the run
//! ```
//!
//! A new run takes only an absent or empty directory, so no file of the user's is replaced;
//! a run is continued only by `--resume`, and only in a directory a run wrote. One process
//! writes a run directory at a time: it holds an advisory lock on `.lock` (`File::try_lock`)
//! from before its first write to its exit, and the operating system releases it when the
//! process dies, however it dies. Every file is replaced atomically, so a run killed at any
//! moment leaves complete files; resuming removes the temporaries such a kill leaves and
//! rewrites the metrics and curves from the checkpoint.

use super::atomic::write_atomic_then;
use crate::error::{Error, Result};
use crate::train::EpochLog;
use serde::Serialize;
use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The latest checkpoint's file name.
pub const LAST: &str = "last.safetensors";
/// The best checkpoint's file name.
pub const BEST: &str = "best.safetensors";
/// The lock file's name: the process writing the run holds an advisory lock on it.
pub const LOCK: &str = ".lock";
/// The files a run writes (besides [`LOCK`]): the ones whose stale temporaries a resume
/// removes.
pub const FILES: [&str; 8] = [
    "command.txt",
    "network.txt",
    "metrics.csv",
    "metrics.jsonl",
    "curves.png",
    "misclassified.png",
    LAST,
    BEST,
];

/// Test hook: with `SHADERNET_TEST_ABORT_AFTER_WRITE=N` the process aborts right after the
/// N-th file a run directory writes (counted from 1 over the whole process), as a kill at that
/// moment would; the kill-and-resume tests use it.
pub const ABORT_AFTER_WRITE: &str = "SHADERNET_TEST_ABORT_AFTER_WRITE";
/// Test hook: with `SHADERNET_TEST_ABORT_DURING_WRITE=N` the process aborts while
/// writing the N-th file, once its temporary file is complete and before the rename, leaving
/// the temporary behind.
pub const ABORT_DURING_WRITE: &str = "SHADERNET_TEST_ABORT_DURING_WRITE";

/// Files written by run directories in this process, for the test hooks.
static WRITES: AtomicUsize = AtomicUsize::new(0);

/// Ends the process at once (`abort`: no unwinding, no destructors, no flushing, as a kill)
/// when the test hook `var` names write `n`.
fn kill_point(var: &str, n: usize) {
    if std::env::var(var).ok().and_then(|v| v.trim().parse().ok()) == Some(n) {
        std::process::abort();
    }
}

/// A run directory, owned by this process (its lock held) for as long as any clone lives.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
    /// The open lock file, locked; unlocked when the last clone is dropped.
    _lock: Arc<File>,
}

impl RunDir {
    /// `runs/<model>-<YYYYmmdd-HHMMSS>` (UTC), with `-2`, `-3`, ... appended if that exists;
    /// the model's name cut to 64 characters, each outside `[A-Za-z0-9_-]` written as `_`.
    pub fn default_path(model: &str) -> PathBuf {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // The name's first 64 characters: a file system takes 255 bytes per name.
        let model: String = model
            .chars()
            .take(64)
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

    /// Checks, writing nothing, that `path` can hold a new run: it does not exist, or it is an
    /// empty directory (a [`LOCK`] file alone counts as empty). Otherwise the error names a few
    /// of the entries there and says how to proceed.
    pub fn check_new(path: &Path) -> Result<()> {
        let Some((listed, names)) = Self::contents(path)? else {
            return Ok(());
        };
        let how = if names.iter().any(|n| n == LAST) {
            format!(
                "it holds a training run: pass `--resume {}` to continue it, or choose another \
                 --out",
                path.display()
            )
        } else {
            format!(
                "a new run goes only into an absent or empty directory, so that no file there \
                 is replaced: choose another --out (or `--resume {}` to continue a run written \
                 there)",
                path.display()
            )
        };
        Err(Error::Config(format!(
            "--out {}: the directory is not empty ({listed}); {how}",
            path.display()
        )))
    }

    /// What keeps `path` from holding a new run: `None` when it does not exist or is an
    /// empty directory (a [`LOCK`] file alone counts as empty), else a few of its entries'
    /// names listed for a message (`a, b, c and 4 more`) and all of them, sorted. A path that
    /// exists but is not a directory is an error.
    pub fn contents(path: &Path) -> Result<Option<(String, Vec<String>)>> {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(_) if std::fs::symlink_metadata(path).is_err() => return Ok(None),
            Err(source) if path.is_dir() => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    action: "listing the run directory",
                    source,
                });
            }
            Err(_) => {
                return Err(Error::Config(format!(
                    "--out {}: exists and is not a directory; a new run needs an absent or \
                     empty directory: choose another --out",
                    path.display()
                )));
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != LOCK)
            .collect();
        if names.is_empty() {
            return Ok(None);
        }
        names.sort();
        let shown = names.len().min(5);
        let mut listed = names[..shown].join(", ");
        if names.len() > shown {
            listed += &format!(" and {} more", names.len() - shown);
        }
        Ok(Some((listed, names)))
    }

    /// Creates the directory for a new run and takes its lock: `path` must be absent or empty
    /// ([`RunDir::check_new`], checked again under the lock so that two processes cannot both
    /// start a run there). Writes nothing when it refuses.
    pub fn create(path: &Path) -> Result<RunDir> {
        Self::check_new(path)?;
        std::fs::create_dir_all(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            action: "creating the run directory",
            source,
        })?;
        let lock = take_lock(path).map_err(|e| match e {
            Error::Config(problem) => Error::Config(format!("--out {problem}")),
            other => other,
        })?;
        Self::check_new(path)?;
        Ok(RunDir {
            path: path.to_path_buf(),
            _lock: Arc::new(lock),
        })
    }

    /// An existing run directory (for `--resume`), locked: it must be a directory a run wrote,
    /// with `command.txt`, `network.txt` and [`LAST`]. A refusal is an [`Error::Config`] whose
    /// message starts with the directory and says what is missing.
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.is_dir() {
            return Err(Error::Config(format!(
                "{}: not a directory",
                path.display()
            )));
        }
        let has = |name: &str| path.join(name).is_file();
        // A directory, FIFO or device where a run's file belongs: not "missing", and not read.
        let odd: Vec<&str> = ["command.txt", "network.txt", LAST]
            .into_iter()
            .filter(|name| path.join(name).exists() && !has(name))
            .collect();
        if !odd.is_empty() {
            return Err(Error::Config(format!(
                "{}: {} {} (a directory, FIFO or device stands where the run wrote a file); a \
                 run directory holds only what `shadernet train` wrote: remove it, or start a \
                 new run with another --out",
                path.display(),
                odd.join(" and "),
                if odd.len() == 1 {
                    "is not a regular file"
                } else {
                    "are not regular files"
                }
            )));
        }
        let missing: Vec<&str> = ["command.txt", "network.txt"]
            .into_iter()
            .filter(|name| !has(name))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "{}: not a run directory written by `shadernet train` (it has no {}); \
                 pass `--resume <run dir>` with the directory of a run, or start a new run with \
                 --out",
                path.display(),
                missing.join(" and ")
            )));
        }
        if !has(LAST) {
            return Err(Error::Config(format!(
                "{}: the run has no {LAST}: it stopped before its first epoch was \
                 saved, so there is nothing to continue; start a new run with another --out (or \
                 delete the directory)",
                path.display()
            )));
        }
        Ok(RunDir {
            path: path.to_path_buf(),
            _lock: Arc::new(take_lock(path)?),
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
        let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
        write_atomic_then(&self.file(name), bytes, || {
            kill_point(ABORT_DURING_WRITE, n)
        })?;
        kill_point(ABORT_AFTER_WRITE, n);
        Ok(())
    }

    /// Appends a line to the text file `name` (e.g. `command.txt` on every resume).
    pub fn append_line(&self, name: &str, line: &str) -> Result<()> {
        let path = self.file(name);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        self.write(name, text.as_bytes())
    }

    /// Rewrites `metrics.csv` and `metrics.jsonl` from the whole history.
    pub fn write_metrics(&self, epochs: &[EpochLog]) -> Result<()> {
        self.write("metrics.csv", metrics_csv(epochs).as_bytes())?;
        self.write("metrics.jsonl", metrics_jsonl(epochs)?.as_bytes())
    }

    /// Removes the temporaries (`.NAME.XXXXXX.tmp`) of the run's own [`FILES`] that a kill
    /// during a write left behind; returns how many. Other files are left alone.
    pub fn remove_stale_temporaries(&self) -> Result<usize> {
        let entries = std::fs::read_dir(&self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            action: "listing the run directory",
            source,
        })?;
        let mut removed = 0;
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = FILES.iter().any(|file| {
                name.strip_prefix(&format!(".{file}."))
                    .and_then(|rest| rest.strip_suffix(".tmp"))
                    .is_some_and(|random| {
                        !random.is_empty() && random.chars().all(|c| c.is_ascii_alphanumeric())
                    })
            });
            if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::remove_file(entry.path()).map_err(|source| Error::Io {
                    path: entry.path(),
                    action: "removing a stale temporary file",
                    source,
                })?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Opens (creating it if needed) `dir/.lock` and takes its advisory lock without waiting,
/// then records this process's id in it. Fails, naming the directory and the owner's process
/// id, when another process holds it, and when `.lock` is a symbolic link or not a plain file
/// (writing the id would go through the link, into whatever file it names).
fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        let kind = meta.file_type();
        if !kind.is_file() {
            let what = if kind.is_symlink() {
                "a symbolic link"
            } else if kind.is_dir() {
                "a directory"
            } else {
                "not a plain file"
            };
            return Err(Error::data(
                &path,
                format!(
                    "the run directory's lock is {what}; shadernet writes its process id into \
                     this file and never follows a link there: remove it, then run again"
                ),
            ));
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| Error::Io {
            path: path.clone(),
            action: "opening the run directory's lock file",
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let owner = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
                .map_or(String::new(), |pid| format!(" (process {pid})"));
            return Err(Error::Config(format!(
                "{}: the run directory is in use by another shadernet process{owner}; one \
                 process writes a run directory at a time: wait for it to end (or choose another \
                 --out for a new run)",
                dir.display()
            )));
        }
        Err(TryLockError::Error(source)) => {
            return Err(Error::Io {
                path,
                action: "locking the run directory",
                source,
            });
        }
    }
    // Only the holder writes the owner's id; a failure here costs only the id in a message.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(file)
}

/// An epoch's validation loss and error, `None` without a validation split.
fn validation_metrics(e: &EpochLog) -> Option<(f64, f64)> {
    (e.validation.count > 0).then(|| (e.validation.mean_loss(), e.validation.error_rate()))
}

/// The CSV header and one row per epoch (validation fields empty without a validation split).
pub fn metrics_csv(epochs: &[EpochLog]) -> String {
    let mut out = String::from(
        "epoch,train_loss,train_error,validation_loss,validation_error,lr,seconds,images_per_second,train_seconds,cumulative_train_seconds\n",
    );
    let mut cumulative = 0.0;
    for e in epochs {
        cumulative += e.train_seconds;
        let (validation_loss, validation_error) = validation_metrics(e)
            .map_or((String::new(), String::new()), |(l, r)| {
                (l.to_string(), r.to_string())
            });
        out += &format!(
            "{},{},{},{},{},{},{:.3},{:.1},{:.3},{:.3}\n",
            e.epoch,
            e.train.mean_loss(),
            e.train.error_rate(),
            validation_loss,
            validation_error,
            e.lr,
            e.seconds,
            e.images_per_second(),
            e.train_seconds,
            cumulative
        );
    }
    out
}

/// One line of `metrics.jsonl`: the numbers of [`metrics_csv`]'s row, in the same order.
#[derive(Serialize)]
struct MetricsRow {
    epoch: usize,
    train_loss: f64,
    train_error: f64,
    /// `null` without a validation split.
    validation_loss: Option<f64>,
    /// `null` without a validation split.
    validation_error: Option<f64>,
    lr: f32,
    /// Rounded to milliseconds.
    seconds: f64,
    /// Rounded to one decimal.
    images_per_second: f64,
    /// Seconds of this epoch's training steps (no validation), rounded to milliseconds.
    train_seconds: f64,
    /// Seconds of training steps of this epoch and all before it: time to accuracy.
    cumulative_train_seconds: f64,
}

/// One JSON object per epoch and line (validation fields `null` without a validation split,
/// and any number that is not finite `null` too, as [`to_json`] writes it).
pub fn metrics_jsonl(epochs: &[EpochLog]) -> Result<String> {
    let mut out = String::new();
    let mut cumulative = 0.0;
    for e in epochs {
        cumulative += e.train_seconds;
        let validation = validation_metrics(e);
        out += &to_json(&MetricsRow {
            epoch: e.epoch,
            train_loss: e.train.mean_loss(),
            train_error: e.train.error_rate(),
            validation_loss: validation.map(|(loss, _)| loss),
            validation_error: validation.map(|(_, error)| error),
            lr: e.lr,
            seconds: rounded(e.seconds, 3),
            images_per_second: rounded(e.images_per_second(), 1),
            train_seconds: rounded(e.train_seconds, 3),
            cumulative_train_seconds: rounded(cumulative, 3),
        })?;
        out.push('\n');
    }
    Ok(out)
}

/// `value` as one line of JSON, by `serde_json`: strings escaped, each number in the shortest
/// form that reads back as the same value, `null` for NaN and infinities (which JSON cannot
/// write).
pub fn to_json(value: &impl Serialize) -> Result<String> {
    // Only a `Serialize` impl that fails, or a map with keys that are not strings, make
    // serde_json fail; the rows written here have neither.
    serde_json::to_string(value)
        .map_err(|e| Error::Mismatch(format!("a value that JSON cannot hold: {e}")))
}

/// `x` rounded to `decimals` decimal places as `format!("{x:.decimals$}")` rounds it, for
/// numbers that JSON should show with at most that many decimals (a timing's noise digits
/// dropped). NaN and infinities stay as they are.
pub fn rounded(x: f64, decimals: usize) -> f64 {
    format!("{x:.decimals$}").parse().unwrap_or(x)
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
    fn default_names_stay_short_and_plain() {
        let long = "n".repeat(250);
        let path = RunDir::default_path(&format!("{long}.é/x"));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&"n".repeat(64)), "{name}");
        assert_eq!(name.len(), 64 + "-YYYYmmdd-HHMMSS".len(), "{name}");
        let path = RunDir::default_path("a.é/x");
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("a___x-"), "{name}");
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "19700101-000000");
        // 2026-11-26 22:30:15 UTC.
        assert_eq!(timestamp(1_795_732_215), "20261126-223015");
        assert_eq!(timestamp(951_782_400), "20000229-000000");
    }

    #[test]
    fn json_escapes_strings_and_writes_non_finite_numbers_as_null() {
        #[derive(Serialize)]
        struct Row<'a> {
            name: &'a str,
            values: [f64; 4],
            single: [f32; 2],
        }
        let row = Row {
            name: "a\"b\\c\n\u{1}",
            values: [0.25, f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
            single: [0.1, f32::NAN],
        };
        assert_eq!(
            to_json(&row).unwrap(),
            r#"{"name":"a\"b\\c\n\u0001","values":[0.25,null,null,null],"single":[0.1,null]}"#
        );
    }

    #[test]
    fn rounding_keeps_the_decimals_format_would_print() {
        assert_eq!(rounded(1.23456, 3), 1.235);
        assert_eq!(rounded(2.0, 1), 2.0);
        assert_eq!(rounded(1234.5678, 1), 1234.6);
        assert!(rounded(f64::NAN, 3).is_nan());
        assert_eq!(rounded(f64::INFINITY, 1), f64::INFINITY);
        assert_eq!(to_json(&rounded(0.1 + 0.2, 3)).unwrap(), "0.3");
    }

    #[test]
    fn metrics_rows_keep_their_fields_and_order() {
        use crate::executor::Metrics;
        let epoch = |validation: Metrics, loss_sum: f64| EpochLog {
            epoch: 1,
            train: Metrics {
                loss_sum,
                correct: 3,
                count: 4,
            },
            validation,
            lr: 0.01,
            train_seconds: 2.0,
            seconds: 2.5004,
        };
        let with = Metrics {
            loss_sum: 1.0,
            correct: 1,
            count: 2,
        };
        let jsonl =
            metrics_jsonl(&[epoch(with, 2.0), epoch(Metrics::default(), f64::NAN)]).unwrap();
        assert_eq!(
            jsonl,
            "{\"epoch\":1,\"train_loss\":0.5,\"train_error\":0.25,\"validation_loss\":0.5,\
             \"validation_error\":0.5,\"lr\":0.01,\"seconds\":2.5,\"images_per_second\":2.0,\
             \"train_seconds\":2.0,\"cumulative_train_seconds\":2.0}\n\
             {\"epoch\":1,\"train_loss\":null,\"train_error\":0.25,\"validation_loss\":null,\
             \"validation_error\":null,\"lr\":0.01,\"seconds\":2.5,\"images_per_second\":2.0,\
             \"train_seconds\":2.0,\"cumulative_train_seconds\":4.0}\n"
        );
    }
}
