//! Data augmentation on the CPU: the warp's geometry on exact patterns, the chance, purity of
//! the draws, and the PNG grid.

mod common;

use shadernet::data::Dataset;
use shadernet::data::augment::{
    Affine, GRID_GAP, GRID_WARPS, augment_batch, augment_seed, warp_image, warp_params,
    write_augment_grid,
};
use shadernet::model::AugmentRanges;

/// An asymmetric test image `(C, H, W)`: value `1 + ch·100 + y·10 + x` (integers, exact in f32).
fn pattern(c: usize, h: usize, w: usize) -> Vec<f32> {
    (0..c * h * w)
        .map(|i| (1 + (i / (h * w)) * 100 + (i % (h * w) / w) * 10 + i % w) as f32)
        .collect()
}

#[test]
fn identity_and_whole_pixel_translations_are_exact_and_keep_the_axes_apart() {
    let (c, h, w) = (2, 5, 7);
    let src = pattern(c, h, w);
    let mut dst = vec![f32::NAN; src.len()];
    warp_image(&src, &mut dst, (c, h, w), &Affine::IDENTITY);
    assert_eq!(dst, src);
    // t = (+1, 0): the picture moves one pixel right; column 0 comes from outside (zero).
    let right = Affine {
        t: [1.0, 0.0],
        ..Affine::IDENTITY
    };
    warp_image(&src, &mut dst, (c, h, w), &right);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let want = if x == 0 {
                    0.0
                } else {
                    src[(ch * h + y) * w + x - 1]
                };
                assert_eq!(dst[(ch * h + y) * w + x], want, "right ({ch}, {y}, {x})");
            }
        }
    }
    // t = (0, −2): two pixels up; the bottom two rows are zero.
    let up = Affine {
        t: [0.0, -2.0],
        ..Affine::IDENTITY
    };
    warp_image(&src, &mut dst, (c, h, w), &up);
    for y in 0..h {
        for x in 0..w {
            let want = if y + 2 >= h {
                0.0
            } else {
                src[(y + 2) * w + x]
            };
            assert_eq!(dst[y * w + x], want, "up ({y}, {x})");
        }
    }
    // Half a pixel right: the mean of horizontal neighbours (bilinear).
    let half = Affine {
        t: [0.5, 0.0],
        ..Affine::IDENTITY
    };
    warp_image(&src, &mut dst, (c, h, w), &half);
    assert_eq!(dst[w + 3], 0.5 * (src[w + 2] + src[w + 3]));
}

#[test]
fn draws_are_pure_within_their_ranges_and_respect_the_chance() {
    let r = AugmentRanges::default();
    assert_eq!(
        (
            r.scale_x,
            r.scale_y,
            r.rotation_degrees,
            r.zoom,
            r.translate_px
        ),
        (0.2, 0.2, 25.0, 0.2, 2.0)
    );
    let seed = augment_seed(7);
    assert_ne!(seed, augment_seed(8));
    assert_ne!(seed, shadernet::executor::dropout_seed(7));
    let mut warped = 0;
    for i in 0..2000 {
        let a = warp_params(seed, 3, i, 0.25, &r);
        assert_eq!(a, warp_params(seed, 3, i, 0.25, &r), "a pure function");
        assert!(warp_params(seed, 3, i, 0.0, &r).is_none());
        let Some(a) = warp_params(seed, 3, i, 1.0, &r) else {
            panic!("chance 1 always warps")
        };
        if warp_params(seed, 3, i, 0.25, &r).is_some() {
            warped += 1;
        }
        // |det m| = 1/(a·b·z²) with a, b, z in [0.8, 1.2]; translation within ±2 px.
        let det = (a.m[0] * a.m[3] - a.m[1] * a.m[2]).abs();
        assert!(
            (1.0 / 1.2f32.powi(4) - 1e-5..=1.0 / 0.8f32.powi(4) + 1e-5).contains(&det),
            "{det}"
        );
        assert!(a.t.iter().all(|t| t.abs() <= 2.0));
        // Rotation within ±25°: the angle of m's first row (the inverse rotates by −θ).
        let angle = a.m[1].atan2(a.m[0]).to_degrees();
        assert!(angle.abs() <= 25.0 + 1e-3, "{angle}");
    }
    assert!(
        (400..600).contains(&warped),
        "{warped} of 2000 at chance 0.25"
    );
    assert_ne!(
        warp_params(seed, 3, 0, 1.0, &r),
        warp_params(seed, 4, 0, 1.0, &r)
    );
}

#[test]
fn chance_0_leaves_the_batch_alone_and_chance_1_changes_every_image() {
    let (c, h, w) = (1, 12, 10);
    let n = 6;
    let batch: Vec<f32> = (0..n)
        .flat_map(|i| {
            pattern(c, h, w)
                .into_iter()
                .map(move |v| v / 200.0 + i as f32)
        })
        .collect();
    let r = AugmentRanges::default();
    let mut same = batch.clone();
    augment_batch(&mut same, (c, h, w), 11, 0, 0.0, &r);
    assert_eq!(same, batch);
    let mut changed = batch.clone();
    augment_batch(&mut changed, (c, h, w), 11, 0, 1.0, &r);
    let size = c * h * w;
    for i in 0..n {
        let (a, b) = (&batch[i * size..][..size], &changed[i * size..][..size]);
        assert!(a != b, "image {i} unchanged at chance 1");
        assert!(b.iter().all(|v| v.is_finite()));
    }
    // Image i is warped by the draws of its own position, whatever the others are.
    let mut one = batch[2 * size..3 * size].to_vec();
    let a = warp_params(11, 0, 2, 1.0, &r).unwrap();
    let src = one.clone();
    warp_image(&src, &mut one, (c, h, w), &a);
    assert_eq!(one, changed[2 * size..3 * size]);
}

#[test]
fn the_grid_is_a_png_of_originals_and_their_warps() {
    let (h, w, count) = (9, 8, 3);
    let data = Dataset {
        images: (0..5 * h * w).map(|i| (i * 13 % 256) as u8).collect(),
        labels: vec![0, 1, 2, 3, 4],
        channels: 1,
        height: h,
        width: w,
        classes: 5,
    };
    let dir = common::temp_dir("augment-grid");
    let path = dir.join("grid.png");
    write_augment_grid(&data, count, 1, &AugmentRanges::default(), &path).unwrap();
    let png = image::open(&path).unwrap().into_luma8();
    let cols = 1 + GRID_WARPS;
    assert_eq!(
        png.dimensions(),
        (
            (cols * w + (cols + 1) * GRID_GAP) as u32,
            (count * h + (count + 1) * GRID_GAP) as u32
        )
    );
    // The first column holds the originals, byte for byte.
    for row in 0..count {
        for y in 0..h {
            for x in 0..w {
                let px = png.get_pixel(
                    (GRID_GAP + x) as u32,
                    (GRID_GAP + row * (h + GRID_GAP) + y) as u32,
                );
                assert_eq!(px.0[0], data.images[row * h * w + y * w + x]);
            }
        }
    }
    assert!(write_augment_grid(&data, 6, 1, &AugmentRanges::default(), &path).is_err());
    assert!(write_augment_grid(&data, 0, 1, &AugmentRanges::default(), &path).is_err());
    let missing = dir.join("no such dir").join("grid.png");
    let err = write_augment_grid(&data, 1, 1, &AugmentRanges::default(), &missing).unwrap_err();
    assert!(err.to_string().contains("no such dir"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
