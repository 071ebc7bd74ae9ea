//! The `shadernet` binary as a user meets it: bad input gives a clear error and a non-zero exit
//! (never a panic, whose exit code is 101), and a small training run ends with its summary.

mod common;

use common::{temp_dir, write_synthetic_dataset};
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
        &["train", "--batch-size", "0"],
        1,
        &["--batch-size must be at least 1"],
    );
    assert_fails_with(&["train", "--lr=-1"], 1, &["learning rate"]);
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
}

#[test]
fn impossible_networks_name_the_layer() {
    let dir = temp_dir("cli-impossible");
    write_synthetic_dataset(&dir, 30, 9);
    let cases = [
        (
            "dense 10\nsoftmax\n",
            "network layer 1: dense needs a flat input",
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
