//! `shadernet train`: flags, resuming, the run directory's observer, the profile table.

use super::common::{
    ExecutorArgs, check_fits, choose_executor, input_shape, load_data, load_test_data,
    make_executor,
};
use super::evaluate::{evaluate_ensemble, load_ensemble};
use super::flags;
use super::output::{errln, outln};
use super::progress::Progress;
use serde::Serialize;
use shadernet::error::{Error, Result};
use shadernet::executor::Executor;
use shadernet::gpu::Gpu;
use shadernet::model::{Monitor, Network, Plan, Shape, load_network, network_to_text};
use shadernet::run::Checkpoint;
use shadernet::run::atomic::write_atomic;
use shadernet::run::plots::{curves_png, misclassified_png};
use shadernet::run::rundir::{BEST, LAST, RunDir, to_json};
use shadernet::train::{Best, Observer, RunState, Splits, train_from};
use std::path::{Path, PathBuf};

/// The flags of `shadernet train`.
#[derive(Clone, clap::Args)]
pub(crate) struct TrainArgs {
    /// A preset (see `shadernet models`) or a network file [default: fast]. With --resume, it
    /// must be the checkpoint's network.
    #[arg(long, short)]
    pub(crate) model: Option<String>,
    /// Epochs, 1 to 100000 (default: the model's; with --resume, the checkpoint's, and may be
    /// raised).
    #[arg(long, value_parser = flags::epochs, allow_negative_numbers = true)]
    pub(crate) epochs: Option<usize>,
    /// Images per step, 1 to 65536 (default: the model's; 1 = per-sample SGD).
    #[arg(long, conflicts_with = "resume", value_parser = flags::batch_size,
          allow_negative_numbers = true)]
    pub(crate) batch_size: Option<usize>,
    /// Base learning rate, a positive number (default: the model's).
    #[arg(long, conflicts_with = "resume", value_parser = flags::lr, allow_hyphen_values = true)]
    pub(crate) lr: Option<f32>,
    /// Seed for initialisation, shuffling, the validation split and dropout [default: 1].
    #[arg(long, conflicts_with = "resume", value_parser = flags::seed,
          allow_negative_numbers = true)]
    pub(crate) seed: Option<u64>,
    /// Train one run per seed (`1-3`, `1,4,7`, or both: `1-3,7`), each in its own run
    /// directory `seed-N` under --out, then print each seed's test error, their mean and
    /// standard deviation, and the test error of the ensemble of the runs' best.safetensors
    /// (the mean of their probabilities); `summary.json` there holds the same.
    #[arg(long, conflicts_with_all = ["seed", "resume"], allow_negative_numbers = true)]
    pub(crate) seeds: Option<String>,
    /// Directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] [default: data/mnist, or
    /// the checkpoint's with --resume].
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Training images held out for validation (model selection), chosen by the seed; fewer
    /// than the training images, 0 for none [default: 5000].
    #[arg(long, conflicts_with = "resume", value_parser = flags::validation,
          allow_negative_numbers = true)]
    pub(crate) validation: Option<usize>,
    /// The number of classes, 2 to 256 [default: the largest training label + 1, each class
    /// with a training example]: every label must lie below it, and classes without training
    /// examples are allowed. A resume takes the checkpoint's.
    #[arg(long, conflicts_with = "resume", value_parser = flags::classes,
          allow_negative_numbers = true)]
    pub(crate) classes: Option<usize>,
    /// The run directory for checkpoints, metrics and plots [default:
    /// runs/<model>-<YYYYmmdd-HHMMSS>].
    #[arg(long, conflicts_with = "resume")]
    pub(crate) out: Option<PathBuf>,
    /// Continue a run: its run directory, or a checkpoint file in it. Continues exactly
    /// (parameters, optimiser moments, epoch, RNG streams); the run directory is the
    /// checkpoint's.
    #[arg(long)]
    pub(crate) resume: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) executor: ExecutorArgs,
    /// With a GPU backend: print the GPU time of each kernel in one training step (from
    /// timestamp queries) before training.
    #[arg(long)]
    pub(crate) profile: bool,
    /// Print only the final summary line (no epoch lines, no progress bar).
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// The run directory of `--resume DIR_OR_FILE`, locked, with the checkpoint to continue:
/// the directory's `last.safetensors`, or the named checkpoint, which must be that directory's
/// `last.safetensors` or `best.safetensors` (a loose checkpoint elsewhere is not a run).
fn resume_paths(arg: &Path) -> Result<(RunDir, PathBuf)> {
    // RunDir::open's refusals start with the directory.
    let flagged = |prefix: String| {
        move |e: Error| match e {
            Error::Config(problem) => Error::Config(format!("{prefix}{problem}")),
            other => other,
        }
    };
    if arg.is_dir() {
        let run = RunDir::open(arg).map_err(flagged("--resume ".into()))?;
        return Ok((run, arg.join(LAST)));
    }
    if !arg.exists() {
        return Err(Error::Config(format!(
            "--resume {}: no such run directory or checkpoint file",
            arg.display()
        )));
    }
    let dir = match arg.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = arg.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name != LAST && name != BEST {
        return Err(Error::Config(format!(
            "--resume {}: a run continues from its run directory's {LAST} (or {BEST}), not \
             from another checkpoint file; pass `--resume <run dir>`, or start a new run",
            arg.display()
        )));
    }
    let run = RunDir::open(&dir).map_err(flagged(format!("--resume {}: ", arg.display())))?;
    Ok((run, arg.to_path_buf()))
}

/// The CPU worker threads of the executor a checkpoint's `backend` names (`cpu (2 threads)`),
/// `None` for a GPU or an unreadable description.
fn threads_of(backend: &str) -> Option<usize> {
    let count = backend.strip_prefix("cpu (")?.strip_suffix(')')?;
    let (n, word) = count.split_once(' ')?;
    let n: usize = n.parse().ok()?;
    // A count no machine runs (a damaged file) is not followed: the default applies.
    // (A count beyond what --threads allows here is not followed either: the default applies,
    // with the note that the run continues on other threads.)
    (matches!(word, "thread" | "threads") && (1..=flags::max_threads()).contains(&n)).then_some(n)
}

/// The parts of a run that every checkpoint repeats.
struct RunInfo {
    network: Network,
    input: Shape,
    classes: usize,
    seed: u64,
    validation: usize,
    data: String,
    backend: String,
}

impl RunInfo {
    /// The checkpoint of `state`; when the last epoch `improved`, its parameters were just read
    /// for the best model, so they are not read from the device again.
    fn checkpoint(
        &self,
        executor: &mut dyn Executor,
        state: &RunState,
        improved: bool,
    ) -> Result<Checkpoint> {
        let params = match (&state.best, improved) {
            (Some(best), true) => best.params.clone(),
            _ => executor.parameters()?,
        };
        Ok(Checkpoint {
            network: self.network.clone(),
            input: self.input,
            classes: self.classes,
            params,
            optimizer: executor.optimizer_state()?,
            seed: self.seed,
            validation: self.validation,
            data: self.data.clone(),
            backend: self.backend.clone(),
            epochs: state.epochs.clone(),
            best: state.best.as_ref().map(|b| (b.epoch, b.error)),
            stopped_early: state.stopped_early,
        })
    }
}

/// What `train` shows and writes while it runs: epoch lines, a progress bar on a terminal,
/// and after every epoch the checkpoints, metrics and curves in the run directory.
struct CliObserver {
    quiet: bool,
    progress: Progress,
    run: RunDir,
    info: RunInfo,
    epochs: usize,
}

impl Observer for CliObserver {
    fn line(&mut self, line: &str) {
        if !self.quiet {
            self.progress.suspend(|| outln!("{line}"));
        }
    }

    fn progress(&mut self, epoch: usize, done: usize, total: usize) {
        self.progress.update(
            &format!("epoch {epoch}/{}", self.epochs),
            done,
            total,
            "steps",
        );
    }

    fn epoch_end(
        &mut self,
        executor: &mut dyn Executor,
        state: &RunState,
        improved: bool,
    ) -> Result<()> {
        self.progress.clear();
        // Last before best: a kill between the two leaves a `last` that names itself as the
        // best epoch, which is what resuming then uses.
        let checkpoint = self.info.checkpoint(executor, state, improved)?;
        let bytes = checkpoint.to_bytes()?;
        self.run.write(LAST, &bytes)?;
        if improved {
            self.run.write(BEST, &bytes)?;
        }
        self.run.write_metrics(&state.epochs)?;
        self.run.write("curves.png", &curves_png(&state.epochs)?)?;
        Ok(())
    }
}

/// `shadernet train`: a new run, or `--resume` of one, ending with the test error.
/// What one finished run reports.
pub(crate) struct TrainOutcome {
    /// The network's name.
    network: String,
    /// The test error of the chosen model, in [0, 1].
    test_error: f64,
    /// The sum of the epochs' training seconds.
    training_seconds: f64,
    /// The run directory.
    run: PathBuf,
}

/// `shadernet train`: one run, or one per seed with `--seeds`.
pub(crate) fn run(args: TrainArgs) -> Result<()> {
    match &args.seeds {
        Some(spec) => run_seeds(args.clone(), spec),
        None => run_train(args).map(|_| ()),
    }
}

/// The seeds of `--seeds`: ranges `a-b` and single seeds, separated by commas, in order.
fn parse_seeds(spec: &str) -> Result<Vec<u64>> {
    let bad = || {
        Error::Config(format!(
            "--seeds expects seeds and ranges separated by commas, e.g. 1-3 or 1,4,7, got `{spec}`"
        ))
    };
    let mut seeds = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let s: u64 = part.parse().map_err(|_| bad())?;
                (s, s)
            }
        };
        if from > to || to - from >= 1000 {
            return Err(bad());
        }
        seeds.extend(from..=to);
    }
    let mut unique = seeds.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != seeds.len() {
        return Err(Error::Config(format!(
            "--seeds names a seed twice: `{spec}`"
        )));
    }
    Ok(seeds)
}

/// `summary.json` of `--seeds`.
#[derive(Serialize)]
struct SeedsSummary {
    network: String,
    seeds: Vec<SeedRun>,
    mean_test_error: f64,
    std_test_error: f64,
    ensemble_test_error: f64,
}

/// One seed's line of [`SeedsSummary`].
#[derive(Serialize)]
struct SeedRun {
    seed: u64,
    test_error: f64,
    training_seconds: f64,
    run: String,
}

/// `train --seeds`: one run per seed under one directory, then the summary.
fn run_seeds(args: TrainArgs, spec: &str) -> Result<()> {
    let seeds = parse_seeds(spec)?;
    let name = load_network(args.model.as_deref().unwrap_or("fast"))?.name;
    let parent = args
        .out
        .clone()
        .unwrap_or_else(|| RunDir::default_path(&name));
    // Every run is new: the parent too is absent or empty, so a repeated --seeds into the same
    // --out is refused here, before anything trains. (Two started at the same moment both
    // pass, and then meet at seed-N's lock or emptiness check: one of them stops there.)
    if let Some((listed, _)) = RunDir::contents(&parent)? {
        return Err(Error::Config(format!(
            "--out {}: the directory is not empty ({listed}); --seeds writes its runs \
             (seed-N) only into an absent or empty directory: choose another --out (one seed's \
             run continues with `--resume {}`)",
            parent.display(),
            parent.join("seed-N").display()
        )));
    }
    let mut runs = Vec::with_capacity(seeds.len());
    for &seed in &seeds {
        let one = TrainArgs {
            seed: Some(seed),
            seeds: None,
            out: Some(parent.join(format!("seed-{seed}"))),
            ..args.clone()
        };
        runs.push(run_train(one)?);
    }
    let paths: Vec<PathBuf> = runs.iter().map(|r| r.run.join(BEST)).collect();
    let checkpoints = load_ensemble(&paths)?;
    let data_dir = PathBuf::from(&checkpoints[0].data);
    let test = load_test_data(&data_dir, checkpoints[0].classes)?;
    let ensemble = evaluate_ensemble(&checkpoints, &args.executor, &test)?;
    let errors: Vec<f64> = runs.iter().map(|r| r.test_error).collect();
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    // The sample standard deviation (n − 1), 0 for one seed.
    let std = if errors.len() > 1 {
        (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    for (seed, run) in seeds.iter().zip(&runs) {
        outln!(
            "seed {seed}: test error {:.2}% | {:.1} s of training | {}",
            100.0 * run.test_error,
            run.training_seconds,
            run.run.display()
        );
    }
    let summary = SeedsSummary {
        network: runs[0].network.clone(),
        seeds: seeds
            .iter()
            .zip(&runs)
            .map(|(&seed, r)| SeedRun {
                seed,
                test_error: r.test_error,
                training_seconds: r.training_seconds,
                run: r.run.display().to_string(),
            })
            .collect(),
        mean_test_error: mean,
        std_test_error: std,
        ensemble_test_error: ensemble.ensemble,
    };
    let summary_path = parent.join("summary.json");
    write_atomic(
        &summary_path,
        format!("{}\n", to_json(&summary)?).as_bytes(),
    )?;
    outln!(
        "{}, seeds {spec}: ensemble of {} test error {:.2}% | seeds' mean {:.2}% ± {:.2}% | {}",
        summary.network,
        seeds.len(),
        100.0 * ensemble.ensemble,
        100.0 * mean,
        100.0 * std,
        summary_path.display()
    );
    Ok(())
}

/// One training run (the whole of `shadernet train` without `--seeds`): a new one, or
/// `--resume` of one.
fn run_train(args: TrainArgs) -> Result<TrainOutcome> {
    let resumed = match &args.resume {
        Some(arg) => {
            let (run, file) = resume_paths(arg)?;
            Some((run, Checkpoint::load(&file)?, file))
        }
        None => None,
    };
    if let (None, Some(out)) = (&resumed, &args.out) {
        // Refused before anything is loaded; checked again when the directory is created.
        RunDir::check_new(out)?;
    }
    let mut network = match (&resumed, &args.model) {
        (Some((_, checkpoint, _)), _) => checkpoint.network.clone(),
        (None, model) => load_network(model.as_deref().unwrap_or("fast"))?,
    };
    let t = &mut network.training;
    if let Some(epochs) = args.epochs {
        if let Some((run, checkpoint, _)) = &resumed
            && epochs < checkpoint.epochs.len()
        {
            return Err(Error::Config(format!(
                "--epochs {epochs}: the run in {} has already trained {} epochs (its limit is {}); \
                 a resume keeps or raises the limit: pass --epochs {} or more, or leave it out",
                run.path().display(),
                checkpoint.epochs.len(),
                checkpoint.network.training.epochs,
                checkpoint.epochs.len()
            )));
        }
        t.epochs = epochs;
    }
    // Their ranges were checked as the command line was parsed (flags.rs).
    if let Some(batch) = args.batch_size {
        t.batch_size = batch;
    }
    if let Some(lr) = args.lr {
        t.lr = lr;
    }
    let (seed, validation_count, data_dir) = match &resumed {
        Some((_, c, _)) => (
            c.seed,
            c.validation,
            args.data.clone().unwrap_or_else(|| PathBuf::from(&c.data)),
        ),
        None => (
            args.seed.unwrap_or(1),
            args.validation.unwrap_or(5000),
            args.data
                .clone()
                .unwrap_or_else(|| PathBuf::from("data/mnist")),
        ),
    };
    // A resume loads the data with the checkpoint's classes (a run trained with --classes
    // continues with them).
    let classes = match &resumed {
        Some((_, c, _)) => Some(c.classes),
        None => args.classes,
    };
    let data = load_data(&data_dir, classes)?;
    if let Some((_, checkpoint, file)) = &resumed {
        if let Some(model) = &args.model {
            let asked = load_network(model)?.plan(checkpoint.input, checkpoint.classes)?;
            checkpoint.check_network(&asked, file)?;
        }
        check_fits(checkpoint, file, &data.train)?;
    }
    let (train_set, validation) = if validation_count == 0 {
        if network
            .training
            .early_stopping
            .is_some_and(|e| e.monitor == Monitor::Validation)
        {
            return Err(Error::Config(format!(
                "--validation 0: {} uses early stopping on the validation error, which needs a validation split",
                network.name
            )));
        }
        let all: Vec<u32> = (0..data.train.len() as u32).collect();
        (data.train.subset(&all), data.train.subset(&[]))
    } else {
        if resumed.is_none() && validation_count >= data.train.len() {
            return Err(Error::Config(format!(
                "--validation {validation_count}{}: {} has {} training images, expected fewer \
                 held out for validation so that some are left to train on (--validation 0 \
                 turns validation off)",
                if args.validation.is_none() {
                    " (the default)"
                } else {
                    ""
                },
                data_dir.display(),
                data.train.len()
            )));
        }
        data.train.split_validation(validation_count, seed)?
    };
    let plan = network.plan(input_shape(&data.train), data.train.classes)?;
    let batch = plan.network.training.batch_size;
    // A resume runs on the run's CPU threads unless --threads says otherwise: another count
    // adds the gradients in another order.
    let mut executor_args = args.executor.clone();
    if let Some((_, checkpoint, _)) = &resumed
        && executor_args.threads.is_none()
    {
        executor_args.threads = threads_of(&checkpoint.backend);
    }
    let (threads, gpu) = choose_executor(&executor_args)?;
    if args.profile {
        let Some(gpu) = &gpu else {
            return Err(Error::Config(
                "--profile times GPU kernels: use it with --backend gpu".into(),
            ));
        };
        print_profile(gpu, &plan)?;
    }
    let mut executor = make_executor(&plan, seed, (threads, gpu), batch)?;
    let mut state = RunState::default();
    let resumed_on = resumed.as_ref().map(|(_, c, _)| c.backend.clone());
    let run = match resumed {
        Some((run, checkpoint, file)) => {
            executor.set_parameters(&checkpoint.params)?;
            executor.set_optimizer_state(&checkpoint.optimizer)?;
            run.remove_stale_temporaries()?;
            state = resume_state(&run, &checkpoint, &file)?;
            run.append_line("command.txt", &command_line())?;
            if plan.network.training.epochs != checkpoint.network.training.epochs {
                run.write("network.txt", network_to_text(&plan.network).as_bytes())?;
            }
            // A kill may have come between the checkpoint and these: they follow it again.
            run.write_metrics(&checkpoint.epochs)?;
            run.write("curves.png", &curves_png(&checkpoint.epochs)?)?;
            run
        }
        None => {
            let path = args
                .out
                .clone()
                .unwrap_or_else(|| RunDir::default_path(&plan.network.name));
            let run = RunDir::create(&path)?;
            run.write("command.txt", format!("{}\n", command_line()).as_bytes())?;
            run.write("network.txt", network_to_text(&plan.network).as_bytes())?;
            run
        }
    };
    let t = &plan.network.training;
    let quiet = args.quiet;
    let info = RunInfo {
        network: plan.network.clone(),
        input: plan.input,
        classes: plan.classes,
        seed,
        validation: validation_count,
        data: data_dir.display().to_string(),
        backend: executor.describe(),
    };
    let mut observer = CliObserver {
        quiet,
        progress: Progress::new(!quiet),
        run: run.clone(),
        info,
        epochs: t.epochs,
    };
    observer.line(&format!(
        "{}: {} parameters, {:.2} MFLOP/image forward | {} training, {} validation, {} test images | {} | batch {}, lr {}, {} epochs | run directory {}",
        plan.network.name,
        plan.params(),
        plan.forward_flops() as f64 / 1e6,
        train_set.len(),
        validation.len(),
        data.test.len(),
        executor.describe(),
        t.batch_size,
        t.lr,
        t.epochs,
        run.path().display()
    ));
    if state.stopped_early {
        observer.line(&format!(
            "the run stopped early after epoch {}: evaluating its best model",
            state.epochs.len()
        ));
    } else if !state.epochs.is_empty() {
        observer.line(&format!(
            "resuming after epoch {} ({} updates)",
            state.epochs.len(),
            executor.optimizer_state()?.updates
        ));
    }
    if let Some(before) = &resumed_on
        && *before != executor.describe()
    {
        // On stderr even with --quiet: the results change.
        errln!(
            "note: the run so far used {before}, it continues on {}: the numbers will not be \
             bit-identical to a run that never stopped",
            executor.describe()
        );
    }
    let splits = Splits {
        train: &train_set,
        validation: &validation,
        test: &data.test,
    };
    let report = train_from(executor.as_mut(), t, seed, &splits, state, &mut observer)?;
    let all: Vec<u32> = (0..data.test.len() as u32).collect();
    let outputs = executor.predict(&data.test, &all)?;
    run.write(
        "misclassified.png",
        &misclassified_png(&data.test, &outputs, plan.classes)?,
    )?;
    // Without a validation split there is no validation error to show.
    let chosen = report
        .epochs
        .get(report.chosen_epoch.wrapping_sub(1))
        .filter(|e| e.validation.count > 0);
    outln!(
        "{}: test error {:.2}% ({} of {}) | model of epoch {}{} | {} epoch{} in {:.1} s on {} | {}",
        plan.network.name,
        100.0 * report.test.error_rate(),
        report.test.count - report.test.correct,
        report.test.count,
        report.chosen_epoch,
        chosen.map_or(String::new(), |e| format!(
            " (validation error {:.2}%)",
            100.0 * e.validation.error_rate()
        )),
        report.epochs.len(),
        if report.epochs.len() == 1 { "" } else { "s" },
        report.seconds,
        executor.describe(),
        run.path().display()
    );
    Ok(TrainOutcome {
        network: plan.network.name.clone(),
        test_error: report.test.error_rate(),
        training_seconds: report.epochs.iter().map(|e| e.train_seconds).sum(),
        run: run.path().to_path_buf(),
    })
}

/// The loop's state from a checkpoint, with the best epoch's parameters from the checkpoint
/// itself or from `best.safetensors` beside it.
fn resume_state(run: &RunDir, checkpoint: &Checkpoint, file: &Path) -> Result<RunState> {
    let best = match checkpoint.best {
        None => None,
        Some((epoch, error)) if epoch == checkpoint.epoch() => {
            // The newest best: also repair best.safetensors if a kill came between the writes.
            run.write(BEST, &checkpoint.to_bytes()?)?;
            Some(Best {
                error,
                epoch,
                params: checkpoint.params.clone(),
            })
        }
        Some((epoch, error)) => {
            let path = run.file(BEST);
            let best = Checkpoint::load(&path).map_err(|e| {
                Error::data(
                    file,
                    format!(
                        "resuming needs the best epoch's weights (epoch {epoch}) from {}: {e}",
                        path.display()
                    ),
                )
            })?;
            best.check_network(&checkpoint.plan()?, &path)?;
            if best.epoch() != epoch {
                return Err(Error::data(
                    &path,
                    format!(
                        "holds epoch {} of `{}`, but {} names epoch {epoch} of `{}` as the best",
                        best.epoch(),
                        best.network.name,
                        file.display(),
                        checkpoint.network.name
                    ),
                ));
            }
            Some(Best {
                error,
                epoch,
                params: best.params,
            })
        }
    };
    Ok(RunState {
        epochs: checkpoint.epochs.clone(),
        best,
        stopped_early: checkpoint.stopped_early,
    })
}

/// The command line, quoted where a word needs it (bytes that are not UTF-8 shown as U+FFFD:
/// `command.txt` is a note for people; the run's paths are in its checkpoint).
fn command_line() -> String {
    std::env::args_os()
        .map(|a| {
            let a = a.to_string_lossy().into_owned();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `--profile` table: GPU time per kernel in one training step.
fn print_profile(gpu: &Gpu, plan: &Plan) -> Result<()> {
    let batch = plan.network.training.batch_size;
    let (times, clock) = shadernet::gpu::profile::profile_training_step(gpu, plan, batch, 10)?;
    let total: f64 = times.iter().map(|t| t.ms).sum();
    outln!(
        "profile: GPU time per training step at batch {batch}, {total:.3} ms in all (median of 10; {})",
        clock.describe()
    );
    outln!(
        "  {:<44} {:>10} {:>10} {:>6}",
        "kernel",
        "dispatches",
        "ms/step",
        "%"
    );
    for t in &times {
        outln!(
            "  {:<44} {:>10} {:>10.3} {:>5.1}%",
            t.kernel,
            t.dispatches,
            t.ms,
            100.0 * t.ms / total.max(1e-12)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_inherits_only_a_thread_count_that_threads_allows() {
        assert_eq!(threads_of("cpu (1 thread)"), Some(1));
        assert_eq!(threads_of("cpu (2 threads)"), Some(2));
        let cap = flags::max_threads();
        assert_eq!(threads_of(&format!("cpu ({cap} threads)")), Some(cap));
        // A damaged or foreign count falls back to the default (with the note on stderr).
        for backend in [
            format!("cpu ({} threads)", cap + 1),
            "cpu (0 threads)".into(),
            "cpu (100000000 threads)".into(),
            "gpu: llvmpipe".into(),
        ] {
            assert_eq!(threads_of(&backend), None, "{backend}");
        }
    }
}
