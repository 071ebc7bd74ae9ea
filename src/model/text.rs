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

use super::spec::MAX_LAYERS;
use super::{
    Activation, EarlyStopping, Init, Layer, Loss, Monitor, Network, Optimizer, Schedule, Training,
    Units, check_training,
};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// The largest size a layer line may give (filters, units, kernel, stride, padding, pool
/// window): any two multiply without overflow, and [`Network::plan`] bounds their products.
pub const MAX_SIZE: usize = 1 << 20;

/// The most bytes a network file may hold: a network is a few hundred lines at most, and a
/// file past this (or a device such as `/dev/zero`) is refused before it fills memory.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The most words a line may have after its keyword (the longest valid line has 6), so that a
/// megabyte-long line is refused after a few words instead of being split into a million.
const MAX_WORDS: usize = 32;

/// How many characters of the user's text an error message echoes before cutting it with `…`.
const ECHO_CHARS: usize = 40;

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

/// A [`Error::Parse`] at `line` and `column` of `origin`.
fn parse_error(origin: &str, line: usize, column: usize, problem: impl Into<String>) -> Error {
    Error::Parse {
        origin: origin.to_string(),
        line,
        column,
        problem: problem.into(),
    }
}

/// The user's `text` as an error message may quote it: invisible characters (controls,
/// zero-width spaces, byte-order marks) escaped so that they show, and cut after
/// [`ECHO_CHARS`] characters with `…`, so that a megabyte-long word gives a one-line message.
fn echo(text: &str) -> String {
    let mut out = String::new();
    for (i, ch) in text.chars().enumerate() {
        if i == ECHO_CHARS {
            out.push('…');
            break;
        }
        let invisible = ch.is_control()
            || matches!(ch, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}');
        if invisible {
            out.extend(ch.escape_unicode());
        } else {
            out.push(ch);
        }
    }
    out
}

impl<'a> Args<'a> {
    /// Sorts the words after `keyword` into positional values and options, refusing a stray
    /// `=`, an option without a name or a value, and an option given twice.
    fn new(
        origin: &'a str,
        line: usize,
        keyword: Word<'a>,
        words: impl Iterator<Item = Word<'a>>,
    ) -> Result<Self> {
        let mut args = Args {
            origin,
            line,
            keyword,
            positional: Vec::new(),
            options: Vec::new(),
            used_positional: 0,
            used_options: Vec::new(),
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (count, word) in words.enumerate() {
            if count == MAX_WORDS {
                return Err(args.error(
                    word.column,
                    format!(
                        "more than {MAX_WORDS} words after `{}`: a line is one layer or setting",
                        echo(args.keyword.text)
                    ),
                ));
            }
            let Some((key, value)) = word.text.split_once('=') else {
                args.positional.push(word);
                continue;
            };
            const HOW: &str = "a value follows its keyword after a space (`lr 0.1`), and an \
                               option is written key=value with no spaces around `=`";
            if key.is_empty() && value.is_empty() {
                return Err(args.error(word.column, format!("a stray `=`: {HOW}")));
            }
            if key.is_empty() {
                return Err(args.error(
                    word.column,
                    format!("`{}` has no option name before `=`: {HOW}", echo(word.text)),
                ));
            }
            let value_column = word.column + key.chars().count() + 1;
            if value.is_empty() {
                return Err(args.error(
                    value_column,
                    format!("option `{}` has no value after `=`: {HOW}", echo(key)),
                ));
            }
            if let Some(first) = seen.insert(key, word.column) {
                return Err(args.error(
                    word.column,
                    format!(
                        "option `{}` is repeated (first given at column {first}): give each \
                         option once",
                        echo(key)
                    ),
                ));
            }
            args.options.push((
                Word {
                    text: key,
                    column: word.column,
                },
                Word {
                    text: value,
                    column: value_column,
                },
            ));
            args.used_options.push(false);
        }
        Ok(args)
    }

    fn error(&self, column: usize, problem: impl Into<String>) -> Error {
        parse_error(self.origin, self.line, column, problem)
    }

    /// The column just after the keyword, where a missing value would go.
    fn keyword_end(&self) -> usize {
        self.keyword.column + self.keyword.text.chars().count()
    }

    /// The next positional word, if any.
    fn next_positional(&mut self) -> Option<&Word<'a>> {
        let word = self.positional.get(self.used_positional)?;
        self.used_positional += 1;
        Some(word)
    }

    /// Parses the next positional word as `T`, or errors that `what` is missing.
    fn required<T: std::str::FromStr>(&mut self, what: &str) -> Result<T> {
        self.required_where(what, |_| true)
    }

    /// [`Args::required`] for a value that must also pass `ok` (`what` says the range).
    fn required_where<T: std::str::FromStr>(
        &mut self,
        what: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<T> {
        let keyword_end = self.keyword_end();
        let Some(word) = self.next_positional() else {
            let keyword = self.keyword.text;
            return Err(self.error(keyword_end, format!("`{keyword}` needs {what}")));
        };
        let (text, column) = (word.text, word.column);
        text.parse()
            .ok()
            .filter(|v| ok(v))
            .ok_or_else(|| self.error(column, format!("expected {what}, found `{}`", echo(text))))
    }

    /// A layer size: the next positional word, a whole number from 1 to [`MAX_SIZE`].
    fn size(&mut self, what: &str) -> Result<usize> {
        self.required_where(&format!("{what} from 1 to {MAX_SIZE}"), |n| {
            (1..=MAX_SIZE).contains(n)
        })
    }

    /// Parses option `key` as `T` if present.
    fn option<T: std::str::FromStr>(&mut self, key: &str, what: &str) -> Result<Option<T>> {
        self.option_where(key, what, |_| true)
    }

    /// [`Args::option`] for a value that must also pass `ok` (`what` says the range).
    fn option_where<T: std::str::FromStr>(
        &mut self,
        key: &str,
        what: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<Option<T>> {
        let Some(i) = self.options.iter().position(|(k, _)| k.text == key) else {
            return Ok(None);
        };
        self.used_options[i] = true;
        let value = &self.options[i].1;
        let (text, column) = (value.text, value.column);
        match text.parse().ok().filter(|v| ok(v)) {
            Some(v) => Ok(Some(v)),
            None => Err(self.error(
                column,
                format!("{key} expects {what}, found `{}`", echo(text)),
            )),
        }
    }

    /// Option `key` as a whole number from `min` to `max`, if present.
    fn whole_option(&mut self, key: &str, min: usize, max: usize) -> Result<Option<usize>> {
        self.option_where(key, &format!("a whole number from {min} to {max}"), |n| {
            (min..=max).contains(n)
        })
    }

    /// Errors on any word that was not consumed.
    fn finish(self) -> Result<()> {
        let keyword = self.keyword.text;
        if let Some(extra) = self.positional.get(self.used_positional) {
            return Err(self.error(
                extra.column,
                format!(
                    "unexpected `{}` after `{}`",
                    echo(extra.text),
                    echo(keyword)
                ),
            ));
        }
        if let Some(i) = self.used_options.iter().position(|used| !used) {
            let key = &self.options[i].0;
            return Err(self.error(
                key.column,
                format!("`{}` has no option `{}`", echo(keyword), echo(key.text)),
            ));
        }
        Ok(())
    }
}

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
                     batch, epochs, init, schedule, augment, ema, early_stopping)",
                    echo(other)
                ),
            ));
        }
    }
    Ok(())
}

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

/// How a schedule's `per` option spells `per_step`.
fn unit(per_step: bool) -> &'static str {
    if per_step { "step" } else { "epoch" }
}

/// Reads the next positional word as one of `choices`.
fn choose<T: Copy>(args: &mut Args, what: &str, choices: &[(&str, T)]) -> Result<T> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let keyword_end = args.keyword_end();
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
            format!(
                "expected {what} ({}), found `{}`",
                names.join(", "),
                echo(text)
            ),
        )),
    }
}

/// The whitespace-separated words of `line` with their 1-based columns (in characters),
/// counted as the line is walked once, so that a line of any length splits in linear time.
fn split_words(line: &str) -> impl Iterator<Item = Word<'_>> {
    let mut chars = line.char_indices().enumerate().peekable();
    std::iter::from_fn(move || {
        while chars.next_if(|(_, (_, ch))| ch.is_whitespace()).is_some() {}
        let (index, (start, _)) = chars.next()?;
        let mut end = line.len();
        while let Some((_, (i, ch))) = chars.peek().copied() {
            if ch.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
        }
        Some(Word {
            text: &line[start..end],
            column: index + 1,
        })
    })
}

/// Writes `network` in the text format, so that [`parse_network`] reads it back unchanged.
pub fn network_to_text(network: &Network) -> String {
    // One comment line: a line break in the name (a file name may hold one) or the description
    // would end the comment and make the rest a line of the network.
    let one_line = |text: &str| text.replace(['\n', '\r'], " ");
    let mut out = format!(
        "# {}: {}\n",
        one_line(&network.name),
        one_line(&network.description)
    );
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
        assert_eq!(
            err,
            "t:4:1: augmentation range zoom must be in [0, 1), got 1.5"
        );
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
