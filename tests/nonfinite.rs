//! Numbers that stop being finite: a diverged run (`--lr 3e38`, or weights blown up between two
//! epochs) stops with an error naming the epoch and what went non-finite, before anything of
//! that epoch is written, and the previous epoch's files stay as they were; a checkpoint holding
//! a NaN or an infinity is refused by everything that loads one (eval, predict, resume), naming
//! the file and the tensor; the loss of a NaN network is NaN, not a finite number that hides it.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{bar_png, s, shadernet, small_run, small_setup, train_small};
use shadernet::cpu::CpuExecutor;
use shadernet::cpu::loss::cross_entropy_sum;
use shadernet::data::{TrainTest, load_dir};
use shadernet::executor::Executor;
use shadernet::model::{Plan, Shape, parse_network};
use shadernet::run::Checkpoint;
use shadernet::train::{EpochSnapshot, Observer, RunState, Splits, train_from};
use std::collections::BTreeMap;
use std::path::Path;

/// Plain SGD, as `cli_common::SMALL_NET` without dropout.
const SGD_NET: &str = "conv 4 kernel=3\nrelu\nmaxpool 2\nflatten\ndense classes\nsoftmax\nlr 0.01\nbatch 32\nepochs 3\n";
/// The same with Adam.
const ADAM_NET: &str = "conv 4 kernel=3\nrelu\nmaxpool 2\nflatten\ndense classes\nsoftmax\n\
                        optimizer adam\nlr 0.001\nbatch 32\nepochs 3\n";

/// The synthetic 8x8 bars in three classes (`common::write_synthetic_dataset`).
fn bars(name: &str) -> TrainTest {
    let dir = common::temp_dir(name);
    common::write_synthetic_dataset(&dir, 120, 30);
    load_dir(&dir).unwrap()
}

fn plan(text: &str) -> Plan {
    parse_network(text, "net.txt", "net")
        .and_then(|n| n.plan(Shape::Image { c: 1, h: 8, w: 8 }, 3))
        .unwrap()
}

/// What [`Record`] does to the executor after an epoch (given the epoch's number).
type Spoil = Box<dyn FnMut(&mut dyn Executor, usize)>;

/// Records what the loop tells it, and may spoil the executor's state after an epoch.
struct Record {
    lines: Vec<String>,
    /// The epochs the loop handed over for saving.
    ended: Vec<usize>,
    /// Called after each epoch with the epoch number.
    spoil: Spoil,
}

impl Record {
    fn new(spoil: impl FnMut(&mut dyn Executor, usize) + 'static) -> Self {
        Record {
            lines: Vec::new(),
            ended: Vec::new(),
            spoil: Box::new(spoil),
        }
    }
}

impl Observer for Record {
    fn line(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }

    fn epoch_end(
        &mut self,
        executor: &mut dyn Executor,
        state: &RunState,
        _snapshot: &EpochSnapshot,
        _improved: bool,
    ) -> shadernet::Result<()> {
        self.ended.push(state.epochs.len());
        (self.spoil)(executor, state.epochs.len());
        Ok(())
    }
}

/// Trains `plan` (with its base rate replaced by `lr`) on the bars; returns the loop's error
/// message, or `None` when it finished.
fn run(plan: &Plan, lr: f32, observer: &mut Record) -> Option<String> {
    let data = bars("nonfinite-loop");
    let (train, validation) = data.train.split_validation(30, 1).unwrap();
    let mut settings = plan.network.training.clone();
    settings.lr = lr;
    let mut executor = CpuExecutor::new(plan, 1, 2).unwrap();
    let splits = Splits {
        train: &train,
        validation: &validation,
        test: &data.test,
    };
    train_from(
        &mut executor,
        &settings,
        1,
        &splits,
        RunState::default(),
        observer,
    )
    .err()
    .map(|e| e.to_string())
}

#[test]
fn a_huge_learning_rate_stops_in_its_first_epoch_before_anything_is_saved() {
    let mut record = Record::new(|_, _| {});
    let error = run(&plan(SGD_NET), 3e38, &mut record).expect("a diverged run is an error");
    for part in [
        "training diverged in epoch 1",
        "the mean training loss is NaN",
        "parameters are NaN or infinite",
        "no checkpoint was written",
        "Lower the learning rate",
        "3e38",
    ] {
        assert!(error.contains(part), "`{part}` not in: {error}");
    }
    assert!(
        record.ended.is_empty(),
        "epoch 1 was handed over for saving"
    );
    assert!(record.lines.is_empty(), "{:?}", record.lines);
}

#[test]
fn weights_that_blow_up_later_stop_the_run_at_that_epoch() {
    // Epoch 1 trains normally; then the weights become huge (but finite), so that epoch 2's
    // outputs overflow to NaN.
    let mut record = Record::new(|executor, epoch| {
        if epoch == 1 {
            let n = executor.parameters().unwrap().len();
            executor.set_parameters(&vec![1e30; n]).unwrap();
        }
    });
    let error = run(&plan(SGD_NET), 0.01, &mut record).expect("a diverged run is an error");
    assert!(
        error.contains("training diverged in epoch 2")
            && error.contains("the last checkpoint is epoch 1's")
            && error.contains("the mean training loss is NaN"),
        "{error}"
    );
    assert_eq!(record.ended, vec![1], "only epoch 1 was handed over");
    assert_eq!(record.lines.len(), 1, "{:?}", record.lines);
}

#[test]
fn an_overflowing_adam_moment_stops_the_run_though_the_weights_are_finite() {
    // Adam's step is m / (sqrt(v) + eps): an infinite v leaves the weights as they are, but a
    // checkpoint holding it could never be loaded.
    let mut record = Record::new(|executor, epoch| {
        if epoch == 1 {
            let mut state = executor.optimizer_state().unwrap();
            state.adam_v.iter_mut().for_each(|v| *v = f32::INFINITY);
            executor.set_optimizer_state(&state).unwrap();
        }
    });
    let error = run(&plan(ADAM_NET), 0.001, &mut record).expect("a diverged run is an error");
    assert!(
        error.contains("training diverged in epoch 2")
            && error.contains("values of Adam's second moments are NaN or infinite")
            && !error.contains("loss")
            && !error.contains(" parameters are"),
        "{error}"
    );
    assert_eq!(record.ended, vec![1]);
}

#[test]
fn a_healthy_run_is_not_stopped() {
    let mut record = Record::new(|_, _| {});
    assert_eq!(run(&plan(ADAM_NET), 0.001, &mut record), None);
    assert_eq!(record.ended, vec![1, 2, 3]);
}

#[test]
fn the_loss_of_a_nan_network_is_nan_not_the_clamped_27_6() {
    // `p.max(1e-12)` is 1e-12 for a NaN p: the loss used to read as -ln(1e-12) = 27.6.
    assert!(cross_entropy_sum(&[f32::NAN, f32::NAN, f32::NAN], &[1], 3, 0.0).is_nan());
    assert!(cross_entropy_sum(&[0.5, f32::NAN, 0.5], &[0], 3, 0.1).is_nan());
    // A confident mistake is still a large finite number.
    let clamped = cross_entropy_sum(&[1.0, 0.0, 0.0], &[1], 3, 0.0);
    assert!((clamped - 27.631).abs() < 1e-3, "{clamped}");

    let data = bars("nonfinite-loss");
    let plan = plan(SGD_NET);
    let mut executor = CpuExecutor::new(&plan, 1, 1).unwrap();
    let n = executor.parameters().unwrap().len();
    executor.set_parameters(&vec![f32::NAN; n]).unwrap();
    let metrics = executor.evaluate(&data.test).unwrap();
    assert!(metrics.mean_loss().is_nan(), "{metrics:?}");
}

/// Every file of directory `dir` (not the lock) with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != ".lock")
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn train_with_lr_3e38_exits_1_and_saves_nothing() {
    let (dir, net) = small_setup("nonfinite-cli-lr");
    let run = dir.join("run");
    let (status, stdout, stderr) =
        train_small(&dir, &net, &run, &["--lr", "3e38", "--epochs", "2"]);
    assert_eq!(status, 1, "{stdout}\n{stderr}");
    for part in [
        "error: training diverged in epoch 1",
        "the mean training loss is NaN",
        "no checkpoint was written",
        "Lower the learning rate (epoch 1 started at 3e38",
    ] {
        assert!(stderr.contains(part), "`{part}` not in: {stderr}");
    }
    assert!(!stdout.contains("epoch   1/2"), "{stdout}");
    let left: Vec<String> = files(&run).into_keys().collect();
    assert_eq!(left, ["command.txt", "network.txt"], "{left:?}");
}

/// The run's write number that ends epoch 1 (`command.txt`, `network.txt`, then last, best,
/// metrics.csv, metrics.jsonl and curves.png), for the abort hook.
const END_OF_EPOCH_1: &str = "7";

#[test]
fn a_run_that_diverges_later_keeps_the_last_good_epochs_files_byte_for_byte() {
    let (dir, net) = small_setup("nonfinite-cli-later");
    let run = dir.join("run");
    // A 2-epoch run killed right after epoch 1's last write.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args(["train", "--data", s(&dir), "--model", s(&net)])
        .args([
            "--validation",
            "30",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            s(&run),
        ])
        .env("SHADERNET_TEST_ABORT_AFTER_WRITE", END_OF_EPOCH_1)
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
    let last = run.join("last.safetensors");
    let mut checkpoint = Checkpoint::load(&last).unwrap();
    assert_eq!(checkpoint.epoch(), 1);
    assert!(run.join("curves.png").exists(), "{:?}", files(&run).keys());
    // Its weights made huge but finite, as a too-large rate could leave them: epoch 2 diverges.
    checkpoint.params.iter_mut().for_each(|p| *p = 1e30);
    checkpoint.save(&last).unwrap();
    checkpoint.save(&run.join("best.safetensors")).unwrap();
    let before = files(&run);

    let (status, stdout, stderr) = shadernet(&["train", "--resume", s(&run)]);
    assert_eq!(status, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: training diverged in epoch 2")
            && stderr.contains("the last checkpoint is epoch 1's")
            && stderr.contains("Lower the learning rate"),
        "{stderr}"
    );
    let mut after = files(&run);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    // The resume's command line is noted first, as on every resume.
    let commands = String::from_utf8(after.remove("command.txt").unwrap()).unwrap();
    let started = String::from_utf8(before["command.txt"].clone()).unwrap();
    assert!(
        commands.starts_with(&started) && commands.lines().count() == 2,
        "{commands}"
    );
    for (name, bytes) in &after {
        assert!(before[name] == *bytes, "{name} changed");
    }
}

/// The bytes of `file` with the first value of tensor `tensor` replaced by `value`.
fn spoiled(file: &Path, tensor: &str, value: f32) -> Vec<u8> {
    let mut bytes = std::fs::read(file).unwrap();
    let (header_len, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let info = metadata
        .info(tensor)
        .unwrap_or_else(|| panic!("no {tensor}"));
    let at = 8 + header_len + info.data_offsets.0;
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    bytes
}

#[test]
fn a_checkpoint_with_a_nan_or_inf_is_refused_naming_the_file_and_the_tensor() {
    let (dir, run) = small_run("nonfinite-load", "1");
    let good = run.join("last.safetensors");
    assert!(Checkpoint::load(&good).is_ok());
    for (tensor, value, shown) in [
        ("0.weight", f32::NAN, "NaN"),
        ("5.bias", f32::INFINITY, "inf"),
        ("5.weight", f32::NEG_INFINITY, "-inf"),
    ] {
        let path = dir.join(format!("spoiled-{tensor}.safetensors"));
        std::fs::write(&path, spoiled(&good, tensor, value)).unwrap();
        let error = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: tensor `{tensor}`", path.display()))
                && error.contains(&format!("holds {shown} at value 0 of"))
                && error.contains("non-finite numbers is refused"),
            "{error}"
        );
    }
}

#[test]
fn eval_predict_and_resume_refuse_a_nan_checkpoint_and_change_nothing() {
    let (dir, run) = small_run("nonfinite-commands", "1");
    let last = run.join("last.safetensors");
    let nan = dir.join("nan.safetensors");
    std::fs::write(&nan, spoiled(&last, "0.weight", f32::NAN)).unwrap();
    let picture = dir.join("bar.png");
    bar_png(&picture, 1);
    let expected = format!("{}: tensor `0.weight` (layer 0", nan.display());
    for args in [
        vec!["eval", "--checkpoint", s(&nan)],
        vec!["predict", "--checkpoint", s(&nan), s(&picture), "--json"],
    ] {
        let (status, stdout, stderr) = shadernet(&args);
        assert_eq!(status, 1, "{args:?}: {stdout}\n{stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
    }
    // The run's own last checkpoint spoiled: resume refuses it and rewrites nothing.
    std::fs::copy(&nan, &last).unwrap();
    let before = files(&run);
    let (status, _, stderr) = shadernet(&["train", "--resume", s(&run), "--epochs", "2"]);
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{}: tensor `0.weight`", last.display())),
        "{stderr}"
    );
    assert_eq!(files(&run), before, "resume changed the run's files");
}
