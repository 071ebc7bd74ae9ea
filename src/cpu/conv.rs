//! 2-D convolution as im2col + GEMM, one image at a time. im2col first pads the image and
//! splits it into its stride's phases (unless the stride is 1 and there is no padding: then the
//! image is its own phase), so that every window row is a contiguous copy of one output row,
//! compiled for its width (see `by_width!`).
//! `x: (N, C, H, W)`, `W: (F, C, K, K)` seen as `(F, C·K·K)`, `y: (N, F, H', W')`.

use super::gemm::{Mat, SharedLeft, gemm_with};
use super::gemm_bf16::round_to_bf16;
use super::lanes::lane_sum;
use crate::model::ConvShape;
use crate::model::MatmulPrecision;
use std::ops::Range;

/// The indices `j` in `0..count` whose coordinate `j·S + offset − P` lies inside `0..limit`.
fn inside(sh: &ConvShape, offset: usize, limit: usize, count: usize) -> Range<usize> {
    // j·S + offset ≥ P  ⇔  j ≥ ⌈(P − offset)/S⌉;  j·S + offset − P < limit  ⇔
    // j < ⌈(limit + P − offset)/S⌉.
    let first = sh.p.saturating_sub(offset).div_ceil(sh.s);
    let end = (sh.p + limit)
        .saturating_sub(offset)
        .div_ceil(sh.s)
        .min(count);
    first.min(end)..end
}

/// Calls `f(plane_at, x_at, count)` for every run of values that a phase plane shares with the
/// image: `phases[plane_at + j] ↔ x[x_at + j·S]` for `j < count`, where plane
/// `(c, py, px)` holds `x[c, i·S + py − P, j·S + px − P]` at `(i, j)`. Every value of `x`
/// lies in exactly one run; phase values outside every run are padding.
fn for_each_phase_run(sh: &ConvShape, mut f: impl FnMut(usize, usize, usize)) {
    let (s, rows, cols) = (sh.s, sh.phase_rows(), sh.phase_cols());
    for c in 0..sh.c {
        for py in 0..s {
            let plane_rows = inside(sh, py, sh.h, rows);
            for px in 0..s {
                let plane_cols = inside(sh, px, sh.w, cols);
                let plane = ((c * s + py) * s + px) * rows * cols;
                for i in plane_rows.clone() {
                    let x_row = (c * sh.h + i * s + py - sh.p) * sh.w;
                    let x_at = x_row + plane_cols.start * s + px - sh.p;
                    f(plane + i * cols + plane_cols.start, x_at, plane_cols.len());
                }
            }
        }
    }
}

/// `phases (C, S, S, ⌈(H+2P)/S⌉, ⌈(W+2P)/S⌉)`: the image `x: (C, H, W)` padded by `P` and split
/// by the remainders of its coordinates modulo `S`. A strided window of the padded image is then
/// a run of one plane: `x[c, oy·S + ki − P, ox·S + kj − P]` is plane `(c, ki mod S, kj mod S)`
/// at `(oy + ki div S, ox + kj div S)`.
fn split_phases(x: &[f32], phases: &mut [f32], sh: &ConvShape) {
    phases.fill(0.0);
    let s = sh.s;
    for_each_phase_run(sh, |plane_at, x_at, count| {
        let out = &mut phases[plane_at..plane_at + count];
        if s == 1 {
            out.copy_from_slice(&x[x_at..x_at + count]);
        } else if count > 0 {
            let run = &x[x_at..x_at + (count - 1) * s + 1];
            match s {
                2 => gather::<2>(out, run, s),
                _ => gather::<0>(out, run, s),
            }
        }
    });
}

/// `out[j] = run[j·s]`; `S` is `s` known at compile time (the loop then vectorises), or 0.
fn gather<const S: usize>(out: &mut [f32], run: &[f32], s: usize) {
    let s = if S == 0 { s } else { S };
    for (j, o) in out.iter_mut().enumerate() {
        *o = run[j * s];
    }
}

/// `run[j·s] = values[j]`, the inverse of [`gather`].
fn scatter<const S: usize>(values: &[f32], run: &mut [f32], s: usize) {
    let s = if S == 0 { s } else { S };
    for (j, &v) in values.iter().enumerate() {
        run[j * s] = v;
    }
}

/// The inverse of [`split_phases`] on the image's own values: `x[c, iy, ix]` from its phase
/// plane (the padding is dropped).
fn merge_phases(phases: &[f32], x: &mut [f32], sh: &ConvShape) {
    let s = sh.s;
    for_each_phase_run(sh, |plane_at, x_at, count| {
        let run = &phases[plane_at..plane_at + count];
        if s == 1 {
            x[x_at..x_at + count].copy_from_slice(run);
        } else if count > 0 {
            let out = &mut x[x_at..x_at + (count - 1) * s + 1];
            match s {
                2 => scatter::<2>(run, out, s),
                _ => scatter::<0>(run, out, s),
            }
        }
    });
}

/// Calls `f(col_row, plane_at)` for every row `(c, ki, kj)` of the column matrix: its `H'·W'`
/// values at `col[col_row..]` are `H'` runs of `W'`, run `oy` being
/// `planes[plane_at + oy·phase_cols..][..W']` (see [`split_phases`]).
fn for_each_window(sh: &ConvShape, mut f: impl FnMut(usize, usize)) {
    let (k, s, rows, cols) = (sh.k, sh.s, sh.phase_rows(), sh.phase_cols());
    for c in 0..sh.c {
        for ki in 0..k {
            for kj in 0..k {
                let col_row = ((c * k + ki) * k + kj) * sh.col_cols();
                let plane = ((c * s + ki % s) * s + kj % s) * rows * cols;
                f(col_row, plane + (ki / s) * cols + kj / s);
            }
        }
    }
}

/// Calls `$f::<W>(args)` with `W` = `$wo` where output rows hold 1 to 32 values, so that the
/// run copies of [`copy_windows`] and [`add_windows`] compile to fixed-size moves (1.3–1.8x
/// faster than [`copy_run`]'s blocks), and with `W = 0` (the length read at run time) beyond.
macro_rules! by_width {
    ($wo:expr, $f:ident $args:tt) => {
        by_width!(@arms $wo, $f $args;
            1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
    };
    (@arms $wo:expr, $f:ident $args:tt; $($w:literal)*) => {
        match $wo {
            $($w => $f::<$w> $args,)*
            _ => $f::<0> $args,
        }
    };
}

/// Fills the column matrix from the phase planes (see [`for_each_window`]); `W` is `W'` or 0.
fn copy_windows<const W: usize>(planes: &[f32], col: &mut [f32], sh: &ConvShape) {
    let (ho, wo, cols) = (sh.ho, if W == 0 { sh.wo } else { W }, sh.phase_cols());
    for_each_window(sh, |col_row, plane_at| {
        let dst = &mut col[col_row..col_row + ho * wo];
        let src = &planes[plane_at..plane_at + (ho - 1) * cols + wo];
        for oy in 0..ho {
            let (d, s) = (oy * wo, oy * cols);
            if W == 0 {
                copy_run(&mut dst[d..d + wo], &src[s..s + wo]);
            } else {
                dst[d..d + wo].copy_from_slice(&src[s..s + wo]);
            }
        }
    });
}

/// The adjoint of [`copy_windows`]: adds the column matrix's runs into the phase planes.
fn add_windows<const W: usize>(col: &[f32], planes: &mut [f32], sh: &ConvShape) {
    let (ho, wo, cols) = (sh.ho, if W == 0 { sh.wo } else { W }, sh.phase_cols());
    for_each_window(sh, |col_row, plane_at| {
        let src = &col[col_row..col_row + ho * wo];
        let dst = &mut planes[plane_at..plane_at + (ho - 1) * cols + wo];
        for oy in 0..ho {
            let (s, d) = (oy * wo, oy * cols);
            if W == 0 {
                add_run(&mut dst[d..d + wo], &src[s..s + wo]);
            } else {
                for (d, s) in dst[d..d + wo].iter_mut().zip(&src[s..s + wo]) {
                    *d += s;
                }
            }
        }
    });
}

/// `dst.copy_from_slice(src)` for im2col's runs wider than `by_width!` compiles (one output
/// row, over 32 values) without a call to `memcpy`: fixed-size blocks, the last one overlapping
/// the one before it where the length is not a multiple of the block.
fn copy_run(dst: &mut [f32], src: &[f32]) {
    fn blocks<const B: usize>(dst: &mut [f32], src: &[f32]) {
        let n = dst.len();
        let mut at = 0;
        loop {
            let start = at.min(n - B);
            let block: &[f32; B] = src[start..start + B].try_into().expect("B values");
            dst[start..start + B].copy_from_slice(block);
            at += B;
            if at >= n {
                break;
            }
        }
    }
    assert_eq!(dst.len(), src.len(), "copy_run: unequal runs");
    match dst.len() {
        16.. => blocks::<16>(dst, src),
        8.. => blocks::<8>(dst, src),
        4.. => blocks::<4>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// `dst += src` value by value for col2im's runs wider than `by_width!` compiles: blocks of 8,
/// then the rest.
fn add_run(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "add_run: unequal runs");
    let (mut dst_blocks, mut src_blocks) = (dst.chunks_exact_mut(8), src.chunks_exact(8));
    for (d, s) in (&mut dst_blocks).zip(&mut src_blocks) {
        let (d, s): (&mut [f32; 8], &[f32; 8]) = (
            d.try_into().expect("8 values"),
            s.try_into().expect("8 values"),
        );
        for (d, s) in d.iter_mut().zip(s) {
            *d += s;
        }
    }
    for (d, s) in dst_blocks
        .into_remainder()
        .iter_mut()
        .zip(src_blocks.remainder())
    {
        *d += s;
    }
}

/// Whether the image is its own single phase plane (`S = 1`, `P = 0`), so that im2col reads it
/// and col2im adds into its gradient directly, without [`split_phases`] or [`merge_phases`].
fn is_own_plane(sh: &ConvShape) -> bool {
    sh.s == 1 && sh.p == 0
}

/// `col (C·K·K, H'·W')`: `col[(c, ki, kj), (oy, ox)] = x[c, oy·S + ki − P, ox·S + kj − P]`
/// (0 outside the image), for one image `x: (C, H, W)`; `phases` is scratch for
/// `split_phases`, which turns every row of `col` into copies of contiguous runs.
pub fn im2col(x: &[f32], col: &mut [f32], phases: &mut [f32], sh: &ConvShape) {
    let planes = if is_own_plane(sh) {
        x
    } else {
        split_phases(x, phases, sh);
        phases
    };
    by_width!(sh.wo, copy_windows(planes, col, sh));
}

/// The adjoint of [`im2col`]: `dx[c, iy, ix] = Σ col[(c, ki, kj), (oy, ox)]` over every pair
/// that im2col linked, for one image `dx: (C, H, W)` (overwritten); `phases` is scratch.
pub fn col2im(col: &[f32], dx: &mut [f32], phases: &mut [f32], sh: &ConvShape) {
    if is_own_plane(sh) {
        dx.fill(0.0);
        by_width!(sh.wo, add_windows(col, dx, sh));
    } else {
        phases.fill(0.0);
        by_width!(sh.wo, add_windows(col, phases, sh));
        merge_phases(phases, dx, sh);
    }
}

/// A convolution's scratch of [`ConvShape::scratch_size`] values, split into its parts.
struct Scratch<'a> {
    /// The column matrix `(C·K·K, H'·W')`.
    col: &'a mut [f32],
    /// The phase planes of [`split_phases`].
    phases: &'a mut [f32],
    /// The weight gradient transposed, `dWᵀ (C·K·K, F)`.
    dw_t: &'a mut [f32],
}

impl<'a> Scratch<'a> {
    fn split(scratch: &'a mut [f32], sh: &ConvShape) -> Self {
        let (col, rest) = scratch[..sh.scratch_size()].split_at_mut(sh.col_rows() * sh.col_cols());
        let (dw_t, phases) = rest.split_at_mut(sh.col_rows() * sh.f);
        Scratch { col, phases, dw_t }
    }
}

/// `y[n, f] = W[f] · im2col(x[n]) + b[f]`, the products in `precision`. `scratch` holds at
/// least [`ConvShape::scratch_size`] values.
#[allow(clippy::too_many_arguments)]
pub fn conv_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
    sh: &ConvShape,
    n: usize,
    precision: MatmulPrecision,
) {
    let (rows, cols) = (sh.col_rows(), sh.col_cols());
    let Scratch { col, phases, .. } = Scratch::split(scratch, sh);
    let weights = SharedLeft::new(precision, sh.f, rows, cols, Mat::rows(w, rows));
    for i in 0..n {
        let x_img = &x[i * sh.in_size()..(i + 1) * sh.in_size()];
        let y_img = &mut y[i * sh.out_size()..(i + 1) * sh.out_size()];
        im2col(x_img, col, phases, sh);
        // y_img: (F, H'·W') = bias broadcast, then += W (F, C·K·K) · col (C·K·K, H'·W').
        for (plane, &bias) in y_img.chunks_exact_mut(cols).zip(b) {
            plane.fill(bias);
        }
        weights.gemm(Mat::rows(col, cols), 1.0, y_img);
    }
}

/// Gradients of [`conv_forward`] given `dy (N, F, H', W')`:
/// `dW (F, C·K·K) += dy[n] · im2col(x[n])ᵀ`, `db[f] += Σ dy[n, f]`, and, if wanted,
/// `dx[n] = col2im(Wᵀ · dy[n])`, the products in `precision` (`db` too: in bfloat16 it is
/// `Σ bf16(dy)`, the product of `dy` with a column of ones, as the GPU computes it).
/// `scratch` holds at least [`ConvShape::scratch_size`] values.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    scratch: &mut [f32],
    sh: &ConvShape,
    n: usize,
    precision: MatmulPrecision,
) {
    let (rows, cols) = (sh.col_rows(), sh.col_cols());
    let Scratch { col, phases, dw_t } = Scratch::split(scratch, sh);
    dw_t.fill(0.0);
    let weights_t = (dx.is_some())
        .then(|| SharedLeft::new(precision, rows, sh.f, cols, Mat::transposed(w, rows)));
    for i in 0..n {
        let x_img = &x[i * sh.in_size()..(i + 1) * sh.in_size()];
        let dy_img = &dy[i * sh.out_size()..(i + 1) * sh.out_size()];
        for (g, plane) in db.iter_mut().zip(dy_img.chunks_exact(cols)) {
            *g += match precision {
                MatmulPrecision::F32 => lane_sum(plane, plane, |v, _| v),
                MatmulPrecision::Bf16 => lane_sum(plane, plane, |v, _| round_to_bf16(v)),
            } as f32;
        }
        im2col(x_img, col, phases, sh);
        // dWᵀ (C·K·K, F) += col (C·K·K, H'·W') · dy_imgᵀ (H'·W', F): the GEMM runs faster with
        // the long side as its rows than dW (F, C·K·K) += dy_img · colᵀ would.
        gemm_with(
            precision,
            rows,
            cols,
            sh.f,
            Mat::rows(col, cols),
            Mat::transposed(dy_img, cols),
            1.0,
            dw_t,
        );
        if let (Some(dx), Some(weights_t)) = (dx.as_deref_mut(), &weights_t) {
            // col (C·K·K, H'·W') = Wᵀ (C·K·K, F) · dy_img (F, H'·W'), then scatter into dx.
            weights_t.gemm(Mat::rows(dy_img, cols), 0.0, col);
            let dx_img = &mut dx[i * sh.in_size()..(i + 1) * sh.in_size()];
            col2im(col, dx_img, phases, sh);
        }
    }
    for (f, dw_row) in dw.chunks_exact_mut(rows).enumerate() {
        for (g, dw_t_row) in dw_row.iter_mut().zip(dw_t.chunks_exact(sh.f)) {
            *g += dw_t_row[f];
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
        let mut scratch = vec![0.0; sh.scratch_size()];
        conv_forward(
            &x,
            &[1., 0., 0., -1.],
            &[0.5],
            &mut y,
            &mut scratch,
            &sh,
            1,
            MatmulPrecision::F32,
        );
        assert_eq!(y, [-3.5, -3.5, -3.5, -3.5]);
    }

    /// Two-channel convolutions that exercise strides, padding and edges (the fifth a 1-pixel-wide
    /// image under 7x7 'same' padding, where most kernel columns never land inside the image), and
    /// output rows of fixed widths (`W'` 20, 14, 32) and of widths read at run time (40, 41).
    fn awkward_shapes() -> Vec<ConvShape> {
        let shape = |(k, s, p, h, w): (usize, usize, usize, usize, usize)| ConvShape {
            c: 2,
            h,
            w,
            f: 1,
            k,
            s,
            p,
            ho: (h + 2 * p - k) / s + 1,
            wo: (w + 2 * p - k) / s + 1,
        };
        [
            (5, 1, 2, 7, 6),
            (3, 2, 1, 7, 8),
            (3, 3, 2, 8, 5),
            (2, 1, 0, 4, 4),
            (7, 1, 3, 2, 1),
            (3, 1, 1, 5, 20),
            (5, 2, 2, 6, 27),
            (3, 1, 0, 3, 34),
            (3, 1, 1, 2, 40),
            (3, 2, 0, 5, 83),
        ]
        .into_iter()
        .map(shape)
        .collect()
    }

    #[test]
    fn im2col_matches_the_definition_for_awkward_shapes() {
        // The last: a 1-pixel-wide image under 7x7 'same' padding, where most kernel columns
        // never land inside the image.
        for sh in awkward_shapes() {
            let (k, s, p, h, w, ho, wo) = (sh.k, sh.s, sh.p, sh.h, sh.w, sh.ho, sh.wo);
            let x: Vec<f32> = (0..2 * h * w).map(|i| i as f32 + 1.0).collect();
            let mut col = vec![f32::NAN; sh.col_rows() * sh.col_cols()];
            let mut phases = vec![f32::NAN; sh.scratch_size() - col.len()];
            im2col(&x, &mut col, &mut phases, &sh);
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
        // <im2col(x), c> == <x, col2im(c)> for all x, c, and col2im overwrites all of dx; the
        // shapes of [`awkward_shapes`].
        for sh in awkward_shapes() {
            let x: Vec<f32> = (0..sh.in_size()).map(|i| (i * 7 % 11) as f32).collect();
            let c: Vec<f32> = (0..sh.col_rows() * sh.col_cols())
                .map(|i| (i * 5 % 13) as f32)
                .collect();
            let mut col = vec![0.0; c.len()];
            let mut phases = vec![f32::NAN; sh.scratch_size() - c.len()];
            im2col(&x, &mut col, &mut phases, &sh);
            let mut back = vec![f32::NAN; sh.in_size()];
            col2im(&c, &mut back, &mut phases, &sh);
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
            assert_eq!(lhs, rhs, "{sh:?}");
        }
    }

    #[test]
    fn bf16_products_are_the_float32_ones_of_rounded_operands() {
        // In bfloat16 the layer is its float32 twin fed bfloat16-rounded x, W and dy (db is
        // Σ bf16(dy)); only the summation order may differ. Outputs of 9 to 100 values: products
        // on the AVX512-BF16 kernel (32 columns or more, where the processor has it) and on the
        // rounded float32 path.
        use crate::cpu::gemm_bf16::assert_bf16_layer_rounds_its_operands;
        use crate::rng::Rng;
        let mut rng = Rng::new(11);
        for sh in awkward_shapes().into_iter().filter(|s| s.col_cols() >= 9) {
            let sh = ConvShape { f: 3, ..sh };
            let n = 2;
            let mut random = |len: usize| -> Vec<f32> {
                (0..len).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect()
            };
            let (x, w, b) = (
                random(n * sh.in_size()),
                random(sh.f * sh.col_rows()),
                random(sh.f),
            );
            let dy = random(n * sh.out_size());
            let run = |x: &[f32], w: &[f32], dy: &[f32], precision| {
                let mut scratch = vec![0.0; sh.scratch_size()];
                let mut y = vec![0.0; n * sh.out_size()];
                conv_forward(x, w, &b, &mut y, &mut scratch, &sh, n, precision);
                let (mut dx, mut dw, mut db) =
                    (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; sh.f]);
                conv_backward(
                    x,
                    w,
                    dy,
                    Some(&mut dx),
                    &mut dw,
                    &mut db,
                    &mut scratch,
                    &sh,
                    n,
                    precision,
                );
                [y, dx, dw, db]
            };
            assert_bf16_layer_rounds_its_operands(&format!("{sh:?}"), (&x, &w, &dy), run);
        }
    }
}
