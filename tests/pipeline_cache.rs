//! Compiled pipelines are kept on disk for the next start (where the device offers a pipeline
//! cache; lavapipe does, though it stores little in it).

#[path = "common/gpu.rs"]
mod gpu_common;

use shadernet::gpu::kernel::{Buffers, run};
use shadernet::gpu::ops::matmul::matmul;

#[test]
fn compiling_a_kernel_writes_the_pipeline_cache_file() {
    let dir = std::env::temp_dir().join(format!("shadernet-pipelines-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // SAFETY: this test binary has this one test, and no other thread reads the environment yet.
    unsafe { std::env::set_var("SHADERNET_CACHE_DIR", &dir) };
    let Some(gpu) = gpu_common::gpu_or_skip() else {
        return;
    };
    let Some(disk) = gpu.kernels.disk_cache() else {
        assert!(!gpu.features.contains(wgpu::Features::PIPELINE_CACHE));
        println!(
            "{} has no pipeline cache; nothing to keep",
            gpu.summary.name
        );
        return;
    };
    assert!(disk.path().starts_with(&dir), "{}", disk.path().display());
    // A program's kernels are compiled, then the cache written.
    let mut arena = Buffers::new();
    let (a, b, c) = (
        arena.alloc(gpu, "a", 16),
        arena.alloc(gpu, "b", 16),
        arena.alloc(gpu, "c", 16),
    );
    let scratch = arena.alloc(gpu, "scratch", 4);
    run(
        gpu,
        &arena,
        &matmul(a.into(), b.into(), c.into(), scratch, 2, 2, 2, 0),
    )
    .unwrap();
    assert!(
        disk.path().is_file(),
        "{} was not written",
        disk.path().display()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the cache file, no temporary: {leftovers:?}"
    );
}
