//! A small text format for networks, one layer or setting per line.
//!
//! ```text
//! # comments start with '#'
//! conv 8 kernel=5 stride=1 padding=2   # F filters; kernel/stride/padding default 5/1/2 ('same')
//! relu
//! maxpool 2 stride=2                   # window size; stride defaults to the size
//! dropout 0.2
//! flatten
//! dense classes                        # or a number of units
//! softmax                              # also: tanh, batchnorm
//! loss cross_entropy smoothing=0.1     # or mse; smoothing: label smoothing (default 0)
//! optimizer adam beta1=0.9 beta2=0.999 epsilon=1e-8   # or sgd
//! lr 0.001
//! batch 16
//! epochs 3
//! init he                              # or glorot, uniform
//! schedule tunable halve_after=5 fast_after=20        # or constant, step every=10 factor=0.5,
//!                                                     # cosine warmup=2, onecycle warmup=0.3;
//!                                                     # per=step (default) or per=epoch
//! augment 0.25 rotation=25 scale_x=0.2 scale_y=0.2 zoom=0.2 translate=2  # chance, ranges
//! ema 0.999                            # weight averaging with this decay (default: none)
//! early_stopping patience=20 min_delta_rel=0.005 monitor=validation   # or monitor=training
//! ```
//!
//! Settings not given keep the defaults of [`Training::default`]. Errors carry the line and
//! column of the offending word.

use super::{
    Activation, EarlyStopping, Init, Layer, Loss, Monitor, Network, Optimizer, Schedule, Training,
    Units, check_training,
};
use crate::error::{Error, Result};

/// One whitespace-separated word and its 1-based column.
struct Word<'a> {
    text: &'a str,
    column: usize,
}

/// The words of one line after the keyword, split into positional values and `key=value` options.
struct Args<'a> {
    origin: &'a str,
    line: usize,
    keyword: Word<'a>,
    positional: Vec<Word<'a>>,
    options: Vec<(Word<'a>, Word<'a>)>,
    used_positional: usize,
    used_options: Vec<bool>,
}

impl<'a> Args<'a> {
    fn error(&self, column: usize, problem: impl Into<String>) -> Error {
        Error::Parse {
            origin: self.origin.to_string(),
            line: self.line,
            column,
            problem: problem.into(),
        }
    }

    /// The next positional word, if any.
    fn next_positional(&mut self) -> Option<&Word<'a>> {
        let word = self.positional.get(self.used_positional)?;
        self.used_positional += 1;
        Some(word)
    }

    /// Parses the next positional word as `T`, or errors that `what` is missing.
    fn required<T: std::str::FromStr>(&mut self, what: &str) -> Result<T> {
        let keyword_end = self.keyword.column + self.keyword.text.len();
        let Some(word) = self.next_positional() else {
            let keyword = self.keyword.text;
            return Err(self.error(keyword_end, format!("`{keyword}` needs {what}")));
        };
        let (text, column) = (word.text, word.column);
        text.parse()
            .map_err(|_| self.error(column, format!("expected {what}, found `{text}`")))
    }

    /// Parses option `key` as `T` if present.
    fn option<T: std::str::FromStr>(&mut self, key: &str, what: &str) -> Result<Option<T>> {
        let Some(i) = self.options.iter().position(|(k, _)| k.text == key) else {
            return Ok(None);
        };
        self.used_options[i] = true;
        let value = &self.options[i].1;
        let (text, column) = (value.text, value.column);
        text.parse()
            .map(Some)
            .map_err(|_| self.error(column, format!("{key} expects {what}, found `{text}`")))
    }

    /// Errors on any word that was not consumed.
    fn finish(self) -> Result<()> {
        let keyword = self.keyword.text;
        if let Some(extra) = self.positional.get(self.used_positional) {
            return Err(self.error(
                extra.column,
                format!("unexpected `{}` after `{keyword}`", extra.text),
            ));
        }
        if let Some(i) = self.used_options.iter().position(|used| !used) {
            let key = &self.options[i].0;
            return Err(self.error(
                key.column,
                format!("`{keyword}` has no option `{}`", key.text),
            ));
        }
        Ok(())
    }
}

/// Parses a network description. `origin` names the source in errors (a path); `name` becomes
/// the network's name.
pub fn parse_network(text: &str, origin: &str, name: &str) -> Result<Network> {
    let mut layers = Vec::new();
    let mut training = Training::default();
    for (index, raw_line) in text.lines().enumerate() {
        let content = raw_line.split('#').next().unwrap_or("");
        let mut words = split_words(content);
        if words.is_empty() {
            continue;
        }
        let keyword = words.remove(0);
        let mut args = Args {
            origin,
            line: index + 1,
            keyword,
            positional: Vec::new(),
            options: Vec::new(),
            used_positional: 0,
            used_options: Vec::new(),
        };
        for word in words {
            match word.text.split_once('=') {
                Some((key, value)) => {
                    let value = Word {
                        text: value,
                        column: word.column + key.len() + 1,
                    };
                    let key = Word {
                        text: key,
                        column: word.column,
                    };
                    args.options.push((key, value));
                    args.used_options.push(false);
                }
                None => args.positional.push(word),
            }
        }
        parse_line(&mut args, &mut layers, &mut training)?;
        let (line, column) = (args.line, args.keyword.column);
        args.finish()?;
        // Training settings are checked as each line sets them, so a bad value (a negative
        // learning rate, say) is blamed on its line rather than on the network as a whole.
        check_training(&training).map_err(|e| match e {
            Error::Network { problem, .. } => Error::Parse {
                origin: origin.to_string(),
                line,
                column,
                problem,
            },
            other => other,
        })?;
    }
    if layers.is_empty() {
        return Err(Error::Parse {
            origin: origin.to_string(),
            line: text.lines().count().max(1),
            column: 1,
            problem: "the file describes no layers".into(),
        });
    }
    Ok(Network {
        name: name.to_string(),
        description: format!("from {origin}"),
        layers,
        training,
    })
}

fn parse_line(args: &mut Args, layers: &mut Vec<Layer>, t: &mut Training) -> Result<()> {
    let keyword = args.keyword.text;
    match keyword {
        "dense" => {
            let units = match args.next_positional() {
                Some(w) if w.text == "classes" => Units::Classes,
                Some(w) => {
                    let (text, column) = (w.text, w.column);
                    let units = text.parse().map_err(|_| {
                        args.error(
                            column,
                            format!("expected a number of units or `classes`, found `{text}`"),
                        )
                    })?;
                    Units::Fixed(units)
                }
                None => {
                    let column = args.keyword.column + keyword.len();
                    return Err(args.error(column, "`dense` needs a number of units or `classes`"));
                }
            };
            layers.push(Layer::Dense { units });
        }
        "conv" => {
            let filters = args.required("a number of filters")?;
            let kernel = args.option("kernel", "a whole number")?.unwrap_or(5);
            let stride = args.option("stride", "a whole number")?.unwrap_or(1);
            let padding = match args.options.iter().position(|(k, _)| k.text == "padding") {
                Some(i) if args.options[i].1.text == "same" => {
                    args.used_options[i] = true;
                    kernel / 2
                }
                Some(i) if args.options[i].1.text == "valid" => {
                    args.used_options[i] = true;
                    0
                }
                Some(_) => args
                    .option("padding", "a whole number, `same` or `valid`")?
                    .unwrap_or(0),
                None => kernel / 2,
            };
            layers.push(Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            });
        }
        "maxpool" => {
            let size = args.required("a window size")?;
            let stride = args.option("stride", "a whole number")?.unwrap_or(size);
            layers.push(Layer::MaxPool { size, stride });
        }
        "dropout" => layers.push(Layer::Dropout {
            rate: args.required("a rate in [0, 1)")?,
        }),
        "flatten" => layers.push(Layer::Flatten),
        "tanh" => layers.push(Layer::Activation(Activation::Tanh)),
        "relu" => layers.push(Layer::Activation(Activation::Relu)),
        "batchnorm" => layers.push(Layer::BatchNorm),
        "softmax" => layers.push(Layer::Softmax),
        "loss" => {
            t.loss = choose(
                args,
                "a loss",
                &[("mse", Loss::Mse), ("cross_entropy", Loss::CrossEntropy)],
            )?;
            t.label_smoothing = args
                .option("smoothing", "a number in [0, 1)")?
                .unwrap_or(0.0);
        }
        "optimizer" => match choose(args, "an optimizer", &[("sgd", false), ("adam", true)])? {
            false => t.optimizer = Optimizer::Sgd,
            true => {
                let Optimizer::Adam {
                    beta1,
                    beta2,
                    epsilon,
                } = Optimizer::ADAM
                else {
                    unreachable!("Optimizer::ADAM is Adam")
                };
                t.optimizer = Optimizer::Adam {
                    beta1: args.option("beta1", "a number")?.unwrap_or(beta1),
                    beta2: args.option("beta2", "a number")?.unwrap_or(beta2),
                    epsilon: args.option("epsilon", "a number")?.unwrap_or(epsilon),
                };
            }
        },
        "lr" => t.lr = args.required("a learning rate")?,
        "batch" => t.batch_size = args.required("a batch size")?,
        "epochs" => t.epochs = args.required("a number of epochs")?,
        "init" => {
            t.init = choose(
                args,
                "an initialiser",
                &[
                    ("uniform", Init::Uniform),
                    ("glorot", Init::Glorot),
                    ("he", Init::He),
                ],
            )?
        }
        "schedule" => {
            let kinds = [
                ("constant", 0),
                ("tunable", 1),
                ("step", 2),
                ("cosine", 3),
                ("onecycle", 4),
            ];
            t.schedule = match choose(args, "a schedule", &kinds)? {
                0 => Schedule::Constant,
                1 => Schedule::Tunable {
                    halve_after: args.option("halve_after", "a whole number")?.unwrap_or(5),
                    fast_after: args.option("fast_after", "a whole number")?,
                },
                2 => Schedule::Step {
                    every: args.option("every", "a whole number")?.unwrap_or(10),
                    factor: args.option("factor", "a number")?.unwrap_or(0.5),
                },
                3 => Schedule::Cosine {
                    warmup: args
                        .option("warmup", "a whole number of epochs")?
                        .unwrap_or(0),
                    per_step: per_step(args)?,
                },
                _ => Schedule::OneCycle {
                    warmup: args
                        .option("warmup", "a fraction of the epochs")?
                        .unwrap_or(0.3),
                    per_step: per_step(args)?,
                },
            }
        }
        "augment" => {
            t.augment = args.required("a chance in [0, 1]")?;
            let r = &mut t.augment_ranges;
            let number = "a number";
            r.scale_x = args.option("scale_x", number)?.unwrap_or(r.scale_x);
            r.scale_y = args.option("scale_y", number)?.unwrap_or(r.scale_y);
            r.rotation_degrees = args
                .option("rotation", number)?
                .unwrap_or(r.rotation_degrees);
            r.zoom = args.option("zoom", number)?.unwrap_or(r.zoom);
            r.translate_px = args.option("translate", number)?.unwrap_or(r.translate_px);
        }
        "ema" => t.ema = Some(args.required("a decay in (0, 1), e.g. 0.999")?),
        "early_stopping" => {
            let patience = args.option("patience", "a whole number")?.unwrap_or(10);
            let min_delta_rel = args.option("min_delta_rel", "a number")?.unwrap_or(0.0);
            let monitor = match args.option::<String>("monitor", "validation or training")? {
                None => Monitor::Validation,
                Some(m) if m == "validation" => Monitor::Validation,
                Some(m) if m == "training" => Monitor::Training,
                Some(other) => {
                    let column = args.keyword.column;
                    return Err(args.error(
                        column,
                        format!("monitor expects validation or training, found `{other}`"),
                    ));
                }
            };
            t.early_stopping = Some(EarlyStopping {
                patience,
                min_delta_rel,
                monitor,
            })
        }
        other => {
            return Err(args.error(
                args.keyword.column,
                format!(
                    "unknown keyword `{other}`; expected a layer (dense, conv, maxpool, dropout, \
                     flatten, tanh, relu, batchnorm, softmax) or a setting (loss, optimizer, lr, \
                     batch, epochs, init, schedule, augment, ema, early_stopping)"
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the next positional word as one of `choices`.
/// Parses a network as a checkpoint saved it. Checkpoints from before schedules could move every
/// step hold `schedule cosine` or `schedule onecycle` lines without `per=`: those runs moved
/// their rate once per epoch, and resume so (a network file without `per=` moves every step).
pub fn parse_saved_network(text: &str, origin: &str, name: &str) -> Result<Network> {
    let mut network = parse_network(text, origin, name)?;
    let says_per = text.lines().any(|line| {
        let content = line.split('#').next().unwrap_or("");
        content.trim_start().starts_with("schedule") && content.contains("per=")
    });
    if !says_per {
        match &mut network.training.schedule {
            Schedule::Cosine { per_step, .. } | Schedule::OneCycle { per_step, .. } => {
                *per_step = false;
            }
            Schedule::Constant | Schedule::Tunable { .. } | Schedule::Step { .. } => {}
        }
    }
    Ok(network)
}

/// A schedule's `per=step` or `per=epoch`: whether its rate moves every step (the default for
/// network files) or once per epoch.
fn per_step(args: &mut Args) -> Result<bool> {
    let Some(i) = args.options.iter().position(|(k, _)| k.text == "per") else {
        return Ok(true);
    };
    args.used_options[i] = true;
    let value = &args.options[i].1;
    match value.text {
        "step" => Ok(true),
        "epoch" => Ok(false),
        other => Err(args.error(
            value.column,
            format!("per expects `step` or `epoch`, found `{other}`"),
        )),
    }
}

/// How a schedule's `per` option spells `per_step`.
fn unit(per_step: bool) -> &'static str {
    if per_step { "step" } else { "epoch" }
}

fn choose<T: Copy>(args: &mut Args, what: &str, choices: &[(&str, T)]) -> Result<T> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let keyword_end = args.keyword.column + args.keyword.text.len();
    let Some(word) = args.next_positional() else {
        return Err(args.error(
            keyword_end,
            format!("`{}` needs {what}: {}", args.keyword.text, names.join(", ")),
        ));
    };
    let (text, column) = (word.text, word.column);
    match choices.iter().find(|(n, _)| *n == text) {
        Some((_, value)) => Ok(*value),
        None => Err(args.error(
            column,
            format!("expected {what} ({}), found `{text}`", names.join(", ")),
        )),
    }
}

fn split_words(line: &str) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, ch) in line.char_indices().chain([(line.len(), ' ')]) {
        match (ch.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                words.push(Word {
                    text: &line[s..i],
                    column: line[..s].chars().count() + 1,
                });
                start = None;
            }
            _ => {}
        }
    }
    words
}

/// Writes `network` in the text format, so that [`parse_network`] reads it back unchanged.
pub fn network_to_text(network: &Network) -> String {
    let mut out = format!("# {}: {}\n", network.name, network.description);
    for layer in &network.layers {
        out += &format!("{layer}\n");
    }
    let t = &network.training;
    out += &match (t.loss, t.label_smoothing) {
        (Loss::Mse, _) => "loss mse\n".to_string(),
        (Loss::CrossEntropy, s) if s > 0.0 => format!("loss cross_entropy smoothing={s}\n"),
        (Loss::CrossEntropy, _) => "loss cross_entropy\n".to_string(),
    };
    out += &match t.optimizer {
        Optimizer::Sgd => "optimizer sgd\n".to_string(),
        Optimizer::Adam {
            beta1,
            beta2,
            epsilon,
        } => format!("optimizer adam beta1={beta1} beta2={beta2} epsilon={epsilon:e}\n"),
    };
    out += &format!("lr {}\nbatch {}\nepochs {}\n", t.lr, t.batch_size, t.epochs);
    out += match t.init {
        Init::Uniform => "init uniform\n",
        Init::Glorot => "init glorot\n",
        Init::He => "init he\n",
    };
    out += &match t.schedule {
        Schedule::Constant => "schedule constant\n".to_string(),
        Schedule::Tunable {
            halve_after,
            fast_after,
        } => format!(
            "schedule tunable halve_after={halve_after}{}\n",
            fast_after.map_or(String::new(), |f| format!(" fast_after={f}"))
        ),
        Schedule::Step { every, factor } => {
            format!("schedule step every={every} factor={factor}\n")
        }
        Schedule::Cosine { warmup, per_step } => {
            format!("schedule cosine warmup={warmup} per={}\n", unit(per_step))
        }
        Schedule::OneCycle { warmup, per_step } => {
            format!("schedule onecycle warmup={warmup} per={}\n", unit(per_step))
        }
    };
    let r = &t.augment_ranges;
    out += &format!(
        "augment {} scale_x={} scale_y={} rotation={} zoom={} translate={}\n",
        t.augment, r.scale_x, r.scale_y, r.rotation_degrees, r.zoom, r.translate_px
    );
    if let Some(decay) = t.ema {
        out += &format!("ema {decay}\n");
    }
    if let Some(es) = t.early_stopping {
        out += &format!(
            "early_stopping patience={} min_delta_rel={} monitor={}\n",
            es.patience,
            es.min_delta_rel,
            match es.monitor {
                Monitor::Validation => "validation",
                Monitor::Training => "training",
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::{PRESET_NAMES, preset};

    #[test]
    fn every_preset_round_trips_through_text() {
        for name in PRESET_NAMES {
            let net = preset(name).unwrap();
            let text = network_to_text(&net);
            let back = parse_network(&text, "test", name).unwrap();
            assert_eq!(back.layers, net.layers, "{name}\n{text}");
            assert_eq!(back.training, net.training, "{name}\n{text}");
        }
    }

    fn parse_error(text: &str) -> String {
        parse_network(text, "net.txt", "net")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_training_values_are_blamed_on_their_line() {
        assert_eq!(
            parse_error("flatten\ndense classes\n  lr -1\n"),
            "net.txt:3:3: learning rate must be a positive number, got -1"
        );
        assert!(parse_error("flatten\ndense classes\naugment 2\n").starts_with("net.txt:3:1: "));
    }

    #[test]
    fn errors_point_at_line_and_column() {
        assert_eq!(
            parse_error("flatten\n  dense ten\n"),
            "net.txt:2:9: expected a number of units or `classes`, found `ten`"
        );
        assert!(parse_error("flatten\nconvolve 3\n").starts_with("net.txt:2:1: unknown keyword"));
        assert_eq!(
            parse_error("conv 8 kernel=x\n"),
            "net.txt:1:15: kernel expects a whole number, found `x`"
        );
        assert_eq!(
            parse_error("conv 8 size=3\n"),
            "net.txt:1:8: `conv` has no option `size`"
        );
        assert_eq!(
            parse_error("dropout\n"),
            "net.txt:1:8: `dropout` needs a rate in [0, 1)"
        );
        assert_eq!(
            parse_error("relu 3\n"),
            "net.txt:1:6: unexpected `3` after `relu`"
        );
        assert!(parse_error("# nothing\n").contains("no layers"));
    }

    #[test]
    fn every_schedule_and_monitor_round_trips_through_text() {
        for schedule in [
            "schedule constant",
            "schedule tunable halve_after=4 fast_after=12",
            "schedule step every=3 factor=0.25",
            "schedule cosine warmup=2 per=epoch",
            "schedule cosine warmup=2 per=step",
            "schedule onecycle warmup=0.4 per=step",
            "schedule onecycle warmup=0.4 per=epoch",
            "early_stopping patience=3 min_delta_rel=0.01 monitor=training",
            "loss cross_entropy smoothing=0.1",
            "ema 0.999",
        ] {
            let net = parse_network(
                &format!("flatten\ndense classes\nsoftmax\n{schedule}\n"),
                "t",
                "t",
            )
            .unwrap();
            let again = parse_network(&network_to_text(&net), "t", "t").unwrap();
            assert_eq!(again.training, net.training, "{schedule}");
            assert!(network_to_text(&net).contains(schedule), "{schedule}");
        }
    }

    #[test]
    fn schedules_move_every_step_unless_a_file_says_per_epoch() {
        let schedule = |line: &str| {
            let text = format!("flatten\ndense classes\nsoftmax\n{line}\n");
            parse_network(&text, "t", "t").map(|n| n.training.schedule)
        };
        let per_step = |s: Schedule| match s {
            Schedule::Cosine { per_step, .. } | Schedule::OneCycle { per_step, .. } => per_step,
            _ => panic!("{s:?}"),
        };
        assert!(per_step(schedule("schedule onecycle warmup=0.3").unwrap()));
        assert!(per_step(schedule("schedule cosine").unwrap()));
        assert!(!per_step(schedule("schedule cosine per=epoch").unwrap()));
        let err = schedule("schedule onecycle per=batch")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("per expects `step` or `epoch`, found `batch`"),
            "{err}"
        );
        let err = schedule("schedule step per=step").unwrap_err().to_string();
        assert!(err.contains("has no option `per`"), "{err}");
    }

    #[test]
    fn checkpoints_from_before_per_step_schedules_keep_moving_per_epoch() {
        let old = "flatten\ndense classes\nsoftmax\nschedule onecycle warmup=0.3\n";
        let net = parse_saved_network(old, "t", "t").unwrap();
        assert!(matches!(
            net.training.schedule,
            Schedule::OneCycle {
                per_step: false,
                ..
            }
        ));
        // What this version saves says which, and reads back as it was.
        let new = parse_network(old, "t", "t").unwrap();
        let saved = parse_saved_network(&network_to_text(&new), "t", "t").unwrap();
        assert_eq!(saved.training, new.training);
    }

    #[test]
    fn augmentation_ranges_are_configurable() {
        let text = "flatten\ndense classes\nsoftmax\naugment 0.5 rotation=10 translate=0\n";
        let net = parse_network(text, "t", "t").unwrap();
        let r = net.training.augment_ranges;
        assert_eq!(
            (
                net.training.augment,
                r.rotation_degrees,
                r.translate_px,
                r.zoom
            ),
            (0.5, 10.0, 0.0, 0.2)
        );
        let again = parse_network(&network_to_text(&net), "t", "t").unwrap();
        assert_eq!(again.training, net.training);
        let bad = "flatten\ndense classes\nsoftmax\naugment 0.5 zoom=1.5\n";
        let err = parse_network(bad, "t", "t").unwrap_err().to_string();
        assert!(err.starts_with("t:4:1: augmentation ranges"), "{err}");
    }

    #[test]
    fn conv_padding_words() {
        let net =
            parse_network("conv 4 kernel=3 padding=valid\nconv 4 kernel=3\n", "t", "t").unwrap();
        assert_eq!(
            net.layers,
            vec![
                Layer::Conv2d {
                    filters: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 0
                },
                Layer::Conv2d {
                    filters: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 1
                },
            ]
        );
    }
}
