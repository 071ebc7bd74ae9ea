//! `train --profile`: the table of GPU time per kernel in one training step.

use crate::cli::output::outln;
use shadernet::error::Result;
use shadernet::gpu::Gpu;
use shadernet::model::Plan;

/// The `--profile` table: GPU time per kernel in one training step.
pub(super) fn print_profile(gpu: &Gpu, plan: &Plan) -> Result<()> {
    let batch = plan.network.training.batch_size;
    let (times, clock) = shadernet::gpu::profile::profile_training_step(gpu, plan, batch, 10)?;
    let total: f64 = times.iter().map(|t| t.ms).sum();
    outln!(
        "profile: GPU time per training step at batch {batch}, {total:.3} ms in all (median of 10; {})",
        clock.describe()
    );
    outln!(
        "  {:<44} {:>10} {:>10} {:>6}",
        "kernel",
        "dispatches",
        "ms/step",
        "%"
    );
    for t in &times {
        outln!(
            "  {:<44} {:>10} {:>10.3} {:>5.1}%",
            t.kernel,
            t.dispatches,
            t.ms,
            100.0 * t.ms / total.max(1e-12)
        );
    }
    Ok(())
}
