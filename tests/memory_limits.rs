//! Bounded memory: the memory a network, batch and dataset need is worked out before anything
//! is allocated and compared with a limit (`--memory-limit`, `SHADERNET_MEMORY_LIMIT`, or 80%
//! of the machine's memory); a run above it is refused with the numbers and how to raise the
//! limit, before it writes anything. The estimate stays within 2x of what the CPU executor
//! really allocates (a counting allocator watches it), GPU sizes never wrap around, FLOP sums
//! saturate, and a picture too large to convert is refused from its header.

#[path = "common/cli.rs"]
mod cli_common;
mod common;
#[path = "common/gpu.rs"]
mod gpu_common;

use cli_common::{s, small_run, small_setup};
use common::{dir_names, temp_dir, write_synthetic_dataset};
use shadernet::cpu::executor::CpuExecutor;
use shadernet::data::load_dir;
use shadernet::executor::Executor;
use shadernet::gpu::net::check_sizes;
use shadernet::gpu::plan::ExecutionPlan;
use shadernet::model::memory::{LIMIT_ENV, cpu_need, parse_size};
use shadernet::model::{Plan, PlannedLayer, Shape, preset};
use std::io::Write;
use std::path::Path;
use std::process::Command;

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// Runs the binary with `SHADERNET_MEMORY_LIMIT` set to `env` (or unset); returns (exit code,
/// stderr).
fn run(args: &[&str], env: Option<&str>) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shadernet"));
    command.args(args).env_remove(LIMIT_ENV);
    if let Some(value) = env {
        command.env(LIMIT_ENV, value);
    }
    let out = command.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `stderr` holds every one of `parts`.
fn assert_says(stderr: &str, parts: &[&str]) {
    for part in parts {
        assert!(stderr.contains(part), "`{part}` not in:\n{stderr}");
    }
}

/// The case: every tensor passes the 2^30-value check, but `flatten` and three
/// `dense 32768` hold over 2 billion parameters (8.7 GB each copy).
const TWO_BILLION: &str =
    "flatten\ndense 32768\ndense 32768\ndense 32768\ndense classes\nsoftmax\n";

/// `train` of the network `text` on the small synthetic set, into `DIR/run`, with `flags`
/// and `SHADERNET_MEMORY_LIMIT=env`; asserts it is refused before `DIR` changes and returns
/// stderr.
fn refused_train(name: &str, text: &str, flags: &[&str], env: Option<&str>) -> String {
    let dir = temp_dir(name);
    write_synthetic_dataset(&dir, 60, 12);
    let net = dir.join("net.txt");
    std::fs::write(&net, text).unwrap();
    let before = dir_names(&dir);
    let out = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(&dir),
        "--model",
        s(&net),
        "--validation",
        "10",
        "--out",
        s(&out),
    ];
    args.extend(flags);
    let (status, stderr) = run(&args, env);
    assert_eq!(status, 1, "{stderr}");
    assert_eq!(dir_names(&dir), before, "nothing is written:\n{stderr}");
    stderr
}

#[test]
fn two_billion_parameters_are_refused_with_the_need_and_the_limit() {
    let stderr = refused_train(
        "memory-2g",
        TWO_BILLION,
        &["--memory-limit", "16G", "--threads", "2"],
        None,
    );
    assert_says(
        &stderr,
        &[
            "network `net` at batch",
            "on the CPU executor (2 threads) needs about",
            "parameters and optimiser state 40.",
            "over the memory limit of 16.0 GiB (--memory-limit 16G)",
            "raise the limit with --memory-limit",
            "or SHADERNET_MEMORY_LIMIT=",
        ],
    );
}

#[test]
fn the_environment_sets_the_limit_and_the_flag_overrides_it() {
    let stderr = refused_train("memory-env", TWO_BILLION, &[], Some("12G"));
    assert_says(
        &stderr,
        &["over the memory limit of 12.0 GiB (SHADERNET_MEMORY_LIMIT=12G)"],
    );
    let stderr = refused_train(
        "memory-flag-wins",
        TWO_BILLION,
        &["--memory-limit", "1.5G"],
        Some("100T"),
    );
    assert_says(
        &stderr,
        &["over the memory limit of 1.5 GiB (--memory-limit 1.5G)"],
    );
}

#[test]
fn the_default_limit_is_a_share_of_the_machine() {
    // 30 layers of 2^30 weights: 640 GB of parameters and optimiser state, more than any
    // machine this runs on.
    let text = format!(
        "flatten\ndense 32768\n{}dense classes\nsoftmax\n",
        "dense 32768\n".repeat(29)
    );
    let stderr = refused_train("memory-default", &text, &[], None);
    assert_says(
        &stderr,
        &[
            "over the memory limit of",
            "(the default, 80% of this machine's",
        ],
    );
}

#[test]
fn limits_that_are_not_sizes_are_refused() {
    let (dir, net) = small_setup("memory-bad-limit");
    let base = [
        "train",
        "--data",
        s(&dir),
        "--model",
        s(&net),
        "--validation",
        "30",
        "--out",
    ];
    let out = dir.join("run");
    for bad in ["0", "lots", "-1G", "16X"] {
        let mut args = base.to_vec();
        args.extend([s(&out), "--memory-limit", bad]);
        let (status, stderr) = run(&args, None);
        assert_eq!(status, 2, "{bad}: {stderr}");
        assert_says(
            &stderr,
            &["--memory-limit", "is not a size", "such as 512M or 16G"],
        );
        assert!(!out.exists());
    }
    let mut args = base.to_vec();
    args.push(s(&out));
    let (status, stderr) = run(&args, Some("a lot"));
    assert_eq!(status, 1, "{stderr}");
    assert_says(&stderr, &["SHADERNET_MEMORY_LIMIT=`a lot` is not a size"]);
    assert!(!out.exists());
}

#[test]
fn bench_refuses_a_batch_above_the_limit_and_a_batch_past_the_flag_range() {
    let (status, stderr) = run(
        &[
            "bench",
            "--model",
            "seedtf",
            "--batch-size",
            "65536",
            "--backend",
            "cpu",
            "--threads",
            "2",
            "--steps",
            "1",
            "--repeats",
            "1",
            "--memory-limit",
            "2G",
        ],
        None,
    );
    assert_eq!(status, 1, "{stderr}");
    assert_says(
        &stderr,
        &[
            "seedtf at batch 65536: network `seedtf` at batch 65536 on the CPU executor (2 \
             threads) needs about",
            "over the memory limit of 2.0 GiB (--memory-limit 2G)",
            "1 benchmark rows failed",
        ],
    );
    // The 78 GB batch: refused by --batch-size's range (exit 2), or by the estimate.
    let (status, stderr) = run(
        &["bench", "--model", "seedtf", "--batch-size", "100000000"],
        None,
    );
    assert!(status == 1 || status == 2, "{status}: {stderr}");
    assert_says(&stderr, &["100000000"]);
}

#[test]
fn a_gpu_run_above_the_limit_is_refused_before_its_buffers() {
    if gpu_common::gpu_or_skip().is_none() {
        return;
    }
    let stderr = refused_train(
        "memory-gpu",
        TWO_BILLION,
        &["--backend", "gpu", "--memory-limit", "16G"],
        None,
    );
    assert_says(
        &stderr,
        &["at batch", "on the GPU needs about", "(--memory-limit 16G)"],
    );
}

/// seedtf on MNIST-sized images.
fn seedtf() -> Plan {
    preset("seedtf")
        .unwrap()
        .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
        .unwrap()
}

#[test]
fn normal_runs_fit_a_small_machine() {
    let plan = seedtf();
    for threads in [1, 2, 16, 64] {
        let need = cpu_need(&plan, 128, threads).total();
        assert!(need < 1 << 30, "{threads} threads: {need} bytes");
    }
    let gpu = ExecutionPlan::new(&plan, 128)
        .unwrap()
        .memory_need()
        .total();
    assert!(gpu < 1 << 30, "{gpu}");
    assert!(parse_size("16G").unwrap() > cpu_need(&plan, 128, 16).total() * 8);
}

#[test]
fn the_cpu_estimate_is_within_2x_of_what_the_executor_allocates() {
    let _alone = counting::serial();
    let dir = temp_dir("memory-estimate");
    write_synthetic_dataset(&dir, 256, 8);
    let data = load_dir(&dir).unwrap();
    let input = Shape::Image { c: 1, h: 8, w: 8 };
    for (name, batch) in [("seed9", 256), ("seedtf", 128), ("seed3", 64)] {
        let plan = preset(name).unwrap().plan(input, 10).unwrap();
        let indices: Vec<u32> = (0..batch as u32).collect();
        let (executor, used) = counting::peak_of(|| {
            let mut executor = CpuExecutor::new(&plan, 1, 2).unwrap();
            for _ in 0..2 {
                executor.train_step(&data.train, &indices, 0.01).unwrap();
            }
            executor
        });
        let used = used as f64;
        drop(executor);
        let need = cpu_need(&plan, batch, 2).total() as f64;
        assert!(
            (0.5..=2.0).contains(&(need / used)),
            "{name} at batch {batch}: estimate {need} bytes, peak {used} bytes"
        );
    }
}

#[test]
fn the_gpu_need_is_the_plans_buffers_by_kind() {
    for name in ["seed9", "seedtf", "seed3"] {
        let plan = preset(name)
            .unwrap()
            .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
            .unwrap();
        for batch in [16, 128, 1024] {
            let exec = ExecutionPlan::new(&plan, batch).unwrap();
            let need = exec.memory_need();
            assert_eq!(need.total(), exec.bytes(), "{name} at batch {batch}");
            assert!(need.parameters >= 8 * plan.params() as u64);
            assert!(need.activations >= 4 * (batch * plan.input.size()) as u64);
        }
    }
}

#[test]
fn gpu_sizes_of_a_huge_batch_do_not_wrap_around() {
    // 4 x 784 x 2^58 is 0 modulo 2^64: the unchecked product passed any limit.
    let batch = 288_230_376_151_711_744;
    let plan = seedtf();
    let e = check_sizes(u64::from(u32::MAX), &plan, batch)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a batch of 288230376151711744 needs more than 2^64 bytes")
            && e.contains("the largest batch that fits is"),
        "{e}"
    );
    let e = check_sizes(1 << 30, &plan, 1 << 40)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the largest batch that fits is"), "{e}");
    assert!(check_sizes(1 << 30, &plan, 128).is_ok());
    let e = ExecutionPlan::new(&plan, batch).unwrap_err().to_string();
    assert!(
        e.contains("too large for the GPU executor") && e.contains("the largest batch"),
        "{e}"
    );
    assert!(cpu_need(&plan, batch, 3).total() == u64::MAX);
}

#[test]
fn flop_sums_saturate() {
    let mut plan = seedtf();
    let mut layer: PlannedLayer = plan.layers[0].clone();
    layer.flops = 1 << 61;
    plan.layers = vec![layer; 1000];
    assert_eq!(plan.forward_flops(), u64::MAX);
    assert_eq!(plan.train_flops(), u64::MAX);
}

/// A valid grey PNG of `width x height` black pixels, written by hand (its rows are zeros, so
/// the file is small however large the picture).
fn black_png(path: &Path, width: u32, height: u32) {
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::best());
    let row = vec![0u8; width as usize + 1];
    for _ in 0..height {
        zlib.write_all(&row).unwrap();
    }
    let idat = zlib.finish().unwrap();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", &ihdr[..]),
        (b"IDAT", &idat[..]),
        (b"IEND", &[][..]),
    ] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    std::fs::write(path, png).unwrap();
}

#[test]
fn predict_refuses_a_picture_too_large_to_convert_from_its_header() {
    let (dir, run) = small_run("memory-png", "1");
    let best = run.join("best.safetensors");
    let huge = dir.join("huge.png");
    {
        let _alone = counting::serial();
        black_png(&huge, 20000, 20000);
    }
    assert!(std::fs::metadata(&huge).unwrap().len() < 1 << 20);
    let wide = dir.join("wide.png");
    black_png(&wide, 8193, 2);
    for (picture, size) in [(&huge, "20000x20000"), (&wide, "8193x2")] {
        let before = std::fs::read(picture).unwrap();
        let (status, stderr) = run_predict(&best, picture);
        assert_eq!(status, 1, "{stderr}");
        assert_says(
            &stderr,
            &[
                s(picture),
                &format!("the picture is {size} pixels, larger than the 8192x8192"),
                "scale it down",
            ],
        );
        assert_eq!(std::fs::read(picture).unwrap(), before);
    }
    // A hand-written PNG within the limits is read (and holds no digit).
    let small = dir.join("small.png");
    black_png(&small, 64, 64);
    let (status, stderr) = run_predict(&best, &small);
    assert_eq!(status, 1, "{stderr}");
    assert_says(&stderr, &["holds no digit"]);
}

fn run_predict(checkpoint: &Path, picture: &Path) -> (i32, String) {
    run(
        &["predict", "--checkpoint", s(checkpoint), s(picture)],
        None,
    )
}

#[cfg(target_os = "linux")]
#[test]
fn the_default_limit_respects_ulimit_v() {
    // Under a 4 GiB address-space limit the default budget is 80% of it, whatever the machine
    // has: a need above it is refused with that source instead of an allocation abort.
    let dir = temp_dir("memory-ulimit");
    write_synthetic_dataset(&dir, 60, 12);
    let net = dir.join("net.txt");
    std::fs::write(
        &net,
        "flatten\ndense 32768\ndense 32768\ndense classes\nsoftmax\n",
    )
    .unwrap();
    let before = dir_names(&dir);
    let out = Command::new("bash")
        .args(["-c", "ulimit -v 4194304 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_shadernet"))
        .args(["train", "--data", s(&dir), "--model", s(&net)])
        .args(["--validation", "10", "--out", s(&dir.join("run"))])
        .env_remove(LIMIT_ENV)
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_says(
        &stderr,
        &[
            "over the memory limit of 3.2 GiB",
            "address-space limit (ulimit -v) of 4.0 GiB",
        ],
    );
    assert_eq!(dir_names(&dir), before, "nothing is written");
}
