//! The layers with parameters: dense, convolution and batch normalisation, forward and
//! backward (their parameters and gradients mid-buffer, as in a network).

use super::Sizes;
use super::conv_shape;
use crate::cpu::{activation, conv, dense, norm};
use crate::gpu::context::Gpu;
use crate::gpu::ops::conv::{ConvLayout, conv_backward, conv_forward};
use crate::gpu::ops::dense::{DenseLayout, dense_backward, dense_forward};
use crate::gpu::ops::norm::{NormLayout, batchnorm_backward, batchnorm_forward};
use crate::model::{Activation, ConvShape, Layer, MatmulPrecision, NormShape};
use crate::verify::case::{Check, Tolerance, random};

/// Each shape with float32 products and again with bfloat16 operands (small and awkward
/// sizes), or with the network's own precision.
fn with_precisions<T: Clone>(sizes: Sizes, shapes: Vec<T>) -> Vec<(MatmulPrecision, T)> {
    let precisions = match sizes {
        Sizes::Network { plan, .. } => vec![plan.network.training.matmul_precision],
        _ => vec![MatmulPrecision::F32, MatmulPrecision::Bf16],
    };
    (precisions.into_iter())
        .flat_map(|p| shapes.iter().map(move |s| (p, s.clone())))
        .collect()
}

/// How a check's name says its precision: nothing for float32.
fn precision_tag(precision: MatmulPrecision) -> &'static str {
    match precision {
        MatmulPrecision::F32 => "",
        MatmulPrecision::Bf16 => ", bf16 operands",
    }
}

pub(super) fn dense_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let shapes: Vec<(usize, usize, usize, Option<Activation>)> = match sizes {
        // 37 -> 70: the weight gradient has 70 rows (128-row blocks), the others 3 (narrow).
        Sizes::Small => vec![(3, 37, 70, None)],
        // The last is long enough along k (300) for the forward and weight-gradient products to
        // be split and summed by a second dispatch, which then adds the bias, applies the
        // activation and fills the bias-gradient column.
        Sizes::Awkward => vec![
            (1, 7, 3, None),
            (3, 70, 10, None),
            (17, 33, 65, None),
            (300, 300, 5, Some(Activation::Tanh)),
        ],
        Sizes::Network { plan, batch } => (plan.layers.iter())
            .filter(|l| matches!(l.layer, Layer::Dense { .. }))
            .map(|l| (batch, l.input.size(), l.output.size(), None))
            .collect(),
    };
    let mut checks = Vec::new();
    for (precision, (n, d_in, d_out, act)) in with_precisions(sizes, shapes) {
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let (x, w, b, dy) = (
            random(n * d_in, 1),
            random(d_out * d_in, 2),
            random(d_out, 3),
            random(n * d_out, 4),
        );
        let lead = 3;
        let l = DenseLayout {
            precision,
            ..case.dense(lead, &w, &b, n)
        };
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(n * d_out), case.output(n * d_in));
        check.dispatches = dense_forward(&l, ix, y, n, act);
        check
            .dispatches
            .extend(dense_backward(&l, ix, idy, Some(dx.into()), n));
        let mut want_y = vec![0.0; n * d_out];
        dense::dense_forward(&x, &w, &b, &mut want_y, n, d_in, precision);
        if act == Some(Activation::Tanh) {
            let z = want_y.clone();
            activation::tanh_forward(&z, &mut want_y);
        }
        let (mut want_dx, mut dw, mut db) =
            (vec![0.0; n * d_in], vec![0.0; w.len()], vec![0.0; d_out]);
        dense::dense_backward(
            &x,
            &w,
            &dy,
            Some(&mut want_dx),
            &mut dw,
            &mut db,
            n,
            d_in,
            precision,
        );
        let tag = format!("dense n={n} {d_in}->{d_out}{}", precision_tag(precision));
        let tol = Tolerance::for_sums(n.max(d_in).max(d_out));
        check.expect(format!("{tag} forward"), y, 0, want_y, tol);
        check.expect(format!("{tag} backward dx"), dx, 0, want_dx, tol);
        check.expect(format!("{tag} backward dW"), l.grads, lead, dw, tol);
        check.expect(
            format!("{tag} backward db"),
            l.grads,
            lead + w.len(),
            db,
            tol,
        );
        checks.push(check);
    }
    checks
}

pub(super) fn conv_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let shapes: Vec<(usize, ConvShape)> = match sizes {
        // 5x5 'same', 3x3 stride 2, and 70 filters (a forward and a weight gradient of 70 rows,
        // on 128-row blocks).
        Sizes::Small => vec![
            (3, conv_shape(3, 9, 7, 4, 5, 1, 2)),
            (3, conv_shape(3, 9, 7, 4, 3, 2, 1)),
            (3, conv_shape(3, 5, 4, 70, 3, 1, 1)),
        ],
        // Batch 1 and 17; valid, strided and padded; 130 filters or channels (two row blocks);
        // k long enough to split (F·K·K = 1170, C·K·K = 1170, C·K·K = 300); padding wider
        // than the image.
        Sizes::Awkward => vec![
            (1, conv_shape(1, 7, 6, 3, 5, 1, 2)),
            (3, conv_shape(3, 9, 8, 4, 3, 1, 0)),
            (3, conv_shape(2, 7, 7, 5, 3, 2, 1)),
            (17, conv_shape(3, 6, 5, 2, 5, 1, 2)),
            (4, conv_shape(3, 12, 12, 130, 3, 1, 1)),
            (2, conv_shape(130, 5, 5, 4, 3, 1, 1)),
            (2, conv_shape(12, 6, 6, 4, 5, 1, 2)),
            (3, conv_shape(2, 3, 2, 3, 7, 1, 3)),
        ],
        Sizes::Network { plan, batch } => (plan.layers.iter())
            .filter_map(ConvShape::of)
            .map(|s| (batch, s))
            .collect(),
    };
    let mut checks = Vec::new();
    for (precision, (n, sh)) in with_precisions(sizes, shapes) {
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let (in_len, out_len) = (n * sh.in_size(), n * sh.out_size());
        let wlen = sh.f * sh.col_rows();
        let (x, w, b, dy) = (
            random(in_len, 5),
            random(wlen, 6),
            random(sh.f, 7),
            random(out_len, 8),
        );
        let lead = 2;
        let l = ConvLayout {
            precision,
            ..case.conv(lead, &w, &b, sh, n)
        };
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(out_len), case.output(in_len));
        check.dispatches = conv_forward(&l, ix, y, n, None);
        check
            .dispatches
            .extend(conv_backward(&l, ix, idy, Some(dx.into()), n));
        let mut col = vec![0.0; sh.scratch_size()];
        let mut want_y = vec![0.0; out_len];
        conv::conv_forward(&x, &w, &b, &mut want_y, &mut col, &sh, n, precision);
        let (mut want_dx, mut dw, mut db) = (vec![0.0; in_len], vec![0.0; wlen], vec![0.0; sh.f]);
        conv::conv_backward(
            &x,
            &w,
            &dy,
            Some(&mut want_dx),
            &mut dw,
            &mut db,
            &mut col,
            &sh,
            n,
            precision,
        );
        let tag = format!(
            "conv n={n} {}x{}x{} -> {} filters {}x{} stride {} padding {}{}",
            sh.c,
            sh.h,
            sh.w,
            sh.f,
            sh.k,
            sh.k,
            sh.s,
            sh.p,
            precision_tag(precision)
        );
        let k = sh.col_rows().max(sh.f * sh.k * sh.k);
        let data = Tolerance::new(1e-5, 1e-5).at_least(Tolerance::for_sums(k));
        let weights = Tolerance::new(1e-4, 1e-5).at_least(Tolerance::for_sums(n * sh.col_cols()));
        check.expect(format!("{tag} forward"), y, 0, want_y, data);
        check.expect(format!("{tag} backward dx"), dx, 0, want_dx, data);
        check.expect(format!("{tag} backward dW"), l.grads, lead, dw, weights);
        check.expect(
            format!("{tag} backward db"),
            l.grads,
            lead + wlen,
            db,
            weights,
        );
        checks.push(check);
    }
    checks
}

pub(super) fn batchnorm_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let shapes: Vec<NormShape> = match sizes {
        Sizes::Small => vec![NormShape {
            n: 3,
            c: 4,
            inner: 35,
        }],
        // Images (per channel over N, H, W) and flat features (per feature over N), batch 2, 3
        // and 17, sizes that are not multiples of the workgroup.
        Sizes::Awkward => [(2, 1, 1), (3, 4, 35), (17, 10, 1), (3, 3, 67), (17, 2, 9)]
            .map(|(n, c, inner)| NormShape { n, c, inner })
            .to_vec(),
        Sizes::Network { plan, batch } => (plan.layers.iter())
            .filter(|l| l.layer == Layer::BatchNorm)
            .map(|l| {
                let (c, inner) = l.input.features();
                NormShape { n: batch, c, inner }
            })
            .collect(),
    };
    let mut checks = Vec::new();
    for sh in shapes {
        let NormShape { n, c, inner } = sh;
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let len = n * c * inner;
        // Offset and scaled inputs, so the mean and variance matter; the layer's parameters
        // start mid-buffer and its running statistics after another layer's.
        let x: Vec<f32> = random(len, 21).iter().map(|v| 3.0 * v + 1.5).collect();
        let dy = random(len, 22);
        let gamma: Vec<f32> = random(c, 23).iter().map(|v| 1.0 + 0.5 * v).collect();
        let beta = random(c, 24);
        let mut flat = vec![0.5; 3];
        flat.extend_from_slice(&gamma);
        flat.extend_from_slice(&beta);
        let mut running = vec![9.0; 4];
        running.extend(random(c, 25));
        running.extend(random(c, 26).iter().map(|v| 1.0 + 0.5 * v));
        let l = NormLayout {
            params: case.input(&flat),
            grads: case.output(flat.len()),
            g_off: 3,
            running: case.input(&running),
            r_off: 4,
            saved: case.output(3 * c),
            c,
            inner,
        };
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y_eval, y, dx) = (case.output(len), case.output(len), case.output(len));
        check.dispatches = vec![
            batchnorm_forward(&l, ix, y_eval, n, false),
            batchnorm_forward(&l, ix, y, n, true),
            batchnorm_backward(&l, ix, idy, dx, true, n),
        ];
        let (rm, rv) = running[4..].split_at(c);
        let mut want_eval = vec![0.0; len];
        norm::batchnorm_forward_eval(&x, &gamma, &beta, rm, rv, &mut want_eval, sh, false);
        let (mut want_y, mut saved) = (vec![0.0; len], norm::NormSaved::default());
        norm::batchnorm_forward_train(&x, &gamma, &beta, &mut want_y, &mut saved, sh);
        let (mut want_rm, mut want_rv) = (rm.to_vec(), rv.to_vec());
        norm::batchnorm_update_running(&mut want_rm, &mut want_rv, &saved, n * inner);
        let (mut want_dx, mut dg, mut db) = (vec![0.0; len], vec![0.0; c], vec![0.0; c]);
        norm::batchnorm_backward(
            &x,
            &gamma,
            &saved,
            &dy,
            Some(&mut want_dx),
            &mut dg,
            &mut db,
            sh,
        );
        let tag = format!("batchnorm n={n} c={c} inner={inner}");
        let want_saved = [saved.mean, saved.var, saved.inv_std].concat();
        check.expect(
            format!("{tag} forward (inference)"),
            y_eval,
            0,
            want_eval,
            Tolerance::new(1e-5, 1e-5),
        );
        check.expect(
            format!("{tag} forward (training)"),
            y,
            0,
            want_y,
            Tolerance::new(1e-4, 1e-4),
        );
        check.expect(
            format!("{tag} saved statistics"),
            l.saved,
            0,
            want_saved,
            Tolerance::new(1e-5, 1e-4),
        );
        // Another layer's statistics, before this one's, stay as they were.
        check.expect(
            format!("{tag} other running statistics"),
            l.running,
            0,
            vec![9.0; 4],
            Tolerance::EXACT,
        );
        let want_running = [want_rm, want_rv].concat();
        check.expect(
            format!("{tag} running statistics"),
            l.running,
            4,
            want_running,
            Tolerance::new(1e-5, 1e-4),
        );
        check.expect(
            format!("{tag} backward dx"),
            dx,
            0,
            want_dx,
            Tolerance::new(1e-4, 1e-3),
        );
        check.expect(
            format!("{tag} backward dγ"),
            l.grads,
            3,
            dg,
            Tolerance::new(1e-4, 1e-4),
        );
        check.expect(
            format!("{tag} backward dβ"),
            l.grads,
            3 + c,
            db,
            Tolerance::new(1e-4, 1e-4),
        );
        checks.push(check);
    }
    checks
}
