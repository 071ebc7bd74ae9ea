//! The CPU executor's training steps keep memory flat once its buffers have grown to the batch
//! size: a counting global allocator watches steps 4–13 of seed9 (convolutions, pooling,
//! dropout, augmentation, Adam) and of seedtf (batchnorm, whose statistics the threads
//! exchange) on two threads, the way `train` runs them. shadernet's own code
//! allocates nothing in a step (its worker threads are started once, its scratch reused); the
//! allocations that remain are the `gemm` crate's packing buffers, at most one per GEMM call,
//! freed before the call returns — so each step allocates the same number of times, and no bytes stay
//! allocated.

mod common;

use common::{temp_dir, write_synthetic_dataset};
use shadernet::cpu::executor::CpuExecutor;
use shadernet::data::load_dir;
use shadernet::executor::Executor;
use shadernet::model::{Shape, preset};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        LIVE_BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        LIVE_BYTES.fetch_add(new_size, Ordering::SeqCst);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations in each of steps 4–13 of preset `name` on synthetic 8x8 images; panics if the
/// steps leave more bytes allocated than before them.
fn allocations_per_step(name: &str) -> Vec<usize> {
    let dir = temp_dir(&format!("cpu-allocation-{name}"));
    write_synthetic_dataset(&dir, 64, 8);
    let data = load_dir(&dir).unwrap();
    let network = preset(name).unwrap();
    // The synthetic images are 8x8.
    let plan = network.plan(Shape::Image { c: 1, h: 8, w: 8 }, 10).unwrap();
    let mut executor = CpuExecutor::new(&plan, 1, 2).unwrap();
    let batches: Vec<Vec<u32>> = (0..13u32)
        .map(|s| (0..16).map(|i| (s * 16 + i) % 64).collect())
        .collect();
    for indices in &batches[..3] {
        executor.train_step(&data.train, indices, 1e-3).unwrap();
    }
    let mut per_step = Vec::with_capacity(batches.len());
    let live_before = LIVE_BYTES.load(Ordering::SeqCst);
    for indices in &batches[3..] {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        executor.train_step(&data.train, indices, 1e-3).unwrap();
        per_step.push(ALLOCATIONS.load(Ordering::SeqCst) - before);
    }
    let live_after = LIVE_BYTES.load(Ordering::SeqCst);
    println!("{name}: allocations per step (GEMM packing buffers): {per_step:?}");
    assert_eq!(
        live_after, live_before,
        "{name}: bytes left allocated by 10 steps"
    );
    per_step
}

#[test]
fn cpu_training_steps_keep_memory_flat() {
    assert!(
        preset("seed9").unwrap().training.augment > 0.0,
        "seed9 steps augment"
    );
    for name in ["seed9", "seedtf"] {
        let per_step = allocations_per_step(name);
        assert!(
            per_step.iter().all(|&a| a == per_step[0]),
            "{name}: allocations per step vary: {per_step:?}"
        );
        if name == "seed9" {
            // 16 images x (conv 1: forward, dW; conv 2: forward, dW, dx) + 2 threads x (dense
            // forward, dW, dx) GEMM calls, each allocating at most one packing buffer (none
            // where its operands are small enough to pack on the stack): nothing else in a
            // seed9 step allocates.
            let gemm_calls = 16 * 5 + 2 * 3;
            assert!(
                per_step[0] <= gemm_calls,
                "seed9: {} allocations per step, more than its {gemm_calls} GEMM calls",
                per_step[0]
            );
        }
    }
}
