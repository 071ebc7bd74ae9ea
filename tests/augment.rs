//! Data augmentation on the CPU: the warp's geometry on exact patterns, the chance, purity of
//! the draws, and the PNG grid.

mod common;

use shadernet::data::Dataset;
use shadernet::data::augment::{
    Affine, ELASTIC_CELLS, Elastic, GRID_GAP, GRID_WARPS, augment_batch, augment_seed,
    elastic_params, warp_image, warp_params, write_augment_grid,
};
use shadernet::model::AugmentRanges;
use shadernet::rng::counter_uniform;

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
    warp_image(&src, &mut dst, (c, h, w), &Affine::IDENTITY, None);
    assert_eq!(dst, src);
    // t = (+1, 0): the picture moves one pixel right; column 0 comes from outside (zero).
    let right = Affine {
        t: [1.0, 0.0],
        ..Affine::IDENTITY
    };
    warp_image(&src, &mut dst, (c, h, w), &right, None);
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
    warp_image(&src, &mut dst, (c, h, w), &up, None);
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
    warp_image(&src, &mut dst, (c, h, w), &half, None);
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
    assert_eq!(r.elastic_px, 0.0, "elastic displacement is off by default");
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
    warp_image(&src, &mut one, (c, h, w), &a, None);
    assert_eq!(one, changed[2 * size..3 * size]);
}

/// An elastic field whose corner `k` moves by `f(k)`.
fn field(f: impl Fn(usize) -> [f32; 2]) -> Elastic {
    let mut corners = [[0.0; 2]; (ELASTIC_CELLS + 1) * (ELASTIC_CELLS + 1)];
    for (k, c) in corners.iter_mut().enumerate() {
        *c = f(k);
    }
    Elastic { corners }
}

#[test]
fn elastic_displacement_interpolates_the_corners_and_a_constant_field_translates() {
    assert_eq!(ELASTIC_CELLS, 4);
    // 13 x 9: the corners sit on whole pixels, x = 0, 2, 4, 6, 8 and y = 0, 3, 6, 9, 12.
    let (h, w) = (13, 9);
    let e = field(|k| [k as f32, -2.0 * k as f32 + 0.5]);
    for j in 0..=ELASTIC_CELLS {
        for i in 0..=ELASTIC_CELLS {
            let k = j * (ELASTIC_CELLS + 1) + i;
            let (x, y) = ((2 * i) as f32, (3 * j) as f32);
            let (dx, dy) = e.displacement(x, y, h, w);
            assert_eq!([dx, dy], e.corners[k], "corner ({i}, {j}) at ({x}, {y})");
        }
    }
    // Half way between corners (1, 2) and (2, 2), and in the middle of cell (3, 3).
    let mid = |a: usize, b: usize| 0.5 * (e.corners[a][0] + e.corners[b][0]);
    assert_eq!(e.displacement(3.0, 6.0, h, w).0, mid(11, 12));
    let centre: f32 = [18, 19, 23, 24].iter().map(|&k| e.corners[k][1]).sum();
    let (_, dy) = e.displacement(7.0, 10.5, h, w);
    assert!(
        (dy - 0.25 * centre).abs() < 1e-5,
        "{dy} vs {}",
        0.25 * centre
    );
    // Every corner moving by (1, 0) samples one pixel to the right: the picture moves left,
    // as the affine translation t = (−1, 0) moves it.
    let (c, h, w) = (2, 6, 5);
    let src = pattern(c, h, w);
    let shift = field(|_| [1.0, 0.0]);
    let (mut by_field, mut by_affine) = (vec![f32::NAN; src.len()], vec![0.0; src.len()]);
    warp_image(
        &src,
        &mut by_field,
        (c, h, w),
        &Affine::IDENTITY,
        Some(&shift),
    );
    let left = Affine {
        t: [-1.0, 0.0],
        ..Affine::IDENTITY
    };
    warp_image(&src, &mut by_affine, (c, h, w), &left, None);
    assert_eq!(by_field, by_affine);
    assert_eq!(by_field[0], src[1]);
    assert_eq!(by_field[w - 1], 0.0, "the last column comes from outside");
    // A field of zeros is the identity.
    warp_image(
        &src,
        &mut by_field,
        (c, h, w),
        &Affine::IDENTITY,
        Some(&field(|_| [0.0; 2])),
    );
    assert_eq!(by_field, src);
}

#[test]
fn elastic_draws_are_pure_bounded_and_only_with_a_range() {
    let off = AugmentRanges::default();
    let on = AugmentRanges {
        elastic_px: 1.5,
        ..off
    };
    let seed = augment_seed(3);
    assert_eq!(elastic_params(seed, 0, 0, &off), None);
    let mut largest = 0.0f32;
    for i in 0..500 {
        let Some(e) = elastic_params(seed, 9, i, &on) else {
            panic!("a range draws a field")
        };
        assert_eq!(Some(e), elastic_params(seed, 9, i, &on), "a pure function");
        assert_ne!(
            Some(e),
            elastic_params(seed, 10, i, &on),
            "each step its own"
        );
        assert_ne!(
            Some(e),
            elastic_params(seed, 9, i + 1, &on),
            "each image its own"
        );
        for d in e.corners.iter().flatten() {
            assert!(d.abs() <= 1.5, "{d}");
            largest = largest.max(d.abs());
        }
        // The affine draws do not depend on the elastic range.
        assert_eq!(
            warp_params(seed, 9, i, 1.0, &on),
            warp_params(seed, 9, i, 1.0, &off)
        );
    }
    assert!(largest > 1.4, "draws fill the range: largest {largest}");
    // Corner k's displacements are draws 7 + 2k and 8 + 2k, after the affine warp's 0–6.
    let e = elastic_params(seed, 9, 4, &on).unwrap();
    for (k, corner) in e.corners.iter().enumerate() {
        let draw = |d: usize| (2.0 * counter_uniform(seed, 9, d as u32, 4) - 1.0) * 1.5;
        assert_eq!(*corner, [draw(7 + 2 * k), draw(8 + 2 * k)], "corner {k}");
    }
    // In a batch, a warped image gets its affine warp and its field; chance 0 leaves all alone.
    let (c, h, w) = (1, 10, 12);
    let size = c * h * w;
    let batch: Vec<f32> = (0..3).flat_map(|_| pattern(c, h, w)).collect();
    let mut warped = batch.clone();
    augment_batch(&mut warped, (c, h, w), seed, 5, 1.0, &on);
    let mut plain = batch.clone();
    augment_batch(&mut plain, (c, h, w), seed, 5, 1.0, &off);
    for i in 0..3 {
        let affine = warp_params(seed, 5, i as u32, 1.0, &on).unwrap();
        let elastic = elastic_params(seed, 5, i as u32, &on).unwrap();
        let mut want = vec![0.0; size];
        warp_image(
            &batch[i * size..][..size],
            &mut want,
            (c, h, w),
            &affine,
            Some(&elastic),
        );
        assert_eq!(warped[i * size..][..size], want[..], "image {i}");
        assert_ne!(
            warped[i * size..][..size],
            plain[i * size..][..size],
            "image {i}"
        );
    }
    let mut same = batch.clone();
    augment_batch(&mut same, (c, h, w), seed, 5, 0.0, &on);
    assert_eq!(same, batch);
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
