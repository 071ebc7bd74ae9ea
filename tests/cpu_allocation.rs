//! The CPU executor's training steps keep memory flat once its buffers have grown to the batch
//! size: a counting global allocator watches steps 4–13 of seed9 (convolutions, pooling,
//! dropout, augmentation, Adam) on two threads, the way `train` runs them. shadernet's own code
//! allocates nothing in a step (its worker threads are started once, its scratch reused); the
//! allocations that remain are `matrixmultiply`'s packing buffers, one per GEMM call, freed
//! before the call returns — so each step allocates the same number of times, and no bytes stay
//! allocated.

mod common;

use common::{temp_dir, write_synthetic_dataset};
use shadernet::cpu::executor::CpuExecutor;
use shadernet::data::load_dir;
use shadernet::model::{Shape, preset};
use shadernet::train::Executor;
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

#[test]
fn cpu_training_steps_keep_memory_flat() {
    let dir = temp_dir("cpu-allocation");
    write_synthetic_dataset(&dir, 64, 8);
    let data = load_dir(&dir).unwrap();
    let network = preset("seed9").unwrap();
    assert!(
        network.training.augment > 0.0,
        "the step should include augmentation"
    );
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
    println!("allocations per step (matrixmultiply's packing buffers): {per_step:?}");
    assert_eq!(live_after, live_before, "bytes left allocated by 10 steps");
    assert!(
        per_step.iter().all(|&a| a == per_step[0]),
        "allocations per step vary: {per_step:?}"
    );
}
