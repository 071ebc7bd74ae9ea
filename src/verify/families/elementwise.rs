//! The parameter-free layers: max-pool (with and without the dropout fused into it),
//! activations, dropout, and the augmentation warp.

use super::Sizes;
use super::pool_shape;
use crate::cpu::{activation, dropout, pool};
use crate::data::augment::augment_batch;
use crate::executor::DropoutKey;
use crate::gpu::context::Gpu;
use crate::gpu::ops::activation::{activation_backward, activation_forward};
use crate::gpu::ops::augment::{AugmentKey, augment};
use crate::gpu::ops::dropout::dropout_forward;
use crate::gpu::ops::pool::{PoolDropout, maxpool_backward, maxpool_forward};
use crate::model::{Activation, AugmentRanges, Layer, PoolShape, Shape};
use crate::verify::case::{Check, Tolerance, random};

pub(super) fn maxpool_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let shapes: Vec<(usize, PoolShape)> = match sizes {
        // 2x2 on 7x7: a row and column left over.
        Sizes::Small => vec![(3, pool_shape(2, 7, 7, 2, 2))],
        // Odd sizes, and overlapping 3x3/2 and 2x2/1 windows, where an input can be the
        // maximum of several windows and gathers all their gradients.
        Sizes::Awkward => vec![
            (1, pool_shape(1, 7, 7, 2, 2)),
            (3, pool_shape(3, 9, 6, 3, 2)),
            (17, pool_shape(2, 4, 5, 2, 1)),
        ],
        Sizes::Network { plan, batch } => (plan.layers.iter())
            .filter_map(PoolShape::of)
            .map(|s| (batch, s))
            .collect(),
    };
    let mut checks = Vec::new();
    for (n, sh) in shapes {
        let (in_len, out_len) = (n * sh.c * sh.h * sh.w, n * sh.c * sh.ho * sh.wo);
        // Few distinct values, so ties happen and the first-maximum rule is exercised.
        let x: Vec<f32> = random(in_len, 9)
            .iter()
            .map(|v| (v * 4.0).round())
            .collect();
        let dy = random(out_len, 10);
        let (mut want_y, mut want_arg, mut want_dx) =
            (vec![0.0; out_len], vec![0; out_len], vec![0.0; in_len]);
        pool::maxpool_forward(&x, &mut want_y, &mut want_arg, &sh, n);
        pool::maxpool_backward(&dy, &want_arg, &mut want_dx);
        let tag = format!(
            "maxpool n={n} {}x{}x{} window {} stride {}",
            sh.c, sh.h, sh.w, sh.size, sh.stride
        );

        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, arg, dx) = (
            case.output(out_len),
            case.output(out_len),
            case.output(in_len),
        );
        check.dispatches = vec![
            maxpool_forward(&sh, ix, y, arg, n, None),
            maxpool_backward(&sh, idy, arg, None, ix, dx.into(), n),
        ];
        // The same comparisons and additions in the same order: bit-identical.
        check.expect(
            format!("{tag} forward"),
            y,
            0,
            want_y.clone(),
            Tolerance::EXACT,
        );
        check.expect_words(format!("{tag} argmax"), arg, 0, &want_arg);
        check.expect(format!("{tag} backward"), dx, 0, want_dx, Tolerance::EXACT);
        checks.push(check);

        // With a dropout after the pool fused in: the pool draws the dropout's mask and writes
        // its output, and the pool's backward applies the dropout's backward as it gathers.
        let key = DropoutKey {
            seed: 77,
            step: 4,
            layer: 9,
        };
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, arg, mask, dx) = (
            case.output(out_len),
            case.output(out_len),
            case.output(out_len),
            case.output(in_len),
        );
        let fused = PoolDropout {
            mask,
            rate: 0.4,
            key,
        };
        check.dispatches = vec![
            maxpool_forward(&sh, ix, y, arg, n, Some(fused)),
            maxpool_backward(&sh, idy, arg, Some(mask), ix, dx.into(), n),
        ];
        let (mut want_y_drop, mut want_mask, mut g) =
            (vec![0.0; out_len], vec![0.0; out_len], vec![0.0; out_len]);
        dropout::dropout_forward(&want_y, &mut want_y_drop, &mut want_mask, 0.4, key, 0);
        dropout::dropout_backward(&dy, &want_mask, &mut g);
        let mut want_dx = vec![0.0; in_len];
        pool::maxpool_backward(&g, &want_arg, &mut want_dx);
        let tag = format!("{tag} + dropout");
        check.expect(format!("{tag} mask"), mask, 0, want_mask, Tolerance::EXACT);
        check.expect(
            format!("{tag} forward"),
            y,
            0,
            want_y_drop,
            Tolerance::EXACT,
        );
        // Overlapping windows add several products, which the shader compiler may fuse into
        // multiply-adds: close, not always bit-identical.
        let close = Tolerance::new(1e-6, 1e-6);
        check.expect(format!("{tag} backward"), dx, 0, want_dx, close);
        checks.push(check);
    }
    checks
}

pub(super) fn activation_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let lengths: Vec<usize> = match sizes {
        Sizes::Small => vec![3 * 67],
        Sizes::Awkward => vec![1, 3 * 65, 17 * 100],
        Sizes::Network { plan, batch } => (plan.layers.iter())
            .filter(|l| matches!(l.layer, Layer::Activation(_)))
            .map(|l| batch * l.output.size())
            .collect(),
    };
    let mut checks = Vec::new();
    for total in lengths {
        for kind in [Activation::Tanh, Activation::Relu] {
            let mut check = Check::new(gpu);
            let case = &mut check.case;
            let x: Vec<f32> = random(total, 11).iter().map(|v| v * 3.0).collect();
            let dy = random(total, 12);
            let (ix, idy) = (case.input(&x), case.input(&dy));
            let (y, dx) = (case.output(total), case.output(total));
            check.dispatches = vec![
                activation_forward(kind, ix, y, total),
                activation_backward(kind, y, idy, dx, total),
            ];
            let (mut want_y, mut want_dx) = (vec![0.0; total], vec![0.0; total]);
            match kind {
                Activation::Tanh => activation::tanh_forward(&x, &mut want_y),
                Activation::Relu => activation::relu_forward(&x, &mut want_y),
            }
            match kind {
                Activation::Tanh => activation::tanh_backward(&want_y, &dy, &mut want_dx),
                Activation::Relu => activation::relu_backward(&want_y, &dy, &mut want_dx),
            }
            let tag = format!("{kind:?} on {total} values").to_lowercase();
            check.expect(
                format!("{tag} forward"),
                y,
                0,
                want_y,
                Tolerance::new(2e-6, 1e-5),
            );
            // dx = dy·(1 − y²) inherits the forward's rounding.
            check.expect(
                format!("{tag} backward"),
                dx,
                0,
                want_dx,
                Tolerance::new(1e-5, 1e-5),
            );
            checks.push(check);
        }
    }
    checks
}

pub(super) fn dropout_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let lengths: Vec<(usize, f32)> = match sizes {
        Sizes::Small => vec![(3 * 67, 0.3)],
        Sizes::Awkward => vec![(1, 0.5), (3 * 67, 0.3), (17 * 100, 0.9)],
        Sizes::Network { plan, batch } => {
            let mut out = Vec::new();
            for l in &plan.layers {
                if let Layer::Dropout { rate } = l.layer {
                    out.push((batch * l.output.size(), rate));
                }
            }
            out
        }
    };
    let key = DropoutKey {
        seed: 1234,
        step: 5,
        layer: 2,
    };
    let mut checks = Vec::new();
    for (total, rate) in lengths {
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let x = random(total, 13);
        let ix = case.input(&x);
        let (y, mask) = (case.output(total), case.output(total));
        check.dispatches = vec![dropout_forward(ix, y, mask, total, rate, key)];
        let (mut want_y, mut want_mask) = (vec![0.0; total], vec![0.0; total]);
        dropout::dropout_forward(&x, &mut want_y, &mut want_mask, rate, key, 0);
        // The same counter-based draws: bit-identical masks.
        let tag = format!("dropout {rate} on {total} values");
        check.expect(format!("{tag} mask"), mask, 0, want_mask, Tolerance::EXACT);
        check.expect(format!("{tag} forward"), y, 0, want_y, Tolerance::EXACT);
        checks.push(check);
    }
    checks
}

pub(super) fn augment_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let batches: Vec<(usize, (usize, usize, usize))> = match sizes {
        Sizes::Small => vec![(3, (1, 13, 11))],
        Sizes::Awkward => vec![(1, (1, 28, 28)), (5, (2, 9, 7))],
        Sizes::Network { plan, batch } => match plan.input {
            Shape::Image { c, h, w } => vec![(batch, (c, h, w))],
            Shape::Flat(_) => Vec::new(),
        },
    };
    let mut checks = Vec::new();
    for (n, dims) in batches {
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let len = n * dims.0 * dims.1 * dims.2;
        let x: Vec<f32> = random(len, 20).iter().map(|v| 0.5 + 0.5 * v).collect();
        let key = AugmentKey {
            seed: 77,
            step: 3,
            chance: 1.0,
            ranges: AugmentRanges {
                elastic_px: 1.5,
                ..AugmentRanges::default()
            },
        };
        let (ix, out) = (case.input(&x), case.output(len));
        check.dispatches = vec![augment(ix, out, n, dims, &key)];
        let mut want = x.clone();
        augment_batch(&mut want, dims, key.seed, key.step, key.chance, &key.ranges);
        let tag = format!(
            "augmentation warp (elastic 1.5 px) of {n} images {}x{}x{}",
            dims.0, dims.1, dims.2
        );
        check.expect(tag, out, 0, want, Tolerance::new(1e-4, 1e-3));
        checks.push(check);
    }
    checks
}
