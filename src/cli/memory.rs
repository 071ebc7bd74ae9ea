//! The memory limit of a command (`--memory-limit`, `SHADERNET_MEMORY_LIMIT`, or a share of the
//! machine's memory) and the check every executor passes before it allocates
//! ([`shadernet::model::memory`] works out the numbers).

use shadernet::error::Result;
use shadernet::gpu::plan::ExecutionPlan;
use shadernet::model::Plan;
use shadernet::model::memory::{MemoryLimit, check, cpu_need, resident_bytes};
use std::sync::{Mutex, PoisonError};

/// The limit this command resolved ([`set_limit`]); the machine's default until then.
static LIMIT: Mutex<Option<MemoryLimit>> = Mutex::new(None);

/// `--memory-limit SIZE`'s value parser.
pub(crate) fn limit_flag(text: &str) -> std::result::Result<MemoryLimit, String> {
    MemoryLimit::from_flag(text)
}

/// Resolves this command's limit from `--memory-limit` (`flag`), else the environment, else the
/// machine; an environment variable that is not a size is an error.
pub(crate) fn set_limit(flag: Option<MemoryLimit>) -> Result<()> {
    let limit = MemoryLimit::resolve(flag)?;
    *LIMIT.lock().unwrap_or_else(PoisonError::into_inner) = Some(limit);
    Ok(())
}

/// Refuses, before anything is allocated, an executor for `plan` at batches of `batch` whose
/// memory (on the CPU executor with `threads` threads, or on the GPU when `threads` is `None`),
/// with what the process holds already, is above the command's limit.
pub(crate) fn check_executor_memory(
    plan: &Plan,
    threads: Option<usize>,
    batch: usize,
) -> Result<()> {
    let limit = match LIMIT.lock().unwrap_or_else(PoisonError::into_inner).clone() {
        Some(limit) => limit,
        None => MemoryLimit::resolve(None)?,
    };
    let (need, on) = match threads {
        Some(threads) => (
            cpu_need(plan, batch, threads),
            format!(
                "the CPU executor ({threads} thread{})",
                if threads == 1 { "" } else { "s" }
            ),
        ),
        // The GPU's buffer list is known exactly before any is created.
        None => (
            ExecutionPlan::new(plan, batch)?.memory_need(),
            "the GPU".to_string(),
        ),
    };
    let what = format!("network `{}` at batch {batch} on {on}", plan.network.name);
    check(&need, resident_bytes(), &limit, &what)
}
