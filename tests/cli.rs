//! The `shadernet` binary as a user meets it: bad input gives a clear error and a non-zero exit
//! (never a panic, whose exit code is 101), a small training run ends with its summary and
//! leaves a run directory, and a run can be killed, resumed, evaluated and asked to predict.

mod common;
#[path = "common/gpu.rs"]
mod gpu_common;

use common::{idx_bytes, temp_dir, write_synthetic_dataset};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary; returns (exit code, stdout, stderr).
fn shadernet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_fails_with(args: &[&str], code: i32, expected: &[&str]) {
    let (status, _, stderr) = shadernet(args);
    assert_eq!(status, code, "{args:?}: exit {status}, stderr:\n{stderr}");
    for part in expected {
        assert!(
            stderr.contains(part),
            "{args:?}: `{part}` not in:\n{stderr}"
        );
    }
}

#[test]
fn models_lists_every_preset_with_shapes() {
    let (status, stdout, _) = shadernet(&["models"]);
    assert_eq!(status, 0);
    for name in ["seed1", "seed9", "seed12", "seedtf", "fast"] {
        assert!(stdout.contains(&format!("{name}: ")), "{name} missing");
    }
    assert!(stdout.contains("16x7x7"), "seed9's last pool output");
    assert!(stdout.contains("6272"), "seedtf's flatten");
}

#[test]
fn unknown_model_is_a_clear_error() {
    assert_fails_with(
        &["train", "--model", "seed99"],
        1,
        &["seed99", "neither a preset"],
    );
}

#[test]
fn bad_flags_are_rejected() {
    assert_fails_with(&["train", "--epochs", "many"], 2, &["invalid value 'many'"]);
    assert_fails_with(&["train", "--backend", "tpu"], 2, &["invalid value 'tpu'"]);
    assert_fails_with(
        &["train", "--adapter", "x"],
        1,
        &["--adapter needs --backend gpu"],
    );
    assert_fails_with(
        &["bench", "--backend", "cpu", "--adapter", "x"],
        1,
        &["--adapter needs --backend gpu"],
    );
    assert_fails_with(
        &["train", "--batch-size", "0"],
        1,
        &["--batch-size must be at least 1"],
    );
    assert_fails_with(
        &["train", "--lr=-1"],
        1,
        &["--lr must be a positive number"],
    );
    assert_fails_with(&["train", "--threads", "0"], 1, &["--threads"]);
    assert_fails_with(&["frobnicate"], 2, &["unrecognized subcommand"]);
}

#[test]
fn missing_data_directory_names_it() {
    assert_fails_with(
        &["train", "--data", "/nonexistent/mnist"],
        1,
        &["/nonexistent/mnist", "--data"],
    );
}

#[test]
fn network_file_errors_give_line_and_column() {
    let dir = temp_dir("cli-netfile");
    let file = dir.join("net.txt");
    std::fs::write(&file, "flatten\ndense 12\nsigmoid\n").unwrap();
    let path = file.to_str().unwrap();
    assert_fails_with(
        &["train", "--model", path],
        1,
        &["net.txt:3:1", "unknown keyword `sigmoid`"],
    );
    assert_fails_with(&["models", path], 1, &["net.txt:3:1"]);
    std::fs::write(&file, "flatten\ndense classes\nsoftmax\nlr 0\n").unwrap();
    assert_fails_with(
        &["train", "--model", path],
        1,
        &[
            "net.txt:4:1",
            "learning rate must be a positive number, got 0",
        ],
    );
}

#[test]
fn impossible_networks_name_the_network_and_the_layer() {
    let dir = temp_dir("cli-impossible");
    write_synthetic_dataset(&dir, 30, 9);
    let cases = [
        (
            "dense 10\nsoftmax\n",
            "network `net0` layer 1: dense needs a flat input",
        ),
        (
            "conv 4 kernel=11 padding=0\nflatten\ndense classes\nsoftmax\n",
            "kernel 11 is larger",
        ),
        ("flatten\ndense 5\nsoftmax\n", "the data has 3 classes"),
        (
            "flatten\nsoftmax\ndense classes\n",
            "softmax must be the last layer",
        ),
        (
            "flatten\ndense classes\ntanh\n",
            "cross-entropy loss needs a softmax",
        ),
        (
            "flatten\ndropout 1.5\ndense classes\nsoftmax\n",
            "dropout rate must be in [0, 1)",
        ),
        // Sizes whose products would overflow or need terabytes: refused, not allocated.
        (
            "flatten\ndense 10000000000000\ndense classes\nsoftmax\n",
            "network `net6` layer 2: its weight matrix would hold more than",
        ),
        (
            "conv 4 kernel=5000000000 padding=2\nflatten\ndense classes\nsoftmax\n",
            "network `net7` layer 1: its kernel would hold more than",
        ),
        (
            "conv 200000000 kernel=3 padding=1\nflatten\ndense classes\nsoftmax\n",
            "network `net8` layer 1: its weights would hold more than",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("net{i}.txt"));
        std::fs::write(&file, text).unwrap();
        let args = [
            "train",
            "--data",
            dir.to_str().unwrap(),
            "--validation",
            "6",
        ];
        let mut args = args.to_vec();
        args.extend(["--model", file.to_str().unwrap()]);
        assert_fails_with(&args, 1, &[expected]);
    }
}

#[test]
fn training_on_a_small_dataset_ends_with_the_test_error() {
    let dir = temp_dir("cli-train");
    write_synthetic_dataset(&dir, 300, 60);
    let file = dir.join("net.txt");
    std::fs::write(
        &file,
        "conv 4 kernel=3\nrelu\nmaxpool 2\nflatten\ndense classes\nsoftmax\nlr 0.01\n",
    )
    .unwrap();
    let (status, stdout, stderr) = shadernet(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        file.to_str().unwrap(),
        "--epochs",
        "3",
        "--validation",
        "30",
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert_eq!(status, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("epoch")).count(),
        3,
        "{stdout}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.contains("test error 0.00%"),
        "bars are easy to tell apart: {last}"
    );
}

const SMALL_NET: &str =
    "conv 4 kernel=3\nrelu\nmaxpool 2\ndropout 0.2\nflatten\ndense classes\nsoftmax\nlr 0.01\n";

/// A synthetic dataset and a network file in a fresh directory; returns (dir, net file).
fn small_setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    write_synthetic_dataset(&dir, 300, 60);
    let file = dir.join("net.txt");
    std::fs::write(&file, SMALL_NET).unwrap();
    (dir, file)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `train` on the small setup into `out`, with extra flags.
fn train_small(dir: &Path, net: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "train",
        "--data",
        s(dir),
        "--model",
        s(net),
        "--validation",
        "30",
        "--out",
        s(out),
    ];
    args.extend(extra);
    shadernet(&args)
}

#[test]
fn train_without_a_validation_split_reports_no_validation_error() {
    let (dir, net) = small_setup("cli-no-validation");
    let run = dir.join("run");
    let (status, stdout, stderr) = shadernet(&[
        "train",
        "--data",
        s(&dir),
        "--model",
        s(&net),
        "--validation",
        "0",
        "--epochs",
        "1",
        "--out",
        s(&run),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("val error -"), "{stdout}");
    let summary = stdout.lines().last().unwrap();
    assert!(summary.contains("test error"), "{summary}");
    assert!(!summary.contains("validation error"), "{summary}");
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((row[3], row[4]), ("", ""), "{csv}");
    let jsonl = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(
        jsonl.contains("\"validation_loss\":null,\"validation_error\":null"),
        "{jsonl}"
    );
}

/// The metrics CSV without its timing columns.
fn metrics_without_times(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn train_writes_a_run_directory() {
    let (dir, net) = small_setup("cli-rundir");
    let run = dir.join("run");
    let (status, stdout, stderr) = train_small(&dir, &net, &run, &["--epochs", "2"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.lines().last().unwrap().contains("test error"));
    for file in [
        "command.txt",
        "network.txt",
        "metrics.csv",
        "metrics.jsonl",
        "curves.png",
        "misclassified.png",
        "last.safetensors",
        "best.safetensors",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    for png in ["curves.png", "misclassified.png"] {
        let image = image::open(run.join(png)).unwrap();
        assert!(image.width() > 100 && image.height() > 30, "{png}");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("epoch,train_loss,train_error,validation_loss,validation_error"));
    let jsonl = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(
        jsonl
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("{\"epoch\":2,\"train_loss\":")
    );
    assert!(
        std::fs::read_to_string(run.join("command.txt"))
            .unwrap()
            .contains("--epochs 2")
    );
    assert!(
        std::fs::read_to_string(run.join("network.txt"))
            .unwrap()
            .contains("conv 4")
    );
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    // A second run into the same directory is refused.
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", "1"]);
    assert_eq!(status, 1);
    assert!(stderr.contains("--resume"), "{stderr}");
}

#[test]
fn a_resumed_run_matches_an_uninterrupted_one() {
    let (dir, net) = small_setup("cli-resume");
    let (straight, split) = (dir.join("straight"), dir.join("split"));
    let (status, full, stderr) = train_small(&dir, &net, &straight, &["--epochs", "4"]);
    assert_eq!(status, 0, "{stderr}");
    let (status, _, stderr) = train_small(&dir, &net, &split, &["--epochs", "2"]);
    assert_eq!(status, 0, "{stderr}");
    let (status, resumed, stderr) = shadernet(&["train", "--resume", s(&split), "--epochs", "4"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(resumed.contains("resuming after epoch 2"), "{resumed}");
    assert_eq!(
        metrics_without_times(&straight),
        metrics_without_times(&split)
    );
    let summary = |out: &str| {
        out.lines()
            .last()
            .unwrap()
            .split(" | ")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(summary(&full), summary(&resumed));
    let commands = std::fs::read_to_string(split.join("command.txt")).unwrap();
    assert_eq!(commands.lines().count(), 2, "{commands}");
    // --resume takes a checkpoint file too, and refuses flags that would change the run.
    assert_fails_with(
        &[
            "train",
            "--resume",
            s(&split.join("last.safetensors")),
            "--seed",
            "3",
        ],
        2,
        &["--seed"],
    );
}

#[test]
fn a_killed_run_leaves_a_checkpoint_that_resumes() {
    let (dir, net) = small_setup("cli-kill");
    let run = dir.join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args([
            "train",
            "--data",
            s(&dir),
            "--model",
            s(&net),
            "--validation",
            "30",
            "--out",
            s(&run),
            "--epochs",
            "100000",
            "--quiet",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let last = run.join("last.safetensors");
    let start = std::time::Instant::now();
    while !last.exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    let checkpoint = shadernet::run::Checkpoint::load(&last).unwrap();
    let done = checkpoint.epoch();
    assert!(done >= 1);
    let target = (done + 1).to_string();
    let (status, stdout, stderr) = shadernet(&["train", "--resume", s(&run), "--epochs", &target]);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("resuming after epoch {done}")),
        "{stdout}"
    );
    assert!(stdout.lines().last().unwrap().contains("test error"));
}

/// A PNG of a dark bar on light paper in rows `2c+1..=2c+2` of 8, as the synthetic class `c`,
/// drawn at 40x40 pixels.
fn bar_png(path: &Path, class: u32) {
    let img = image::GrayImage::from_fn(40, 40, |x, y| {
        let row = y / 5;
        let bar = row == 2 * class + 1 || row == 2 * class + 2;
        image::Luma([if bar && (2..38).contains(&x) { 10 } else { 250 }])
    });
    img.save(path).unwrap();
}

#[test]
fn eval_and_predict_print_json_for_scripts() {
    let (dir, net) = small_setup("cli-eval");
    let run = dir.join("run");
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", "3"]);
    assert_eq!(status, 0, "{stderr}");
    let best = run.join("best.safetensors");
    let (status, stdout, stderr) = shadernet(&["eval", "--checkpoint", s(&best), "--json"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let fields = [
        "checkpoint",
        "network",
        "epoch",
        "images",
        "test_error",
        "per_class",
        "confusion",
    ];
    assert_eq!(report.as_object().unwrap().len(), fields.len(), "{stdout}");
    let at: Vec<Option<usize>> = fields
        .iter()
        .map(|f| stdout.find(&format!("\"{f}\":")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "field order: {stdout}");
    assert_eq!(report["checkpoint"], s(&best), "{stdout}");
    // The best epoch, which reached no validation errors.
    assert!(
        (1..=3).contains(&report["epoch"].as_u64().unwrap()),
        "{stdout}"
    );
    assert_eq!(report["images"], 60, "{stdout}");
    assert_eq!(report["test_error"], 0.0, "{stdout}");
    assert_eq!(report["per_class"], serde_json::json!([1.0, 1.0, 1.0]));
    assert_eq!(
        report["confusion"],
        serde_json::json!([[20, 0, 0], [0, 20, 0], [0, 0, 20]])
    );
    let (status, stdout, _) = shadernet(&["eval", "--checkpoint", s(&best)]);
    assert_eq!(status, 0);
    assert!(stdout.contains("test error 0.00%") && stdout.contains("confusion matrix"));

    let (a, b) = (dir.join("bar0.png"), dir.join("bar2.png"));
    bar_png(&a, 0);
    bar_png(&b, 2);
    let (status, stdout, stderr) =
        shadernet(&["predict", "--checkpoint", s(&best), s(&a), s(&b), "--json"]);
    assert_eq!(status, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{{\"file\":\"{}\",\"class\":", s(&a))),
        "{stdout}"
    );
    for line in lines {
        let answer: serde_json::Value = serde_json::from_str(line).unwrap();
        let p = answer["probabilities"].as_array().unwrap();
        assert_eq!(p.len(), 3, "{line}");
        let sum: f64 = p.iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{line}");
        assert!(answer["class"].as_u64().unwrap() < 3, "{line}");
    }
    // The synthetic bars are not centred like MNIST digits, so only check the shape of the
    // answer here; tests/checkpoint.rs and the preprocessing tests check the numbers.
    let (status, stdout, _) = shadernet(&["predict", "--checkpoint", s(&best), s(&a)]);
    assert_eq!(status, 0);
    assert!(stdout.contains("probability"), "{stdout}");
}

#[test]
fn bad_images_and_checkpoints_are_clear_errors() {
    let (dir, net) = small_setup("cli-bad");
    let run = dir.join("run");
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", "1"]);
    assert_eq!(status, 0, "{stderr}");
    let last = run.join("last.safetensors");
    // Malformed and truncated PNGs.
    let good = dir.join("good.png");
    bar_png(&good, 1);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let text = dir.join("text.png");
    std::fs::write(&text, "this is not a picture").unwrap();
    for bad in [&truncated, &text] {
        assert_fails_with(
            &["predict", "--checkpoint", s(&last), s(bad)],
            1,
            &[s(bad), "not a readable PNG or JPEG image"],
        );
    }
    assert_fails_with(
        &[
            "predict",
            "--checkpoint",
            s(&last),
            s(&dir.join("missing.png")),
        ],
        1,
        &["missing.png"],
    );
    // Truncated and corrupt checkpoints.
    let ckpt = std::fs::read(&last).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &ckpt[..ckpt.len() / 2]).unwrap();
    assert_fails_with(
        &["eval", "--checkpoint", s(&cut)],
        1,
        &[s(&cut), "not a readable safetensors checkpoint"],
    );
    assert_fails_with(
        &["predict", "--checkpoint", s(&text), s(&good)],
        1,
        &[s(&text), "not a readable safetensors checkpoint"],
    );
    assert_fails_with(
        &["train", "--resume", s(&cut)],
        1,
        &["not a readable safetensors checkpoint"],
    );
    // A checkpoint for a different network.
    let other = dir.join("other.txt");
    std::fs::write(&other, "flatten\ndense 7\nrelu\ndense classes\nsoftmax\n").unwrap();
    assert_fails_with(
        &["train", "--resume", s(&run), "--model", s(&other)],
        1,
        &[
            "different network",
            "`0.weight` (4, 1, 3, 3)",
            "`1.weight` (7, 64)",
        ],
    );
    // A checkpoint for other data.
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    assert_fails_with(
        &["eval", "--checkpoint", s(&last), "--data", s(&mnist)],
        1,
        &["1x8x8", "1x28x28"],
    );
}

#[test]
fn quiet_prints_only_the_summary_and_no_progress_off_a_terminal() {
    let (dir, net) = small_setup("cli-quiet");
    let (status, stdout, stderr) =
        train_small(&dir, &net, &dir.join("run"), &["--epochs", "2", "--quiet"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("test error"), "{stdout}");
    // stderr is a pipe here, not a terminal: no progress line.
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn info_does_not_pass_on_mesas_runtime_dir_complaint() {
    // Mesa only complains when it opens a device: without an adapter this would prove nothing.
    if gpu_common::gpu_or_skip().is_none() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .arg("info")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("adapter 0:"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}

#[test]
fn no_progress_line_goes_into_a_pipe() {
    // Without --quiet too, and with a TERM that could draw one: stderr is a pipe here, and the
    // progress line is only for a terminal.
    let (dir, net) = small_setup("cli-pipe");
    let run = dir.join("run");
    let best = run.join("best.safetensors");
    let train = [
        "train",
        "--data",
        s(&dir),
        "--model",
        s(&net),
        "--validation",
        "30",
        "--epochs",
        "2",
        "--out",
        s(&run),
    ];
    for args in [&train[..], &["eval", "--checkpoint", s(&best)]] {
        let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        assert!(
            !out.stdout.contains(&0x1b),
            "{args:?}: escape codes on stdout"
        );
    }
}

#[test]
fn seeds_train_a_run_each_and_report_their_mean_and_ensemble() {
    let (dir, net) = small_setup("cli-seeds");
    let out = dir.join("seeds");
    let extra = ["--epochs", "2", "--seeds", "1-2,5", "-q"];
    let (status, stdout, stderr) = train_small(&dir, &net, &out, &extra);
    assert_eq!(status, 0, "{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("ensemble of 3 test error ") && last.contains("mean "),
        "{stdout}"
    );
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let seeds = summary["seeds"].as_array().unwrap();
    let numbers: Vec<u64> = seeds.iter().map(|s| s["seed"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 5]);
    let best: Vec<PathBuf> = [1, 2, 5]
        .iter()
        .map(|n| out.join(format!("seed-{n}")).join("best.safetensors"))
        .collect();
    assert!(best.iter().all(|b| b.exists()), "a run directory per seed");
    // eval of the same checkpoints gives the same members' and ensemble's test errors.
    let mut args = vec!["eval", "--json", "--checkpoint"];
    args.extend(best.iter().map(|b| s(b)));
    let (status, stdout, stderr) = shadernet(&args);
    assert_eq!(status, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["test_error"], summary["ensemble_test_error"]);
    assert_eq!(report["epoch"], serde_json::Value::Null);
    let members = report["member_test_errors"].as_array().unwrap();
    for (member, seed) in members.iter().zip(seeds) {
        assert_eq!(member, &seed["test_error"], "{stdout}");
    }
    // predict averages the ensemble's probabilities; pictures may follow the checkpoints.
    let bar = dir.join("bar1.png");
    bar_png(&bar, 1);
    let (status, stdout, stderr) = shadernet(&[
        "predict",
        "--json",
        "--checkpoint",
        s(&best[0]),
        s(&best[1]),
        s(&bar),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    assert_fails_with(&["train", "--seeds", "3-1"], 1, &["--seeds expects"]);
    assert_fails_with(&["train", "--seeds", "1,1"], 1, &["names a seed twice"]);
    assert_fails_with(
        &["train", "--seeds", "1-2", "--seed", "4"],
        2,
        &["cannot be used with"],
    );
}

#[test]
fn ensembles_refuse_checkpoints_of_another_task() {
    let (dir, net) = small_setup("cli-ensemble-task");
    let run = dir.join("run");
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", "1"]);
    assert_eq!(status, 0, "{stderr}");
    // Another dataset: 2 classes of 5x5 images.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    for (prefix, n) in [("train", 40u32), ("t10k", 10)] {
        let images: Vec<u8> = (0..n * 25).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
        let write = |kind: &str, bytes: Vec<u8>| {
            std::fs::write(
                other.join(format!(
                    "{prefix}-{kind}-idx{}-ubyte",
                    if kind == "images" { 3 } else { 1 }
                )),
                bytes,
            )
            .unwrap()
        };
        write("images", idx_bytes(&[n, 5, 5], &images));
        write("labels", idx_bytes(&[n], &labels));
    }
    let flat = dir.join("flat.txt");
    std::fs::write(&flat, "flatten\ndense classes\nsoftmax\n").unwrap();
    let other_run = dir.join("other-run");
    let (status, _, stderr) = train_small(&other, &flat, &other_run, &["--epochs", "1"]);
    assert_eq!(status, 0, "{stderr}");
    let (a, b) = (
        run.join("best.safetensors"),
        other_run.join("best.safetensors"),
    );
    assert_fails_with(
        &["eval", "--checkpoint", s(&a), s(&b)],
        1,
        &[s(&b), "must share their classes and input shape"],
    );
}

#[test]
#[cfg(unix)]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // `shadernet models ... | head -0`: the reader is gone, and the output (hundreds of KB) is
    // more than a pipe holds, so a write fails whatever the timing.
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .arg("models")
        .args(std::iter::repeat_n("seedtf", 300))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE: {:?}",
        out.status
    );
}
