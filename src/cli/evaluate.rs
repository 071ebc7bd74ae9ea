//! `shadernet eval` and `shadernet predict`: a checkpoint on the test set or on pictures.

use super::common::{ExecutorArgs, check_fits, choose_executor, load_data, make_executor};
use super::progress::Progress;
use serde::Serialize;
use shadernet::cpu::loss::softmax_forward;
use shadernet::data::Dataset;
use shadernet::data::preprocess::{load_grey, mnist_style};
use shadernet::error::{Error, Result};
use shadernet::executor::{Executor, argmax};
use shadernet::model::{Layer, Plan, Shape};
use shadernet::run::Checkpoint;
use shadernet::run::rundir::to_json;
use std::path::PathBuf;

/// The flags of `shadernet eval`.
#[derive(clap::Args)]
pub(crate) struct EvalArgs {
    /// The checkpoint (e.g. runs/seed9-.../best.safetensors).
    #[arg(long)]
    pub(crate) checkpoint: PathBuf,
    /// The data directory whose t10k-* files are evaluated [default: the checkpoint's].
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) executor: ExecutorArgs,
    /// Print one JSON object (`test_error`, `per_class`, `confusion`, ...) on one line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The flags of `shadernet predict`.
#[derive(clap::Args)]
pub(crate) struct PredictArgs {
    /// The checkpoint (e.g. runs/seed9-.../best.safetensors).
    #[arg(long)]
    pub(crate) checkpoint: PathBuf,
    /// PNG or JPEG pictures, one digit each (dark on light or light on dark).
    #[arg(required = true)]
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

/// `eval --json`'s one line (`null` for a class without test images, and for a number that is
/// not finite).
#[derive(Serialize)]
struct EvalJson<'a> {
    checkpoint: String,
    network: &'a str,
    epoch: usize,
    images: usize,
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

/// `shadernet eval`: the test error, per-class accuracy and confusion matrix of a checkpoint.
pub(crate) fn run_eval(args: EvalArgs) -> Result<()> {
    let checkpoint = Checkpoint::load(&args.checkpoint)?;
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(&checkpoint.data));
    let data = load_data(&data_dir)?;
    check_fits(&checkpoint, &args.checkpoint, &data.test)?;
    let (plan, mut executor) = checkpoint_executor(&checkpoint, &args.executor)?;
    let test = &data.test;
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let mut progress = Progress::new(true);
    let mut outputs = Vec::with_capacity(test.len() * plan.classes);
    for chunk in all.chunks(4 * EVAL_BATCH) {
        outputs.extend(executor.predict(test, chunk)?);
        progress.update(
            "evaluating",
            outputs.len() / plan.classes,
            test.len(),
            "images",
        );
    }
    progress.clear();
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
    if args.json {
        println!(
            "{}",
            to_json(&EvalJson {
                checkpoint: args.checkpoint.display().to_string(),
                network: &plan.network.name,
                epoch: checkpoint.epoch(),
                images: test.len(),
                test_error,
                per_class,
                confusion,
            })?
        );
        return Ok(());
    }
    println!(
        "{} (epoch {}, {}): test error {:.2}% ({wrong} of {}) on {}",
        plan.network.name,
        checkpoint.epoch(),
        args.checkpoint.display(),
        100.0 * test_error,
        test.len(),
        executor.describe()
    );
    println!("per-class accuracy:");
    for (c, acc) in per_class.iter().enumerate() {
        let n: usize = confusion[c].iter().sum();
        match acc {
            Some(a) => println!("  {c:>3}: {:>7.2}%  of {n}", 100.0 * a),
            None => println!("  {c:>3}:       -  (no test images)"),
        }
    }
    println!("confusion matrix (rows: true class, columns: predicted class):");
    let header: String = (0..k).map(|p| format!("{p:>6}")).collect();
    println!("  {:>3} {header}", "");
    for (t, row) in confusion.iter().enumerate() {
        let cells: String = row.iter().map(|n| format!("{n:>6}")).collect();
        println!("  {t:>3} {cells}");
    }
    Ok(())
}

/// `shadernet predict`: the class and class probabilities of each picture.
pub(crate) fn run_predict(args: PredictArgs) -> Result<()> {
    let checkpoint = Checkpoint::load(&args.checkpoint)?;
    let Shape::Image { c: 1, h, w } = checkpoint.input else {
        return Err(Error::data(
            &args.checkpoint,
            format!(
                "predict takes grey pictures, but this network's input is {} (C x H x W)",
                checkpoint.input
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
        classes: checkpoint.classes,
    };
    let (plan, mut executor) = checkpoint_executor(&checkpoint, &args.executor)?;
    let all: Vec<u32> = (0..n as u32).collect();
    let outputs = executor.predict(&data, &all)?;
    let k = plan.classes;
    let softmax_output = plan.layers.last().map(|l| l.layer) == Some(Layer::Softmax);
    for (path, row) in args.images.iter().zip(outputs.chunks_exact(k)) {
        let mut probabilities = row.to_vec();
        if !softmax_output {
            softmax_forward(row, &mut probabilities, k);
        }
        let class = argmax(&probabilities);
        if args.json {
            println!(
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
            println!(
                "{}: {class} (probability {:.3}) | {}",
                path.display(),
                probabilities[class],
                p.join(" ")
            );
        }
    }
    Ok(())
}
