//! MNIST-style preprocessing of a photo or drawing of one digit, for `predict`.
//!
//! MNIST's digits were size-normalised to fit a 20x20 box keeping their aspect ratio
//! (anti-aliased), then centred by their centre of mass in a 28x28 field. [`mnist_style`] does
//! the same to any grey image:
//!
//! 1. grey in `[0, 1]` (transparent pixels count as white paper);
//! 2. ink is bright: an image whose border is light (dark ink on light paper) is inverted;
//! 3. the background level (median of the border) is subtracted and the ink scaled so that the
//!    darkest stroke is 1;
//! 4. cropped to the bounding box of the pixels with ink above [`INK_THRESHOLD`];
//! 5. resampled by area averaging so that the longer side is 20 pixels (`20/28` of the output);
//! 6. shifted by whole pixels so that its centre of mass lies within half a pixel of the centre
//!    of the output field (pixel centres at `i + 0.5`, so the centre of 28x28 is (14, 14)).

use crate::error::{Error, Result};
use std::path::Path;

/// Ink (after background removal, in `[0, 1]`) above which a pixel belongs to the digit when
/// cropping.
pub const INK_THRESHOLD: f32 = 0.2;

/// A grey image: `height x width` values in `[0, 1]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct GreyImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `(height, width)` values in `[0, 1]`, 0 black, 1 white.
    pub pixels: Vec<f32>,
}

/// The longest side a picture may have, in pixels: a photo of a digit needs far fewer, and
/// the conversions after decoding take about 16 bytes a pixel (under 1 GiB at 8192x8192).
pub const MAX_PICTURE_SIDE: u32 = 8192;

/// The most the image decoder may allocate at once, bytes: an 8192x8192 picture of 16-bit RGBA.
pub const MAX_DECODE_BYTES: u64 = 512 << 20;

/// Reads a PNG or JPEG file as grey. Errors name the file: unreadable, not a PNG/JPEG, larger
/// than [`MAX_PICTURE_SIDE`] on a side (checked from the header, before anything is decoded),
/// or truncated or corrupt.
pub fn load_grey(path: &Path) -> Result<GreyImage> {
    let bytes = crate::files::read_regular(path, "reading the image", "a PNG or JPEG picture")?;
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::data(
            path,
            format!(
                "not a readable PNG or JPEG image ({e}); expected a picture of one digit \
                 (is the file truncated or corrupt?)"
            ),
        )
    };
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| unreadable(&e))
    };
    let (width, height) = reader()?.into_dimensions().map_err(|e| unreadable(&e))?;
    if width > MAX_PICTURE_SIDE || height > MAX_PICTURE_SIDE {
        return Err(Error::data(
            path,
            format!(
                "the picture is {width}x{height} pixels, larger than the \
                 {MAX_PICTURE_SIDE}x{MAX_PICTURE_SIDE} a picture for predict may be: scale it \
                 down (a digit needs only 28x28)"
            ),
        ));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = reader()?;
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| unreadable(&e))?;
    let la = decoded.to_luma_alpha8();
    drop(decoded);
    let (width, height) = (la.width() as usize, la.height() as usize);
    let pixels = la
        .pixels()
        .map(|p| {
            let [l, a] = p.0;
            let (l, a) = (f32::from(l) / 255.0, f32::from(a) / 255.0);
            l * a + (1.0 - a)
        })
        .collect();
    Ok(GreyImage {
        width,
        height,
        pixels,
    })
}

/// MNIST-style digit `(out_h, out_w)` with ink in `[0, 1]` (1 = full ink, as MNIST's 255) from
/// a grey image, following the module doc. Errors if the image holds no ink.
pub fn mnist_style(image: &GreyImage, out_h: usize, out_w: usize) -> Result<Vec<f32>> {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || image.pixels.len() != w * h {
        return Err(Error::Config(format!(
            "an image of {w}x{h} pixels with {} values cannot be preprocessed",
            image.pixels.len()
        )));
    }
    let border: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (y, x)))
        .filter(|&(y, x)| y == 0 || x == 0 || y == h - 1 || x == w - 1)
        .map(|(y, x)| image.pixels[y * w + x])
        .collect();
    let light_paper = border.iter().sum::<f32>() / border.len() as f32 > 0.5;
    let ink_of = |v: f32| if light_paper { 1.0 - v } else { v };
    let mut border_ink: Vec<f32> = border.iter().map(|&v| ink_of(v)).collect();
    border_ink.sort_by(f32::total_cmp);
    let background = border_ink[border_ink.len() / 2];
    let mut ink: Vec<f32> = image
        .pixels
        .iter()
        .map(|&v| (ink_of(v) - background).max(0.0))
        .collect();
    let peak = ink.iter().copied().fold(0.0f32, f32::max);
    if peak < 0.1 {
        return Err(Error::Config(
            "the image holds no digit: no pixel stands out from the background".into(),
        ));
    }
    for v in &mut ink {
        *v /= peak;
    }
    // Bounding box of the ink.
    let (mut y0, mut y1, mut x0, mut x1) = (h, 0, w, 0);
    for y in 0..h {
        for x in 0..w {
            if ink[y * w + x] > INK_THRESHOLD {
                (y0, y1, x0, x1) = (y0.min(y), y1.max(y + 1), x0.min(x), x1.max(x + 1));
            }
        }
    }
    let (bh, bw) = (y1 - y0, x1 - x0);
    let crop: Vec<f32> = (y0..y1)
        .flat_map(|y| ink[y * w + x0..y * w + x1].iter().copied())
        .collect();
    // Fit into the box (20 of 28), keeping the aspect ratio.
    let box_h = (out_h as f64 * 20.0 / 28.0).round().max(1.0);
    let box_w = (out_w as f64 * 20.0 / 28.0).round().max(1.0);
    let scale = (box_h / bh as f64).min(box_w / bw as f64);
    let nh = ((bh as f64 * scale).round() as usize).clamp(1, box_h as usize);
    let nw = ((bw as f64 * scale).round() as usize).clamp(1, box_w as usize);
    let small = resample_area(&crop, bh, bw, nh, nw);
    // Centre of mass, pixel centres at i + 0.5.
    let (mut mass, mut my, mut mx) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..nh {
        for x in 0..nw {
            let v = f64::from(small[y * nw + x]);
            mass += v;
            my += v * (y as f64 + 0.5);
            mx += v * (x as f64 + 0.5);
        }
    }
    let (cy, cx) = if mass > 0.0 {
        (my / mass, mx / mass)
    } else {
        (nh as f64 / 2.0, nw as f64 / 2.0)
    };
    let oy = (out_h as f64 / 2.0 - cy).round() as isize;
    let ox = (out_w as f64 / 2.0 - cx).round() as isize;
    let mut out = vec![0.0; out_h * out_w];
    for y in 0..nh {
        for x in 0..nw {
            let (ty, tx) = (y as isize + oy, x as isize + ox);
            if (0..out_h as isize).contains(&ty) && (0..out_w as isize).contains(&tx) {
                out[ty as usize * out_w + tx as usize] = small[y * nw + x].clamp(0.0, 1.0);
            }
        }
    }
    Ok(out)
}

/// Resamples `src (h, w)` to `(nh, nw)` by area averaging: each output pixel is the mean of the
/// source area it covers (partial pixels weighted by the covered fraction).
pub fn resample_area(src: &[f32], h: usize, w: usize, nh: usize, nw: usize) -> Vec<f32> {
    let weights = |n_src: usize, n_dst: usize| -> Vec<Vec<(usize, f64)>> {
        let f = n_src as f64 / n_dst as f64;
        (0..n_dst)
            .map(|i| {
                let (a, b) = (i as f64 * f, (i + 1) as f64 * f);
                let first = a.floor() as usize;
                let last = (b.ceil() as usize).min(n_src);
                (first..last)
                    .map(|s| {
                        let overlap = (b.min(s as f64 + 1.0) - a.max(s as f64)).max(0.0);
                        (s, overlap / f)
                    })
                    .filter(|&(_, wt)| wt > 0.0)
                    .collect()
            })
            .collect()
    };
    let (wy, wx) = (weights(h, nh), weights(w, nw));
    let mut out = vec![0.0; nh * nw];
    for (i, row_weights) in wy.iter().enumerate() {
        for (j, col_weights) in wx.iter().enumerate() {
            let mut sum = 0.0f64;
            for &(sy, a) in row_weights {
                for &(sx, b) in col_weights {
                    sum += a * b * f64::from(src[sy * w + sx]);
                }
            }
            out[i * nw + j] = sum as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A white `h x w` page with a black "7" drawn off-centre with thick strokes.
    fn seven_on_paper(h: usize, w: usize) -> GreyImage {
        let mut pixels = vec![1.0; h * w];
        let mut ink = |y: usize, x: usize| pixels[y * w + x] = 0.05;
        for y in 10..16 {
            for x in 50..110 {
                ink(y, x); // the bar
            }
        }
        for y in 16..90 {
            let x = 104 - (y - 16) * 40 / 74;
            for dx in 0..7 {
                ink(y, x + dx); // the stem, leaning left
            }
        }
        GreyImage {
            width: w,
            height: h,
            pixels,
        }
    }

    fn centre_of_mass(out: &[f32], n: usize) -> (f64, f64) {
        let (mut m, mut my, mut mx) = (0.0, 0.0, 0.0);
        for y in 0..n {
            for x in 0..n {
                let v = f64::from(out[y * n + x]);
                m += v;
                my += v * (y as f64 + 0.5);
                mx += v * (x as f64 + 0.5);
            }
        }
        (my / m, mx / m)
    }

    #[test]
    fn a_dark_digit_on_paper_is_inverted_cropped_fitted_and_centred() {
        let out = mnist_style(&seven_on_paper(120, 160), 28, 28).unwrap();
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
        // Inverted: the corners (paper) are empty, the strokes are full ink.
        assert_eq!(out[0], 0.0);
        assert!(out.iter().copied().fold(0.0, f32::max) > 0.9);
        let (cy, cx) = centre_of_mass(&out, 28);
        assert!(
            (cy - 14.0).abs() <= 0.5 && (cx - 14.0).abs() <= 0.5,
            "({cy}, {cx})"
        );
        let rows: Vec<usize> = (0..28)
            .filter(|&y| (0..28).any(|x| out[y * 28 + x] > 0.0))
            .collect();
        let cols: Vec<usize> = (0..28)
            .filter(|&x| (0..28).any(|y| out[y * 28 + x] > 0.0))
            .collect();
        let height = rows.last().unwrap() - rows[0] + 1;
        let width = cols.last().unwrap() - cols[0] + 1;
        // The 7 is taller (80 px) than wide (60 px): 20 rows, 15 columns.
        assert_eq!(height, 20, "{rows:?}");
        assert!((14..=16).contains(&width), "{cols:?}");
    }

    #[test]
    fn a_light_digit_on_black_is_not_inverted() {
        let mut img = seven_on_paper(120, 160);
        for v in &mut img.pixels {
            *v = 1.0 - *v;
        }
        let a = mnist_style(&img, 28, 28).unwrap();
        let b = mnist_style(&seven_on_paper(120, 160), 28, 28).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_blank_page_is_an_error() {
        let blank = GreyImage {
            width: 10,
            height: 10,
            pixels: vec![1.0; 100],
        };
        let e = mnist_style(&blank, 28, 28).unwrap_err().to_string();
        assert!(e.contains("no digit"), "{e}");
    }

    #[test]
    fn png_and_jpeg_files_give_the_same_digit() {
        let page = seven_on_paper(120, 160);
        let bytes: Vec<u8> = page.pixels.iter().map(|&v| (v * 255.0) as u8).collect();
        let img = image::GrayImage::from_raw(160, 120, bytes).unwrap();
        let dir = std::env::temp_dir().join(format!("shadernet-pre-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (png, jpg) = (dir.join("7.png"), dir.join("7.jpg"));
        img.save(&png).unwrap();
        img.save(&jpg).unwrap();
        let a = mnist_style(&load_grey(&png).unwrap(), 28, 28).unwrap();
        let b = mnist_style(&load_grey(&jpg).unwrap(), 28, 28).unwrap();
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.25, "JPEG artefacts changed a pixel by {worst}");
        let e = load_grey(&dir.join("missing.png")).unwrap_err().to_string();
        assert!(e.contains("missing.png"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn area_resampling_keeps_the_mean() {
        let src: Vec<f32> = (0..35).map(|i| (i % 7) as f32).collect();
        let out = resample_area(&src, 5, 7, 3, 2);
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean(&src) - mean(&out)).abs() < 1e-5);
        assert_eq!(resample_area(&src, 5, 7, 5, 7), src);
    }
}
