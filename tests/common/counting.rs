//! A counting global allocator for the test binaries that bound memory (each declares it
//! with `#[global_allocator] static GLOBAL: counting::Counting = counting::Counting;`, so it
//! needs a binary of its own), and the helpers that read it: the peak a piece of work
//! allocates, serialised so that one test's allocations never count in another's peak, and on
//! a watchdog thread for work that might hang.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::Duration;

/// The allocator: the system's, counting the bytes live and their peak.
pub struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

fn add(size: usize) {
    let live = LIVE_BYTES.fetch_add(size, Ordering::SeqCst) + size;
    PEAK_BYTES.fetch_max(live, Ordering::SeqCst);
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // Counted without touching the pages (a huge zeroed vector costs nothing until used).
        add(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Held by each test that measures, for its whole run, so that one test's allocations never
/// count in another's peak.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns its result and the most bytes it had allocated at once (beyond what
/// was live before). Hold [`serial`] around it.
pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    PEAK_BYTES.store(before, Ordering::SeqCst);
    let result = f();
    let peak = PEAK_BYTES.load(Ordering::SeqCst).saturating_sub(before);
    (result, peak)
}

/// [`peak_of`] on a watchdog thread: `None` when `f` panicked or ran over a minute (a hang: a
/// generous bound that no slow machine reaches, not a timing assertion).
pub fn measured<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<(T, usize)> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(peak_of(f));
    });
    receive.recv_timeout(Duration::from_secs(60)).ok()
}
