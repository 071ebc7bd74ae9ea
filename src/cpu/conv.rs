//! 2-D convolution as im2col + GEMM, one image at a time.
//! `x: (N, C, H, W)`, `W: (F, C, K, K)` seen as `(F, C·K·K)`, `y: (N, F, H', W')`.

use super::gemm::{Mat, gemm};
use crate::model::ConvShape;

/// The input coordinate read by output coordinate `o` at kernel offset `kk` of `sh`, if inside
/// `0..limit`.
fn source(sh: &ConvShape, o: usize, kk: usize, limit: usize) -> Option<usize> {
    (o * sh.s + kk).checked_sub(sh.p).filter(|&i| i < limit)
}

/// The output columns `ox` whose input column `ox·S + kj − P` lies inside `0..W`, as a range.
fn valid_columns(sh: &ConvShape, kj: usize) -> std::ops::Range<usize> {
    // ox·S + kj ≥ P  ⇔  ox ≥ ceil((P − kj)/S);  ox·S + kj − P < W  ⇔  ox < ceil((W + P − kj)/S).
    let first = sh.p.saturating_sub(kj).div_ceil(sh.s);
    let end = (sh.w + sh.p).saturating_sub(kj).div_ceil(sh.s).min(sh.wo);
    first.min(end)..end
}

/// One output row of one im2col row: where it starts in `col`, the output columns `valid`
/// whose input column lies inside the image, and, unless the whole segment falls in the
/// padding, where in the image they read: the input row's start and the first input column
/// (the next ones are `S` apart).
struct Segment {
    start: usize,
    valid: std::ops::Range<usize>,
    source: Option<(usize, usize)>,
}

/// Every [`Segment`] of the im2col matrix of one image, in order: rows `(c, ki, kj)`, then
/// output rows `oy`. im2col and col2im walk the same pairs of positions.
fn for_each_segment(sh: &ConvShape, mut f: impl FnMut(Segment)) {
    let cols = sh.col_cols();
    for c in 0..sh.c {
        for ki in 0..sh.k {
            for kj in 0..sh.k {
                let row = ((c * sh.k + ki) * sh.k + kj) * cols;
                let valid = valid_columns(sh, kj);
                // A kernel column that never lands inside the image (an image narrower than
                // the padding) reads nothing on any output row.
                let first_ix = (!valid.is_empty()).then(|| valid.start * sh.s + kj - sh.p);
                for oy in 0..sh.ho {
                    let source = source(sh, oy, ki, sh.h).zip(first_ix);
                    f(Segment {
                        start: row + oy * sh.wo,
                        valid: valid.clone(),
                        source: source.map(|(iy, ix)| ((c * sh.h + iy) * sh.w, ix)),
                    });
                }
            }
        }
    }
}

/// `col (C·K·K, H'·W')`: `col[(c, ki, kj), (oy, ox)] = x[c, oy·S + ki − P, ox·S + kj − P]`
/// (0 outside the image), for one image `x: (C, H, W)`.
pub fn im2col(x: &[f32], col: &mut [f32], sh: &ConvShape) {
    for_each_segment(sh, |seg| {
        let out = &mut col[seg.start..seg.start + sh.wo];
        let Some((plane, first_ix)) = seg.source else {
            out.fill(0.0);
            return;
        };
        let plane = &x[plane..plane + sh.w];
        let valid = seg.valid;
        out[..valid.start].fill(0.0);
        out[valid.end..].fill(0.0);
        if sh.s == 1 {
            out[valid.clone()].copy_from_slice(&plane[first_ix..first_ix + valid.len()]);
        } else {
            for (o, ix) in out[valid].iter_mut().zip((first_ix..).step_by(sh.s)) {
                *o = plane[ix];
            }
        }
    });
}

/// The adjoint of [`im2col`]: `dx[c, iy, ix] += col[(c, ki, kj), (oy, ox)]` for every pair that
/// im2col linked, for one image `dx: (C, H, W)`.
pub fn col2im(col: &[f32], dx: &mut [f32], sh: &ConvShape) {
    for_each_segment(sh, |seg| {
        let Some((plane, first_ix)) = seg.source else {
            return;
        };
        let src = &col[seg.start + seg.valid.start..seg.start + seg.valid.end];
        let plane = &mut dx[plane..plane + sh.w];
        if sh.s == 1 {
            let dst = &mut plane[first_ix..first_ix + src.len()];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d += v;
            }
        } else {
            for (&v, ix) in src.iter().zip((first_ix..).step_by(sh.s)) {
                plane[ix] += v;
            }
        }
    });
}

/// `y[n, f] = W[f] · im2col(x[n]) + b[f]`. `col` is scratch of at least `C·K·K · H'·W'`.
pub fn conv_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    col: &mut [f32],
    sh: &ConvShape,
    n: usize,
) {
    let (rows, cols) = (sh.col_rows(), sh.col_cols());
    for i in 0..n {
        let x_img = &x[i * sh.in_size()..(i + 1) * sh.in_size()];
        let y_img = &mut y[i * sh.out_size()..(i + 1) * sh.out_size()];
        im2col(x_img, col, sh);
        // y_img: (F, H'·W') = bias broadcast, then += W (F, C·K·K) · col (C·K·K, H'·W').
        for (plane, &bias) in y_img.chunks_exact_mut(cols).zip(b) {
            plane.fill(bias);
        }
        gemm(
            sh.f,
            rows,
            cols,
            Mat::rows(w, rows),
            Mat::rows(col, cols),
            1.0,
            y_img,
        );
    }
}

/// Gradients of [`conv_forward`] given `dy (N, F, H', W')`:
/// `dW (F, C·K·K) += dy[n] · im2col(x[n])ᵀ`, `db[f] += Σ dy[n, f]`, and, if wanted,
/// `dx[n] = col2im(Wᵀ · dy[n])`. `col` is scratch of at least `C·K·K · H'·W'`.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    col: &mut [f32],
    sh: &ConvShape,
    n: usize,
) {
    let (rows, cols) = (sh.col_rows(), sh.col_cols());
    for i in 0..n {
        let x_img = &x[i * sh.in_size()..(i + 1) * sh.in_size()];
        let dy_img = &dy[i * sh.out_size()..(i + 1) * sh.out_size()];
        for (g, plane) in db.iter_mut().zip(dy_img.chunks_exact(cols)) {
            *g += plane.iter().sum::<f32>();
        }
        im2col(x_img, col, sh);
        gemm(
            sh.f,
            cols,
            rows,
            Mat::rows(dy_img, cols),
            Mat::transposed(col, cols),
            1.0,
            dw,
        );
        if let Some(dx) = dx.as_deref_mut() {
            // col (C·K·K, H'·W') = Wᵀ (C·K·K, F) · dy_img (F, H'·W'), then scatter into dx.
            gemm(
                rows,
                sh.f,
                cols,
                Mat::transposed(w, rows),
                Mat::rows(dy_img, cols),
                0.0,
                col,
            );
            let dx_img = &mut dx[i * sh.in_size()..(i + 1) * sh.in_size()];
            dx_img.fill(0.0);
            col2im(col, dx_img, sh);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_3x3_image_with_a_2x2_kernel() {
        // x = 1..9 as a 3x3 image, W = [[1, 0], [0, -1]], no padding: y = x[i,j] − x[i+1,j+1].
        let sh = ConvShape {
            c: 1,
            h: 3,
            w: 3,
            f: 1,
            k: 2,
            s: 1,
            p: 0,
            ho: 2,
            wo: 2,
        };
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = [0.0; 4];
        let mut col = vec![0.0; 16];
        conv_forward(&x, &[1., 0., 0., -1.], &[0.5], &mut y, &mut col, &sh, 1);
        assert_eq!(y, [-3.5, -3.5, -3.5, -3.5]);
    }

    #[test]
    fn im2col_matches_the_definition_for_awkward_shapes() {
        // The last: a 1-pixel-wide image under 7x7 'same' padding, where most kernel columns
        // never land inside the image.
        for (k, s, p, h, w) in [
            (5, 1, 2, 7, 6),
            (3, 2, 1, 7, 8),
            (3, 3, 2, 8, 5),
            (2, 1, 0, 4, 4),
            (7, 1, 3, 2, 1),
        ] {
            let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
            let sh = ConvShape {
                c: 2,
                h,
                w,
                f: 1,
                k,
                s,
                p,
                ho,
                wo,
            };
            let x: Vec<f32> = (0..2 * h * w).map(|i| i as f32 + 1.0).collect();
            let mut col = vec![f32::NAN; sh.col_rows() * sh.col_cols()];
            im2col(&x, &mut col, &sh);
            for c in 0..2 {
                for ki in 0..k {
                    for kj in 0..k {
                        for oy in 0..ho {
                            for ox in 0..wo {
                                let (iy, ix) = (
                                    (oy * s + ki) as isize - p as isize,
                                    (ox * s + kj) as isize - p as isize,
                                );
                                let inside =
                                    (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                                let want = if inside {
                                    x[(c * h + iy as usize) * w + ix as usize]
                                } else {
                                    0.0
                                };
                                let got = col[((c * k + ki) * k + kj) * ho * wo + oy * wo + ox];
                                assert_eq!(
                                    got, want,
                                    "k{k} s{s} p{p} at c{c} ki{ki} kj{kj} oy{oy} ox{ox}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for all x, c.
        let sh = ConvShape {
            c: 2,
            h: 5,
            w: 4,
            f: 1,
            k: 3,
            s: 2,
            p: 1,
            ho: 3,
            wo: 2,
        };
        let x: Vec<f32> = (0..40).map(|i| (i * 7 % 11) as f32).collect();
        let c: Vec<f32> = (0..sh.col_rows() * sh.col_cols())
            .map(|i| (i * 5 % 13) as f32)
            .collect();
        let mut col = vec![0.0; c.len()];
        im2col(&x, &mut col, &sh);
        let mut back = vec![0.0; 40];
        col2im(&c, &mut back, &sh);
        let lhs: f32 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
    }
}
