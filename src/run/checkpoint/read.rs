//! Reading a checkpoint's bytes: its metadata parsed and checked (the format, the numbers, the
//! network, the history and the best epoch), then every tensor its network needs, checked for
//! its data type, shape and finiteness before it is used, and no tensor the network lacks.

use super::checks::{ECHO, echo, mismatched_tensor, non_finite, shape_text};
use super::names::{ADAM_M, ADAM_V, RAW, batches_tracked};
use super::{Checkpoint, FORMAT, FORMAT_1};
use crate::error::{Error, Result};
use crate::executor::OptimizerState;
use crate::model::{ParamLayout, Shape, parse_saved_network};
use crate::run::history;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

impl Checkpoint {
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
