//! Output never kills the work: a closed pipe or a full device on stdout or stderr never makes
//! a command panic, and training into a closed pipe keeps training and saving.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{s, small_setup, small_train_args};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs the binary with stdout's reading end closed at once (`| head -0`); returns (exit code,
/// stderr).
fn into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary with stdout (or stderr) writing into `/dev/full`; returns (exit code,
/// stderr, or "" when stderr is the full one).
#[cfg(target_os = "linux")]
fn into_full_device(args: &[&str], stream: &str) -> (Option<i32>, String) {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_shadernet"));
    command.args(args);
    if stream == "stdout" {
        command.stdout(full()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::null()).stderr(full());
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of `metrics.jsonl` in `run`.
fn metric_lines(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .count()
}

#[test]
fn listing_into_a_closed_pipe_stops_quietly() {
    // Hundreds of KB, more than a pipe holds: a write fails whatever the timing.
    let mut args = vec!["models"];
    args.extend(std::iter::repeat_n("seedtf", 300));
    let (code, stderr) = into_closed_pipe(&args);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn training_into_a_closed_pipe_keeps_training_and_saving() {
    let (dir, net) = small_setup("out-closed-pipe");
    let run = dir.join("run");
    let (code, stderr) = into_closed_pipe(&small_train_args(&dir, &net, &run, &["--epochs", "3"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(metric_lines(&run), 3, "every epoch is in the run directory");
    assert!(run.join("last.safetensors").is_file());
    assert!(run.join("misclassified.png").is_file(), "the run finished");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_an_error_after_the_work_not_a_panic() {
    let (code, stderr) = into_full_device(&["models", "seed9"], "stdout");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("error: writing to standard output: No space left on device"),
        "{stderr}"
    );

    let (dir, net) = small_setup("out-full-stdout");
    let run = dir.join("run");
    let (code, stderr) = into_full_device(
        &small_train_args(&dir, &net, &run, &["--epochs", "2"]),
        "stdout",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("writing to standard output"), "{stderr}");
    assert_eq!(
        metric_lines(&run),
        2,
        "training went on and saved every epoch"
    );
    assert!(run.join("misclassified.png").is_file(), "the run finished");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stderr_never_stops_a_command() {
    // An error message that cannot be written: the exit code still says it failed.
    let (code, _) = into_full_device(&["models", "no-such-model"], "stderr");
    assert_eq!(code, Some(1));
    let (dir, net) = small_setup("out-full-stderr");
    let run = dir.join("run");
    let (code, _) = into_full_device(
        &small_train_args(&dir, &net, &run, &["--epochs", "2"]),
        "stderr",
    );
    assert_eq!(code, Some(0));
    assert_eq!(metric_lines(&run), 2);
}

#[cfg(unix)]
#[test]
fn paths_that_are_not_utf8_are_paths() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let (dir, net) = small_setup("out-non-utf8");
    // The data and the run directory under names with a byte that is not UTF-8.
    let data = dir.join(OsStr::from_bytes(b"data-\xff"));
    std::fs::create_dir(&data).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().contains("idx") {
            std::fs::copy(&path, data.join(path.file_name().unwrap())).unwrap();
        }
    }
    let run = dir.join(OsStr::from_bytes(b"run-\xfe"));
    let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(["--model", s(&net), "--validation", "30", "--epochs", "1"])
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(metric_lines(&run), 1);
    let command = std::fs::read_to_string(run.join("command.txt")).unwrap();
    assert!(command.contains("run-\u{fffd}"), "{command}");
}
