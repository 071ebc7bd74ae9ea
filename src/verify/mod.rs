//! `shadernet verify`: every op, and one whole training step, on the user's own GPU against
//! the CPU reference, as a table of errors. The one library module that sees both executors.

use crate::cpu::norm::NormSaved;
use crate::cpu::{CpuNet, activation, conv, dense, dropout, loss, norm, optim, pool};
use crate::data::augment::augment_batch;
use crate::error::Result;
use crate::executor::{AdamStep, DropoutKey};
use crate::gpu::context::Gpu;
use crate::gpu::kernel::{self, BufferId, Buffers, Dispatch};
use crate::gpu::net::{DeviceTotals, GpuNet, StepMode};
use crate::gpu::ops::activation::{activation_backward, activation_forward};
use crate::gpu::ops::augment::{AugmentKey, augment};
use crate::gpu::ops::conv::{ConvLayout, conv_backward, conv_forward};
use crate::gpu::ops::dataset::ZERO_TOTALS;
use crate::gpu::ops::dense::{DenseLayout, dense_backward, dense_forward};
use crate::gpu::ops::dropout::dropout_forward;
use crate::gpu::ops::loss::{LossOutputs, mse, softmax_cross_entropy};
use crate::gpu::ops::norm::{NormLayout, batchnorm_backward, batchnorm_forward};
use crate::gpu::ops::optim::adam;
use crate::gpu::ops::pool::{maxpool_backward, maxpool_forward};
use crate::model::{Activation, Init, Layer, Loss, Network, Optimizer, Shape, Training, Units};
use crate::model::{AugmentRanges, ConvShape, NormShape, PoolShape};
use crate::rng::Rng;

/// One line of the verification table.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyRow {
    /// What was compared, e.g. `conv backward dW`.
    pub op: String,
    /// Largest `|gpu − cpu|`.
    pub max_abs: f32,
    /// Largest `|gpu − cpu| / max(|cpu|, 1e-6)`.
    pub max_rel: f32,
    /// Whether every element satisfied `|gpu − cpu| <= abs + rel·|cpu|` (NaN fails).
    pub pass: bool,
}

/// Tolerances of [`verify`]: `abs + rel·|cpu|` per element.
pub const VERIFY_ABS: f32 = 1e-4;
/// See [`VERIFY_ABS`].
pub const VERIFY_REL: f32 = 1e-3;

fn row(op: &str, gpu: &[f32], cpu: &[f32]) -> VerifyRow {
    let (mut max_abs, mut max_rel, mut pass) = (0.0f32, 0.0f32, gpu.len() == cpu.len());
    for (&g, &c) in gpu.iter().zip(cpu) {
        let d = (g - c).abs();
        if d.is_nan() || d > VERIFY_ABS + VERIFY_REL * c.abs() {
            pass = false;
        }
        max_abs = if d.is_nan() { f32::NAN } else { max_abs.max(d) };
        max_rel = max_rel.max(d / c.abs().max(1e-6));
    }
    VerifyRow {
        op: op.to_string(),
        max_abs,
        max_rel,
        pass,
    }
}

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
        .collect()
}

struct Case<'a> {
    gpu: &'a Gpu,
    arena: Buffers,
}

impl Case<'_> {
    fn input<T: bytemuck::Pod>(&mut self, data: &[T]) -> BufferId {
        self.arena.with_data(self.gpu, "verify input", data)
    }
    fn output(&mut self, len: usize) -> BufferId {
        let id = self.arena.alloc(self.gpu, "verify output", 4 * len);
        self.arena.fill_f32(self.gpu, id, len, f32::NAN);
        id
    }
    fn run(&self, list: &[Dispatch]) -> Result<()> {
        kernel::run(self.gpu, &self.arena, list)
    }
    fn read(&self, id: BufferId, len: usize) -> Result<Vec<f32>> {
        self.arena.read_f32(self.gpu, id, len)
    }
}

/// Runs every op forward and backward, and one whole Adam step of a small network,
/// on `gpu` and on the CPU (odd sizes, batch 3, outputs poisoned with NaN), and returns one
/// row per comparison. A row that fails means this GPU disagrees with the reference.
pub fn verify(gpu: &Gpu) -> Result<Vec<VerifyRow>> {
    let mut rows = Vec::new();
    let n = 3;
    let mut case = Case {
        gpu,
        arena: Buffers::new(),
    };

    // Dense 37 -> 70 (the weight gradient has 70 rows: a GEMM on 128-row blocks; the other
    // products have 3 and run on the narrow blocks).
    let (d_in, d_out) = (37, 70);
    let (x, w, b, dy) = (
        random(n * d_in, 1),
        random(d_out * d_in, 2),
        random(d_out, 3),
        random(n * d_out, 4),
    );
    let flat: Vec<f32> = w.iter().chain(&b).copied().collect();
    let params = case.input(&flat);
    let grads = case.output(flat.len());
    let (ix, idy) = (case.input(&x), case.input(&dy));
    let (y, dx) = (case.output(n * d_out), case.output(n * d_in));
    let l = DenseLayout {
        params,
        grads,
        scratch: case.output(DenseLayout::scratch_bytes(d_in, d_out, n) / 4),
        w_off: 0,
        b_off: w.len(),
        d_in,
        d_out,
    };
    let mut list = dense_forward(&l, ix, y, n, None);
    list.extend(dense_backward(&l, ix, idy, Some(dx.into()), n));
    case.run(&list)?;
    let mut want_y = vec![0.0; n * d_out];
    dense::dense_forward(&x, &w, &b, &mut want_y, n, d_in);
    let (mut want_dx, mut dw, mut db) = (vec![0.0; n * d_in], vec![0.0; w.len()], vec![0.0; d_out]);
    dense::dense_backward(&x, &w, &dy, Some(&mut want_dx), &mut dw, &mut db, n, d_in);
    let g = case.read(grads, flat.len())?;
    rows.push(row("dense forward", &case.read(y, n * d_out)?, &want_y));
    rows.push(row(
        "dense backward dx",
        &case.read(dx, n * d_in)?,
        &want_dx,
    ));
    rows.push(row("dense backward dW", &g[..w.len()], &dw));
    rows.push(row("dense backward db", &g[w.len()..], &db));

    // Convolution 3 -> 4 channels, 5x5 'same' and 3x3 stride 2, and 3 -> 70 (a forward and a
    // weight gradient of 70 rows, on 128-row blocks).
    for (name, sh) in [
        (
            "conv 5x5 same",
            ConvShape {
                c: 3,
                h: 9,
                w: 7,
                f: 4,
                k: 5,
                s: 1,
                p: 2,
                ho: 9,
                wo: 7,
            },
        ),
        (
            "conv 3x3 stride 2",
            ConvShape {
                c: 3,
                h: 9,
                w: 7,
                f: 4,
                k: 3,
                s: 2,
                p: 1,
                ho: 5,
                wo: 4,
            },
        ),
        (
            "conv 3x3, 70 filters",
            ConvShape {
                c: 3,
                h: 5,
                w: 4,
                f: 70,
                k: 3,
                s: 1,
                p: 1,
                ho: 5,
                wo: 4,
            },
        ),
    ] {
        let (in_len, out_len, wlen) = (
            n * sh.c * sh.h * sh.w,
            n * sh.f * sh.ho * sh.wo,
            sh.f * sh.c * sh.k * sh.k,
        );
        let (x, w, b, dy) = (
            random(in_len, 5),
            random(wlen, 6),
            random(sh.f, 7),
            random(out_len, 8),
        );
        let flat: Vec<f32> = w.iter().chain(&b).copied().collect();
        let params = case.input(&flat);
        let grads = case.output(flat.len());
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(out_len), case.output(in_len));
        let l = ConvLayout {
            params,
            grads,
            scratch: case.output(ConvLayout::scratch_bytes(&sh, n) / 4),
            w_off: 0,
            b_off: wlen,
            shape: sh,
        };
        let mut list = conv_forward(&l, ix, y, n, None);
        list.extend(conv_backward(&l, ix, idy, Some(dx.into()), n));
        case.run(&list)?;
        let mut col = vec![0.0; sh.col_rows() * sh.col_cols()];
        let mut want_y = vec![0.0; out_len];
        conv::conv_forward(&x, &w, &b, &mut want_y, &mut col, &sh, n);
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
        );
        let g = case.read(grads, flat.len())?;
        rows.push(row(
            &format!("{name} forward"),
            &case.read(y, out_len)?,
            &want_y,
        ));
        rows.push(row(
            &format!("{name} backward dx"),
            &case.read(dx, in_len)?,
            &want_dx,
        ));
        rows.push(row(&format!("{name} backward dW"), &g[..wlen], &dw));
        rows.push(row(&format!("{name} backward db"), &g[wlen..], &db));
    }

    // Max-pool 2x2 on 7x7 (a row and column left over).
    let sh = PoolShape {
        c: 2,
        h: 7,
        w: 7,
        size: 2,
        stride: 2,
        ho: 3,
        wo: 3,
    };
    let (in_len, out_len) = (n * 2 * 49, n * 2 * 9);
    let (x, dy) = (random(in_len, 9), random(out_len, 10));
    let (ix, idy) = (case.input(&x), case.input(&dy));
    let (y, arg, dx) = (
        case.output(out_len),
        case.output(out_len),
        case.output(in_len),
    );
    case.run(&[
        maxpool_forward(&sh, ix, y, arg, n, None),
        maxpool_backward(&sh, idy, arg, None, ix, dx.into(), n),
    ])?;
    let (mut want_y, mut want_arg, mut want_dx) =
        (vec![0.0; out_len], vec![0; out_len], vec![0.0; in_len]);
    pool::maxpool_forward(&x, &mut want_y, &mut want_arg, &sh, n);
    pool::maxpool_backward(&dy, &want_arg, &mut want_dx);
    rows.push(row("maxpool forward", &case.read(y, out_len)?, &want_y));
    let got_arg: Vec<f32> = case
        .arena
        .read_u32(gpu, arg, out_len)?
        .iter()
        .map(|&v| v as f32)
        .collect();
    let want_argf: Vec<f32> = want_arg.iter().map(|&v| v as f32).collect();
    rows.push(row("maxpool argmax", &got_arg, &want_argf));
    rows.push(row("maxpool backward", &case.read(dx, in_len)?, &want_dx));

    // Activations and dropout on 3 x 67 values.
    let total = n * 67;
    let (x, dy) = (random(total, 11), random(total, 12));
    for (name, kind) in [("tanh", Activation::Tanh), ("relu", Activation::Relu)] {
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(total), case.output(total));
        case.run(&[
            activation_forward(kind, ix, y, total),
            activation_backward(kind, y, idy, dx, total),
        ])?;
        let (mut want_y, mut want_dx) = (vec![0.0; total], vec![0.0; total]);
        match kind {
            Activation::Tanh => activation::tanh_forward(&x, &mut want_y),
            Activation::Relu => activation::relu_forward(&x, &mut want_y),
        }
        match kind {
            Activation::Tanh => activation::tanh_backward(&want_y, &dy, &mut want_dx),
            Activation::Relu => activation::relu_backward(&want_y, &dy, &mut want_dx),
        }
        rows.push(row(
            &format!("{name} forward"),
            &case.read(y, total)?,
            &want_y,
        ));
        rows.push(row(
            &format!("{name} backward"),
            &case.read(dx, total)?,
            &want_dx,
        ));
    }
    let key = DropoutKey {
        seed: 1234,
        step: 5,
        layer: 2,
    };
    let ix = case.input(&x);
    let (y, mask) = (case.output(total), case.output(total));
    case.run(&[dropout_forward(ix, y, mask, total, 0.3, key)])?;
    let (mut want_y, mut want_mask) = (vec![0.0; total], vec![0.0; total]);
    dropout::dropout_forward(&x, &mut want_y, &mut want_mask, 0.3, key, 0);
    rows.push(row("dropout mask", &case.read(mask, total)?, &want_mask));

    // Augmentation: 3 images of 1x13x11, every one warped.
    let dims = (1, 13, 11);
    let len = n * 13 * 11;
    let x: Vec<f32> = random(len, 20).iter().map(|v| 0.5 + 0.5 * v).collect();
    let key = AugmentKey {
        seed: 77,
        step: 3,
        chance: 1.0,
        ranges: AugmentRanges::default(),
    };
    let (ix, out) = (case.input(&x), case.output(len));
    case.run(&[augment(ix, out, n, dims, &key)])?;
    let mut want = x.clone();
    augment_batch(&mut want, dims, key.seed, key.step, key.chance, &key.ranges);
    rows.push(row("augmentation warp", &case.read(out, len)?, &want));

    // Batchnorm over 4 channels of 5x7 images, batch 3.
    let sh = NormShape { n, c: 4, inner: 35 };
    let len = n * sh.c * sh.inner;
    let x: Vec<f32> = random(len, 16).iter().map(|v| 2.0 * v + 0.5).collect();
    let dy = random(len, 17);
    let gamma: Vec<f32> = random(sh.c, 18).iter().map(|v| 1.0 + 0.5 * v).collect();
    let beta = random(sh.c, 19);
    let running: Vec<f32> = [vec![0.1; sh.c], vec![0.9; sh.c]].concat();
    let flat: Vec<f32> = gamma.iter().chain(&beta).copied().collect();
    let l = NormLayout {
        params: case.input(&flat),
        grads: case.output(flat.len()),
        g_off: 0,
        running: case.input(&running),
        r_off: 0,
        saved: case.output(3 * sh.c),
        c: sh.c,
        inner: sh.inner,
    };
    let (ix, idy) = (case.input(&x), case.input(&dy));
    let (y_eval, y, dx) = (case.output(len), case.output(len), case.output(len));
    case.run(&[
        batchnorm_forward(&l, ix, y_eval, n, false),
        batchnorm_forward(&l, ix, y, n, true),
        batchnorm_backward(&l, ix, idy, dx, true, n),
    ])?;
    let (rm, rv) = running.split_at(sh.c);
    let mut want_eval = vec![0.0; len];
    norm::batchnorm_forward_eval(&x, &gamma, &beta, rm, rv, &mut want_eval, sh);
    let (mut want_y, mut saved) = (vec![0.0; len], NormSaved::default());
    norm::batchnorm_forward_train(&x, &gamma, &beta, &mut want_y, &mut saved, sh);
    let (mut want_rm, mut want_rv) = (rm.to_vec(), rv.to_vec());
    norm::batchnorm_update_running(&mut want_rm, &mut want_rv, &saved, n * sh.inner);
    let (mut want_dx, mut dg, mut db) = (vec![0.0; len], vec![0.0; sh.c], vec![0.0; sh.c]);
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
    let g = case.read(l.grads, flat.len())?;
    rows.push(row(
        "batchnorm forward (inference)",
        &case.read(y_eval, len)?,
        &want_eval,
    ));
    rows.push(row(
        "batchnorm forward (training)",
        &case.read(y, len)?,
        &want_y,
    ));
    rows.push(row(
        "batchnorm running statistics",
        &case.read(l.running, running.len())?,
        &[want_rm, want_rv].concat(),
    ));
    rows.push(row("batchnorm backward dx", &case.read(dx, len)?, &want_dx));
    rows.push(row("batchnorm backward dγ", &g[..sh.c], &dg));
    rows.push(row("batchnorm backward dβ", &g[sh.c..], &db));

    // Losses on 3 x 10 logits.
    let k = 10;
    let z: Vec<f32> = random(n * k, 13).iter().map(|v| 4.0 * v).collect();
    let labels = [7u8, 0, 3];
    let labels32: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
    let (iz, il) = (case.input(&z), case.input(&labels32));
    let probs = case.output(n * k);
    let ce = LossOutputs {
        grad: case.output(n * k),
        totals: case.input(&ZERO_TOTALS),
    };
    let se = LossOutputs {
        grad: case.output(n * k),
        totals: case.input(&ZERO_TOTALS),
    };
    case.run(&[
        softmax_cross_entropy(iz, il, probs, ce, n, k, 1.0 / n as f32),
        mse(iz, il, se, n, k, 1.0 / (n * k) as f32),
    ])?;
    let mut want_p = vec![0.0; n * k];
    loss::softmax_forward(&z, &mut want_p, k);
    let mut want_dz = vec![0.0; n * k];
    loss::softmax_cross_entropy_backward(&want_p, &labels, &mut want_dz, k, 1.0 / n as f32);
    // Loss sum, correct count and example count, as the running totals hold them.
    let totals = |id| -> Result<[f32; 3]> {
        let t = DeviceTotals::from_raw(&case.arena.read_u32(gpu, id, 4)?);
        Ok([t.loss_sum as f32, t.correct as f32, t.count as f32])
    };
    let ce_totals = totals(ce.totals)?;
    rows.push(row(
        "softmax probabilities",
        &case.read(probs, n * k)?,
        &want_p,
    ));
    rows.push(row(
        "cross-entropy loss, correct, count",
        &ce_totals,
        &[
            loss::cross_entropy_sum(&want_p, &labels, k) as f32,
            loss::count_correct(&want_p, &labels, k) as f32,
            n as f32,
        ],
    ));
    rows.push(row(
        "cross-entropy gradient",
        &case.read(ce.grad, n * k)?,
        &want_dz,
    ));
    let mut want_dy = vec![0.0; n * k];
    loss::mse_backward(&z, &labels, &mut want_dy, k, 1.0 / (n * k) as f32);
    rows.push(row(
        "MSE loss, correct, count",
        &totals(se.totals)?,
        &[
            loss::mse_sum(&z, &labels, k) as f32,
            loss::count_correct(&z, &labels, k) as f32,
            n as f32,
        ],
    ));
    rows.push(row("MSE gradient", &case.read(se.grad, n * k)?, &want_dy));

    // Adam, two steps.
    let total = 1001;
    let (w, g) = (random(total, 14), random(total, 15));
    let (ig, iw) = (case.input(&g), case.input(&w));
    let (m, v) = (
        case.input(&vec![0.0f32; total]),
        case.input(&vec![0.0f32; total]),
    );
    let (mut want_w, mut cm, mut cv) = (w.clone(), vec![0.0; total], vec![0.0; total]);
    let mut list = Vec::new();
    for t in 1..=2 {
        let s = AdamStep {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            t,
        };
        optim::adam_update(&mut want_w, &g, &mut cm, &mut cv, s);
        list.push(adam(ig, iw, m, v, total, s));
    }
    case.run(&list)?;
    rows.push(row("adam update", &case.read(iw, total)?, &want_w));

    rows.extend(whole_step(gpu)?);
    Ok(rows)
}

/// One Adam step of a small network on both executors, gradients then parameters: convolutions,
/// pooling, dropout and dense layers arranged so that every kernel that applies other layers'
/// backwards is used but one: a conv and a dense data gradient taking an activation's, a dense
/// one taking a dropout's and its activation's, and a max-pool taking a ReLU's, with the
/// dropout after it fused in. (A dropout taking an activation's backward is left to the tests:
/// Adam's first step turns the tiny gradients it makes behind a pool into full-size updates
/// whose sign is rounding, which would make this check flaky.)
fn whole_step(gpu: &Gpu) -> Result<Vec<VerifyRow>> {
    let conv = |filters| Layer::Conv2d {
        filters,
        kernel: 5,
        stride: 1,
        padding: 2,
    };
    let dense = |units| Layer::Dense { units };
    let layers = vec![
        conv(4),
        Layer::Activation(Activation::Relu),
        conv(6),
        Layer::Activation(Activation::Relu),
        Layer::MaxPool { size: 2, stride: 2 },
        Layer::Dropout { rate: 0.2 },
        Layer::Flatten,
        dense(Units::Fixed(12)),
        Layer::Activation(Activation::Tanh),
        Layer::Dropout { rate: 0.2 },
        dense(Units::Fixed(12)),
        Layer::Activation(Activation::Relu),
        dense(Units::Classes),
        Layer::Softmax,
    ];
    let network = Network {
        name: "verify".into(),
        description: "a small network with every fusion but one".into(),
        layers,
        training: Training {
            loss: Loss::CrossEntropy,
            optimizer: Optimizer::ADAM,
            init: Init::He,
            ..Training::default()
        },
    };
    let input = Shape::Image { c: 1, h: 14, w: 13 };
    let plan = network.plan(input, 10)?;
    let n = 5;
    let mut rng = Rng::new(99);
    let x: Vec<f32> = (0..n * input.size())
        .map(|_| rng.uniform() as f32)
        .collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.below(10) as u8).collect();
    let mut cpu = CpuNet::new(&plan, 7, 1)?;
    let mut net = GpuNet::new(gpu, &plan, 7, n)?;
    cpu.compute_gradients(&x, &labels, 0);
    cpu.apply_update(0.001);
    net.load_batch(gpu, &x, &labels)?;
    net.step(gpu, n, StepMode::Train { lr: 0.001 }, None)?;
    Ok(vec![
        row("whole step: gradients", &net.gradients(gpu)?, cpu.grads()),
        row(
            "whole step: parameters",
            &net.parameters(gpu)?,
            cpu.params(),
        ),
    ])
}
