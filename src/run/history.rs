//! A checkpoint's `history` metadata: the run's [`EpochLog`]s as a JSON list, one object per
//! epoch, numbers in the shortest form that reads back bit for bit (non-finite ones as the
//! strings `"NaN"`, `"inf"`, `"-inf"`); and the older one-line-per-epoch format, still read.

use super::checkpoint::echo;
use super::rundir::to_json;
use crate::error::{Error, Result};
use crate::executor::Metrics;
use crate::train::EpochLog;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The `history` metadata this version writes for `epochs`.
pub(super) fn to_text(epochs: &[EpochLog]) -> Result<String> {
    let entries: Vec<HistoryEntry> = epochs.iter().map(HistoryEntry::from).collect();
    to_json(&entries)
}

/// One epoch of the `history` metadata: an [`EpochLog`], field for field.
#[derive(Serialize, Deserialize)]
struct HistoryEntry {
    epoch: usize,
    #[serde(with = "exact")]
    lr: f32,
    train: HistoryMetrics,
    validation: HistoryMetrics,
    #[serde(with = "exact")]
    train_seconds: f64,
    #[serde(with = "exact")]
    seconds: f64,
}

/// A [`Metrics`] in the `history` metadata.
#[derive(Serialize, Deserialize)]
struct HistoryMetrics {
    #[serde(with = "exact")]
    loss_sum: f64,
    correct: usize,
    count: usize,
}

impl From<&EpochLog> for HistoryEntry {
    fn from(e: &EpochLog) -> Self {
        let metrics = |m: &Metrics| HistoryMetrics {
            loss_sum: m.loss_sum,
            correct: m.correct,
            count: m.count,
        };
        HistoryEntry {
            epoch: e.epoch,
            lr: e.lr,
            train: metrics(&e.train),
            validation: metrics(&e.validation),
            train_seconds: e.train_seconds,
            seconds: e.seconds,
        }
    }
}

impl From<HistoryEntry> for EpochLog {
    fn from(e: HistoryEntry) -> Self {
        let metrics = |m: HistoryMetrics| Metrics {
            loss_sum: m.loss_sum,
            correct: m.correct,
            count: m.count,
        };
        EpochLog {
            epoch: e.epoch,
            lr: e.lr,
            train: metrics(e.train),
            validation: metrics(e.validation),
            train_seconds: e.train_seconds,
            seconds: e.seconds,
        }
    }
}

/// The floats of the `history` metadata, bit for bit. A finite value is a JSON number in the
/// shortest form that reads back as the same value (serde_json's), read back from its text
/// by Rust's own correctly rounded parser: an `f32` read as an `f64` first could round twice
/// (`7.038531e-26` does). NaN and infinities, which JSON has no numbers for, are the strings
/// `"NaN"`, `"inf"` and `"-inf"` (`null` would not tell them apart).
mod exact {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::value::RawValue;
    use std::fmt::Display;
    use std::str::FromStr;

    /// `f32` or `f64`.
    pub(super) trait Float: Copy + Display + FromStr + Serialize {
        /// Neither NaN nor infinite.
        fn finite(self) -> bool;
    }

    impl Float for f32 {
        fn finite(self) -> bool {
            self.is_finite()
        }
    }

    impl Float for f64 {
        fn finite(self) -> bool {
            self.is_finite()
        }
    }

    /// Writes `x` as a number, or as its name when it is not finite.
    pub(super) fn serialize<T: Float, S: Serializer>(x: &T, s: S) -> Result<S::Ok, S::Error> {
        if x.finite() {
            x.serialize(s)
        } else {
            s.serialize_str(&x.to_string())
        }
    }

    /// Reads what [`serialize`] writes.
    pub(super) fn deserialize<'de, T: Float, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get().trim();
        let value = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(name) => name.parse::<T>().ok().filter(|x| !x.finite()),
            None => text.parse::<T>().ok().filter(|x| x.finite()),
        };
        value.ok_or_else(|| {
            D::Error::custom(format!(
                "`{text}` is not a number (nor \"NaN\", \"inf\" or \"-inf\")"
            ))
        })
    }
}

/// The `history` metadata of [`super::checkpoint::FORMAT`]: a JSON list of epochs 1, 2, ...
pub(super) fn parse_json(text: &str, path: &Path) -> Result<Vec<EpochLog>> {
    let entries: Vec<HistoryEntry> = serde_json::from_str(text).map_err(|e| {
        Error::data(
            path,
            format!(
                "metadata `history` is not a JSON list of epochs as shadernet writes it: {}",
                echo(&e.to_string(), 120)
            ),
        )
    })?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            if entry.epoch != i + 1 {
                return Err(Error::data(
                    path,
                    format!(
                        "metadata `history` entry {} is epoch {}, expected epoch {}",
                        i + 1,
                        entry.epoch,
                        i + 1
                    ),
                ));
            }
            Ok(entry.into())
        })
        .collect()
}

/// The `history` metadata of [`super::checkpoint::FORMAT_1`]: one line of ten numbers per epoch.
pub(super) fn parse_lines(text: &str, path: &Path) -> Result<Vec<EpochLog>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| parse_line(line, i + 1, path))
        .collect()
}

/// One line of [`parse_lines`].
fn parse_line(line: &str, expected_epoch: usize, path: &Path) -> Result<EpochLog> {
    let bad = || {
        Error::data(
            path,
            format!(
                "metadata `history` line {expected_epoch} is `{}`, expected 10 numbers \
                 starting with the epoch {expected_epoch}",
                echo(line, 120)
            ),
        )
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() != 10 {
        return Err(bad());
    }
    fn p<T: std::str::FromStr>(w: &str) -> Option<T> {
        w.parse().ok()
    }
    let parsed = (|| {
        Some(EpochLog {
            epoch: p(words[0])?,
            lr: p(words[1])?,
            train: Metrics {
                loss_sum: p(words[2])?,
                correct: p(words[3])?,
                count: p(words[4])?,
            },
            validation: Metrics {
                loss_sum: p(words[5])?,
                correct: p(words[6])?,
                count: p(words[7])?,
            },
            train_seconds: p(words[8])?,
            seconds: p(words[9])?,
        })
    })()
    .ok_or_else(bad)?;
    if parsed.epoch != expected_epoch {
        return Err(bad());
    }
    Ok(parsed)
}
