//! A fixed team of worker threads, started once with the network, that run one job per
//! training step: [`Team::run`] calls `job(0)` on the calling thread and `job(i)` on helper `i`
//! at the same time, and returns when every call has returned. No thread is started and nothing
//! is allocated per call (a mutex and two condition variables hand the job over), unlike
//! `std::thread::scope`, which starts its threads anew each time.
//!
//! The calls run concurrently, so jobs may wait for each other (the batchnorm all-reduce does).
//! A panicking job is caught, the other calls are still waited for, and the panic is raised
//! again on the calling thread — unless another job waits for the panicking one (at a barrier),
//! which then waits forever, as it would under `std::thread::scope`. Jobs panic only on a bug.
//!
//! Handing a borrowed job to threads that outlive the call needs one `unsafe` step (its lifetime
//! erased, see [`Team::run`]); `std::thread::scope` would need none but starts threads every
//! step. The tests below exercise it with jobs borrowing data that dies right after each call;
//! `cargo +nightly miri test --lib cpu::team` runs them under Miri, which checks every access
//! against the borrow (on demand: Miri needs a nightly toolchain, so CI does not run it).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// The job of one call, its lifetime erased so helpers can hold it (see the safety argument in
/// [`Team::run`]).
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, so calling it from several threads is allowed; the pointer is
// only dereferenced while `Team::run` keeps the referent alive.
unsafe impl Send for Job {}

#[derive(Default)]
struct State {
    /// Incremented by every call; a helper runs each generation once.
    generation: u64,
    /// Participants of the current call (the caller is index 0).
    count: usize,
    job: Option<Job>,
    /// Helpers of the current call still running.
    pending: usize,
    /// Whether a helper's job panicked during the current call.
    panicked: bool,
    /// Set when the team is dropped.
    closing: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signals a new generation (or closing) to the helpers.
    wake: Condvar,
    /// Signals the caller that `pending` reached 0.
    finished: Condvar,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Jobs run outside the lock and panics are caught, so a poisoned lock holds consistent state.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The calling thread plus `size − 1` helper threads.
pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

impl Team {
    /// A team of `size` participants (at least 1): the caller and `size − 1` helpers, started
    /// now. If the system refuses to start a helper, the team is smaller ([`Team::size`]).
    pub fn new(size: usize) -> Team {
        let shared = Arc::new(Shared::default());
        let helpers = (1..size.max(1))
            .map_while(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("shadernet-cpu-{index}"))
                    .spawn(move || helper(&shared, index))
                    .ok()
            })
            .collect();
        Team { shared, helpers }
    }

    /// Participants, the caller included.
    pub fn size(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Calls `job(i)` for `i < count` (clamped to `1..=size`), `job(0)` on this thread and the
    /// others on helpers, all at once; returns when all have returned. Re-raises a job's panic.
    /// Takes `&mut self` so that two calls can never overlap (their jobs would share `State`).
    pub fn run(&mut self, count: usize, job: &(dyn Fn(usize) + Sync)) {
        let count = count.clamp(1, self.size());
        // SAFETY: helpers dereference this pointer only between the `notify_all` below and the
        // moment they decrement `pending`; this function returns (or unwinds) only after
        // `pending` is 0 and the pointer has been cleared, so `job` outlives every use. No other
        // call can reset `pending` meanwhile: `run` takes `&mut self`.
        let borrowed: *const (dyn Fn(usize) + Sync + '_) = job;
        let erased = unsafe {
            std::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(borrowed)
        };
        {
            let mut state = lock(&self.shared.state);
            state.generation += 1;
            state.count = count;
            state.job = Some(Job(erased));
            state.pending = count - 1;
            state.panicked = false;
        }
        self.shared.wake.notify_all();
        let own = catch_unwind(AssertUnwindSafe(|| job(0)));
        let helper_panicked = {
            let mut state = lock(&self.shared.state);
            while state.pending > 0 {
                state = self
                    .shared
                    .finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.job = None;
            state.panicked
        };
        if let Err(payload) = own {
            resume_unwind(payload);
        }
        if helper_panicked {
            panic!("a CPU worker thread panicked (its message is printed above)");
        }
    }
}

/// Helper `index`: runs its share of each generation it takes part in, until the team closes.
fn helper(shared: &Shared, index: usize) {
    let mut seen = 0;
    loop {
        let job = {
            let mut state = lock(&shared.state);
            while state.generation == seen && !state.closing {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.closing {
                return;
            }
            seen = state.generation;
            match state.job {
                Some(job) if index < state.count => job,
                _ => continue,
            }
        };
        // SAFETY: `Team::run` keeps the job alive until this helper decrements `pending`.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)(index) }));
        let mut state = lock(&shared.state);
        state.panicked |= result.is_err();
        state.pending -= 1;
        if state.pending == 0 {
            shared.finished.notify_all();
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        lock(&self.shared.state).closing = true;
        self.shared.wake.notify_all();
        for helper in self.helpers.drain(..) {
            // A helper only ends by returning (its jobs' panics are caught).
            let _ = helper.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_index_runs_once_per_call_and_concurrently() {
        let mut team = Team::new(3);
        assert_eq!(team.size(), 3);
        for count in [3, 2, 1, 3, 5] {
            let runs: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            let participants = count.min(3);
            // A barrier every participant must reach: it would hang if the calls ran one by one.
            let barrier = Barrier::new(participants);
            team.run(count, &|i| {
                barrier.wait();
                runs[i].fetch_add(1, Ordering::SeqCst);
            });
            for (i, r) in runs.iter().enumerate() {
                let want = usize::from(i < participants);
                assert_eq!(r.load(Ordering::SeqCst), want, "count {count} index {i}");
            }
        }
    }

    #[test]
    fn jobs_may_borrow_what_dies_right_after_the_call() {
        let mut team = Team::new(2);
        let mut sums = Vec::new();
        for call in 0..20 {
            // Fresh data each call, dropped when the iteration ends: a helper touching the job
            // after `run` returned would read freed memory (which Miri reports).
            let data: Vec<usize> = (0..64).map(|v| v * call).collect();
            let total = AtomicUsize::new(0);
            team.run(2, &|i| {
                let half = &data[i * 32..(i + 1) * 32];
                total.fetch_add(half.iter().sum::<usize>(), Ordering::SeqCst);
            });
            sums.push(total.load(Ordering::SeqCst));
        }
        let want: Vec<usize> = (0..20).map(|call| call * 63 * 64 / 2).collect();
        assert_eq!(sums, want);
    }

    #[test]
    fn a_helper_panic_reaches_the_caller_and_the_team_still_works() {
        let mut team = Team::new(2);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            team.run(2, &|i| assert_ne!(i, 1, "helper fails"));
        }));
        assert!(caught.is_err());
        let total = AtomicUsize::new(0);
        team.run(2, &|i| {
            total.fetch_add(i + 1, Ordering::SeqCst);
        });
        assert_eq!(total.load(Ordering::SeqCst), 3);
    }
}
