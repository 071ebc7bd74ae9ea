//! What a training step does after the layers: the losses (and the running totals they add
//! to) and the optimisers, weight averaging included.

use super::Sizes;
use crate::cpu::{loss, optim};
use crate::executor::AdamStep;
use crate::gpu::context::Gpu;
use crate::gpu::ops::dataset::ZERO_TOTALS;
use crate::gpu::ops::loss::{LossOutputs, mse, softmax_cross_entropy};
use crate::gpu::ops::optim::{adam, ema, sgd, weight_decay};
use crate::model::ema_decay;
use crate::verify::case::{Check, Tolerance, random};

pub(super) fn loss_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    // (examples, classes, label smoothing of the cross-entropy)
    let shapes: Vec<(usize, usize, f32)> = match sizes {
        Sizes::Small => vec![(3, 10, 0.0), (3, 10, 0.1)],
        Sizes::Awkward => vec![(1, 10, 0.0), (3, 10, 0.1), (17, 3, 0.2), (70, 10, 0.0)],
        Sizes::Network { plan, batch } => {
            vec![(batch, plan.classes, plan.network.training.label_smoothing)]
        }
    };
    let mut checks = Vec::new();
    for (n, k, smoothing) in shapes {
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let z: Vec<f32> = random(n * k, 13).iter().map(|v| 4.0 * v).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((i * 7 + 3) % k) as u8).collect();
        let labels32: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        let (iz, il) = (case.input(&z), case.input_u32(&labels32));
        let probs = case.output(n * k);
        let ce = LossOutputs {
            grad: case.output(n * k),
            totals: case.input_u32(&ZERO_TOTALS),
        };
        let se = LossOutputs {
            grad: case.output(n * k),
            totals: case.input_u32(&ZERO_TOTALS),
        };
        let ce_scale = 1.0 / n as f32;
        check.dispatches = vec![
            softmax_cross_entropy(iz, il, probs, ce, n, k, ce_scale, smoothing),
            mse(iz, il, se, n, k, 1.0 / (n * k) as f32),
        ];
        let mut want_p = vec![0.0; n * k];
        loss::softmax_forward(&z, &mut want_p, k);
        let mut want_dz = vec![0.0; n * k];
        loss::softmax_cross_entropy_backward(
            &want_p,
            &labels,
            &mut want_dz,
            k,
            ce_scale,
            smoothing,
        );
        let mut want_dy = vec![0.0; n * k];
        loss::mse_backward(&z, &labels, &mut want_dy, k, 1.0 / (n * k) as f32);
        let tag = format!("{n} x {k} outputs");
        let ce_tag = format!("cross-entropy (smoothing {smoothing}), {tag}");
        let tol = Tolerance::new(1e-5, 1e-4);
        check.expect(
            format!("softmax probabilities, {tag}"),
            probs,
            0,
            want_p.clone(),
            tol,
        );
        check.expect(format!("{ce_tag}: gradient"), ce.grad, 0, want_dz, tol);
        check.expect(format!("MSE gradient, {tag}"), se.grad, 0, want_dy, tol);
        let ce_totals = [
            loss::cross_entropy_sum(&want_p, &labels, k, smoothing),
            loss::count_correct(&want_p, &labels, k) as f64,
            n as f64,
        ];
        let se_totals = [
            loss::mse_sum(&z, &labels, k),
            loss::count_correct(&z, &labels, k) as f64,
            n as f64,
        ];
        check.expect_totals(
            format!("{ce_tag}: loss, correct, count"),
            ce.totals,
            ce_totals,
            tol,
        );
        check.expect_totals(
            format!("MSE loss, correct, count, {tag}"),
            se.totals,
            se_totals,
            tol,
        );
        checks.push(check);
    }
    checks
}

pub(super) fn optimiser_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let lengths: Vec<usize> = match sizes {
        Sizes::Small => vec![1001],
        Sizes::Awkward => vec![1, 1013, 70_001],
        Sizes::Network { plan, .. } => vec![plan.params()],
    };
    let mut checks = Vec::new();
    for total in lengths {
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let (w, g) = (random(total, 14), random(total, 15));
        let ig = case.input(&g);
        let (sgd_w, adam_w) = (case.input(&w), case.input(&w));
        let zeros = vec![0.0f32; total];
        let (m, v) = (case.input(&zeros), case.input(&zeros));
        let mut want_sgd = w.clone();
        optim::sgd_update(&mut want_sgd, &g, 0.1);
        check.dispatches.push(sgd(ig, sgd_w, total, 0.1));
        let (mut want_w, mut cm, mut cv) = (w.clone(), zeros.clone(), zeros);
        for t in 1..=3 {
            let s = AdamStep {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                t,
            };
            optim::adam_update(&mut want_w, &g, &mut cm, &mut cv, s);
            check.dispatches.push(adam(ig, adam_w, m, v, total, s));
        }
        // Weight averaging after the SGD update (update 5: d_t = min(0.999, 6/15)).
        let averaged = case.input(&w);
        check
            .dispatches
            .push(ema(sgd_w, averaged, total, ema_decay(0.999, 5)));
        let mut want_ema = w.clone();
        optim::ema_update(&mut want_ema, &want_sgd, 0.999, 5);
        // Weight decay of one tensor inside the vector (the values around it stay as they are).
        let decayed = case.input(&w);
        let range = total / 3..total - total / 5;
        check
            .dispatches
            .push(weight_decay(decayed, range.clone(), 0.1, 0.5));
        let mut want_decayed = w.clone();
        optim::decay_weights(&mut want_decayed[range.clone()], 0.1, 0.5);
        let tag = format!("{total} parameters");
        check.expect(
            format!("weight decay of values {range:?}, {tag}"),
            decayed,
            0,
            want_decayed,
            Tolerance::new(1e-7, 1e-6),
        );
        let ema_tol = Tolerance::new(1e-7, 1e-6);
        check.expect(
            format!("weight averaging, {tag}"),
            averaged,
            0,
            want_ema,
            ema_tol,
        );
        check.expect(
            format!("sgd, {tag}"),
            sgd_w,
            0,
            want_sgd,
            Tolerance::new(1e-7, 1e-6),
        );
        let adam = |what| format!("adam {what}, three steps on {tag}");
        check.expect(adam("w"), adam_w, 0, want_w, Tolerance::new(1e-6, 1e-5));
        check.expect(adam("m"), m, 0, cm, Tolerance::new(1e-7, 1e-5));
        check.expect(adam("v"), v, 0, cv, Tolerance::new(1e-8, 1e-5));
        checks.push(check);
    }
    checks
}
