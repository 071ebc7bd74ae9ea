//! Helpers of the CLI tests (`tests/cli*.rs`): running the binary, a small synthetic setup
//! and training run, pictures of the synthetic classes.
#![allow(dead_code)]

use crate::common::{temp_dir, write_synthetic_dataset};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary; returns (exit code, stdout, stderr).
pub fn shadernet(args: &[&str]) -> (i32, String, String) {
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

pub fn assert_fails_with(args: &[&str], code: i32, expected: &[&str]) {
    let (status, _, stderr) = shadernet(args);
    assert_eq!(status, code, "{args:?}: exit {status}, stderr:\n{stderr}");
    for part in expected {
        assert!(
            stderr.contains(part),
            "{args:?}: `{part}` not in:\n{stderr}"
        );
    }
}

pub const SMALL_NET: &str =
    "conv 4 kernel=3\nrelu\nmaxpool 2\ndropout 0.2\nflatten\ndense classes\nsoftmax\nlr 0.01\n";

/// A synthetic dataset and a network file in a fresh directory; returns (dir, net file).
pub fn small_setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    write_synthetic_dataset(&dir, 300, 60);
    let file = dir.join("net.txt");
    std::fs::write(&file, SMALL_NET).unwrap();
    (dir, file)
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The arguments of `train` on the small setup into `out`, with extra flags.
pub fn small_train_args<'a>(
    dir: &'a Path,
    net: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
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
    args
}

/// `train` on the small setup into `out`, with extra flags.
pub fn train_small(dir: &Path, net: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    shadernet(&small_train_args(dir, net, out, extra))
}

/// A PNG of a dark bar on light paper in rows `2c+1..=2c+2` of 8, as the synthetic class `c`,
/// drawn at 40x40 pixels.
pub fn bar_png(path: &Path, class: u32) {
    let img = image::GrayImage::from_fn(40, 40, |x, y| {
        let row = y / 5;
        let bar = row == 2 * class + 1 || row == 2 * class + 2;
        image::Luma([if bar && (2..38).contains(&x) { 10 } else { 250 }])
    });
    img.save(path).unwrap();
}

/// [`small_setup`] and a run of `epochs` epochs into `DIR/run`, which must succeed; returns
/// (dir, run directory).
pub fn small_run(name: &str, epochs: &str) -> (PathBuf, PathBuf) {
    let (dir, net) = small_setup(name);
    let run = dir.join("run");
    let (status, _, stderr) = train_small(&dir, &net, &run, &["--epochs", epochs]);
    assert_eq!(status, 0, "{stderr}");
    (dir, run)
}
