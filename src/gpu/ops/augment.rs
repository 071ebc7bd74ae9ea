//! Augmentation launcher (twin of `data::augment`): warps a gathered batch on the device with
//! the same counter-based draws as [`crate::data::augment::warp_params`] and
//! [`crate::data::augment::elastic_params`].

use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, groups_1d};
use crate::model::AugmentRanges;

/// Host twin of `augment.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AugmentParams {
    /// Batch size `N`.
    pub n: u32,
    /// `C`.
    pub c: u32,
    /// `H`.
    pub h: u32,
    /// `W`.
    pub w: u32,
    /// The run's augment seed.
    pub seed: u32,
    /// The training step.
    pub step: u32,
    /// Chance per image of a warp.
    pub chance: f32,
    /// [`AugmentRanges::scale_x`].
    pub scale_x: f32,
    /// [`AugmentRanges::scale_y`].
    pub scale_y: f32,
    /// [`AugmentRanges::rotation_degrees`].
    pub rotation_degrees: f32,
    /// [`AugmentRanges::zoom`].
    pub zoom: f32,
    /// [`AugmentRanges::translate_px`].
    pub translate_px: f32,
    /// [`AugmentRanges::elastic_px`] (0: no elastic displacement).
    pub elastic_px: f32,
    /// Padding to 16 bytes.
    pub pad: [u32; 3],
}

/// Which warps a step draws: the run's augment seed, the step, the chance and the ranges.
#[derive(Clone, Copy, Debug)]
pub struct AugmentKey {
    /// The run's augment seed (`data::augment::augment_seed`).
    pub seed: u32,
    /// The training step.
    pub step: u32,
    /// Chance per image, in `[0, 1]`.
    pub chance: f32,
    /// The warp's ranges.
    pub ranges: AugmentRanges,
}

/// `x (n, C, H, W)` = image `b` of `src (n, C, H, W)` warped with
/// `warp_params(seed, step, b, chance, ranges)` and `elastic_params(seed, step, b, ranges)`
/// (bilinear, zeros outside), or copied.
/// `dims = (C, H, W)`; `src` and `x` must be different buffers.
pub fn augment(
    src: BufferId,
    x: BufferId,
    n: usize,
    dims: (usize, usize, usize),
    key: &AugmentKey,
) -> Dispatch {
    let (c, h, w) = dims;
    let r = &key.ranges;
    let p = AugmentParams {
        n: u(n),
        c: u(c),
        h: u(h),
        w: u(w),
        seed: key.seed,
        step: key.step,
        chance: key.chance,
        scale_x: r.scale_x,
        scale_y: r.scale_y,
        rotation_degrees: r.rotation_degrees,
        zoom: r.zoom,
        translate_px: r.translate_px,
        elastic_px: r.elastic_px,
        pad: [0; 3],
    };
    Dispatch::new(Kernel::Augment, groups_1d(n * c * h * w), vec![src, x], &p)
}

#[cfg(test)]
mod tests {
    use crate::data::augment::{ELASTIC_CELLS, ELASTIC_FIRST_DRAW};

    #[test]
    fn the_shader_has_the_hosts_elastic_grid() {
        let shader = include_str!("../../../shaders/augment.wgsl");
        for line in [
            format!("const ELASTIC_CELLS: u32 = {ELASTIC_CELLS}u;"),
            format!("const ELASTIC_FIRST_DRAW: u32 = {ELASTIC_FIRST_DRAW}u;"),
        ] {
            assert!(shader.contains(&line), "augment.wgsl lacks `{line}`");
        }
    }
}
