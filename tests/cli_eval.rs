//! `shadernet eval` and `predict` on checkpoints (one, or an ensemble), `train --seeds`, and
//! clear errors for bad pictures and checkpoints.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{
    assert_fails_with, bar_png, s, shadernet, small_run, small_setup, small_train_args, train_small,
};
use common::idx_bytes;
use std::path::{Path, PathBuf};

#[test]
fn eval_and_predict_print_json_for_scripts() {
    let (dir, run) = small_run("cli-eval", "3");
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
fn eval_with_tta_says_so_in_text_and_json() {
    let (_, run) = small_run("cli-eval-tta", "3");
    let best = run.join("best.safetensors");
    let (status, stdout, stderr) = shadernet(&[
        "eval",
        "--checkpoint",
        s(&best),
        s(&best),
        "--tta",
        "--json",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["tta_views"], 5, "{stdout}");
    assert_eq!(report["images"], 60, "{stdout}");
    assert_eq!(report["member_test_errors"].as_array().unwrap().len(), 2);
    let (status, stdout, _) = shadernet(&["eval", "--checkpoint", s(&best), "--tta"]);
    assert_eq!(status, 0);
    let first = stdout.lines().next().unwrap();
    assert!(
        first.contains("test error ")
            && first.ends_with(
                "with test-time augmentation (5 views: each image and its one-pixel shifts)"
            ),
        "{stdout}"
    );
    // Without the flag, neither says it.
    let (_, stdout, _) = shadernet(&["eval", "--checkpoint", s(&best), "--json"]);
    assert!(!stdout.contains("tta_views"), "{stdout}");
    let (_, stdout, _) = shadernet(&["eval", "--checkpoint", s(&best)]);
    assert!(!stdout.contains("augmentation"), "{stdout}");
}

#[test]
fn bad_images_and_checkpoints_are_clear_errors() {
    let (dir, run) = small_run("cli-bad", "1");
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
    // --resume continues only a run directory's own checkpoint: a truncated one there.
    let cut_run = dir.join("cut-run");
    std::fs::create_dir(&cut_run).unwrap();
    for name in ["command.txt", "network.txt"] {
        std::fs::copy(run.join(name), cut_run.join(name)).unwrap();
    }
    std::fs::copy(&cut, cut_run.join("last.safetensors")).unwrap();
    assert_fails_with(
        &["train", "--resume", s(&cut_run)],
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
fn seeds_without_a_validation_split_ensemble_the_last_epochs() {
    // No validation split: no best epoch, no best.safetensors; the ensemble takes each run's
    // last.safetensors (this once failed after all the seeds had trained).
    let (dir, net) = small_setup("cli-seeds-no-validation");
    let out = dir.join("seeds");
    let mut args = small_train_args(&dir, &net, &out, &["--epochs", "1", "--seeds", "1-2", "-q"]);
    let at = args.iter().position(|&a| a == "--validation").unwrap();
    args[at + 1] = "0";
    let (status, stdout, stderr) = shadernet(&args);
    assert_eq!(status, 0, "{stderr}");
    assert!(!out.join("seed-1/best.safetensors").exists());
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("ensemble of 2 test error "), "{stdout}");
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut args = vec!["eval", "--json", "--checkpoint"];
    let lasts: Vec<PathBuf> = [1, 2]
        .iter()
        .map(|n| out.join(format!("seed-{n}/last.safetensors")))
        .collect();
    args.extend(lasts.iter().map(|p| s(p)));
    let (status, stdout, stderr) = shadernet(&args);
    assert_eq!(status, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["test_error"], summary["ensemble_test_error"]);
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
    let (dir, run) = small_run("cli-ensemble-task", "1");
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
