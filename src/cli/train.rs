//! `shadernet train`: its flags and the driver of one run (new or resumed); the parts live in
//! `resume` (continuing a run), `seeds` (`--seeds`), `observer` (what a run shows and
//! writes while it trains) and `profile` (the `--profile` table).

mod observer;
mod profile;
mod resume;
mod seeds;

use super::common::{
    ExecutorArgs, check_fits, choose_executor, input_shape, load_data, make_executor,
};
use super::flags;
use super::output::{errln, outln};
use super::progress::Progress;
use observer::{CliObserver, RunInfo, command_line};
use profile::print_profile;
use resume::{resume_paths, resume_state, threads_of};
use seeds::run_seeds;
use shadernet::error::{Error, Result};
use shadernet::model::{Monitor, load_network, network_to_text};
use shadernet::run::Checkpoint;
use shadernet::run::plots::{curves_png, misclassified_png};
use shadernet::run::rundir::RunDir;
use shadernet::train::{Observer, RunState, Splits, train_from};
use std::path::PathBuf;

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
    /// (last.safetensors without a validation split; the mean of their probabilities);
    /// `summary.json` there holds the same.
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
