//! `shadernet train` from the command line: a small run ends with its summary and leaves a run
//! directory, and a run can be resumed or killed and resumed.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{assert_fails_with, s, shadernet, small_setup, train_small};
use common::{temp_dir, write_synthetic_dataset};
use std::path::Path;
use std::process::Command;

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
