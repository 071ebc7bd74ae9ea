//! The checks of a checkpoint and how their errors quote it: finite values, a safetensors
//! header whose byte ranges fit their tensors, a network that matches the one asked for, and
//! the file's text quoted in one short line.

use super::Checkpoint;
use crate::error::{Error, Result};
use crate::model::{ParamLayout, Plan};
use std::path::Path;

impl Checkpoint {
    /// Checks that `plan` (e.g. from `--model`) is the network this checkpoint holds: the same
    /// input, classes, parameter tensors and layers. The error names the first mismatching
    /// tensor (or layer).
    pub fn check_network(&self, plan: &Plan, path: &Path) -> Result<()> {
        let mine = self.plan()?;
        let different = |what: String| {
            Error::data(
                path,
                format!(
                    "checkpoint is for a different network: {what} (the checkpoint holds `{}`, \
                     you asked for `{}`)",
                    echo(&mine.network.name, ECHO),
                    echo(&plan.network.name, ECHO)
                ),
            )
        };
        if plan.input != mine.input || plan.classes != mine.classes {
            return Err(different(format!(
                "it takes {} images into {} classes, not {} into {}",
                mine.input, mine.classes, plan.input, plan.classes
            )));
        }
        let (ours, theirs) = (
            ParamLayout::of(&mine).tensors,
            ParamLayout::of(plan).tensors,
        );
        for i in 0..ours.len().max(theirs.len()) {
            match (ours.get(i), theirs.get(i)) {
                (Some(a), Some(b)) if a.name == b.name && a.shape == b.shape => {}
                (Some(a), Some(b)) if a.name == b.name => {
                    return Err(different(format!(
                        "tensor `{}` is {} in the checkpoint, {} in the network",
                        a.name,
                        shape_text(&a.shape),
                        shape_text(&b.shape)
                    )));
                }
                (Some(a), Some(b)) => {
                    return Err(different(format!(
                        "the checkpoint has tensor `{}` {} where the network has `{}` {}",
                        a.name,
                        shape_text(&a.shape),
                        b.name,
                        shape_text(&b.shape)
                    )));
                }
                (Some(a), None) => {
                    return Err(different(format!(
                        "the network has no tensor `{}` {}",
                        a.name,
                        shape_text(&a.shape)
                    )));
                }
                (None, Some(b)) => {
                    return Err(different(format!(
                        "the checkpoint has no tensor `{}` {}",
                        b.name,
                        shape_text(&b.shape)
                    )));
                }
                (None, None) => unreachable!(),
            }
        }
        if let Some(i) = (0..mine.layers.len().max(plan.layers.len()))
            .find(|&i| mine.layers.get(i).map(|l| l.layer) != plan.layers.get(i).map(|l| l.layer))
        {
            let show = |p: &Plan| {
                p.layers
                    .get(i)
                    .map_or("nothing".into(), |l| l.layer.to_string())
            };
            return Err(different(format!(
                "layer {i} is `{}` in the checkpoint, `{}` in the network",
                show(&mine),
                show(plan)
            )));
        }
        Ok(())
    }
}

/// The most characters of the file's text an error message quotes.
pub(super) const ECHO: usize = 40;

/// Which tensor of a safetensors file has a byte range that does not fit its data type and
/// shape, said in words (`None` when the header is unreadable or every entry fits): the
/// safetensors crate's own error names neither the tensor nor the sizes. Reads only the header
/// (its JSON, at most the file's length).
pub(super) fn mismatched_tensor(bytes: &[u8]) -> Option<String> {
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = usize::try_from(len).ok()?.checked_add(8)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes.get(8..end)?).ok()?;
    for (name, entry) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let dtype = entry.get("dtype")?.as_str()?;
        let shape: Option<Vec<u64>> = entry
            .get("shape")?
            .as_array()?
            .iter()
            .map(serde_json::Value::as_u64)
            .collect();
        let offsets = entry.get("data_offsets")?.as_array()?;
        let (start, stop) = (offsets.first()?.as_u64()?, offsets.get(1)?.as_u64()?);
        let bits: u64 = match dtype {
            "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 8,
            "I16" | "U16" | "F16" | "BF16" => 16,
            "I32" | "U32" | "F32" => 32,
            "I64" | "U64" | "F64" => 64,
            _ => {
                return Some(format!(
                    "tensor `{}` has the data type `{}`, which safetensors does not know; \
                     expected F32",
                    echo(name, ECHO),
                    echo(dtype, ECHO)
                ));
            }
        };
        let Some(shape) = shape else {
            return Some(format!(
                "tensor `{}` has a shape that is not a list of sizes",
                echo(name, ECHO)
            ));
        };
        let values = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .unwrap_or(u64::MAX);
        let want = values.saturating_mul(bits) / 8;
        let have = stop.checked_sub(start);
        if have != Some(want) {
            return Some(format!(
                "tensor `{}` ({dtype}, shape {}) needs {want} bytes, but its data offsets \
                 {start}..{stop} hold {}",
                echo(name, ECHO),
                echo(&format!("{shape:?}"), ECHO),
                have.map_or("a negative number of".to_string(), |h| h.to_string())
            ));
        }
    }
    None
}

/// The file's `text` as an error message may quote it: control characters escaped so that
/// they show, and cut after `max` characters with `…`, so that a megabyte-long value in a
/// hostile file gives a one-line message.
pub(in crate::run) fn echo(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, ch) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

/// `"holds NaN at value I of N (and K more NaN or infinite values)"`, or `None` when all of
/// `values` are finite.
pub(super) fn non_finite(values: &[f32]) -> Option<String> {
    let first = values.iter().position(|v| !v.is_finite())?;
    let more = values[first + 1..]
        .iter()
        .filter(|v| !v.is_finite())
        .count();
    let more = match more {
        0 => String::new(),
        1 => " (and 1 more NaN or infinite value)".to_string(),
        n => format!(" (and {n} more NaN or infinite values)"),
    };
    Some(format!(
        "holds {} at value {first} of {}{more}",
        values[first],
        values.len()
    ))
}

/// `(a, b, c)`.
pub(super) fn shape_text(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}
