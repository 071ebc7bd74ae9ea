//! Every layer's backward pass against central finite differences, with the layer in the middle
//! of a small network so a dropped upstream gradient shows up in the earlier layers' gradients.

mod common;

use common::{batch, cpu_net};
use shadernet::cpu::Mode;
use shadernet::model::Shape;

/// Compares every parameter's analytic gradient with `(L(w + ε) − L(w − ε)) / 2ε`, where the
/// loss uses the same dropout masks (training mode, step 0) as the analytic pass.
fn check(name: &str, text: &str, input: Shape, classes: usize, n: usize) {
    let mut net = cpu_net(text, input, classes, 2);
    let (x, labels) = batch(input, classes, n, 42);
    let stats = net.compute_gradients(&x, &labels, 0);
    assert!(net.mean_loss(&stats, n).is_finite());
    let analytic = net.grads().to_vec();
    // Small enough that a perturbation rarely flips a max-pool argmax or crosses a ReLU kink
    // (at 1e-2 the pools do), large enough for f32 forward passes: 1e-3.
    let eps = 1e-3f32;
    let mut worst = (0.0f64, 0usize, 0.0f64, 0.0f64);
    for (i, &a) in analytic.iter().enumerate() {
        let original = net.params()[i];
        let mut loss_at = |w: f32| {
            net.params_mut()[i] = w;
            let stats = net.forward(&x, &labels, Mode::Train { step: 0 }, None);
            net.mean_loss(&stats, n)
        };
        let numeric = (loss_at(original + eps) - loss_at(original - eps)) / (2.0 * eps as f64);
        net.params_mut()[i] = original;
        let a = a as f64;
        assert!(
            a.is_finite() && numeric.is_finite(),
            "{name}: parameter {i}: analytic {a} vs numeric {numeric}"
        );
        let excess = (a - numeric).abs() - (1e-3 + 2e-2 * numeric.abs().max(a.abs()));
        if excess > worst.0 {
            worst = (excess, i, a, numeric);
        }
    }
    let (excess, i, a, numeric) = worst;
    assert!(
        excess <= 0.0,
        "{name}: parameter {i} of {}: analytic {a:.6} vs numeric {numeric:.6}",
        analytic.len()
    );
    println!(
        "{name}: {} parameters agree with finite differences",
        analytic.len()
    );
}

#[test]
fn conv_with_stride_2_and_padding() {
    let net = "conv 2 kernel=3 padding=1\ntanh\nconv 3 kernel=3 stride=2 padding=1\ntanh\n\
               flatten\ndense classes\nsoftmax\n";
    check(
        "conv stride 2",
        net,
        Shape::Image { c: 2, h: 7, w: 7 },
        4,
        3,
    );
}

#[test]
fn conv_valid_with_rectangular_input() {
    let net = "conv 3 kernel=3 padding=valid\ntanh\nconv 2 kernel=2 padding=0\ntanh\n\
               flatten\ndense classes\nsoftmax\n";
    check("conv valid", net, Shape::Image { c: 1, h: 6, w: 5 }, 3, 2);
}

#[test]
fn conv_padding_wider_than_the_image() {
    // A 7x7 'same' convolution over a 3x2 image: most kernel rows and columns fall entirely in
    // the padding, and the second convolution's input is narrower than its padding.
    let net = "conv 2 kernel=7 padding=3\ntanh\nconv 2 kernel=5 padding=2\ntanh\n\
               flatten\ndense classes\nsoftmax\n";
    check(
        "conv wide padding",
        net,
        Shape::Image { c: 1, h: 3, w: 2 },
        3,
        2,
    );
}

#[test]
fn max_pool() {
    let net = "conv 3 kernel=3 padding=1\ntanh\nmaxpool 2\nconv 2 kernel=3 padding=1\ntanh\n\
               flatten\ndense classes\nsoftmax\n";
    check("maxpool", net, Shape::Image { c: 1, h: 8, w: 8 }, 3, 3);
}

#[test]
fn overlapping_max_pool() {
    let net =
        "conv 2 kernel=3 padding=1\ntanh\nmaxpool 3 stride=2\nflatten\ndense classes\nsoftmax\n";
    check(
        "overlapping maxpool",
        net,
        Shape::Image { c: 1, h: 7, w: 7 },
        3,
        2,
    );
}

#[test]
fn dense_relu_and_tanh() {
    let net = "flatten\ndense 7\nrelu\ndense 5\ntanh\ndense classes\nsoftmax\n";
    check(
        "dense relu tanh",
        net,
        Shape::Image { c: 1, h: 4, w: 4 },
        4,
        3,
    );
}

#[test]
fn relu_between_convolutions() {
    let net = "conv 3 kernel=3 padding=1\nrelu\nconv 2 kernel=3 padding=1\ntanh\n\
               flatten\ndense classes\nsoftmax\n";
    check("conv relu", net, Shape::Image { c: 1, h: 5, w: 5 }, 3, 2);
}

#[test]
fn cross_entropy_with_label_smoothing() {
    let net = "flatten\ndense 6\ntanh\ndense classes\nsoftmax\nloss cross_entropy smoothing=0.2\n";
    check(
        "label smoothing",
        net,
        Shape::Image { c: 1, h: 3, w: 4 },
        5,
        3,
    );
}

#[test]
fn mse_with_tanh_output() {
    let net = "flatten\ndense 6\ntanh\ndense classes\ntanh\nloss mse\noptimizer sgd\n";
    check("mse", net, Shape::Image { c: 1, h: 3, w: 4 }, 5, 3);
}

#[test]
fn dropout_with_a_fixed_mask() {
    let net = "conv 2 kernel=3 padding=1\ntanh\ndropout 0.3\nflatten\ndense 6\ntanh\ndropout 0.5\n\
               dense classes\nsoftmax\n";
    check("dropout", net, Shape::Image { c: 1, h: 5, w: 5 }, 3, 3);
}

#[test]
fn splitting_the_batch_across_threads_changes_nothing_but_rounding() {
    let text = "conv 4 kernel=3 padding=1\nrelu\nmaxpool 2\ndropout 0.2\nflatten\ndense classes\nsoftmax\n";
    let input = Shape::Image { c: 1, h: 8, w: 8 };
    let (x, labels) = batch(input, 5, 7, 3);
    let mut one = cpu_net(text, input, 5, 1);
    let mut two = cpu_net(text, input, 5, 2);
    let (a, b) = (
        one.compute_gradients(&x, &labels, 5),
        two.compute_gradients(&x, &labels, 5),
    );
    assert!((a.loss_sum - b.loss_sum).abs() < 1e-9 * a.loss_sum.abs().max(1.0));
    for (i, (g1, g2)) in one.grads().iter().zip(two.grads()).enumerate() {
        assert!(
            (g1 - g2).abs() <= 1e-6 + 1e-5 * g1.abs(),
            "grad {i}: {g1} vs {g2}"
        );
    }
}

#[test]
fn batchnorm_over_channels_of_an_image() {
    // Normalised per channel over N, H and W; every loss term depends on the whole batch
    // through the statistics, so the check runs in training mode on the whole batch.
    let net = "conv 3 kernel=3 padding=1\nbatchnorm\ntanh\nconv 2 kernel=3 padding=1\ntanh\n\
               flatten\ndense classes\nsoftmax\n";
    check(
        "batchnorm image",
        net,
        Shape::Image { c: 2, h: 5, w: 4 },
        3,
        3,
    );
}

#[test]
fn batchnorm_over_the_batch_of_flat_features() {
    let net = "flatten\ndense 6\nbatchnorm\ntanh\ndense 5\nbatchnorm\ndense classes\nsoftmax\n";
    check(
        "batchnorm flat",
        net,
        Shape::Image { c: 1, h: 3, w: 4 },
        4,
        5,
    );
}

#[test]
fn batchnorm_followed_by_relu_done_in_one_pass() {
    // The CPU executor folds a ReLU that follows a batchnorm layer into it (forward: max(0, y)
    // in the normalising pass; backward: the ReLU's output gradient masked in place first),
    // here on channels and on flat features, with a dropout after each so that the masks'
    // layer numbers are checked too.
    let net = "conv 3 kernel=3 padding=1\nbatchnorm\nrelu\ndropout 0.25\nconv 2 kernel=3 padding=1\n\
               tanh\nflatten\ndense 6\nbatchnorm\nrelu\ndropout 0.25\ndense classes\nsoftmax\n";
    check(
        "batchnorm relu",
        net,
        Shape::Image { c: 2, h: 5, w: 4 },
        3,
        4,
    );
}

#[test]
fn batchnorm_results_do_not_depend_on_the_thread_count() {
    // Each thread normalises its chunk with the whole batch's statistics (partial sums added
    // across threads), so splitting changes nothing but the rounding of those sums.
    let text = "conv 4 kernel=3 padding=1\nbatchnorm\nrelu\nmaxpool 2\nflatten\ndense 6\nbatchnorm\n\
                dense classes\nsoftmax\n";
    let input = Shape::Image { c: 1, h: 8, w: 8 };
    let (x, labels) = batch(input, 5, 7, 3);
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-6 + 1e-5 * a.abs();
    let mut one = cpu_net(text, input, 5, 1);
    let a = one.compute_gradients(&x, &labels, 5);
    for threads in [2, 3] {
        let mut many = cpu_net(text, input, 5, threads);
        let b = many.compute_gradients(&x, &labels, 5);
        assert!((a.loss_sum - b.loss_sum).abs() < 1e-6 * a.loss_sum.abs().max(1.0));
        for (i, (g1, g2)) in one.grads().iter().zip(many.grads()).enumerate() {
            assert!(close(*g1, *g2), "{threads} threads, grad {i}: {g1} vs {g2}");
        }
        for (i, (r1, r2)) in one
            .running_stats()
            .iter()
            .zip(many.running_stats())
            .enumerate()
        {
            assert!(
                close(*r1, *r2),
                "{threads} threads, running {i}: {r1} vs {r2}"
            );
        }
        // Inference splits the batch across threads too.
        let (mut all, mut split) = (vec![0.0; 7 * 5], vec![0.0; 7 * 5]);
        one.forward(&x, &labels, Mode::Eval, Some(&mut all));
        many.forward(&x, &labels, Mode::Eval, Some(&mut split));
        for (i, (a, b)) in all.iter().zip(&split).enumerate() {
            assert!(close(*a, *b), "{threads} threads, output {i}: {a} vs {b}");
        }
    }
    // The running statistics moved from (0, 1) towards the batch's.
    assert_eq!(one.running_stats().len(), 2 * (4 + 6));
    assert!(one.running_stats()[..4].iter().all(|&m| m != 0.0));
    // Inference uses them, not the batch: a single example is normalised the same way
    // whatever batch it comes in.
    let size = input.size();
    let mut alone = vec![0.0; 5];
    let mut all = vec![0.0; 7 * 5];
    one.forward(&x[..size], &labels[..1], Mode::Eval, Some(&mut alone));
    one.forward(&x, &labels, Mode::Eval, Some(&mut all));
    assert_eq!(alone[..], all[..5]);
}
