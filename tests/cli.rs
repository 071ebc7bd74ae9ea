//! The `shadernet` binary as a user meets it: bad input gives a clear error and a non-zero exit
//! (never a panic, whose exit code is 101), and output behaves on terminals and in pipes.
//! (Training runs: `cli_runs.rs`; eval, predict, seeds and ensembles: `cli_eval.rs`.)

#[path = "common/cli.rs"]
mod cli_common;
mod common;
#[path = "common/gpu.rs"]
mod gpu_common;

use cli_common::{assert_fails_with, s, shadernet, small_setup, train_small};
use common::{temp_dir, write_synthetic_dataset};
use std::process::Command;

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
fn models_shows_label_smoothing_weight_averaging_and_weight_decay_when_set() {
    let dir = temp_dir("cli-models-settings");
    let file = dir.join("net.txt");
    std::fs::write(
        &file,
        "flatten\ndense classes\nsoftmax\nloss cross_entropy smoothing=0.1\nema 0.999\n\
         weight_decay 0.05\n",
    )
    .unwrap();
    let (status, stdout, _) = shadernet(&["models", file.to_str().unwrap()]);
    assert_eq!(status, 0);
    assert!(stdout.contains("loss (label smoothing 0.1)"), "{stdout}");
    assert!(stdout.contains("weight EMA 0.999"), "{stdout}");
    assert!(stdout.contains("weight decay 0.05"), "{stdout}");
    let (_, stdout, _) = shadernet(&["models", "seed9"]);
    assert!(
        !stdout.contains("smoothing") && !stdout.contains("EMA") && !stdout.contains("decay"),
        "{stdout}"
    );
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
    // Values out of range are bad command lines too (more in cli_flags.rs).
    assert_fails_with(
        &["train", "--batch-size", "0"],
        2,
        &["invalid value '0' for '--batch-size", "from 1 to 65536"],
    );
    assert_fails_with(
        &["train", "--lr=-1"],
        2,
        &["invalid value '-1' for '--lr", "positive finite number"],
    );
    assert_fails_with(&["train", "--threads", "0"], 2, &["'--threads"]);
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
        // Sizes whose products would overflow or need terabytes: refused, not allocated (each
        // size is within a network file's bound; tests/network_files.rs has sizes past it).
        (
            "flatten\ndense 1048576\ndense 1048576\ndense classes\nsoftmax\n",
            "network `net6` layer 3: its weight matrix would hold more than",
        ),
        (
            "conv 4 kernel=1000001 padding=2\nflatten\ndense classes\nsoftmax\n",
            "network `net7` layer 1: its kernel would hold more than",
        ),
        (
            "conv 1048576 kernel=3 padding=1\nconv 1048576 kernel=3 padding=1\nflatten\n\
             dense classes\nsoftmax\n",
            "network `net8` layer 2: its weights would hold more than",
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
