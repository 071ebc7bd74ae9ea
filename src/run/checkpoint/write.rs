//! Writing a checkpoint: its tensors laid out as safetensors has them, and its metadata in
//! key order, so that the same checkpoint is the same bytes.

use super::checks::non_finite;
use super::names::{ADAM_M, ADAM_V, RAW, batches_tracked};
use super::{Checkpoint, FORMAT};
use crate::error::{Error, Result};
use crate::model::{ParamLayout, Shape, network_to_text};
use crate::run::history;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use std::collections::BTreeMap;

impl Checkpoint {
    /// The file's bytes: tensors and metadata as the [module doc](super) describes; the same
    /// checkpoint is the same bytes in any process. A tensor holding a NaN or an infinity is
    /// refused (the training loop stops a diverged run before it saves).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let plan = self.plan()?;
        let ParamLayout {
            tensors: layout,
            running_tensors: running,
            ..
        } = ParamLayout::of(&plan);
        if self.params.len() != plan.params() + plan.running_stats() {
            return Err(Error::Mismatch(format!(
                "a checkpoint of {} needs {} parameters and {} running statistics, got {} values",
                self.network.name,
                plan.params(),
                plan.running_stats(),
                self.params.len()
            )));
        }
        // A checkpoint never holds a NaN or an infinity: loading refuses them.
        let bytes = |name: &str, values: &[f32]| -> Result<Vec<u8>> {
            if let Some(problem) = non_finite(values) {
                return Err(Error::Mismatch(format!(
                    "refusing to save a checkpoint of {} whose tensor `{name}` {problem}",
                    self.network.name
                )));
            }
            Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect())
        };
        let mut blobs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for slot in layout.iter().chain(&running) {
            let shape = slot.shape.clone();
            blobs.push((
                slot.name.clone(),
                shape,
                bytes(&slot.name, &self.params[slot.range.clone()])?,
            ));
        }
        let counter = (self.optimizer.updates as i64).to_le_bytes().to_vec();
        let counters: Vec<(String, Vec<u8>)> = running
            .iter()
            .filter(|slot| slot.name.ends_with(".running_mean"))
            .map(|slot| (batches_tracked(slot.layer), counter.clone()))
            .collect();
        let opt = &self.optimizer;
        if !opt.raw_params.is_empty() {
            for slot in &layout {
                let data = opt.raw_params.get(slot.range.clone()).ok_or_else(|| {
                    Error::Mismatch(format!(
                        "{} training weights do not fit {} parameters",
                        opt.raw_params.len(),
                        self.params.len()
                    ))
                })?;
                let name = format!("{RAW}{}", slot.name);
                let data = bytes(&name, data)?;
                blobs.push((name, slot.shape.clone(), data));
            }
        }
        if !opt.adam_m.is_empty() {
            for slot in &layout {
                for (prefix, values) in [(ADAM_M, &opt.adam_m), (ADAM_V, &opt.adam_v)] {
                    let data = values.get(slot.range.clone()).ok_or_else(|| {
                        Error::Config(format!(
                            "optimiser moments of {} values do not fit {} parameters",
                            values.len(),
                            self.params.len()
                        ))
                    })?;
                    let name = format!("{prefix}{}", slot.name);
                    let data = bytes(&name, data)?;
                    blobs.push((name, slot.shape.clone(), data));
                }
            }
        }
        let views = blobs
            .iter()
            .map(|(name, shape, data)| (name, Dtype::F32, shape.clone(), data))
            .chain(
                counters
                    .iter()
                    .map(|(name, data)| (name, Dtype::I64, Vec::new(), data)),
            )
            .map(|(name, dtype, shape, data)| {
                TensorView::new(dtype, shape, data)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| Error::Config(format!("tensor `{name}`: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        serialize_sorted(views, &self.metadata()?)
    }

    /// The metadata, by key (so in one order whatever the process: see [`serialize_sorted`]).
    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        let Shape::Image { c, h, w } = self.input else {
            unreachable!("networks take images")
        };
        let (best_epoch, best_error) = match self.best {
            Some((epoch, error)) => (epoch.to_string(), error.to_string()),
            None => (String::new(), String::new()),
        };
        let history = history::to_text(&self.epochs)?;
        Ok([
            ("format", FORMAT.to_string()),
            ("shadernet_version", env!("CARGO_PKG_VERSION").to_string()),
            ("network", network_to_text(&self.network)),
            ("name", self.network.name.clone()),
            ("description", self.network.description.clone()),
            ("input_shape", format!("{c},{h},{w}")),
            ("classes", self.classes.to_string()),
            ("epoch", self.epoch().to_string()),
            ("updates", self.optimizer.updates.to_string()),
            ("seed", self.seed.to_string()),
            ("validation", self.validation.to_string()),
            ("data", self.data.clone()),
            ("backend", self.backend.clone()),
            ("best_epoch", best_epoch),
            ("best_validation_error", best_error),
            ("stopped_early", self.stopped_early.to_string()),
            ("history", history),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect())
    }
}

/// safetensors' file of `views` (tensors by descending alignment, then by name, as
/// `safetensors::serialize` lays them out) with `metadata` in the header in key order.
/// `safetensors::serialize` takes the metadata as a `HashMap`, whose order changes from one
/// process to the next (and from one map to the next): the same checkpoint would be different
/// bytes each time. Here the same checkpoint is the same bytes.
fn serialize_sorted(
    views: Vec<(String, TensorView<'_>)>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let fail = |what: String| Error::Mismatch(format!("serialising a checkpoint: {what}"));
    let plain = safetensors::serialize(views, None).map_err(|e| fail(e.to_string()))?;
    // `plain` is an 8-byte header length, the header `{"name":{...},...}` padded with spaces,
    // then the tensors' bytes; the metadata goes first into the header.
    let (length, rest) = plain
        .split_first_chunk::<8>()
        .ok_or_else(|| fail("no header length".into()))?;
    let (header, data) = usize::try_from(u64::from_le_bytes(*length))
        .ok()
        .and_then(|n| rest.split_at_checked(n))
        .ok_or_else(|| fail("a header longer than the file".into()))?;
    let tensors = std::str::from_utf8(header)
        .ok()
        .and_then(|h| h.trim_end().strip_prefix('{')?.strip_suffix('}'))
        .ok_or_else(|| fail("a header that is not a JSON object".into()))?;
    let metadata = serde_json::to_string(metadata).map_err(|e| fail(e.to_string()))?;
    let mut text = format!("{{\"__metadata__\":{metadata}");
    if !tensors.is_empty() {
        text.push(',');
        text.push_str(tensors);
    }
    text.push('}');
    // The tensors' bytes start 8-byte aligned, as safetensors pads them.
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + data.len());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    Ok(out)
}
