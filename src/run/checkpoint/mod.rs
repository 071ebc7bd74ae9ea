//! Checkpoints in the safetensors format, laid out as PyTorch has them.
//!
//! ## Tensors
//!
//! Named like the state dict of a `torch.nn.Sequential` holding the network's layers in order
//! (0-based layer index, every layer counted, parameter-free ones too), all `F32`:
//!
//! - dense layer `i`: `"{i}.weight"` `(D_out, D_in)` and `"{i}.bias"` `(D_out)`, as
//!   `torch.nn.Linear`;
//! - convolution layer `i`: `"{i}.weight"` `(F, C, K, K)` and `"{i}.bias"` `(F)`, as
//!   `torch.nn.Conv2d`;
//! - batchnorm layer `i`: `"{i}.weight"` (scale) and `"{i}.bias"` (shift), `(C)` or `(D)`;
//! - Adam's moments, when the optimiser is Adam and has taken a step:
//!   `"optimizer.m.{name}"` and `"optimizer.v.{name}"` for each parameter tensor `name` above,
//!   same shape. (`torch.load_file` returns them too; drop the `optimizer.` keys before
//!   `load_state_dict`.)
//! - with weight averaging (`ema` in the network), the parameter tensors above hold the
//!   averaged weights (what eval, predict and PyTorch should use), and
//!   `"optimizer.raw.{name}"` the weights training updates, for resuming.
//!
//! Every value is finite: a checkpoint holding a NaN or an infinity is neither written nor read
//! (the error names the tensor).
//!
//! ## Metadata (all strings, as safetensors requires)
//!
//! In the header before the tensors, by key, so that the same checkpoint is the same bytes
//! (the history's wall times aside, two runs of the same command write byte-identical files).
//!
//! `format` ([`FORMAT`]), `shadernet_version`, `network` (the network file text of
//! [`network_to_text`], training settings included), `name`, `description`, `input_shape`
//! (`C,H,W`),
//! `classes`, `epoch` (epochs completed), `updates` (optimiser steps taken: Adam's `t` and the
//! dropout step counter), `seed`, `validation` (training images held out), `data` (the data
//! directory), `backend`, `best_epoch` and `best_validation_error` (empty when there is no
//! validation split), `stopped_early`, and `history`: a JSON list with one object per epoch,
//! field for field an [`EpochLog`]:
//!
//! ```text
//! [{"epoch":1,"lr":0.01,"train":{"loss_sum":1234.5,"correct":52000,"count":55000},
//!   "validation":{"loss_sum":98.7,"correct":4800,"count":5000},"train_seconds":3.2,"seconds":3.4}, ...]
//! ```
//!
//! Numbers are written in the shortest form that reads back as the same value, bit for bit;
//! a number that is not finite (the loss of a diverged run) is the string `"NaN"`, `"inf"` or
//! `"-inf"`, as JSON has no such numbers (a NaN's sign and payload are not kept). Checkpoints of the older format [`FORMAT_1`] hold
//! one line of numbers per epoch instead (`epoch lr train_loss_sum train_correct train_count
//! val_loss_sum val_correct val_count train_seconds seconds`); they load and resume as before.
//!
//! Shuffles are `Rng::derived(seed, 1000 + epoch)` and dropout masks a pure function of
//! `(seed, updates, layer, index)`, so parameters, moments, `epoch`, `updates` and `seed` are
//! all a resumed run needs to repeat an uninterrupted one exactly. To resume: build the
//! executor with the checkpoint's `seed` (it also seeds the dropout masks), then
//! [`Executor::set_parameters`](crate::executor::Executor::set_parameters) and
//! [`Executor::set_optimizer_state`](crate::executor::Executor::set_optimizer_state), and hand
//! [`crate::train::train_from`] a [`crate::train::RunState`] with the checkpoint's `epochs`, `best` (its
//! weights from `best.safetensors`, or from this checkpoint when it is the best) and
//! `stopped_early`. On the CPU executor with the same thread count the result is bit-identical
//! to an uninterrupted run (`tests/checkpoint.rs`); the GPU executor is deterministic on one
//! device, so the same holds there.

use super::atomic::write_atomic;
use super::history;
use crate::error::{Error, Result};
use crate::executor::OptimizerState;
use crate::model::{Network, ParamLayout, Plan, Shape, network_to_text, parse_saved_network};
use crate::train::EpochLog;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The value of the `format` metadata key of checkpoints this version writes (`history` in
/// JSON).
pub const FORMAT: &str = "shadernet-checkpoint-2";

/// The format before it: the same but for `history`, one line of numbers per epoch. Still
/// read.
pub const FORMAT_1: &str = "shadernet-checkpoint-1";

/// The prefix of Adam's first-moment tensors.
const ADAM_M: &str = "optimizer.m.";
/// The prefix of Adam's second-moment tensors.
const ADAM_V: &str = "optimizer.v.";
/// The prefix of the trained weights' tensors, with weight averaging.
const RAW: &str = "optimizer.raw.";

/// The name of PyTorch's batchnorm step counter for layer `layer` (an `int64` scalar, stored so
/// `load_state_dict(strict=True)` accepts the file; shadernet writes its update counter there).
fn batches_tracked(layer: usize) -> String {
    format!("{layer}.num_batches_tracked")
}

/// A saved training run: the network, its parameters, the optimiser's state and the history.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The network with its training settings, as the run used them.
    pub network: Network,
    /// The shape of one input image.
    pub input: Shape,
    /// Number of classes.
    pub classes: usize,
    /// All parameters (layout in the crate doc), then the batchnorm running statistics.
    pub params: Vec<f32>,
    /// Update counter and Adam's moments.
    pub optimizer: OptimizerState,
    /// The run's seed (initialisation, shuffles, validation split, dropout).
    pub seed: u64,
    /// Training images held out for validation.
    pub validation: usize,
    /// The data directory the run trained on.
    pub data: String,
    /// The executor that wrote it, e.g. `cpu (2 threads)`.
    pub backend: String,
    /// Every epoch run so far; `epochs.len()` is the epoch this checkpoint is from.
    pub epochs: Vec<EpochLog>,
    /// The best epoch so far and its validation error, when there is a validation split.
    pub best: Option<(usize, f64)>,
    /// Whether early stopping has ended the run.
    pub stopped_early: bool,
}

impl Checkpoint {
    /// The epoch the checkpoint was taken after (1-based; 0 before training).
    pub fn epoch(&self) -> usize {
        self.epochs.len()
    }

    /// Plans the checkpoint's network for its input shape and classes.
    pub fn plan(&self) -> Result<Plan> {
        self.network.plan(self.input, self.classes)
    }

    /// The file's bytes: tensors and metadata as the module doc describes; the same
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

    /// Writes the checkpoint to `path` atomically (a temporary file, then a rename), so a kill
    /// at any moment leaves the previous checkpoint or this one, never a broken file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`]. Errors name the file and what is
    /// wrong: not a safetensors file (truncated, corrupt), missing or malformed metadata, a
    /// network that does not plan, a tensor missing or of the wrong shape (all are checked
    /// before their values are allocated, so a network far larger than the file costs
    /// nothing), or a tensor holding a NaN or an infinity (named, with the first such value's
    /// index).
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = crate::files::read_regular(
            path,
            "reading the checkpoint",
            "a checkpoint (.safetensors) written by `shadernet train`",
        )?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// Parses a checkpoint's bytes; `path` is only for error messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let bad = |problem: String| Error::data(path, problem);
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| {
            bad(match mismatched_tensor(bytes) {
                Some(problem) => format!(
                    "{problem}; expected a file written by `shadernet train` (is it corrupt, \
                     or edited?)"
                ),
                None => format!(
                    "not a readable safetensors checkpoint ({}); expected a file written by \
                     `shadernet train` (is it truncated or corrupt?)",
                    echo(&e.to_string(), 120)
                ),
            })
        })?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
            bad(format!(
                "unreadable safetensors header: {}",
                echo(&e.to_string(), 120)
            ))
        })?;
        let empty = HashMap::new();
        let meta = header.metadata().as_ref().unwrap_or(&empty);
        let get = |key: &str| -> Result<&str> {
            meta.get(key).map(String::as_str).ok_or_else(|| {
                bad(format!(
                    "metadata has no `{key}`: expected a checkpoint written by `shadernet \
                     train` (format {FORMAT})"
                ))
            })
        };
        let format = get("format")?;
        if format != FORMAT && format != FORMAT_1 {
            return Err(bad(format!(
                "checkpoint format `{}`, expected `{FORMAT}` (or the older `{FORMAT_1}`)",
                echo(format, ECHO)
            )));
        }
        fn number<T: std::str::FromStr>(path: &Path, key: &str, text: &str) -> Result<T> {
            text.trim().parse().map_err(|_| {
                Error::data(
                    path,
                    format!(
                        "metadata `{key}` is `{}`, expected a number",
                        echo(text, ECHO)
                    ),
                )
            })
        }
        let name = get("name")?;
        let mut network = parse_saved_network(
            get("network")?,
            &format!("{} (metadata `network`)", path.display()),
            name,
        )?;
        if let Some(description) = meta.get("description") {
            network.description = description.clone();
        }
        let dims: Vec<usize> = get("input_shape")?
            .split(',')
            .map(|d| number(path, "input_shape", d))
            .collect::<Result<_>>()?;
        let [c, h, w] = dims[..] else {
            return Err(bad(format!(
                "metadata `input_shape` has {} dimensions, expected 3 (C,H,W)",
                dims.len()
            )));
        };
        let input = Shape::Image { c, h, w };
        let classes = number(path, "classes", get("classes")?)?;
        let plan = network
            .plan(input, classes)
            .map_err(|e| bad(format!("the network in its metadata does not plan: {e}")))?;
        let epochs = if format == FORMAT_1 {
            history::parse_lines(get("history")?, path)?
        } else {
            history::parse_json(get("history")?, path)?
        };
        let epoch: usize = number(path, "epoch", get("epoch")?)?;
        if epoch != epochs.len() {
            return Err(bad(format!(
                "metadata `epoch` is {epoch} but `history` has {} epochs",
                epochs.len()
            )));
        }
        let best = match (get("best_epoch")?, get("best_validation_error")?) {
            ("", _) => None,
            (e, err) => Some((
                number(path, "best_epoch", e)?,
                number(path, "best_validation_error", err)?,
            )),
        };
        if let Some((best_epoch, error)) = best {
            if !(0.0..=1.0).contains(&error) {
                return Err(bad(format!(
                    "metadata `best_validation_error` is {error}, expected an error rate in \
                     [0, 1]"
                )));
            }
            // The loop counts epochs since the best one: it must be one of those run.
            if !(1..=epoch).contains(&best_epoch) {
                return Err(bad(format!(
                    "metadata `best_epoch` is {best_epoch}, expected an epoch from 1 to {epoch} \
                     (the epochs in `history`)"
                )));
            }
        }
        let ParamLayout {
            tensors: layout,
            running_tensors: running,
            ..
        } = ParamLayout::of(&plan);
        let has_moments = tensors.names().iter().any(|n| n.starts_with(ADAM_M));
        let has_raw = tensors.names().iter().any(|n| n.starts_with(RAW));
        // Every tensor the network needs, present with its dtype and shape, before anything is
        // allocated: the values then lie in the file, so a network in the metadata far larger
        // than the file is refused (naming the first missing tensor) at no cost.
        let mut sources = Vec::new();
        for slot in layout.iter().chain(&running) {
            let mut names = vec![(slot.name.clone(), Values::Params)];
            if has_moments && slot.range.end <= plan.params() {
                names.push((format!("{ADAM_M}{}", slot.name), Values::AdamM));
                names.push((format!("{ADAM_V}{}", slot.name), Values::AdamV));
            }
            if has_raw && slot.range.end <= plan.params() {
                names.push((format!("{RAW}{}", slot.name), Values::Trained));
            }
            for (name, target) in names {
                let view = tensors.tensor(&name).map_err(|_| {
                    bad(format!(
                        "has no tensor `{name}`: its network expects {} for layer {} ({})",
                        shape_text(&slot.shape),
                        slot.layer,
                        plan.layers[slot.layer].layer
                    ))
                })?;
                if view.dtype() != Dtype::F32 || view.shape() != slot.shape.as_slice() {
                    return Err(bad(format!(
                        "tensor `{name}` is {:?} {}, expected F32 {} for layer {} ({})",
                        view.dtype(),
                        shape_text(view.shape()),
                        shape_text(&slot.shape),
                        slot.layer,
                        plan.layers[slot.layer].layer
                    )));
                }
                sources.push((name, slot, target, view));
            }
        }
        let mut params = vec![0.0; plan.params() + plan.running_stats()];
        let sized = |present: bool| {
            if present {
                vec![0.0; plan.params()]
            } else {
                Vec::new()
            }
        };
        let (mut adam_m, mut adam_v) = (sized(has_moments), sized(has_moments));
        let mut raw_params = sized(has_raw);
        for (name, slot, target, view) in sources {
            let target = match target {
                Values::Params => &mut params,
                Values::AdamM => &mut adam_m,
                Values::AdamV => &mut adam_v,
                Values::Trained => &mut raw_params,
            };
            let values = &mut target[slot.range.clone()];
            for (dst, src) in values.iter_mut().zip(view.data().chunks_exact(4)) {
                *dst = f32::from_le_bytes([src[0], src[1], src[2], src[3]]);
            }
            if let Some(problem) = non_finite(values) {
                return Err(bad(format!(
                    "tensor `{name}` (layer {}, {}) {problem}: the run that wrote it \
                     diverged; a checkpoint with non-finite numbers is refused (resume from an \
                     earlier checkpoint, or train again with a lower learning rate)",
                    slot.layer, plan.layers[slot.layer].layer
                )));
            }
        }
        let known: Vec<String> = layout
            .iter()
            .flat_map(|s| {
                [
                    s.name.clone(),
                    format!("{ADAM_M}{}", s.name),
                    format!("{ADAM_V}{}", s.name),
                    format!("{RAW}{}", s.name),
                ]
            })
            .chain(running.iter().map(|s| s.name.clone()))
            .chain(running.iter().map(|s| batches_tracked(s.layer)))
            .collect();
        let mut names = tensors.names();
        names.sort();
        if let Some(extra) = names.iter().find(|n| !known.iter().any(|k| k == *n)) {
            return Err(bad(format!(
                "has a tensor `{}` that its network ({}) does not have",
                echo(extra, ECHO),
                echo(&network.name, ECHO)
            )));
        }
        Ok(Checkpoint {
            network,
            input,
            classes,
            params,
            optimizer: OptimizerState {
                updates: number(path, "updates", get("updates")?)?,
                adam_m,
                adam_v,
                raw_params,
            },
            seed: number(path, "seed", get("seed")?)?,
            validation: number(path, "validation", get("validation")?)?,
            data: get("data")?.to_string(),
            backend: get("backend")?.to_string(),
            epochs,
            best,
            stopped_early: get("stopped_early")? == "true",
        })
    }

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

/// Which of a checkpoint's value vectors a tensor fills.
#[derive(Clone, Copy)]
enum Values {
    /// The parameters and running statistics.
    Params,
    /// Adam's first moments.
    AdamM,
    /// Adam's second moments.
    AdamV,
    /// The trained weights, with weight averaging.
    Trained,
}

/// The most characters of the file's text an error message quotes.
const ECHO: usize = 40;

/// Which tensor of a safetensors file has a byte range that does not fit its data type and
/// shape, said in words (`None` when the header is unreadable or every entry fits): the
/// safetensors crate's own error names neither the tensor nor the sizes. Reads only the header
/// (its JSON, at most the file's length).
fn mismatched_tensor(bytes: &[u8]) -> Option<String> {
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
pub(super) fn echo(text: &str, max: usize) -> String {
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
fn non_finite(values: &[f32]) -> Option<String> {
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

/// `(a, b, c)`.
fn shape_text(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preset;

    #[test]
    fn seed9_tensors_are_named_and_shaped_as_in_pytorch() {
        let plan = preset("seed9")
            .unwrap()
            .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
            .unwrap();
        let layout = ParamLayout::of(&plan).tensors;
        let names: Vec<(&str, &[usize])> = layout
            .iter()
            .map(|s| (s.name.as_str(), s.shape.as_slice()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("0.weight", &[8, 1, 5, 5][..]),
                ("0.bias", &[8][..]),
                ("4.weight", &[16, 8, 5, 5][..]),
                ("4.bias", &[16][..]),
                ("9.weight", &[10, 784][..]),
                ("9.bias", &[10][..]),
            ]
        );
        assert_eq!(layout.last().unwrap().range.end, plan.params());
    }
}
