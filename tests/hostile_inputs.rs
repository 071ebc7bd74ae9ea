//! Defects found by the hostile-user pass (`benches/hostile/run.sh`, results in
//! `benches/hostile/RESULTS.md`), each held here: a FIFO named as a network file, checkpoint
//! or picture no longer blocks the command forever; a device such as `/dev/zero` named as a
//! checkpoint or picture no longer fills memory; a run directory's `.lock` that is a symbolic
//! link no longer leads `train` to overwrite the file it names; the message of a
//! `--validation` that leaves nothing to train on reads as one sentence.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{s, small_run};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `args` in `dir`, killed after 60 s (a hang fails the test instead of
/// holding it forever); returns (exit code, stderr).
fn shadernet_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("shadernet {args:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes a FIFO at `path`; false where `mkfifo` is missing.
fn mkfifo(path: &Path) -> bool {
    Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|status| status.success())
}

fn assert_refused(dir: &Path, args: &[&str], expected: &[&str]) {
    let (code, stderr) = shadernet_in(dir, args);
    assert_eq!(code, 1, "{args:?}: exit {code}, stderr:\n{stderr}");
    for part in expected {
        assert!(
            stderr.contains(part),
            "{args:?}: `{part}` not in:\n{stderr}"
        );
    }
}

#[test]
fn a_fifo_named_as_a_network_checkpoint_or_picture_is_refused_not_waited_on() {
    let (dir, run) = small_run("hostile-fifo", "1");
    let checkpoint = run.join("best.safetensors");
    let net = dir.join("fifo.txt");
    let ckpt = dir.join("fifo.safetensors");
    let picture = dir.join("fifo.png");
    if !(mkfifo(&net) && mkfifo(&ckpt) && mkfifo(&picture)) {
        eprintln!("skipped: no mkfifo");
        return;
    }
    let fifo = "is a FIFO (named pipe), not a regular file";
    assert_refused(
        &dir,
        &["models", "fifo.txt"],
        &["fifo.txt: ", fifo, "expected a network file"],
    );
    assert_refused(
        &dir,
        &[
            "train",
            "--model",
            "fifo.txt",
            "--data",
            s(&dir),
            "--out",
            "out",
        ],
        &["fifo.txt: ", fifo],
    );
    assert!(!dir.join("out").exists(), "a refused run left its --out");
    assert_refused(
        &dir,
        &[
            "eval",
            "--checkpoint",
            "fifo.safetensors",
            "--data",
            s(&dir),
        ],
        &["fifo.safetensors: ", fifo, "expected a checkpoint"],
    );
    assert_refused(
        &dir,
        &["predict", "--checkpoint", s(&checkpoint), "fifo.png"],
        &["fifo.png: ", fifo, "expected a PNG or JPEG picture"],
    );
}

#[test]
fn a_device_named_as_a_checkpoint_or_picture_is_refused_before_it_is_read() {
    if !Path::new("/dev/zero").exists() {
        return;
    }
    let (dir, run) = small_run("hostile-device", "1");
    let checkpoint = run.join("best.safetensors");
    // Reading /dev/zero whole never ends: it filled memory until the allocation aborted.
    let device = "/dev/zero: is a device, not a regular file";
    assert_refused(&dir, &["eval", "--checkpoint", "/dev/zero"], &[device]);
    assert_refused(
        &dir,
        &["predict", "--checkpoint", s(&checkpoint), "/dev/zero"],
        &[device, "expected a PNG or JPEG picture"],
    );
}

#[cfg(unix)]
#[test]
fn a_lock_file_that_is_a_symbolic_link_is_refused_and_its_target_kept() {
    let (dir, run) = small_run("hostile-lock-link", "1");
    let mine = dir.join("mine.txt");
    std::fs::write(&mine, "the user's notes\n").unwrap();
    let lock = run.join(".lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&mine, &lock).unwrap();
    let before: Vec<_> = ["last.safetensors", "metrics.csv", "network.txt"]
        .iter()
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect();
    assert_refused(
        &dir,
        &["train", "--resume", "run", "--epochs", "2"],
        &[
            "run/.lock: the run directory's lock is a symbolic link",
            "remove it",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "the user's notes\n"
    );
    let after: Vec<_> = ["last.safetensors", "metrics.csv", "network.txt"]
        .iter()
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect();
    assert!(before == after, "a refused resume changed the run");

    // The same link in an otherwise empty --out: refused before anything is written.
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&mine, out.join(".lock")).unwrap();
    assert_refused(
        &dir,
        &[
            "train",
            "--model",
            "net.txt",
            "--data",
            s(&dir),
            "--validation",
            "30",
            "--out",
            "out",
        ],
        &["out/.lock: the run directory's lock is a symbolic link"],
    );
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "the user's notes\n"
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "only the link is there"
    );
}

#[test]
fn the_validation_message_reads_as_one_sentence() {
    // Its source lines had lost their `\` continuations: "expected fewer                  held
    // out" (18 spaces, twice) on the user's terminal.
    let (dir, _) = cli_common::small_setup("hostile-validation-message");
    let (code, stderr) = shadernet_in(
        &dir,
        &[
            "train",
            "--model",
            "net.txt",
            "--data",
            s(&dir),
            "--out",
            "out",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "has 300 training images, expected fewer held out for validation so that some are \
             left to train on (--validation 0 turns validation off)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("  "), "a run of spaces in: {stderr}");
    assert!(!dir.join("out").exists());
}

#[test]
fn a_run_file_that_is_not_a_regular_file_is_named_not_called_missing() {
    // last.safetensors as a directory was "the run has no last.safetensors: it stopped before
    // its first epoch was saved"; command.txt as a FIFO "it has no command.txt".
    let (dir, run) = small_run("hostile-run-file-kinds", "1");
    std::fs::remove_file(run.join("last.safetensors")).unwrap();
    std::fs::create_dir(run.join("last.safetensors")).unwrap();
    let metrics = std::fs::read(run.join("metrics.csv")).unwrap();
    assert_refused(
        &dir,
        &["train", "--resume", "run", "--epochs", "2"],
        &[
            "--resume run: last.safetensors is not a regular file",
            "remove it",
        ],
    );
    assert_eq!(std::fs::read(run.join("metrics.csv")).unwrap(), metrics);
    std::fs::remove_file(run.join("command.txt")).unwrap();
    if mkfifo(&run.join("command.txt")) {
        assert_refused(
            &dir,
            &["train", "--resume", "run", "--epochs", "2"],
            &["command.txt and last.safetensors are not regular files"],
        );
    }
}
