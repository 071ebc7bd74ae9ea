//! `shadernet eval` and `shadernet predict`: a checkpoint on the test set or on pictures.

use super::common::{ExecutorArgs, check_fits, choose_executor, load_test_data, make_executor};
use super::flags::MAX_CLASSES;
use super::output::outln;
use super::progress::Progress;
use serde::Serialize;
use shadernet::cpu::loss::softmax_forward;
use shadernet::data::Dataset;
use shadernet::data::preprocess::{load_grey, mnist_style};
use shadernet::data::tta::{TTA_SHIFTS, shifted};
use shadernet::error::{Error, Result};
use shadernet::executor::{Executor, argmax};
use shadernet::model::{Layer, Plan, Shape};
use shadernet::run::Checkpoint;
use shadernet::run::rundir::to_json;
use std::path::{Path, PathBuf};

/// The flags of `shadernet eval`.
#[derive(clap::Args)]
pub(crate) struct EvalArgs {
    /// The checkpoint (e.g. runs/seed9-.../best.safetensors); several make an ensemble that
    /// averages their class probabilities (their networks may differ; their classes and input
    /// shapes must match).
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) checkpoint: Vec<PathBuf>,
    /// The data directory whose t10k-* files are evaluated (the training files need not be
    /// there; the test labels must lie below the checkpoint's classes) [default: the
    /// checkpoint's].
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Test-time augmentation: average each checkpoint's probabilities over 5 views of every
    /// test image (itself and its shifts by one pixel left, right, up and down), then over the
    /// checkpoints. A separate figure from the plain test error, which is what training
    /// reports.
    #[arg(long)]
    pub(crate) tta: bool,
    #[command(flatten)]
    pub(crate) executor: ExecutorArgs,
    /// Print one JSON object (`test_error`, `per_class`, `confusion`, ...) on one line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The flags of `shadernet predict`.
#[derive(clap::Args)]
pub(crate) struct PredictArgs {
    /// The checkpoint (e.g. runs/seed9-.../best.safetensors); several make an ensemble that
    /// averages their class probabilities. Values that do not end in `.safetensors` are
    /// pictures, so `--checkpoint A B one.png` works.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) checkpoint: Vec<PathBuf>,
    /// PNG or JPEG pictures, one digit each (dark on light or light on dark).
    pub(crate) images: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) executor: ExecutorArgs,
    /// Print one JSON object per image and line: `file`, `class`, `probabilities`.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Images per forward pass in eval and predict.
const EVAL_BATCH: usize = 256;

/// The executor for a checkpoint, with its parameters loaded.
fn checkpoint_executor(
    checkpoint: &Checkpoint,
    args: &ExecutorArgs,
) -> Result<(Plan, Box<dyn Executor>)> {
    let plan = checkpoint.plan()?;
    let chosen = choose_executor(args)?;
    let mut executor = make_executor(&plan, checkpoint.seed, chosen, EVAL_BATCH)?;
    executor.set_parameters(&checkpoint.params)?;
    Ok((plan, executor))
}

/// Loads every checkpoint of an ensemble and checks that they classify the same task: the same
/// classes and input shape as the first (their networks may differ).
pub(crate) fn load_ensemble(paths: &[PathBuf]) -> Result<Vec<Checkpoint>> {
    let mut checkpoints: Vec<Checkpoint> = Vec::with_capacity(paths.len());
    for path in paths {
        let checkpoint = Checkpoint::load(path)?;
        if let Some(first) = checkpoints.first()
            && (first.classes != checkpoint.classes || first.input != checkpoint.input)
        {
            return Err(Error::data(
                path,
                format!(
                    "an ensemble's checkpoints must share their classes and input shape: this                      one takes {} images into {} classes, {} takes {} into {}",
                    checkpoint.input,
                    checkpoint.classes,
                    paths[0].display(),
                    first.input,
                    first.classes
                ),
            ));
        }
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}

/// One checkpoint's class probabilities `(N, classes)` for the images `indices` of `data`
/// (its outputs, or their softmax for a network without a softmax layer).
fn probabilities(
    checkpoint: &Checkpoint,
    args: &ExecutorArgs,
    data: &Dataset,
    indices: &[u32],
    mut progress: impl FnMut(usize),
) -> Result<Vec<f32>> {
    let (plan, mut executor) = checkpoint_executor(checkpoint, args)?;
    let k = plan.classes;
    let mut outputs = Vec::with_capacity(indices.len() * k);
    for chunk in indices.chunks(4 * EVAL_BATCH) {
        outputs.extend(executor.predict(data, chunk)?);
        progress(outputs.len() / k);
    }
    if plan.layers.last().map(|l| l.layer) != Some(Layer::Softmax) {
        let logits = outputs.clone();
        softmax_forward(&logits, &mut outputs, k);
    }
    Ok(outputs)
}

/// The mean of the members' probabilities, element by element.
fn mean_probabilities(members: &[Vec<f32>]) -> Vec<f32> {
    let mut mean = vec![0.0f32; members.first().map_or(0, Vec::len)];
    for member in members {
        for (m, &p) in mean.iter_mut().zip(member) {
            *m += p;
        }
    }
    let n = members.len().max(1) as f32;
    mean.iter_mut().for_each(|m| *m /= n);
    mean
}

/// Misclassified examples of `data` under `probabilities (N, classes)`.
fn errors(probabilities: &[f32], data: &Dataset, k: usize) -> usize {
    let rows = probabilities.chunks_exact(k).zip(&data.labels);
    rows.filter(|(row, label)| argmax(row) != usize::from(**label))
        .count()
}

/// Each checkpoint's test error on `data` and the test error of their ensemble (the mean of
/// their probabilities), with the ensemble's probabilities `(N, classes)`.
pub(crate) struct EnsembleResult {
    /// Each member's test error, in [0, 1].
    pub(crate) members: Vec<f64>,
    /// The ensemble's test error.
    pub(crate) ensemble: f64,
    /// The ensemble's probabilities.
    pub(crate) probabilities: Vec<f32>,
}

/// Evaluates the checkpoints one by one on all of `data` and averages their probabilities. With
/// `tta`, each checkpoint's probabilities are first the mean over the views of
/// [`TTA_SHIFTS`] (the identity and four one-pixel shifts).
pub(crate) fn evaluate_ensemble(
    checkpoints: &[Checkpoint],
    args: &ExecutorArgs,
    data: &Dataset,
    tta: bool,
) -> Result<EnsembleResult> {
    let all: Vec<u32> = (0..data.len() as u32).collect();
    let shifts: &[(isize, isize)] = if tta { &TTA_SHIFTS } else { &[(0, 0)] };
    let views: Vec<Dataset> = shifts
        .iter()
        .skip(1)
        .map(|&(dx, dy)| shifted(data, dx, dy))
        .collect();
    let mut progress = Progress::new(true);
    let mut members = Vec::with_capacity(checkpoints.len());
    for (i, checkpoint) in checkpoints.iter().enumerate() {
        let mut per_view = Vec::with_capacity(shifts.len());
        for (v, view) in std::iter::once(data).chain(&views).enumerate() {
            let what = match tta {
                true => format!(
                    "evaluating {} of {}, view {} of {}",
                    i + 1,
                    checkpoints.len(),
                    v + 1,
                    shifts.len()
                ),
                false => format!("evaluating {} of {}", i + 1, checkpoints.len()),
            };
            per_view.push(probabilities(checkpoint, args, view, &all, |done| {
                progress.update(&what, done, data.len(), "images")
            })?);
        }
        members.push(mean_probabilities(&per_view));
    }
    progress.clear();
    let k = checkpoints.first().map_or(1, |c| c.classes);
    let rate = |p: &[f32]| errors(p, data, k) as f64 / data.len().max(1) as f64;
    let probabilities = mean_probabilities(&members);
    Ok(EnsembleResult {
        members: members.iter().map(|m| rate(m)).collect(),
        ensemble: rate(&probabilities),
        probabilities,
    })
}

/// `eval --json`'s one line (`null` for a class without test images, and for a number that is
/// not finite).
#[derive(Serialize)]
struct EvalJson<'a> {
    /// The checkpoint, or an ensemble's joined by " + ".
    checkpoint: String,
    network: &'a str,
    /// The checkpoint's epoch (`null` for an ensemble).
    epoch: Option<usize>,
    /// An ensemble's members' test errors, in the order given (empty for one checkpoint).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    member_test_errors: Vec<f64>,
    images: usize,
    /// With `--tta`: how many views of each image were averaged (absent without).
    #[serde(skip_serializing_if = "Option::is_none")]
    tta_views: Option<usize>,
    test_error: f64,
    per_class: Vec<Option<f64>>,
    /// Rows: true class, columns: predicted class.
    confusion: Vec<Vec<usize>>,
}

/// `predict --json`'s line for one picture (`null` for a probability that is not finite).
#[derive(Serialize)]
struct PredictJson<'a> {
    file: String,
    class: usize,
    probabilities: &'a [f32],
}

/// Refuses the first label of the test set `data`, loaded from `dir`, that is not below its
/// classes (the checkpoint's), naming the labels file.
fn check_test_labels(dir: &Path, data: &Dataset) -> Result<()> {
    let Some((index, &label)) = data
        .labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= data.classes)
    else {
        return Ok(());
    };
    // The file the loader read: the raw name wins over the `.gz` one.
    let raw = dir.join(TEST_LABELS);
    let path = if std::fs::symlink_metadata(&raw).is_ok() {
        raw
    } else {
        dir.join(format!("{TEST_LABELS}.gz"))
    };
    Err(Error::data(
        &path,
        format!(
            "label out of range: label {label} at index {index}, expected 0..={} (the \
             checkpoint's {} classes)",
            data.classes - 1,
            data.classes
        ),
    ))
}

/// The test labels file of a data directory (raw, or with `.gz` appended).
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// `shadernet eval`: the test error, per-class accuracy and confusion matrix of a checkpoint, or
/// of an ensemble of checkpoints (with each member's test error).
pub(crate) fn run_eval(args: EvalArgs) -> Result<()> {
    let checkpoints = load_ensemble(&args.checkpoint)?;
    let first = &checkpoints[0];
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(&first.data));
    // Only the test files. Any byte is a label while they load, so that images of another
    // size are named as such first; then the labels are held to the checkpoints' classes.
    let mut test = load_test_data(&data_dir, MAX_CLASSES)?;
    test.classes = first.classes;
    for (checkpoint, path) in checkpoints.iter().zip(&args.checkpoint) {
        check_fits(checkpoint, path, &test)?;
    }
    check_test_labels(&data_dir, &test)?;
    let test = &test;
    let result = evaluate_ensemble(&checkpoints, &args.executor, test, args.tta)?;
    let plan = first.plan()?;
    let outputs = result.probabilities;
    let ensemble = checkpoints.len() > 1;
    let k = plan.classes;
    let mut confusion = vec![vec![0usize; k]; k];
    for (row, &label) in outputs.chunks_exact(k).zip(&test.labels) {
        confusion[usize::from(label)][argmax(row)] += 1;
    }
    let wrong: usize = (0..k)
        .map(|t| {
            (0..k)
                .filter(|&p| p != t)
                .map(|p| confusion[t][p])
                .sum::<usize>()
        })
        .sum();
    let test_error = wrong as f64 / test.len().max(1) as f64;
    let per_class: Vec<Option<f64>> = (0..k)
        .map(|t| {
            let n: usize = confusion[t].iter().sum();
            (n > 0).then(|| confusion[t][t] as f64 / n as f64)
        })
        .collect();
    let names: Vec<String> = args
        .checkpoint
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if args.json {
        outln!(
            "{}",
            to_json(&EvalJson {
                checkpoint: names.join(" + "),
                network: &plan.network.name,
                epoch: (!ensemble).then(|| first.epoch()),
                member_test_errors: if ensemble { result.members } else { Vec::new() },
                images: test.len(),
                tta_views: args.tta.then_some(TTA_SHIFTS.len()),
                test_error,
                per_class,
                confusion,
            })?
        );
        return Ok(());
    }
    let tta = match args.tta {
        true => format!(
            " with test-time augmentation ({} views: each image and its one-pixel shifts)",
            TTA_SHIFTS.len()
        ),
        false => String::new(),
    };
    if ensemble {
        for ((name, checkpoint), error) in names.iter().zip(&checkpoints).zip(&result.members) {
            outln!(
                "{} (epoch {}, {name}): test error {:.2}%{tta}",
                checkpoint.network.name,
                checkpoint.epoch(),
                100.0 * error
            );
        }
        outln!(
            "ensemble of {} checkpoints (mean of their probabilities): test error {:.2}% \
             ({wrong} of {}){tta}",
            checkpoints.len(),
            100.0 * test_error,
            test.len()
        );
    } else {
        outln!(
            "{} (epoch {}, {}): test error {:.2}% ({wrong} of {}){tta}",
            plan.network.name,
            first.epoch(),
            names[0],
            100.0 * test_error,
            test.len()
        );
    }
    outln!("per-class accuracy:");
    for (c, acc) in per_class.iter().enumerate() {
        let n: usize = confusion[c].iter().sum();
        match acc {
            Some(a) => outln!("  {c:>3}: {:>7.2}%  of {n}", 100.0 * a),
            None => outln!("  {c:>3}:       -  (no test images)"),
        }
    }
    outln!("confusion matrix (rows: true class, columns: predicted class):");
    let header: String = (0..k).map(|p| format!("{p:>6}")).collect();
    outln!("  {:>3} {header}", "");
    for (t, row) in confusion.iter().enumerate() {
        let cells: String = row.iter().map(|n| format!("{n:>6}")).collect();
        outln!("  {t:>3} {cells}");
    }
    Ok(())
}

/// `shadernet predict`: the class and class probabilities of each picture (an ensemble's: the
/// mean of its checkpoints' probabilities).
pub(crate) fn run_predict(mut args: PredictArgs) -> Result<()> {
    let (mut paths, mut pictures): (Vec<PathBuf>, Vec<PathBuf>) = args
        .checkpoint
        .into_iter()
        .partition(|p| p.extension().is_some_and(|e| e == "safetensors"));
    // With no .safetensors among them, the first value is the checkpoint (whose loading then
    // says what is wrong with it).
    if paths.is_empty() && !pictures.is_empty() {
        paths.push(pictures.remove(0));
    }
    args.checkpoint = paths;
    args.images.extend(pictures);
    if args.checkpoint.is_empty() || args.images.is_empty() {
        return Err(Error::Config(
            "predict needs --checkpoint FILE.safetensors (one or more) and at least one picture"
                .into(),
        ));
    }
    let checkpoints = load_ensemble(&args.checkpoint)?;
    let first = &checkpoints[0];
    let Shape::Image { c: 1, h, w } = first.input else {
        return Err(Error::data(
            &args.checkpoint[0],
            format!(
                "predict takes grey pictures, but this network's input is {} (C x H x W)",
                first.input
            ),
        ));
    };
    let mut images = Vec::with_capacity(args.images.len() * h * w);
    for path in &args.images {
        let grey = load_grey(path)?;
        let digit = mnist_style(&grey, h, w).map_err(|e| Error::data(path, e.to_string()))?;
        images.extend(digit.iter().map(|&v| (v * 255.0).round() as u8));
    }
    let n = args.images.len();
    let data = Dataset {
        images,
        labels: vec![0; n],
        channels: 1,
        height: h,
        width: w,
        classes: first.classes,
    };
    let all: Vec<u32> = (0..n as u32).collect();
    let mut members = Vec::with_capacity(checkpoints.len());
    for checkpoint in &checkpoints {
        members.push(probabilities(
            checkpoint,
            &args.executor,
            &data,
            &all,
            |_| {},
        )?);
    }
    let outputs = mean_probabilities(&members);
    let k = first.classes;
    for (path, row) in args.images.iter().zip(outputs.chunks_exact(k)) {
        let probabilities = row.to_vec();
        let class = argmax(&probabilities);
        if args.json {
            outln!(
                "{}",
                to_json(&PredictJson {
                    file: path.display().to_string(),
                    class,
                    probabilities: &probabilities,
                })?
            );
        } else {
            let p: Vec<String> = probabilities
                .iter()
                .enumerate()
                .map(|(c, v)| format!("{c}:{v:.3}"))
                .collect();
            outln!(
                "{}: {class} (probability {:.3}) | {}",
                path.display(),
                probabilities[class],
                p.join(" ")
            );
        }
    }
    Ok(())
}
