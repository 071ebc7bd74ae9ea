//! Whole networks on the GPU against the CPU executor: parameters after three Adam steps of
//! seed3-, seed9- and seedtf-like networks and of networks built to exercise every fusion,
//! identical dropout masks, the executor interface with the data on the device, determinism,
//! flat memory, and the limits check.

mod common;
#[path = "common/gpu.rs"]
mod gpu_common;

use common::{assert_bits_eq, batch, plan};
use gpu_common::{assert_close, gpu_or_skip};
use shadernet::cpu::dropout::dropout_forward;
use shadernet::cpu::{CpuExecutor, CpuNet, Mode};
use shadernet::data::Dataset;
use shadernet::executor::DropoutKey;
use shadernet::executor::Executor;
use shadernet::executor::dropout_seed;
use shadernet::gpu::ops::gemm::BLOCK_N;
use shadernet::gpu::{Gpu, GpuExecutor, GpuNet, StepMode, Totals};
use shadernet::model::{Layer, Shape};
use std::sync::Arc;

const SEED3_LIKE: &str = "flatten\ndense 20\ntanh\ndense classes\nsoftmax\n\
                          optimizer adam\nlr 0.01\ninit uniform\n";
const SEED9_LIKE: &str = "conv 3 kernel=5 padding=same\nrelu\nmaxpool 2\ndropout 0.2\n\
                          conv 4 kernel=3 padding=valid\nrelu\nmaxpool 2 stride=1\ndropout 0.2\n\
                          flatten\ndense classes\nsoftmax\noptimizer adam\nlr 0.001\n";
const SEEDTF_LIKE: &str = "conv 3 kernel=5 padding=same\nrelu\nmaxpool 2\nflatten\ndense 7\n\
                           batchnorm\ndense classes\nsoftmax\noptimizer adam\nlr 0.0005\n";
const CONV_BATCHNORM: &str = "conv 4 kernel=3 padding=same\nbatchnorm\nrelu\nmaxpool 2\n\
                              flatten\ndense classes\nsoftmax\noptimizer adam\nlr 0.001\n";
const SEED1_LIKE: &str = "flatten\ndense 9\ntanh\ndense classes\ntanh\nloss mse\n\
                          optimizer sgd\nlr 0.1\ninit uniform\n";

/// Three training steps on both executors (a new batch each step); after each, the GPU's
/// gradients, dropout masks and parameters against the CPU's.
fn three_steps_agree(name: &str, text: &str, input: Shape, classes: usize, n: usize) {
    let Some(gpu) = gpu_or_skip() else { return };
    let plan = plan(text, input, classes);
    let seed = 5;
    let mut cpu = CpuNet::new(&plan, seed, 2).unwrap();
    let mut net = GpuNet::new(gpu, &plan, seed, n).unwrap();
    assert_eq!(
        net.parameters(gpu).unwrap(),
        cpu.averaged_params(),
        "{name}: initial parameters"
    );
    let lr = plan.network.training.lr;
    let mut noise = vec![false; plan.params()];
    for step in 0..3u32 {
        let (x, labels) = batch(input, classes, n, 100 + step as u64);
        let stats = cpu.compute_gradients(&x, &labels, cpu.updates());
        mark_noise(&mut noise, cpu.grads());
        net.load_batch(gpu, &x, &labels).unwrap();
        net.step(gpu, n, StepMode::Train { lr }, None).unwrap();
        cpu.apply_update(lr);
        let tag = format!("{name} step {step}");
        assert_close(
            &format!("{tag} gradients"),
            &net.gradients(gpu).unwrap(),
            cpu.grads(),
            1e-5,
            1e-3,
        );
        // Dropout masks: the same pure function of (seed, step, layer, index) on both sides.
        let masks = net.dropout_masks(gpu, n).unwrap();
        let dropouts: Vec<_> = plan
            .layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match l.layer {
                Layer::Dropout { rate } => Some((i, rate, l.output.size())),
                _ => None,
            })
            .collect();
        assert_eq!(
            masks.len(),
            dropouts.len(),
            "{tag}: one mask per dropout layer"
        );
        for (mask, &(layer, rate, size)) in masks.iter().zip(&dropouts) {
            let key = DropoutKey {
                seed: dropout_seed(seed),
                step,
                layer: layer as u32,
            };
            let (mut want, mut y) = (vec![0.0; n * size], vec![0.0; n * size]);
            dropout_forward(&vec![1.0; n * size], &mut y, &mut want, rate, key, 0);
            assert_eq!(mask, &want, "{tag}: dropout mask of layer {layer}");
        }
        assert_adam_params_close(
            &format!("{tag} parameters"),
            &net.parameters(gpu).unwrap(),
            cpu.averaged_params(),
            &noise,
            lr * (step + 1) as f32,
        );
        // A running mean follows the batch means, which include the bias of the layer before
        // the batchnorm and other parameters whose gradients are round-off: Adam moves those by
        // up to lr a step in directions the round-off picks (see `assert_adam_params_close`),
        // so after step s they differ by up to 2·lr·s and shift the batch means by about that
        // much; the running means take 0.1 of it per step. lr·s bounds it with room to spare,
        // and is still far below what a wrong momentum or variance correction would do.
        let drift = lr * step as f32;
        assert_close(
            &format!("{tag} batchnorm running statistics"),
            &net.running_stats(gpu).unwrap(),
            cpu.running_stats(),
            1e-5 + drift,
            1e-4,
        );
        let totals = net.take_totals(gpu, Totals::Train).unwrap();
        assert_eq!(
            (totals.correct, totals.count),
            (stats.correct, n),
            "{tag} counts"
        );
        assert!(
            (totals.loss_sum - stats.loss_sum).abs() <= 1e-4 * (1.0 + stats.loss_sum),
            "{tag} loss {} vs {}",
            totals.loss_sum,
            stats.loss_sum
        );
    }
    println!("{name}: 3 steps agree ({} parameters)", plan.params());
}

/// Gradients below this are round-off: e.g. the bias of a layer feeding a batchnorm, whose exact
/// gradient is 0 (the normalisation removes any constant shift).
const GRAD_NOISE: f32 = 1e-6;

/// Flags the parameters whose gradient `grads` is at round-off level.
fn mark_noise(noise: &mut [bool], grads: &[f32]) {
    for (flag, g) in noise.iter_mut().zip(grads) {
        *flag |= g.abs() < GRAD_NOISE;
    }
}

/// Parameters after Adam steps: Adam divides by `√v̂`, so a round-off gradient (flagged in
/// `noise`) still moves its parameter by up to `lr` a step, in a direction the round-off picks;
/// those may differ by up to `moved` (the sum of the steps' rates) plus the usual tolerance.
/// All others must agree to `2e-5 + 1e-3·|cpu|`.
fn assert_adam_params_close(name: &str, gpu: &[f32], cpu: &[f32], noise: &[bool], moved: f32) {
    let mut gpu = gpu.to_vec();
    for (i, g) in gpu.iter_mut().enumerate() {
        if noise[i] {
            assert!(
                (*g - cpu[i]).abs() <= 2.0 * moved + 2e-5,
                "{name}: [{i}] (a round-off gradient) gpu {g} cpu {} moved more than Adam can",
                cpu[i]
            );
            *g = cpu[i];
        }
    }
    assert_close(name, &gpu, cpu, 2e-5, 1e-3);
}

#[test]
fn seed3_like_three_adam_steps_match_the_cpu() {
    three_steps_agree(
        "seed3-like",
        SEED3_LIKE,
        Shape::Image { c: 1, h: 6, w: 5 },
        10,
        17,
    );
}

#[test]
fn label_smoothing_three_adam_steps_match_the_cpu() {
    let text = format!("{SEED3_LIKE}loss cross_entropy smoothing=0.1\n");
    three_steps_agree(
        "seed3-like, label smoothing 0.1",
        &text,
        Shape::Image { c: 1, h: 6, w: 5 },
        10,
        17,
    );
}

#[test]
fn weight_decay_three_adam_and_sgd_steps_match_the_cpu() {
    // λ·lr = 0.005 (Adam) and 0.05 (SGD) per step: beyond the tolerances, so a decay missing
    // on either side fails (which values it shrinks, and when, `tests/training.rs` pins down).
    let input = Shape::Image { c: 1, h: 6, w: 5 };
    let adamw = format!("{CONV_BATCHNORM}lr 0.01\nweight_decay 0.5\n");
    three_steps_agree("conv-batchnorm, AdamW", &adamw, input, 10, 17);
    let sgd = format!("{CONV_BATCHNORM}optimizer sgd\nlr 0.1\nweight_decay 0.5\n");
    three_steps_agree("conv-batchnorm, SGD with weight decay", &sgd, input, 10, 17);
}

#[test]
fn weight_averaging_three_adam_steps_match_the_cpu() {
    // The averaged weights after each step, and an evaluation that reads them.
    let text = format!("{SEED3_LIKE}ema 0.9\n");
    let input = Shape::Image { c: 1, h: 6, w: 5 };
    three_steps_agree("seed3-like, ema 0.9", &text, input, 10, 17);
    let Some(gpu) = gpu_or_skip() else { return };
    let plan = plan(&text, input, 10);
    let (mut cpu, mut net) = (
        CpuNet::new(&plan, 5, 1).unwrap(),
        GpuNet::new(gpu, &plan, 5, 8).unwrap(),
    );
    for step in 0..3 {
        let (x, labels) = batch(input, 10, 8, 200 + step);
        cpu.train_step(&x, &labels, 0.01);
        net.load_batch(gpu, &x, &labels).unwrap();
        net.step(gpu, 8, StepMode::Train { lr: 0.01 }, None)
            .unwrap();
    }
    let (x, labels) = batch(input, 10, 8, 300);
    let mut want = vec![0.0; 8 * 10];
    cpu.with_averaged_weights(|c| c.forward(&x, &labels, Mode::Eval, Some(&mut want)));
    net.load_batch(gpu, &x, &labels).unwrap();
    net.step(gpu, 8, StepMode::Eval, None).unwrap();
    assert_close(
        "evaluation on the averaged weights",
        &net.outputs(gpu, 8).unwrap(),
        &want,
        1e-5,
        1e-4,
    );
    // And not on the trained ones, which differ after three steps.
    let mut trained = vec![0.0; 8 * 10];
    cpu.forward(&x, &labels, Mode::Eval, Some(&mut trained));
    assert!(trained.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-4));
}

#[test]
fn seed9_like_three_adam_steps_match_the_cpu() {
    three_steps_agree(
        "seed9-like",
        SEED9_LIKE,
        Shape::Image { c: 1, h: 12, w: 11 },
        10,
        3,
    );
}

#[test]
fn seedtf_like_batchnorm_head_three_adam_steps_match_the_cpu() {
    three_steps_agree(
        "seedtf-like",
        SEEDTF_LIKE,
        Shape::Image { c: 1, h: 10, w: 9 },
        10,
        17,
    );
}

#[test]
fn activations_fused_into_every_kind_of_next_layer_three_adam_steps_match_the_cpu() {
    // An activation before a convolution, a max-pool and a dense layer, and a ReLU and a
    // dropout before a convolution: each of those layers' backward kernels applies the
    // backwards of the layers before it (ReLU or tanh; the dropout's mask, then the ReLU).
    let text = "conv 3 kernel=3 padding=same\nrelu\ndropout 0.2\n\
                conv 4 kernel=3 padding=same\ntanh\nconv 2 kernel=3 padding=valid\nrelu\n\
                maxpool 2\nflatten\ndense 6\nrelu\ndense classes\nsoftmax\n\
                optimizer adam\nlr 0.001\n";
    three_steps_agree(
        "every fusion",
        text,
        Shape::Image { c: 1, h: 9, w: 8 },
        10,
        5,
    );
}

#[test]
fn chains_of_activations_three_adam_steps_match_the_cpu() {
    // Activations that no neighbour can take (ReLU after ReLU, tanh after ReLU) next to ones
    // that are fused (the first ReLU into the dense layer, the dropout's and tanh's backwards
    // into the last dense layer), and a strided convolution whose tanh's backward goes into
    // the next convolution.
    let text = "conv 3 kernel=2 stride=3 padding=0\ntanh\nconv 2 kernel=3 stride=2 padding=1\nflatten\n\
                dense 7\nrelu\nrelu\ntanh\ndropout 0.2\ndense classes\nsoftmax\n\
                optimizer adam\nlr 0.001\n";
    three_steps_agree(
        "activation chains",
        text,
        Shape::Image { c: 1, h: 10, w: 9 },
        10,
        4,
    );
}

#[test]
fn dropouts_that_no_layer_takes_whole_three_adam_steps_match_the_cpu() {
    // A tanh, then a dropout before a pool (the dropout's kernel takes the tanh's backward);
    // batchnorm then a dropout (the dense layer takes the dropout's alone); ReLU and two
    // dropouts in a row (the first takes the ReLU's, the dense layer the second's). The dense
    // layer before the batchnorm has a tanh between them: a bias right before batchnorm has a
    // gradient of 0 up to rounding, whose sign Adam's first step would turn into ±lr.
    let text = "conv 3 kernel=3 padding=same\ntanh\ndropout 0.2\nmaxpool 2\nflatten\n\
                dense 8\ntanh\nbatchnorm\ndropout 0.3\ndense 6\nrelu\ndropout 0.2\n\
                dropout 0.2\ndense classes\nsoftmax\noptimizer adam\nlr 0.001\n";
    three_steps_agree(
        "dropouts taken or not",
        text,
        Shape::Image { c: 1, h: 8, w: 7 },
        10,
        6,
    );
}

#[test]
fn batchnorm_over_conv_channels_three_adam_steps_match_the_cpu() {
    three_steps_agree(
        "conv batchnorm",
        CONV_BATCHNORM,
        Shape::Image { c: 2, h: 7, w: 6 },
        5,
        3,
    );
}

#[test]
fn best_like_batchnorm_relu_dropout_three_adam_steps_match_the_cpu() {
    // The record preset's blocks: batchnorm then ReLU (one pass on the CPU executor) then
    // dropout, on conv channels and on a dense layer.
    let text = "conv 4 kernel=3 padding=valid\nbatchnorm\nrelu\nconv 4 kernel=5 stride=2 padding=2\n\
                batchnorm\nrelu\ndropout 0.4\nflatten\ndense 8\nbatchnorm\nrelu\ndropout 0.4\n\
                dense classes\nsoftmax\noptimizer adam\nlr 0.003\n";
    three_steps_agree("best-like", text, Shape::Image { c: 1, h: 9, w: 8 }, 5, 6);
}

#[test]
fn bf16_operands_three_adam_steps_match_the_cpu() {
    // `matmul_precision bf16`: every convolution and dense product (forward, both gradients)
    // takes bfloat16-rounded operands on both executors.
    let text = "conv 4 kernel=3 padding=valid\nbatchnorm\nrelu\nconv 4 kernel=5 stride=2 padding=2\n\
                relu\nflatten\ndense 8\nrelu\ndense classes\nsoftmax\noptimizer adam\nlr 0.003\n\
                matmul_precision bf16\n";
    three_steps_agree(
        "bf16 operands",
        text,
        Shape::Image { c: 1, h: 9, w: 8 },
        5,
        6,
    );
}

#[test]
fn seedtf_preset_builds_and_steps_on_both_executors() {
    let net = shadernet::model::preset("seedtf").unwrap();
    let plan = net.plan(Shape::Image { c: 1, h: 28, w: 28 }, 10).unwrap();
    assert_eq!(plan.running_stats(), 20, "one batchnorm of 10 features");
    let data = Dataset {
        images: (0..2 * 784).map(|i| (i * 7 % 256) as u8).collect(),
        labels: vec![3, 8],
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
    let mut c = CpuExecutor::new(&plan, 1, 2).unwrap();
    let before = c.parameters().unwrap();
    assert_eq!(before.len(), plan.params() + plan.running_stats());
    c.train_step(&data, &[0, 1], 0.0005).unwrap();
    let after = c.parameters().unwrap();
    assert!(after.iter().all(|v| v.is_finite()));
    assert_ne!(
        before[plan.params()..],
        after[plan.params()..],
        "running stats moved"
    );
    assert!(c.take_train_metrics().unwrap().loss_sum.is_finite());
    let Some(gpu) = new_gpu() else { return };
    let mut g = GpuExecutor::new(gpu, &plan, 1, 2).unwrap();
    assert_eq!(g.parameters().unwrap(), before);
    g.train_step(&data, &[0, 1], 0.0005).unwrap();
    let got = g.parameters().unwrap();
    assert!(got.iter().all(|v| v.is_finite()));
    // With 2 examples a batchnorm's output is ±1 whatever its input, so every gradient before
    // it is round-off, which Adam turns into ±lr steps: compare from the batchnorm on.
    let bn = plan
        .layers
        .iter()
        .position(|l| l.layer == Layer::BatchNorm)
        .unwrap();
    let from: usize = plan.layers[..bn].iter().map(|l| l.params).sum();
    assert_close("seedtf step", &got[from..], &after[from..], 2e-5, 1e-3);
}

#[test]
fn batchnorm_running_statistics_travel_with_the_parameters() {
    // Early stopping restores the best epoch with set_parameters: the running statistics that
    // inference uses must come back too.
    let Some(gpu) = new_gpu() else { return };
    let data = dataset(12, 10);
    let plan = plan(SEEDTF_LIKE, Shape::Image { c: 1, h: 10, w: 9 }, 10);
    let mut g = GpuExecutor::new(gpu, &plan, 4, 4).unwrap();
    let mut c = CpuExecutor::new(&plan, 4, 2).unwrap();
    let saved = c.parameters().unwrap();
    let fresh = c.evaluate(&data).unwrap();
    for exec in [&mut g as &mut dyn Executor, &mut c] {
        exec.train_step(&data, &[0, 1, 2, 3], 0.01).unwrap();
        exec.train_step(&data, &[4, 5, 6, 7], 0.01).unwrap();
        assert_ne!(exec.parameters().unwrap(), saved);
        exec.set_parameters(&saved).unwrap();
        assert_eq!(exec.parameters().unwrap(), saved);
        let back = exec.evaluate(&data).unwrap();
        assert_eq!(back.correct, fresh.correct);
        assert!((back.loss_sum - fresh.loss_sum).abs() < 1e-3 * (1.0 + fresh.loss_sum));
        assert!(exec.set_parameters(&saved[..plan.params()]).is_err());
    }
}

#[test]
fn augmented_training_steps_match_the_cpu_executor_and_evaluation_is_never_augmented() {
    let Some(gpu) = new_gpu() else { return };
    let data = dataset(16, 10);
    let text = format!("{SEED9_LIKE}augment 1\n");
    let plan = plan(&text, Shape::Image { c: 1, h: 10, w: 9 }, 10);
    let plain = plan.clone();
    let plain = {
        let mut network = plain.network;
        network.training.augment = 0.0;
        network.plan(plan.input, 10).unwrap()
    };
    let mut g = GpuExecutor::new(gpu.clone(), &plan, 6, 8).unwrap();
    let mut c = CpuExecutor::new(&plan, 6, 2).unwrap();
    let mut c_plain = CpuExecutor::new(&plain, 6, 2).unwrap();
    for indices in [
        &[0u32, 1, 2, 3, 4, 5, 6, 7][..],
        &[8, 9, 10],
        &[11, 12, 13, 14, 15],
    ] {
        g.train_step(&data, indices, 0.002).unwrap();
        c.train_step(&data, indices, 0.002).unwrap();
        c_plain.train_step(&data, indices, 0.002).unwrap();
    }
    let (gm, cm) = (
        g.take_train_metrics().unwrap(),
        c.take_train_metrics().unwrap(),
    );
    assert_eq!((gm.correct, gm.count), (cm.correct, cm.count));
    assert!(
        (gm.loss_sum - cm.loss_sum).abs() < 1e-3 * (1.0 + cm.loss_sum),
        "{gm:?} vs {cm:?}"
    );
    let (gp, cp) = (g.parameters().unwrap(), c.parameters().unwrap());
    assert_close("augmented parameters", &gp, &cp, 1e-4, 1e-3);
    assert_ne!(
        cp,
        c_plain.parameters().unwrap(),
        "augmentation changed nothing"
    );
    // Evaluation runs on the images as they are: same parameters, same metrics as a network
    // without augmentation.
    let mut g_plain = GpuExecutor::new(gpu, &plain, 6, 8).unwrap();
    g_plain.set_parameters(&gp).unwrap();
    let (ge, pe) = (g.evaluate(&data).unwrap(), g_plain.evaluate(&data).unwrap());
    assert_eq!(ge, pe);
}

#[test]
fn seed1_like_mse_sgd_matches_the_cpu_at_batch_1() {
    three_steps_agree(
        "seed1-like",
        SEED1_LIKE,
        Shape::Image { c: 3, h: 4, w: 3 },
        4,
        1,
    );
}

/// A small byte dataset: `n` images of 1x10x9 with pseudo-random pixels and labels.
fn dataset(n: usize, classes: usize) -> Dataset {
    let mut rng = shadernet::rng::Rng::new(77);
    Dataset {
        images: (0..n * 90).map(|_| rng.below(256) as u8).collect(),
        labels: (0..n).map(|_| rng.below(classes) as u8).collect(),
        channels: 1,
        height: 10,
        width: 9,
        classes,
    }
}

fn new_gpu() -> Option<Arc<Gpu>> {
    gpu_or_skip()?;
    Some(Arc::new(Gpu::new(None).unwrap()))
}

#[test]
fn executor_trains_evaluates_and_predicts_like_the_cpu_executor() {
    let Some(gpu) = new_gpu() else { return };
    let data = dataset(23, 10);
    let plan = plan(SEED9_LIKE, Shape::Image { c: 1, h: 10, w: 9 }, 10);
    let mut g = GpuExecutor::new(gpu, &plan, 9, 8).unwrap();
    let mut c = CpuExecutor::new(&plan, 9, 1).unwrap();
    assert!(g.describe().starts_with("gpu ("));
    for indices in [
        &[3u32, 1, 4, 1, 5, 9, 2, 6][..],
        &[22, 0, 7],
        &[5, 5, 5, 5, 5, 11, 12, 13],
    ] {
        g.train_step(&data, indices, 0.001).unwrap();
        c.train_step(&data, indices, 0.001).unwrap();
    }
    let (gm, cm) = (
        g.take_train_metrics().unwrap(),
        c.take_train_metrics().unwrap(),
    );
    assert_eq!((gm.correct, gm.count), (cm.correct, cm.count));
    assert!(
        (gm.loss_sum - cm.loss_sum).abs() < 1e-4 * (1.0 + cm.loss_sum),
        "{gm:?} vs {cm:?}"
    );
    assert_eq!(
        g.take_train_metrics().unwrap().count,
        0,
        "taking the metrics resets them"
    );
    let (gp, cp) = (g.parameters().unwrap(), c.parameters().unwrap());
    assert_close("executor parameters", &gp, &cp, 2e-5, 1e-3);
    let (ge, ce) = (g.evaluate(&data).unwrap(), c.evaluate(&data).unwrap());
    assert_eq!((ge.correct, ge.count), (ce.correct, ce.count));
    assert!(
        (ge.loss_sum - ce.loss_sum).abs() < 1e-3 * (1.0 + ce.loss_sum),
        "{ge:?} vs {ce:?}"
    );
    let picks: Vec<u32> = (0..23).rev().collect();
    let (gp, cp) = (
        g.predict(&data, &picks).unwrap(),
        c.predict(&data, &picks).unwrap(),
    );
    assert_close("predictions", &gp, &cp, 1e-4, 1e-3);
    // Restoring parameters (as early stopping does) round-trips exactly.
    let zeros = vec![0.25; plan.params()];
    g.set_parameters(&zeros).unwrap();
    assert_eq!(g.parameters().unwrap(), zeros);
    assert!(g.set_parameters(&zeros[1..]).is_err());
    assert!(
        g.train_step(&data, &[23], 0.1).is_err(),
        "index out of range"
    );
    assert!(
        g.train_step(&data, &[0; 64], 0.1).is_err(),
        "batch over capacity"
    );
}

/// Trains two epochs of the network `text` with the executor and returns every step's logged
/// loss bits, the final parameters (and running statistics) and the device bytes per epoch.
fn run_twice_data(gpu: Arc<Gpu>, text: &str) -> (Vec<u64>, Vec<f32>, Vec<u64>) {
    let data = dataset(40, 10);
    let plan = plan(text, Shape::Image { c: 1, h: 10, w: 9 }, 10);
    let mut g = GpuExecutor::new(gpu, &plan, 3, 8).unwrap();
    let mut losses = Vec::new();
    let mut bytes = Vec::new();
    for epoch in 0..2u32 {
        let mut order: Vec<u32> = (0..40).collect();
        shadernet::rng::Rng::new(epoch as u64).shuffle(&mut order);
        for chunk in order.chunks(8) {
            g.train_step(&data, chunk, 0.002).unwrap();
        }
        losses.push(g.take_train_metrics().unwrap().loss_sum.to_bits());
        losses.push(g.evaluate(&data).unwrap().loss_sum.to_bits());
        bytes.push(g.net().device_bytes());
    }
    (losses, g.parameters().unwrap(), bytes)
}

#[test]
fn same_seed_same_device_gives_bit_identical_losses_and_flat_memory() {
    let Some(gpu) = new_gpu() else { return };
    // Also with batchnorm (its reductions) and augmentation (its draws) in the step.
    let bn_aug = format!("{SEEDTF_LIKE}augment 0.5\n");
    for text in [SEED9_LIKE, &bn_aug] {
        let (l1, p1, b1) = run_twice_data(gpu.clone(), text);
        let (l2, p2, _) = run_twice_data(gpu.clone(), text);
        assert_eq!(l1, l2, "losses differ between identical runs\n{text}");
        assert_bits_eq(&format!("parameters of identical runs\n{text}"), &p1, &p2);
        assert_eq!(b1[0], b1[1], "device memory grew from epoch to epoch");
    }
}

#[test]
fn oversized_batches_are_refused_with_a_reason() {
    let Some(gpu) = gpu_or_skip() else { return };
    let big = plan(SEED9_LIKE, Shape::Image { c: 1, h: 28, w: 28 }, 10);
    let limit = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size);
    let batch = (limit / (4 * 3 * 28 * 28)) as usize + 1;
    let err = GpuNet::new(gpu, &big, 1, batch).err().unwrap().to_string();
    assert!(
        err.contains("max_storage_buffer_binding_size")
            && err.contains("largest batch that fits is"),
        "{err}"
    );
    let fits: usize = err.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(fits, batch - 1);

    // Small buffers but many pixels: a 128x128 convolution's GEMMs launch one workgroup per
    // BLOCK_N pixels of the batch along one dimension, which may hold at most 65,535.
    let wide = plan(
        "conv 1 kernel=3 stride=1 padding=same\nflatten\ndense classes\nsoftmax",
        Shape::Image {
            c: 1,
            h: 128,
            w: 128,
        },
        10,
    );
    let fits = 65_535 * BLOCK_N / (128 * 128);
    let err = GpuNet::new(gpu, &wide, 1, fits + 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("workgroups along one dimension") && err.ends_with(&format!("fits is {fits}")),
        "{err}"
    );
    assert!(GpuNet::new(gpu, &wide, 1, fits).is_ok());
}
