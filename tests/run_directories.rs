//! Run directories protect the user's files: `train --out` takes only an absent or empty
//! directory, one process owns a run directory at a time, `--resume` continues only a real
//! run, never lowers its epochs nor silently changes its threads, and a kill at any write
//! leaves files that `--resume` brings back to exactly those of a run that never stopped.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{s, shadernet, small_run, small_setup, train_small};
use common::dir_names;
use shadernet::run::Checkpoint;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every file under `dir` (recursively, symlinks as their targets' names) with its bytes,
/// except the run's `.lock`, whose only content is the owner's process id.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path.clone());
                files.insert(path, b"<dir>".to_vec());
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                files.insert(path, target.to_string_lossy().as_bytes().to_vec());
            } else if path.file_name().unwrap() != ".lock" {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Asserts that the command failed with exit code 1 and that stderr holds every part.
fn assert_refused(what: &str, (status, _, stderr): &(i32, String, String), parts: &[&str]) {
    assert_eq!(*status, 1, "{what}: exit {status}, stderr:\n{stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{what}: `{part}` not in:\n{stderr}");
    }
}

#[test]
fn out_takes_only_an_absent_or_empty_directory() {
    let (dir, net) = small_setup("rundir-out");
    // The user's own files, named like a run's.
    let mine = dir.join("mine");
    std::fs::create_dir(&mine).unwrap();
    for (name, text) in [
        ("metrics.csv", "my,numbers\n"),
        ("command.txt", "my notes\n"),
        ("curves.png", "not even a png"),
    ] {
        std::fs::write(mine.join(name), text).unwrap();
    }
    let before = snapshot(&dir);
    let refused = train_small(&dir, &net, &mine, &["--epochs", "1"]);
    assert_refused(
        "a directory of the user's",
        &refused,
        &[
            &format!("--out {}", mine.display()),
            "not empty",
            "command.txt, curves.png, metrics.csv",
            "choose another --out",
            "--resume",
        ],
    );
    assert_eq!(snapshot(&dir), before, "nothing is written");
    assert_eq!(
        dir_names(&mine),
        ["command.txt", "curves.png", "metrics.csv"]
    );

    // A file, and a system directory.
    let file = dir.join("net.txt");
    let refused = train_small(&dir, &net, &file, &["--epochs", "1"]);
    assert_refused("a file", &refused, &["net.txt", "not a directory"]);
    assert_eq!(snapshot(&dir), before);
    if Path::new("/dev").is_dir() {
        let refused = train_small(&dir, &net, Path::new("/dev"), &["--epochs", "1"]);
        assert_refused("/dev", &refused, &["--out /dev", "not empty"]);
        assert!(!Path::new("/dev/command.txt").exists());
        assert!(!Path::new("/dev/.lock").exists());
    }

    // An empty directory (or one holding only a run's lock file) is fine.
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join(".lock"), "").unwrap();
    let (status, stdout, stderr) = train_small(&dir, &net, &empty, &["--epochs", "1"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("test error"), "{stdout}");
    assert!(empty.join("last.safetensors").is_file());
    // The run is continued only with --resume.
    let before = snapshot(&empty);
    let refused = train_small(&dir, &net, &empty, &["--epochs", "1"]);
    assert_refused(
        "a run",
        &refused,
        &[
            "holds a training run",
            &format!("--resume {}", empty.display()),
        ],
    );
    assert_eq!(snapshot(&empty), before);
}

#[test]
fn seeds_refuse_a_used_out_before_training_anything() {
    let (dir, net) = small_setup("rundir-seeds");
    let parent = dir.join("seeds");
    let seeds = |parent: &Path| {
        shadernet(&[
            "train",
            "--data",
            s(&dir),
            "--model",
            s(&net),
            "--validation",
            "30",
            "--epochs",
            "1",
            "--seeds",
            "1-2",
            "--out",
            s(parent),
        ])
    };
    let (status, stdout, stderr) = seeds(&parent);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("ensemble of 2"), "{stdout}");
    // Repeated into the same --out: refused at once, nothing trained or rewritten.
    let before = snapshot(&dir);
    let refused = seeds(&parent);
    assert_refused(
        "a repeated --seeds",
        &refused,
        &[
            &format!("--out {}", parent.display()),
            "seed-1, seed-2, summary.json",
            "choose another --out",
        ],
    );
    assert!(!refused.1.contains("epoch"), "{}", refused.1);
    assert_eq!(snapshot(&dir), before);
    // A parent holding one of the seed directories (another --seeds' half) is refused too.
    let half = dir.join("half");
    std::fs::create_dir_all(half.join("seed-2")).unwrap();
    std::fs::write(half.join("seed-2/command.txt"), "mine\n").unwrap();
    let before = snapshot(&dir);
    assert_refused("a used seed directory", &seeds(&half), &["seed-2"]);
    assert_eq!(snapshot(&dir), before);
}

/// Starts `train` into `run` for many epochs and waits for its first checkpoint.
fn start_long_run(dir: &Path, net: &Path, run: &Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args([
            "train",
            "--data",
            s(dir),
            "--model",
            s(net),
            "--validation",
            "30",
            "--out",
            s(run),
            "--epochs",
            "100000",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let last = run.join("last.safetensors");
    let start = std::time::Instant::now();
    while !last.exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(last.exists(), "the run saved no checkpoint in 60 s");
    child
}

#[test]
fn one_process_owns_a_run_directory() {
    let (dir, net) = small_setup("rundir-lock");
    let run = dir.join("run");
    let mut child = start_long_run(&dir, &net, &run);
    // A second writer is refused at start, naming the directory and the owner.
    // (--epochs 1 so that a resume let through would end at once, not train on.)
    let refused = shadernet(&["train", "--resume", s(&run), "--epochs", "1", "--quiet"]);
    assert_refused(
        "a resume while the run trains",
        &refused,
        &[
            &run.display().to_string(),
            "in use by another shadernet process",
            &format!("process {}", child.id()),
        ],
    );
    let commands = std::fs::read_to_string(run.join("command.txt")).unwrap();
    assert_eq!(commands.lines().count(), 1, "{commands}");
    // SIGKILL leaves no stale lock: the run resumes.
    child.kill().unwrap();
    child.wait().unwrap();
    let done = Checkpoint::load(&run.join("last.safetensors"))
        .unwrap()
        .epoch();
    let target = (done + 1).to_string();
    let (status, stdout, stderr) = shadernet(&["train", "--resume", s(&run), "--epochs", &target]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains(&format!("resuming after epoch {done}")));
}

#[test]
fn runs_started_at_the_same_moment_into_one_directory_do_not_mix() {
    let (dir, net) = small_setup("rundir-race");
    let run = dir.join("run");
    let children: Vec<_> = (1..=4)
        .map(|seed| {
            Command::new(env!("CARGO_BIN_EXE_shadernet"))
                .args([
                    "train",
                    "--data",
                    s(&dir),
                    "--model",
                    s(&net),
                    "--validation",
                    "30",
                    "--epochs",
                    "2",
                    "--seed",
                    &seed.to_string(),
                    "--out",
                    s(&run),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let winners: Vec<usize> = (0..4).filter(|&i| results[i].status.success()).collect();
    assert_eq!(winners.len(), 1, "exactly one run owns the directory");
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            let stderr = String::from_utf8_lossy(&r.stderr);
            assert_eq!(r.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains("in use by another shadernet process")
                    || stderr.contains("not empty"),
                "{stderr}"
            );
        }
    }
    let seed = winners[0] as u64 + 1;
    let commands = std::fs::read_to_string(run.join("command.txt")).unwrap();
    assert_eq!(commands.lines().count(), 1, "{commands}");
    assert!(commands.contains(&format!("--seed {seed} ")), "{commands}");
    for file in ["last.safetensors", "best.safetensors"] {
        let checkpoint = Checkpoint::load(&run.join(file)).unwrap();
        assert_eq!(checkpoint.seed, seed, "{file} is the winner's");
    }
}

#[test]
fn resume_continues_only_a_real_run_directory() {
    let (dir, run) = small_run("rundir-loose", "1");
    // A checkpoint copied into a folder of the user's, beside files named like a run's.
    let folder = dir.join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(
        run.join("last.safetensors"),
        folder.join("last.safetensors"),
    )
    .unwrap();
    std::fs::write(folder.join("metrics.csv"), "my,numbers\n").unwrap();
    std::fs::write(folder.join("network.txt"), "my network\n").unwrap();
    // A renamed copy inside the run directory.
    std::fs::copy(run.join("last.safetensors"), run.join("copy.safetensors")).unwrap();
    // A run killed before its first checkpoint.
    let early = dir.join("early");
    std::fs::create_dir(&early).unwrap();
    for name in ["command.txt", "network.txt"] {
        std::fs::copy(run.join(name), early.join(name)).unwrap();
    }
    let before = snapshot(&dir);
    let loose = folder.join("last.safetensors");
    assert_refused(
        "a loose checkpoint",
        &shadernet(&["train", "--resume", s(&loose), "--epochs", "2"]),
        &[
            &format!("--resume {}", loose.display()),
            "not a run directory",
            "command.txt",
            "--resume <run dir>",
        ],
    );
    assert_refused(
        "a folder of the user's",
        &shadernet(&["train", "--resume", s(&folder)]),
        &["not a run directory"],
    );
    let copy = run.join("copy.safetensors");
    assert_refused(
        "another checkpoint in a run directory",
        &shadernet(&["train", "--resume", s(&copy)]),
        &["copy.safetensors", "last.safetensors", "--resume <run dir>"],
    );
    assert_refused(
        "a run without a checkpoint",
        &shadernet(&["train", "--resume", s(&early)]),
        &["has no last.safetensors", "nothing to continue"],
    );
    assert_eq!(snapshot(&dir), before, "nothing is written");
    assert!(!folder.join(".lock").exists());
    // The run's own best.safetensors is a checkpoint to continue from.
    let best = run.join("best.safetensors");
    let (status, stdout, stderr) = shadernet(&["train", "--resume", s(&best)]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("test error"), "{stdout}");
}

#[test]
fn resume_keeps_or_raises_the_epoch_limit_never_lowers_it() {
    let (_, run) = small_run("rundir-epochs", "2");
    let before = snapshot(&run);
    assert_refused(
        "a lower limit",
        &shadernet(&["train", "--resume", s(&run), "--epochs", "1"]),
        &[
            "--epochs 1",
            "already trained 2 epochs",
            "--epochs 2 or more",
        ],
    );
    assert_eq!(snapshot(&run), before, "nothing is rewritten");
    // The same limit: the finished run reports again, network.txt untouched.
    let network = std::fs::read(run.join("network.txt")).unwrap();
    let modified = |name: &str| {
        std::fs::metadata(run.join(name))
            .unwrap()
            .modified()
            .unwrap()
    };
    let network_time = modified("network.txt");
    let (status, stdout, stderr) = shadernet(&["train", "--resume", s(&run), "--epochs", "2"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.lines().last().unwrap().contains("test error"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(run.join("network.txt")).unwrap(), network);
    assert_eq!(
        modified("network.txt"),
        network_time,
        "network.txt is not rewritten"
    );
    // A raised limit is the run's new limit, in network.txt as in the checkpoint.
    let (status, _, stderr) = shadernet(&["train", "--resume", s(&run), "--epochs", "3"]);
    assert_eq!(status, 0, "{stderr}");
    let text = std::fs::read_to_string(run.join("network.txt")).unwrap();
    assert!(text.contains("epochs 3\n"), "{text}");
    let checkpoint = Checkpoint::load(&run.join("last.safetensors")).unwrap();
    assert_eq!(
        (checkpoint.epoch(), checkpoint.network.training.epochs),
        (3, 3)
    );
}

#[test]
fn resume_keeps_the_runs_threads_and_says_when_they_change() {
    let (dir, net) = small_setup("rundir-threads");
    let (straight, split) = (dir.join("straight"), dir.join("split"));
    let three = ["--threads", "3"];
    let (status, _, stderr) = train_small(
        &dir,
        &net,
        &straight,
        &[&three[..], &["--epochs", "2"]].concat(),
    );
    assert_eq!(status, 0, "{stderr}");
    let (status, _, stderr) = train_small(
        &dir,
        &net,
        &split,
        &[&three[..], &["--epochs", "1"]].concat(),
    );
    assert_eq!(status, 0, "{stderr}");
    // Without --threads the resume runs on the run's 3 threads, whatever the machine has.
    let (status, _, stderr) =
        shadernet(&["train", "--resume", s(&split), "--epochs", "2", "--quiet"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(!stderr.contains("note"), "{stderr}");
    let checkpoint = Checkpoint::load(&split.join("last.safetensors")).unwrap();
    assert_eq!(checkpoint.backend, "cpu (3 threads)");
    let csv = |run: &Path| {
        std::fs::read_to_string(run.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        csv(&split),
        csv(&straight),
        "bit-identical to the straight run"
    );
    // Told otherwise, it says so on stderr, --quiet or not.
    let (status, stdout, stderr) = shadernet(&[
        "train",
        "--resume",
        s(&split),
        "--epochs",
        "3",
        "--threads",
        "1",
        "--quiet",
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stderr.contains("the run so far used cpu (3 threads), it continues on cpu (1 thread)")
            && stderr.contains("not be bit-identical"),
        "{stderr}"
    );
}

/// A checkpoint's contents with the history's timings zeroed, equal for two runs that trained
/// the same numbers: its metadata (sorted: the file keeps no order) and each tensor's name,
/// dtype, shape and bytes.
fn checkpoint_without_times(path: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let mut checkpoint = Checkpoint::load(path).unwrap_or_else(|e| panic!("{e}"));
    for epoch in &mut checkpoint.epochs {
        epoch.seconds = 0.0;
        epoch.train_seconds = 0.0;
    }
    let bytes = checkpoint.to_bytes().unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata: Vec<(String, String)> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    metadata.sort();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<String> = file
        .tensors()
        .into_iter()
        .map(|(name, t)| format!("{name} {:?} {:?} {:?}", t.dtype(), t.shape(), t.data()))
        .collect();
    tensors.sort();
    (metadata, tensors)
}

/// metrics.csv without its timing columns, and metrics.jsonl without its timing fields.
fn metrics_without_times(run: &Path) -> (Vec<String>, Vec<serde_json::Value>) {
    let csv = std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
        .collect();
    let jsonl = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
            let row_map = row.as_object_mut().unwrap();
            for timing in [
                "seconds",
                "images_per_second",
                "train_seconds",
                "cumulative_train_seconds",
            ] {
                assert!(row_map.remove(timing).is_some(), "{line}");
            }
            row
        })
        .collect();
    (csv, jsonl)
}

/// The summary line's first part: the test error, its counts.
fn summary(stdout: &str) -> String {
    let last = stdout.lines().last().unwrap_or_default();
    last.split(" | ").next().unwrap().to_string()
}

#[test]
fn a_kill_at_any_write_resumes_to_the_files_of_a_run_that_never_stopped() {
    let (dir, net) = small_setup("rundir-kills");
    let flags = ["--epochs", "2", "--threads", "1"];
    let straight = dir.join("straight");
    let (status, full, stderr) = train_small(&dir, &net, &straight, &flags);
    assert_eq!(status, 0, "{stderr}");
    let files = dir_names(&straight);
    let mut kill_points = 0;
    for write in 1.. {
        let mut finished = 0;
        for hook in [
            "SHADERNET_TEST_ABORT_DURING_WRITE",
            "SHADERNET_TEST_ABORT_AFTER_WRITE",
        ] {
            let run = dir.join(format!("kill-{write}-{hook}"));
            let mut args = vec!["train", "--data", s(&dir), "--model", s(&net)];
            args.extend(["--validation", "30", "--out", s(&run), "--quiet"]);
            args.extend(flags);
            let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
                .args(&args)
                .env(hook, write.to_string())
                .output()
                .unwrap();
            if out.status.success() {
                // Past the run's last write.
                finished += 1;
                continue;
            }
            kill_points += 1;
            assert_eq!(
                out.status.code(),
                None,
                "{hook}={write}: killed by a signal"
            );
            let temporaries = dir_names(&run)
                .iter()
                .filter(|n| n.ends_with(".tmp"))
                .count();
            let during = hook.contains("DURING");
            assert_eq!(
                temporaries,
                usize::from(during),
                "{hook}={write}: {:?}",
                dir_names(&run)
            );
            let resumed = shadernet(&["train", "--resume", s(&run)]);
            if !run.join("last.safetensors").exists() {
                // Killed before the first checkpoint: there is nothing to continue.
                // (Killed at the first write, it is not even a run directory yet.)
                let what = format!("{hook}={write}");
                assert_refused(&what, &resumed, &[&format!("--resume {}: ", run.display())]);
                assert!(
                    resumed.2.contains("has no last.safetensors")
                        || resumed.2.contains("not a run directory"),
                    "{what}: {}",
                    resumed.2
                );
                let commands = std::fs::read_to_string(run.join("command.txt")).unwrap_or_default();
                assert!(commands.is_empty() || commands.ends_with('\n'));
                continue;
            }
            let (status, stdout, stderr) = resumed;
            assert_eq!(status, 0, "{hook}={write}: {stderr}");
            assert_eq!(summary(&stdout), summary(&full), "{hook}={write}");
            assert_eq!(
                dir_names(&run),
                files,
                "{hook}={write}: the same files, no temporary"
            );
            for file in ["last.safetensors", "best.safetensors"] {
                assert!(
                    checkpoint_without_times(&run.join(file))
                        == checkpoint_without_times(&straight.join(file)),
                    "{hook}={write}: {file} differs"
                );
            }
            assert_eq!(
                metrics_without_times(&run),
                metrics_without_times(&straight),
                "{hook}={write}"
            );
            for file in ["network.txt", "curves.png", "misclassified.png"] {
                assert!(
                    std::fs::read(run.join(file)).unwrap()
                        == std::fs::read(straight.join(file)).unwrap(),
                    "{hook}={write}: {file} differs"
                );
            }
            let commands = std::fs::read_to_string(run.join("command.txt")).unwrap();
            assert_eq!(commands.lines().count(), 2, "{hook}={write}: {commands}");
            assert!(commands.lines().nth(1).unwrap().contains("--resume"));
        }
        if finished == 2 {
            break;
        }
        assert!(write < 100, "the run never finished");
    }
    // Two per write: 2 files, then per epoch the checkpoints, metrics and curves.
    assert!(kill_points >= 20, "only {kill_points} kill points");
}
