//! Test-time augmentation: the views of a test set that `shadernet eval --tta` averages a
//! network's class probabilities over.
//!
//! The views are fixed, not drawn: the images themselves and their shifts by one pixel left,
//! right, up and down (what moves out of the frame is dropped, what moves in is 0, the
//! background of MNIST-style images). A network trained with random translations gives
//! nearly the same answer on each; where it hesitates, the views vote.

use super::Dataset;

/// The views' shifts `(dx, dy)` in pixels (positive: right, down), the identity first.
pub const TTA_SHIFTS: [(isize, isize); 5] = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)];

/// `data` with every image `(C, H, W)` shifted by `dx` pixels right and `dy` pixels down:
/// `out[c][y][x] = in[c][y − dy][x − dx]` where that lies inside the image, else 0. Labels,
/// classes and shape are unchanged.
pub fn shifted(data: &Dataset, dx: isize, dy: isize) -> Dataset {
    let (h, w) = (data.height, data.width);
    let plane = h * w;
    let mut images = vec![0u8; data.images.len()];
    for (src, dst) in data
        .images
        .chunks_exact(plane.max(1))
        .zip(images.chunks_exact_mut(plane.max(1)))
    {
        for y in 0..h {
            let Some(sy) = y.checked_add_signed(-dy).filter(|&sy| sy < h) else {
                continue;
            };
            for x in 0..w {
                if let Some(sx) = x.checked_add_signed(-dx).filter(|&sx| sx < w) {
                    dst[y * w + x] = src[sy * w + sx];
                }
            }
        }
    }
    Dataset {
        images,
        labels: data.labels.clone(),
        ..*data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_image(pixels: &[u8], h: usize, w: usize) -> Dataset {
        Dataset {
            images: pixels.to_vec(),
            labels: vec![3],
            channels: 1,
            height: h,
            width: w,
            classes: 10,
        }
    }

    #[test]
    fn shifts_move_pixels_and_fill_with_zero() {
        // 2 x 3 image: 1 2 3 / 4 5 6.
        let data = one_image(&[1, 2, 3, 4, 5, 6], 2, 3);
        assert_eq!(shifted(&data, 0, 0).images, data.images);
        assert_eq!(shifted(&data, 1, 0).images, [0, 1, 2, 0, 4, 5]);
        assert_eq!(shifted(&data, -1, 0).images, [2, 3, 0, 5, 6, 0]);
        assert_eq!(shifted(&data, 0, 1).images, [0, 0, 0, 1, 2, 3]);
        assert_eq!(shifted(&data, 0, -1).images, [4, 5, 6, 0, 0, 0]);
        assert_eq!(shifted(&data, 5, 0).images, [0; 6]);
        assert_eq!(shifted(&data, 1, 0).labels, [3]);
    }

    #[test]
    fn each_channel_and_image_shifts_on_its_own() {
        // Two images of two 1 x 2 channels each.
        let data = Dataset {
            images: vec![1, 2, 3, 4, 5, 6, 7, 8],
            labels: vec![0, 1],
            channels: 2,
            height: 1,
            width: 2,
            classes: 2,
        };
        assert_eq!(shifted(&data, 1, 0).images, [0, 1, 0, 3, 0, 5, 0, 7]);
    }
}
