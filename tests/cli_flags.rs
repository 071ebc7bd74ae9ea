//! Every numeric flag refused outside its range with the flag and the range in the message
//! (negative numbers included, which clap would otherwise read as unknown flags), before
//! anything is written; `train --classes`; `eval` on a directory with only the test files; a
//! `WGPU_BACKEND` that names no backend.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{SMALL_NET, s, shadernet, small_setup, train_small};
use common::temp_dir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Clap's exit code for a bad command line, which a value out of its range is.
const USAGE: i32 = 2;

/// Every file under `dir` with its contents, to show that a refused command changed none.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Runs `args`; asserts the exit code, that stderr holds every part of `expected` and that
/// the files under `dir` are as they were.
fn refused(dir: &Path, args: &[&str], code: i32, expected: &[&str]) -> String {
    let before = snapshot(dir);
    let (status, stdout, stderr) = shadernet(args);
    assert_eq!(status, code, "{args:?}: exit {status}, stderr:\n{stderr}");
    for part in expected {
        assert!(
            stderr.contains(part),
            "{args:?}: `{part}` not in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("unexpected argument") && !stderr.contains("panicked"),
        "{args:?}: {stderr}"
    );
    assert!(stdout.is_empty(), "{args:?}: printed {stdout}");
    assert_eq!(
        snapshot(dir),
        before,
        "{args:?} changed files under {dir:?}"
    );
    stderr
}

/// `train` on the small setup into `DIR/run` with `flags`, which must be refused at parse time
/// naming `flag` and `range`; the run directory must not appear. Returns stderr.
fn train_refuses(dir: &Path, net: &Path, flags: &[&str], flag: &str, range: &str) -> String {
    let out = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(dir),
        "--model",
        s(net),
        "--out",
        s(&out),
    ];
    args.extend(flags);
    // `--lr=-inf` is one word: its value is after the `=`.
    let last = flags.last().unwrap();
    let value = last.split_once('=').map_or(*last, |(_, v)| v);
    let stderr = refused(
        dir,
        &args,
        USAGE,
        &[&format!("invalid value '{value}' for '{flag}"), range],
    );
    assert!(!out.exists(), "{flags:?} created {out:?}");
    stderr
}

#[test]
fn negative_numbers_reach_the_range_check() {
    let (dir, net) = small_setup("flags-negative");
    let cases: [(&[&str], &str, &str); 5] = [
        (&["--lr", "-1"], "--lr", "expected a positive finite number"),
        (
            &["--seed", "-1"],
            "--seed",
            "from 0 to 18446744073709551615",
        ),
        (&["--epochs", "-1"], "--epochs", "from 1 to 100000"),
        (&["--validation", "-5"], "--validation", "from 0 to"),
        (&["--batch-size", "-3"], "--batch-size", "from 1 to 65536"),
    ];
    for (flags, flag, range) in cases {
        train_refuses(&dir, &net, flags, flag, range);
    }
    // --seeds takes negative-looking text to its own check too.
    let out = dir.join("seeds");
    refused(
        &dir,
        &["train", "--seeds", "-1", "--out", s(&out)],
        1,
        &["--seeds expects seeds and ranges", "`-1`"],
    );
    assert!(!out.exists());
}

#[test]
fn epochs_batch_size_and_lr_name_the_flag_not_the_network() {
    let (dir, net) = small_setup("flags-training");
    let cases: [(&[&str], &str, &str); 10] = [
        (&["--epochs", "0"], "--epochs", "from 1 to 100000"),
        (&["--epochs", "100001"], "--epochs", "from 1 to 100000"),
        (&["--batch-size", "0"], "--batch-size", "from 1 to 65536"),
        (
            &["--batch-size", "65537"],
            "--batch-size",
            "from 1 to 65536",
        ),
        (&["--lr", "nan"], "--lr", "positive finite"),
        (&["--lr", "1e39"], "--lr", "32-bit float"),
        (&["--lr=-inf"], "--lr", "positive finite"),
        (&["--lr", "-inf"], "--lr", "positive finite"),
        (&["--lr", "-1e-3"], "--lr", "positive finite"),
        (&["--lr", "--quiet"], "--lr", "positive finite"),
    ];
    for (flags, flag, range) in cases {
        let stderr = train_refuses(&dir, &net, flags, flag, range);
        assert!(!stderr.contains("network `"), "{flags:?}: {stderr}");
    }
}

#[test]
fn threads_are_capped_with_the_reason() {
    let (dir, net) = small_setup("flags-threads");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cap = format!("from 1 to {}", (4 * cores).max(64));
    for value in ["100000000", "0", "-2"] {
        let stderr = train_refuses(&dir, &net, &["--threads", value], "--threads", &cap);
        for part in [
            &format!("the larger of 64 and 4 x this machine's {cores} cores")[..],
            "more workers than cores only add overhead",
        ] {
            assert!(stderr.contains(part), "`{part}` not in {stderr}");
        }
    }
    for command in [
        &["bench", "--backend", "cpu"][..],
        &["eval", "--checkpoint", "x.safetensors"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--threads", "100000000"]);
        refused(&dir, &args, USAGE, &["for '--threads", "from 1 to"]);
    }
}

#[test]
fn bench_numbers_are_range_checked() {
    let dir = temp_dir("flags-bench");
    let cases: [(&[&str], &str, &str); 9] = [
        (
            &["--peak-gflops", "nan"],
            "--peak-gflops",
            "positive finite",
        ),
        (&["--peak-gflops", "-5"], "--peak-gflops", "positive finite"),
        (
            &["--peak-gflops", "-.5"],
            "--peak-gflops",
            "positive finite",
        ),
        (&["--peak-gflops", "0"], "--peak-gflops", "positive finite"),
        (
            &["--batch-size", "100000000"],
            "--batch-size",
            "from 1 to 65536",
        ),
        (&["--batch-size", "0"], "--batch-size", "from 1 to 65536"),
        (&["--steps", "0"], "--steps", "from 1 to 100000"),
        (&["--repeats", "-1"], "--repeats", "from 1 to 1000"),
        (&["--repeats", "1001"], "--repeats", "from 1 to 1000"),
    ];
    for (flags, flag, range) in cases {
        let mut args = vec!["bench", "--backend", "cpu", "--model", "seed1"];
        args.extend(flags);
        let value = flags.last().unwrap();
        refused(
            &dir,
            &args,
            USAGE,
            &[&format!("invalid value '{value}' for '{flag}"), range],
        );
    }
}

#[test]
fn augment_count_and_seed_are_range_checked() {
    let (dir, _) = small_setup("flags-augment");
    let out = dir.join("grid.png");
    for (flag, value, range) in [
        ("--count", "0", "from 1 to 1000"),
        ("--count", "-1", "from 1 to 1000"),
        ("--count", "1001", "from 1 to 1000"),
        ("--seed", "-1", "from 0 to"),
    ] {
        refused(
            &dir,
            &["augment", "--out", s(&out), "--data", s(&dir), flag, value],
            USAGE,
            &[&format!("invalid value '{value}' for '{flag}"), range],
        );
        assert!(!out.exists());
    }
    // In range, it works (and --count above the training set draws all of it).
    let (status, stdout, stderr) = shadernet(&[
        "augment",
        "--out",
        s(&out),
        "--data",
        s(&dir),
        "--count",
        "3",
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("3 training digits"), "{stdout}");
    assert!(out.exists());
    // --model draws that network's ranges: an elastic displacement changes the picture, and a
    // model that cannot be read is an error naming it.
    let grid = |model: Option<&Path>, png: &Path| {
        let mut args = vec![
            "augment",
            "--out",
            s(png),
            "--data",
            s(&dir),
            "--count",
            "3",
        ];
        if let Some(m) = model {
            args.extend(["--model", s(m)]);
        }
        shadernet(&args)
    };
    let plain_net = dir.join("plain.txt");
    let elastic_net = dir.join("elastic.txt");
    std::fs::write(&plain_net, format!("{SMALL_NET}augment 1\n")).unwrap();
    std::fs::write(&elastic_net, format!("{SMALL_NET}augment 1 elastic=2\n")).unwrap();
    let (plain_png, elastic_png) = (dir.join("plain.png"), dir.join("elastic.png"));
    assert_eq!(grid(Some(&plain_net), &plain_png).0, 0);
    assert_eq!(grid(Some(&elastic_net), &elastic_png).0, 0);
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(
        bytes(&plain_png),
        bytes(&out),
        "a file with the default ranges"
    );
    assert_ne!(bytes(&elastic_png), bytes(&out), "elastic=2 moves pixels");
    let missing = dir.join("missing.txt");
    let (status, _, stderr) = grid(Some(&missing), &dir.join("never.png"));
    assert_ne!(status, 0);
    assert!(stderr.contains("missing.txt"), "{stderr}");
    assert!(!dir.join("never.png").exists());
}

#[test]
fn validation_must_leave_training_images() {
    let (dir, net) = small_setup("flags-validation");
    let out = dir.join("run");
    let common = [
        "train",
        "--data",
        s(&dir),
        "--model",
        s(&net),
        "--out",
        s(&out),
    ];
    let mut args = common.to_vec();
    args.extend(["--validation", "300"]);
    refused(
        &dir,
        &args,
        1,
        &[
            "--validation 300:",
            "has 300 training images",
            "expected fewer",
        ],
    );
    assert!(!out.exists());
    // The default of 5000 is named as the default.
    refused(
        &dir,
        &common,
        1,
        &["--validation 5000 (the default):", "300 training images"],
    );
    assert!(!out.exists());
    // Fewer than the training set: accepted.
    let (status, _, stderr) = train_small(&dir, &net, &out, &["--epochs", "1", "-q"]);
    assert_eq!(status, 0, "{stderr}");
}

/// Rewrites the label files of `dir` so that label 2 becomes 4: the classes 0, 1 and 4, with
/// 2 and 3 missing.
fn relabel_with_a_gap(dir: &Path) {
    for name in ["train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"] {
        let path = dir.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        // An IDX labels file: 4 bytes of magic, 4 of the count, then one byte per label.
        for label in &mut bytes[8..] {
            if *label == 2 {
                *label = 4;
            }
        }
        std::fs::write(&path, bytes).unwrap();
    }
}

#[test]
fn classes_flag_trains_over_label_gaps_and_resumes_with_them() {
    let (dir, net) = small_setup("flags-classes");
    relabel_with_a_gap(&dir);
    let run = dir.join("run");
    // Without --classes the gap is refused, and the message says how to ask for it.
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", "1"]);
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("--classes 5"), "{stderr}");
    assert!(!run.exists());
    // Too few classes for the labels: the label and the classes asked for are named.
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", "1", "--classes", "3"]);
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("label 4") && stderr.contains("the 3 classes asked for"),
        "{stderr}"
    );
    assert!(!run.exists());
    for value in ["1", "257", "-3"] {
        train_refuses(
            &dir,
            &net,
            &["--classes", value],
            "--classes",
            "from 2 to 256",
        );
    }
    let (status, _, stderr) =
        train_small(&dir, &net, &run, &["--epochs", "1", "--classes", "5", "-q"]);
    assert_eq!(status, 0, "{stderr}");
    // The network has 5 outputs: eval's confusion matrix is 5 x 5.
    let best = run.join("best.safetensors");
    let (status, stdout, stderr) = shadernet(&["eval", "--checkpoint", s(&best), "--json"]);
    assert_eq!(status, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["per_class"].as_array().unwrap().len(), 5, "{stdout}");
    assert_eq!(report["per_class"][2], serde_json::Value::Null, "{stdout}");
    // A resume loads the data with the checkpoint's 5 classes (not refusing the gap).
    let (status, stdout, stderr) = shadernet(&["train", "--resume", s(&run), "--epochs", "2"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("resuming after epoch 1"), "{stdout}");
    // --classes belongs to a new run.
    let (status, _, stderr) = shadernet(&["train", "--resume", s(&run), "--classes", "5"]);
    assert_eq!(status, USAGE, "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn eval_needs_only_the_test_files() {
    let (dir, net) = small_setup("flags-eval-test-only");
    let run = dir.join("run");
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", "1", "-q"]);
    assert_eq!(status, 0, "{stderr}");
    let best = run.join("best.safetensors");
    let tests_only = dir.join("t10k-only");
    std::fs::create_dir(&tests_only).unwrap();
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        std::fs::copy(dir.join(name), tests_only.join(name)).unwrap();
    }
    let (status, stdout, stderr) = shadernet(&[
        "eval",
        "--checkpoint",
        s(&best),
        "--data",
        s(&tests_only),
        "--json",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["images"], 60, "{stdout}");
    // The test labels are checked against the checkpoint's 3 classes.
    let labels = tests_only.join("t10k-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&labels).unwrap();
    bytes[8 + 7] = 3;
    std::fs::write(&labels, bytes).unwrap();
    refused(
        &tests_only,
        &["eval", "--checkpoint", s(&best), "--data", s(&tests_only)],
        1,
        &[
            "t10k-labels-idx1-ubyte",
            "label 3 at index 7",
            "the checkpoint's 3 classes",
        ],
    );
    // A directory without the test files names them and --data.
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    refused(
        &empty,
        &["eval", "--checkpoint", s(&best), "--data", s(&empty)],
        1,
        &["t10k-images-idx3-ubyte"],
    );
}

/// Runs the binary with `WGPU_BACKEND=value`; returns (exit code, stdout, stderr).
fn with_backend_env(value: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args(args)
        .env("WGPU_BACKEND", value)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn wgpu_backend_that_names_no_backend_is_named() {
    let (dir, net) = small_setup("flags-wgpu-backend");
    let out = dir.join("run");
    let train = [
        "train",
        "--data",
        s(&dir),
        "--model",
        s(&net),
        "--validation",
        "30",
        "--out",
        s(&out),
        "--backend",
        "gpu",
    ];
    for (value, named) in [
        ("nonsense", "`nonsense` is not a backend"),
        ("vulkan,nonsense", "`nonsense` is not a backend"),
        ("", "an empty name is not a backend"),
    ] {
        for args in [
            &train[..],
            &["info"],
            &["verify"],
            &["bench", "--backend", "gpu"],
        ] {
            let before = snapshot(&dir);
            let (status, stdout, stderr) = with_backend_env(value, args);
            assert_eq!(status, 1, "{value} {args:?}: {stderr}");
            for part in [
                "WGPU_BACKEND=",
                named,
                "expected one or more of vulkan (vk), metal (mtl), dx12 (d3d12), gl",
            ] {
                assert!(
                    stderr.contains(part),
                    "{value} {args:?}: `{part}` not in {stderr}"
                );
            }
            assert!(!stderr.contains("install a Vulkan driver"), "{stderr}");
            assert!(!stdout.contains("no GPU adapters found"), "{stdout}");
            assert_eq!(snapshot(&dir), before);
            assert!(!out.exists());
        }
    }
    // The CPU executor needs no backend: the variable is not looked at.
    let (status, _, stderr) = with_backend_env("nonsense", &["models", "seed1"]);
    assert_eq!(status, 0, "{stderr}");
    // Valid names, any case and spacing, pass the check (whether an adapter is found or not).
    let (status, _, stderr) = with_backend_env("Vulkan, gl", &["info"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(!stderr.contains("not a backend"), "{stderr}");
}
