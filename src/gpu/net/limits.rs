//! What a planned network needs of the device, checked before anything is allocated: buffer
//! sizes against the binding limit, launches against the workgroups a grid dimension may have,
//! and the scratch the split products share.

use crate::error::{Error, Result};
use crate::gpu::context::Gpu;
use crate::gpu::kernel::MAX_GROUPS_PER_DIM;
use crate::gpu::ops::gemm::BLOCK_N;
use crate::model::ConvShape;
use crate::model::Plan;

/// The largest buffer a shader may bind on `gpu`, bytes.
pub(super) fn binding_limit(gpu: &Gpu) -> u64 {
    gpu.limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size)
}

/// Checks that every buffer of `plan` at batch `capacity` fits the device's binding limit and
/// that every convolution's GEMM launch fits the workgroups a grid dimension may have; the
/// error names the limit, the buffer or layer, and the largest batch that fits.
pub fn check_limits(gpu: &Gpu, plan: &Plan, capacity: usize) -> Result<()> {
    check_sizes(binding_limit(gpu), plan, capacity)
}

/// [`check_limits`] against a binding limit of `limit` bytes, without a device. Every size is
/// computed with checked arithmetic: a batch whose bytes overflow `u64` is over any limit.
pub fn check_sizes(limit: u64, plan: &Plan, capacity: usize) -> Result<()> {
    let params = (plan.params() as u64).saturating_mul(4);
    if params > limit {
        return Err(Error::Gpu(format!(
            "the network's {params} bytes of parameters exceed this adapter's \
             max_storage_buffer_binding_size of {limit} bytes"
        )));
    }
    let (largest, name) = std::iter::once((plan.input.size(), "the input".to_string()))
        .chain(plan.layers.iter().enumerate().map(|(i, l)| {
            (
                l.output.size(),
                format!("layer {} ({})'s output", i + 1, l.layer),
            )
        }))
        .max_by_key(|(s, _)| *s)
        .expect("the input is always there");
    let per_example = (largest as u64).saturating_mul(4).max(1);
    let bytes = per_example.checked_mul(capacity as u64);
    if bytes.is_none_or(|b| b > limit) {
        let needs = bytes.map_or_else(
            || "more than 2^64 bytes".to_string(),
            |b| format!("{b} bytes"),
        );
        let fits = limit / per_example;
        return Err(Error::Gpu(format!(
            "a batch of {capacity} needs {needs} for {name}, over this adapter's \
             max_storage_buffer_binding_size of {limit} bytes: the largest batch that fits is \
             {fits}"
        )));
    }
    // A convolution's GEMMs launch one workgroup per BLOCK_N pixels of the whole batch (its
    // input's for the data gradient, its output's otherwise) along one grid dimension. (For a
    // first layer, whose data gradient never runs, this is a little conservative.)
    for (i, l) in plan.layers.iter().enumerate() {
        let Some(sh) = ConvShape::of(l) else { continue };
        let pixels = (sh.h * sh.w).max(sh.ho * sh.wo).max(1);
        let groups = capacity.checked_mul(pixels).map(|p| p.div_ceil(BLOCK_N));
        if groups.is_none_or(|g| g > MAX_GROUPS_PER_DIM as usize) {
            let fits = MAX_GROUPS_PER_DIM as usize * BLOCK_N / pixels;
            let groups = groups.map_or_else(|| "more than 2^64".to_string(), |g| g.to_string());
            return Err(Error::Gpu(format!(
                "a batch of {capacity} gives layer {} ({})'s matrix products {groups} \
                 workgroups along one dimension, over the {MAX_GROUPS_PER_DIM} a launch may \
                 have: the largest batch that fits is {fits}",
                i + 1,
                l.layer
            )));
        }
    }
    Ok(())
}
