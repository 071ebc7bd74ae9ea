//! Data augmentation: with a given chance per training image, a random affine warp about the
//! image centre combining horizontal and vertical scaling, rotation, zoom and a small
//! translation (the seed report's augmentation, plus translation), optionally followed by a
//! smooth random (elastic) displacement, sampled bilinearly with zeros outside the image.
//!
//! Every random number is [`counter_uniform`]`(seed, step, draw, index)`: a pure function of
//! the run's augment seed ([`augment_seed`]), the training step, which draw (0–6 for the affine
//! warp, 7–56 for the elastic grid) and the
//! image's position in the batch. So the GPU's `augment.wgsl` draws the same warps from the same
//! numbers, and a resumed run draws the warps it would have drawn.
//!
//! Draws for image `index` of step `step`, each `u ∈ [0, 1)`, `s(u, r) = (2u − 1)·r`:
//! `u₀ < chance` applies a warp; then horizontal scale `a = 1 + s(u₁, scale_x)`, vertical scale
//! `b = 1 + s(u₂, scale_y)`, rotation `θ = s(u₃, rotation_degrees)·π/180`, zoom
//! `z = 1 + s(u₄, zoom)`, translation `t = (s(u₅, translate_px), s(u₆, translate_px))`.
//! The warp takes source pixel `q` to `c + R(θ)·diag(a·z, b·z)·(q − c) + t` (`c` the centre,
//! `((W − 1)/2, (H − 1)/2)`, `x` to the right, `y` down); an output pixel `p` samples the
//! source at its inverse, [`Affine::source`].
//!
//! The elastic part (range `elastic` pixels, 0 = off; after Simard et al., 2003, with the
//! Gaussian-smoothed random field replaced by a coarse grid, which both executors evaluate per
//! pixel in a few operations): an [`ELASTIC_CELLS`] x [`ELASTIC_CELLS`] grid spans the image,
//! its corner `k = j·(ELASTIC_CELLS + 1) + i` (column `i`, row `j`) moves by
//! `(s(u_{7+2k}, elastic), s(u_{8+2k}, elastic))`, and output pixel `p` samples the source at
//! `Affine::source(p) + d(p)`, `d` the bilinear interpolation of the corners' displacements at
//! `p` ([`Elastic::displacement`]). Drawn only for images the chance warps.

use std::path::Path;

use super::Dataset;
use crate::error::{Error, Result};
use crate::model::AugmentRanges;
use crate::rng::{Rng, counter_uniform};

/// One warp, as the map from an output pixel `p = (x, y)` to the source position it samples:
/// `source(p) = c + m·(p − c − t)`, with `m` the inverse of `R(θ)·diag(a·z, b·z)`,
/// `m = [[cos θ/(a·z), sin θ/(a·z)], [−sin θ/(b·z), cos θ/(b·z)]]`, `t` the translation and `c`
/// the image centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// `m` row-major: `[m₀₀, m₀₁, m₁₀, m₁₁]`.
    pub m: [f32; 4],
    /// `t = (t_x, t_y)` in pixels.
    pub t: [f32; 2],
}

impl Affine {
    /// The identity warp.
    pub const IDENTITY: Affine = Affine {
        m: [1.0, 0.0, 0.0, 1.0],
        t: [0.0, 0.0],
    };

    /// The source position `(x, y)` that output pixel `(x, y)` samples in an image `h x w`.
    pub fn source(&self, x: f32, y: f32, h: usize, w: usize) -> (f32, f32) {
        let (cx, cy) = ((w as f32 - 1.0) * 0.5, (h as f32 - 1.0) * 0.5);
        let (dx, dy) = (x - cx - self.t[0], y - cy - self.t[1]);
        (
            cx + self.m[0] * dx + self.m[1] * dy,
            cy + self.m[2] * dx + self.m[3] * dy,
        )
    }
}

/// Cells of the elastic grid along each axis (corners: `(ELASTIC_CELLS + 1)²`).
pub const ELASTIC_CELLS: usize = 4;

/// Corners of the elastic grid.
const ELASTIC_CORNERS: usize = (ELASTIC_CELLS + 1) * (ELASTIC_CELLS + 1);

/// The draw of corner `k`'s horizontal displacement is `ELASTIC_FIRST_DRAW + 2k`, its
/// vertical one the next: after the affine warp's draws 0–6.
pub const ELASTIC_FIRST_DRAW: u32 = 7;

/// One elastic displacement field: the displacement `(d_x, d_y)`, in pixels, of each corner of
/// the [`ELASTIC_CELLS`] x [`ELASTIC_CELLS`] grid over the image, corner `(i, j)` (column,
/// row) at index `j·(ELASTIC_CELLS + 1) + i`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elastic {
    /// `(d_x, d_y)` per corner, rows of corners top to bottom.
    pub corners: [[f32; 2]; ELASTIC_CORNERS],
}

impl Elastic {
    /// The displacement at output pixel `(x, y)` of an image `h x w`: the bilinear
    /// interpolation of the corners' displacements, corner `(i, j)` sitting at pixel
    /// `(i·(W − 1), j·(H − 1)) / ELASTIC_CELLS`.
    pub fn displacement(&self, x: f32, y: f32, h: usize, w: usize) -> (f32, f32) {
        let (i, fx) = grid_cell(x, w);
        let (j, fy) = grid_cell(y, h);
        let corner = |ci: usize, cj: usize| self.corners[cj * (ELASTIC_CELLS + 1) + ci];
        let (c00, c10, c01, c11) = (
            corner(i, j),
            corner(i + 1, j),
            corner(i, j + 1),
            corner(i + 1, j + 1),
        );
        let mix = |axis: usize| {
            (1.0 - fx) * (1.0 - fy) * c00[axis]
                + fx * (1.0 - fy) * c10[axis]
                + (1.0 - fx) * fy * c01[axis]
                + fx * fy * c11[axis]
        };
        (mix(0), mix(1))
    }
}

/// The grid cell `i < ELASTIC_CELLS` of coordinate `v` along an axis of `len` pixels, and the
/// fraction `f ∈ [0, 1]` of the way across it: `g = v·ELASTIC_CELLS / max(len − 1, 1)`,
/// `i = min(⌊g⌋, ELASTIC_CELLS − 1)`, `f = g − i`.
fn grid_cell(v: f32, len: usize) -> (usize, f32) {
    let scale = ELASTIC_CELLS as f32 / len.saturating_sub(1).max(1) as f32;
    let g = v * scale;
    let cell = (g.floor().max(0.0) as usize).min(ELASTIC_CELLS - 1);
    (cell, g - cell as f32)
}

/// The elastic field of image `index_in_batch` of training step `step`, or `None` when
/// `ranges.elastic_px` is 0: corner `k` moves by `(s(u_{7+2k}, e), s(u_{8+2k}, e))`, with
/// `u_d = counter_uniform(seed, step, d, index)`, `e = elastic_px`. A pure function of its
/// arguments; [`augment_batch`] draws it only for images the chance warps.
pub fn elastic_params(
    seed: u32,
    step: u32,
    index_in_batch: u32,
    ranges: &AugmentRanges,
) -> Option<Elastic> {
    if ranges.elastic_px <= 0.0 {
        return None;
    }
    let u = |draw: u32| counter_uniform(seed, step, draw, index_in_batch);
    let mut corners = [[0.0; 2]; ELASTIC_CORNERS];
    for (k, corner) in (0u32..).zip(corners.iter_mut()) {
        let draw = ELASTIC_FIRST_DRAW + 2 * k;
        *corner = [
            symmetric(u(draw), ranges.elastic_px),
            symmetric(u(draw + 1), ranges.elastic_px),
        ];
    }
    Some(Elastic { corners })
}

/// The augment seed of a run with seed `run_seed` (a sibling of
/// [`crate::executor::dropout_seed`]); both executors derive it this way.
pub fn augment_seed(run_seed: u64) -> u32 {
    (Rng::derived(run_seed, 3).next_u64() >> 32) as u32
}

/// `(2u − 1)·r`: uniform in `[−r, r)`.
fn symmetric(u: f32, r: f32) -> f32 {
    (2.0 * u - 1.0) * r
}

/// The warp of image `index_in_batch` of training step `step`, or `None` when the chance
/// (`counter_uniform(seed, step, 0, index) < chance`) says to leave it alone. A pure function of
/// its arguments (see the module doc for the draws); `chance` 0 never warps, 1 always does.
pub fn warp_params(
    seed: u32,
    step: u32,
    index_in_batch: u32,
    chance: f32,
    ranges: &AugmentRanges,
) -> Option<Affine> {
    let u = |draw: u32| counter_uniform(seed, step, draw, index_in_batch);
    if u(0) >= chance {
        return None;
    }
    let a = 1.0 + symmetric(u(1), ranges.scale_x);
    let b = 1.0 + symmetric(u(2), ranges.scale_y);
    let theta = symmetric(u(3), ranges.rotation_degrees) * (std::f32::consts::PI / 180.0);
    let z = 1.0 + symmetric(u(4), ranges.zoom);
    let t = [
        symmetric(u(5), ranges.translate_px),
        symmetric(u(6), ranges.translate_px),
    ];
    let (sin, cos) = (theta.sin(), theta.cos());
    let (ia, ib) = (1.0 / (a * z), 1.0 / (b * z));
    Some(Affine {
        m: [cos * ia, sin * ia, -sin * ib, cos * ib],
        t,
    })
}

/// Warps one image `src (C, H, W)` into `dst (C, H, W)`: each output pixel `p` is the bilinear
/// interpolation of `src` at [`Affine::source`]`(p)` (plus [`Elastic::displacement`]`(p)` when
/// `elastic` is given), every channel alike, with zeros outside.
///
/// # Panics
/// If `src` or `dst` does not hold `C·H·W` values (`dims = (C, H, W)`).
pub fn warp_image(
    src: &[f32],
    dst: &mut [f32],
    dims: (usize, usize, usize),
    affine: &Affine,
    elastic: Option<&Elastic>,
) {
    let (c, h, w) = dims;
    assert_eq!(src.len(), c * h * w, "src is not (C, H, W)");
    assert_eq!(dst.len(), c * h * w, "dst is not (C, H, W)");
    for y in 0..h {
        for x in 0..w {
            let (mut sx, mut sy) = affine.source(x as f32, y as f32, h, w);
            if let Some(elastic) = elastic {
                let (dx, dy) = elastic.displacement(x as f32, y as f32, h, w);
                sx += dx;
                sy += dy;
            }
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let taps = [
                (x0, y0, (1.0 - fx) * (1.0 - fy)),
                (x0 + 1, y0, fx * (1.0 - fy)),
                (x0, y0 + 1, (1.0 - fx) * fy),
                (x0 + 1, y0 + 1, fx * fy),
            ];
            for ch in 0..c {
                let plane = &src[ch * h * w..(ch + 1) * h * w];
                let mut v = 0.0;
                for &(tx, ty, weight) in &taps {
                    if (0..w as i64).contains(&tx) && (0..h as i64).contains(&ty) {
                        v += weight * plane[ty as usize * w + tx as usize];
                    }
                }
                dst[ch * h * w + y * w + x] = v;
            }
        }
    }
}

/// Augments a gathered training batch `(N, C, H, W)` in place: image `i` is warped with
/// [`warp_params`]`(seed, step, i, chance, ranges)` and [`elastic_params`]`(seed, step, i,
/// ranges)`, or left as it is.
///
/// # Panics
/// If `batch` is not a whole number of `C·H·W` images.
pub fn augment_batch(
    batch: &mut [f32],
    dims: (usize, usize, usize),
    seed: u32,
    step: u32,
    chance: f32,
    ranges: &AugmentRanges,
) {
    augment_batch_with(batch, &mut Vec::new(), dims, seed, step, chance, ranges);
}

/// [`augment_batch`] with the copy of each warped image's source kept in `scratch` (grown to
/// one image once, then reused: no allocation per batch).
///
/// # Panics
/// If `batch` is not a whole number of `C·H·W` images.
pub fn augment_batch_with(
    batch: &mut [f32],
    scratch: &mut Vec<f32>,
    dims: (usize, usize, usize),
    seed: u32,
    step: u32,
    chance: f32,
    ranges: &AugmentRanges,
) {
    let size = dims.0 * dims.1 * dims.2;
    if chance <= 0.0 || size == 0 {
        return;
    }
    assert_eq!(batch.len() % size, 0, "batch is not whole images");
    scratch.resize(size, 0.0);
    for (i, image) in batch.chunks_exact_mut(size).enumerate() {
        if let Some(affine) = warp_params(seed, step, i as u32, chance, ranges) {
            let elastic = elastic_params(seed, step, i as u32, ranges);
            scratch.copy_from_slice(image);
            warp_image(scratch, image, dims, &affine, elastic.as_ref());
        }
    }
}

/// Warps shown per original by [`write_augment_grid`].
pub const GRID_WARPS: usize = 7;

/// Pixels between the cells of [`write_augment_grid`] and around them.
pub const GRID_GAP: usize = 2;

/// Writes a PNG contact sheet of the augmentation: one row per image for the first `count`
/// images of `data`, the original in the first column and [`GRID_WARPS`] warps of it next to it
/// (warp `j` of image `i` is [`warp_params`]`(augment_seed(seed), j, i, 1, ranges)` with
/// [`elastic_params`] of the same arguments), cells
/// separated by [`GRID_GAP`] grey pixels. The PNG is
/// `(1 + GRID_WARPS)·W + (2 + GRID_WARPS)·GRID_GAP` wide and `count·H + (count + 1)·GRID_GAP`
/// high; grey for one-channel images, RGB for three.
pub fn write_augment_grid(
    data: &Dataset,
    count: usize,
    seed: u64,
    ranges: &AugmentRanges,
    path: &Path,
) -> Result<()> {
    let (c, h, w) = (data.channels, data.height, data.width);
    if count == 0 || count > data.len() {
        return Err(Error::Config(format!(
            "an augmentation grid of {count} images needs 1 to {} (the dataset's size)",
            data.len()
        )));
    }
    if c != 1 && c != 3 {
        return Err(Error::Config(format!(
            "an augmentation grid needs 1 (grey) or 3 (RGB) channels, the data has {c}"
        )));
    }
    let cols = 1 + GRID_WARPS;
    let width = cols * w + (cols + 1) * GRID_GAP;
    let height = count * h + (count + 1) * GRID_GAP;
    let mut pixels = vec![128u8; width * height * c];
    let size = data.image_size();
    let aug_seed = augment_seed(seed);
    let (mut original, mut warped) = (vec![0.0f32; size], vec![0.0f32; size]);
    for row in 0..count {
        let bytes = &data.images[row * size..(row + 1) * size];
        for (o, &b) in original.iter_mut().zip(bytes) {
            *o = f32::from(b) / 255.0;
        }
        for col in 0..cols {
            let image = if col == 0 {
                &original
            } else {
                let (step, index) = ((col - 1) as u32, row as u32);
                let affine =
                    warp_params(aug_seed, step, index, 1.0, ranges).unwrap_or(Affine::IDENTITY);
                let elastic = elastic_params(aug_seed, step, index, ranges);
                warp_image(&original, &mut warped, (c, h, w), &affine, elastic.as_ref());
                &warped
            };
            let (left, top) = (
                GRID_GAP + col * (w + GRID_GAP),
                GRID_GAP + row * (h + GRID_GAP),
            );
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        let v = image[ch * h * w + y * w + x];
                        pixels[((top + y) * width + left + x) * c + ch] =
                            (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    }
                }
            }
        }
    }
    let color = if c == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let too_big = |_| {
        Error::Config(format!(
            "an augmentation grid of {width}x{height} is too big"
        ))
    };
    let (wu, hu) = (
        u32::try_from(width).map_err(too_big)?,
        u32::try_from(height).map_err(too_big)?,
    );
    image::save_buffer_with_format(path, &pixels, wu, hu, color, image::ImageFormat::Png).map_err(
        |e| match e {
            image::ImageError::IoError(source) => Error::Io {
                path: path.to_path_buf(),
                action: "writing the augmentation grid",
                source,
            },
            other => Error::data(path, format!("encoding the PNG failed: {other}")),
        },
    )
}
