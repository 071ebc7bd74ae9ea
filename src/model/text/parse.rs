//! The parser: each line of a network file becomes a layer or a training setting, checked as it
//! is read, with errors at the line and column of the word at fault.

use super::MAX_SIZE;
use super::args::{Args, choose};
use super::words::{echo, parse_error, split_words};
use crate::error::{Error, Result};
use crate::model::spec::MAX_LAYERS;
use crate::model::{
    Activation, EarlyStopping, Init, Layer, Loss, MatmulPrecision, Monitor, Network, Optimizer,
    Schedule, Training, Units, check_training,
};

/// Parses a network file's bytes: UTF-8 text (a byte-order mark at the start is skipped), as
/// [`parse_network`]. Bytes that are not UTF-8 are refused with their line and column.
pub fn parse_network_bytes(bytes: &[u8], origin: &str, name: &str) -> Result<Network> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_network(text, origin, name),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            // Everything before the bad byte is valid UTF-8, so this cannot fail.
            let good = std::str::from_utf8(good).unwrap_or_default();
            let good = good.strip_prefix('\u{feff}').unwrap_or(good);
            let line_start = good.rfind('\n').map_or(0, |i| i + 1);
            let line = good.matches('\n').count() + 1;
            let column = good[line_start..].chars().count() + 1;
            let byte = bytes[e.valid_up_to()];
            Err(parse_error(
                origin,
                line,
                column,
                format!(
                    "byte 0x{byte:02X} is not UTF-8 text: a network file is plain text \
                     (UTF-8 or ASCII)"
                ),
            ))
        }
    }
}

/// Parses a network description. `origin` names the source in errors (a path); `name` becomes
/// the network's name. A byte-order mark at the start is skipped. Every number is checked
/// against its range as its line is read (docs/NETWORK_FILES.md lists them), and a file may
/// describe at most [`MAX_LAYERS`] layers. Parsing takes time linear in the text's length.
pub fn parse_network(text: &str, origin: &str, name: &str) -> Result<Network> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut layers = Vec::new();
    let mut training = Training::default();
    for (index, raw_line) in text.lines().enumerate() {
        let content = raw_line.split('#').next().unwrap_or("");
        let mut words = split_words(content);
        let Some(keyword) = words.next() else {
            continue;
        };
        if keyword.text.contains('=') {
            let problem = if keyword.text == "=" {
                "a stray `=`".to_string()
            } else {
                format!(
                    "the option `{}` comes before any keyword",
                    echo(keyword.text)
                )
            };
            return Err(parse_error(
                origin,
                index + 1,
                keyword.column,
                format!(
                    "{problem}: a line starts with a layer or a setting, e.g. `conv 8 kernel=3`"
                ),
            ));
        }
        let mut args = Args::new(origin, index + 1, keyword, words)?;
        parse_line(&mut args, &mut layers, &mut training)?;
        let (line, column) = (args.line, args.keyword.column);
        args.finish()?;
        if layers.len() > MAX_LAYERS {
            return Err(parse_error(
                origin,
                line,
                column,
                format!(
                    "too many layers: a network has at most {MAX_LAYERS}, and this line is \
                     layer {}",
                    layers.len()
                ),
            ));
        }
        // Training settings are checked as each line sets them, so a bad value (a negative
        // learning rate, say) is blamed on its line rather than on the network as a whole.
        check_training(&training).map_err(|e| match e {
            Error::Network { problem, .. } => parse_error(origin, line, column, problem),
            other => other,
        })?;
    }
    if layers.is_empty() {
        return Err(parse_error(
            origin,
            text.lines().count().max(1),
            1,
            "the file describes no layers",
        ));
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
            let what = format!("a number of units from 1 to {MAX_SIZE} or `classes`");
            let units = match args.next_positional() {
                Some(w) if w.text == "classes" => Units::Classes,
                Some(w) => {
                    let (text, column) = (w.text, w.column);
                    let units = text
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_SIZE).contains(n))
                        .ok_or_else(|| {
                            args.error(column, format!("expected {what}, found `{}`", echo(text)))
                        })?;
                    Units::Fixed(units)
                }
                None => {
                    let column = args.keyword_end();
                    return Err(args.error(column, format!("`dense` needs {what}")));
                }
            };
            layers.push(Layer::Dense { units });
        }
        "conv" => {
            let filters = args.size("a number of filters")?;
            let kernel = args.whole_option("kernel", 1, MAX_SIZE)?.unwrap_or(5);
            let stride = args.whole_option("stride", 1, MAX_SIZE)?.unwrap_or(1);
            let padding = match args.options.iter().position(|(k, _)| k.text == "padding") {
                Some(i) if args.options[i].1.text == "same" => {
                    args.used_options[i] = true;
                    same_padding(args, kernel, args.options[i].1.column, "`padding=same`")?
                }
                Some(i) if args.options[i].1.text == "valid" => {
                    args.used_options[i] = true;
                    0
                }
                Some(_) => args
                    .option_where(
                        "padding",
                        &format!("a whole number from 0 to {MAX_SIZE}, `same` or `valid`"),
                        |p| *p <= MAX_SIZE,
                    )?
                    .unwrap_or(0),
                None => {
                    let column = args
                        .options
                        .iter()
                        .find(|(k, _)| k.text == "kernel")
                        .map_or(args.keyword.column, |(_, v)| v.column);
                    same_padding(args, kernel, column, "the default padding, `same`,")?
                }
            };
            layers.push(Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            });
        }
        "maxpool" => {
            let size = args.size("a window size")?;
            let stride = args.whole_option("stride", 1, MAX_SIZE)?.unwrap_or(size);
            layers.push(Layer::MaxPool { size, stride });
        }
        "dropout" => {
            let word = args.positional.first().map(|w| (w.column, echo(w.text)));
            let rate: f32 = args.required("a rate in [0, 1)")?;
            if let Some((column, text)) = word
                && !(0.0..1.0).contains(&rate)
            {
                return Err(args.error(
                    column,
                    format!("dropout rate must be in [0, 1), got {text}"),
                ));
            }
            layers.push(Layer::Dropout { rate })
        }
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
            r.elastic_px = args.option("elastic", number)?.unwrap_or(r.elastic_px);
        }
        "matmul_precision" => {
            t.matmul_precision = choose(
                args,
                "a precision",
                &[
                    ("f32", MatmulPrecision::F32),
                    ("bf16", MatmulPrecision::Bf16),
                ],
            )?
        }
        "ema" => t.ema = Some(args.required("a decay in (0, 1), e.g. 0.999")?),
        "weight_decay" => t.weight_decay = args.required("a decay in [0, 1), e.g. 0.05")?,
        "early_stopping" => {
            let patience = args.option("patience", "a whole number")?.unwrap_or(10);
            let min_delta_rel = args.option("min_delta_rel", "a number")?.unwrap_or(0.0);
            let monitor = match args.option::<String>("monitor", "validation or training")? {
                None => Monitor::Validation,
                Some(m) if m == "validation" => Monitor::Validation,
                Some(m) if m == "training" => Monitor::Training,
                Some(other) => {
                    let column = args
                        .options
                        .iter()
                        .find(|(k, _)| k.text == "monitor")
                        .map_or(args.keyword.column, |(_, v)| v.column);
                    return Err(args.error(
                        column,
                        format!(
                            "monitor expects validation or training, found `{}`",
                            echo(&other)
                        ),
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
                    "unknown keyword `{}`; expected a layer (dense, conv, maxpool, dropout, \
                     flatten, tanh, relu, batchnorm, softmax) or a setting (loss, optimizer, lr, \
                     batch, epochs, init, schedule, augment, ema, weight_decay, early_stopping, \
                     matmul_precision)",
                    echo(other)
                ),
            ));
        }
    }
    Ok(())
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
            format!("per expects `step` or `epoch`, found `{}`", echo(other)),
        )),
    }
}

/// The padding `same` asks for with `kernel`: `kernel / 2`, which keeps the size (at stride 1)
/// only for an odd kernel. An even kernel would need PyTorch's asymmetric padding, which no
/// executor has, so it is refused (at `column`; `said` is how the line asked for `same`).
fn same_padding(args: &Args, kernel: usize, column: usize, said: &str) -> Result<usize> {
    if kernel % 2 == 1 {
        return Ok(kernel / 2);
    }
    Err(args.error(
        column,
        format!(
            "{said} keeps the size only for an odd kernel, and kernel={kernel} is even: use an \
             odd kernel or an explicit padding (e.g. padding={})",
            kernel / 2
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::text::network_to_text;

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
            "net.txt:2:9: expected a number of units from 1 to 1048576 or `classes`, found `ten`"
        );
        assert!(parse_error("flatten\nconvolve 3\n").starts_with("net.txt:2:1: unknown keyword"));
        assert_eq!(
            parse_error("conv 8 kernel=x\n"),
            "net.txt:1:15: kernel expects a whole number from 1 to 1048576, found `x`"
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
    fn augmentation_ranges_are_configurable() {
        let text =
            "flatten\ndense classes\nsoftmax\naugment 0.5 rotation=10 translate=0 elastic=1.5\n";
        let net = parse_network(text, "t", "t").unwrap();
        let r = net.training.augment_ranges;
        assert_eq!(
            (
                net.training.augment,
                r.rotation_degrees,
                r.translate_px,
                r.zoom,
                r.elastic_px
            ),
            (0.5, 10.0, 0.0, 0.2, 1.5)
        );
        assert!(network_to_text(&net).contains(" translate=0 elastic=1.5\n"));
        let again = parse_network(&network_to_text(&net), "t", "t").unwrap();
        assert_eq!(again.training, net.training);
        let bad = "flatten\ndense classes\nsoftmax\naugment 0.5 zoom=1.5\n";
        let err = parse_network(bad, "t", "t").unwrap_err().to_string();
        assert_eq!(
            err,
            "t:4:1: augmentation range zoom must be in [0, 1), got 1.5"
        );
        let bad = "flatten\ndense classes\nsoftmax\naugment 1 elastic=-1\n";
        let err = parse_network(bad, "t", "t").unwrap_err().to_string();
        assert_eq!(
            err,
            "t:4:1: augmentation range elastic must be in [0, 100] pixels, got -1"
        );
        // Without elastic displacement the line reads as it always did.
        let plain =
            parse_network("flatten\ndense classes\nsoftmax\naugment 1\n", "t", "t").unwrap();
        assert!(!network_to_text(&plain).contains("elastic"));
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
