//! One table of GPU-vs-CPU checks per op family ([`FAMILIES`]): each family builds its
//! [`Check`]s at a set of [`Sizes`] — small ones for `shadernet verify`, awkward ones (batch 1
//! and 17, odd channels and images, products long enough to split k, padding wider than the
//! image) for the tests, or a network's own shapes for the kernels bench, which times the same
//! launches. Each check computes the CPU twin's values with the `cpu` module's functions.

use super::case::{Check, Tolerance, random};
use crate::cpu::{activation, conv, dense, dropout, loss, norm, optim, pool};
use crate::data::augment::augment_batch;
use crate::executor::{AdamStep, DropoutKey};
use crate::gpu::context::Gpu;
use crate::gpu::ops::activation::{activation_backward, activation_forward};
use crate::gpu::ops::augment::{AugmentKey, augment};
use crate::gpu::ops::conv::{conv_backward, conv_forward};
use crate::gpu::ops::dataset::ZERO_TOTALS;
use crate::gpu::ops::dense::{dense_backward, dense_forward};
use crate::gpu::ops::dropout::dropout_forward;
use crate::gpu::ops::gemm::GemmParams;
use crate::gpu::ops::loss::{LossOutputs, mse, softmax_cross_entropy};
use crate::gpu::ops::matmul::{Operand, TRANS_A, TRANS_B, matmul};
use crate::gpu::ops::norm::{NormLayout, batchnorm_backward, batchnorm_forward};
use crate::gpu::ops::optim::{adam, ema, sgd};
use crate::gpu::ops::pool::{PoolDropout, maxpool_backward, maxpool_forward};
use crate::model::{
    Activation, AugmentRanges, ConvShape, Layer, NormShape, Plan, PlannedLayer, PoolShape, Shape,
    ema_decay,
};

/// Which shapes a family's checks use.
#[derive(Clone, Copy, Debug)]
pub enum Sizes<'p> {
    /// One or two small shapes per op (what `shadernet verify` runs).
    Small,
    /// The awkward shapes the tests hold each op to.
    Awkward,
    /// The shapes of a network's own layers at a batch size (the kernels bench).
    Network {
        /// The network.
        plan: &'p Plan,
        /// Examples per batch.
        batch: usize,
    },
}

/// An op family's table of checks.
pub struct Family {
    /// Its name, e.g. `conv`.
    pub name: &'static str,
    /// Builds its checks on a device at some sizes.
    pub build: for<'g, 'p> fn(&'g Gpu, Sizes<'p>) -> Vec<Check<'g>>,
}

/// Every op family.
pub const FAMILIES: [Family; 10] = [
    Family {
        name: "matmul",
        build: matmul_checks,
    },
    Family {
        name: "dense",
        build: dense_checks,
    },
    Family {
        name: "conv",
        build: conv_checks,
    },
    Family {
        name: "maxpool",
        build: maxpool_checks,
    },
    Family {
        name: "activation",
        build: activation_checks,
    },
    Family {
        name: "dropout",
        build: dropout_checks,
    },
    Family {
        name: "augment",
        build: augment_checks,
    },
    Family {
        name: "batchnorm",
        build: batchnorm_checks,
    },
    Family {
        name: "loss",
        build: loss_checks,
    },
    Family {
        name: "optimiser",
        build: optimiser_checks,
    },
];

/// The planned layers of `plan` that `keep` accepts.
fn layers_of<'p>(
    plan: &'p Plan,
    keep: impl Fn(&PlannedLayer) -> bool + 'p,
) -> impl Iterator<Item = &'p PlannedLayer> + 'p {
    plan.layers.iter().filter(move |l| keep(l))
}

/// A convolution's sizes from the model's shape inference.
fn conv_shape(c: usize, h: usize, w: usize, f: usize, k: usize, s: usize, p: usize) -> ConvShape {
    let layer = Layer::Conv2d {
        filters: f,
        kernel: k,
        stride: s,
        padding: p,
    };
    let planned = PlannedLayer::new(layer, Shape::Image { c, h, w }, 1)
        .expect("the check's convolution plans");
    ConvShape::of(&planned).expect("a conv layer")
}

/// A max-pool's sizes from the model's shape inference.
fn pool_shape(c: usize, h: usize, w: usize, size: usize, stride: usize) -> PoolShape {
    let layer = Layer::MaxPool { size, stride };
    let planned =
        PlannedLayer::new(layer, Shape::Image { c, h, w }, 1).expect("the check's max-pool plans");
    PoolShape::of(&planned).expect("a max-pool layer")
}

fn matmul_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let shapes: &[(usize, usize, usize)] = match sizes {
        Sizes::Small => &[(3, 5, 17), (70, 130, 600)],
        // The narrow blocks (m ≤ 64), several 128 x 128 ones, and long k split across
        // workgroups and summed by a second dispatch (70 x 130 x 600, 1 x 10 x 2000).
        Sizes::Awkward => &[
            (1, 1, 1),
            (3, 5, 17),
            (17, 13, 9),
            (65, 10, 33),
            (130, 129, 40),
            (70, 130, 600),
            (1, 10, 2000),
        ],
        Sizes::Network { .. } => &[],
    };
    let flags = [0, TRANS_A, TRANS_B, TRANS_A | TRANS_B];
    let mut checks = Vec::new();
    for &(m, n, k) in shapes {
        for flags in flags {
            let mut check = Check::new(gpu);
            let case = &mut check.case;
            let (a, b) = (random(m * k, 1), random(k * n, 2));
            // An operand that starts at an offset in its buffer (the op takes one).
            let mut padded_b = vec![7.0; 5];
            padded_b.extend_from_slice(&b);
            let (ia, ib) = (case.input(&a), case.input(&padded_b));
            let out = case.output(m * n);
            let b_op = Operand {
                buffer: ib,
                offset: 5,
            };
            let scratch = case.output(GemmParams::new(m, n, k).scratch_bytes() / 4 + 1);
            check.dispatches = matmul(ia.into(), b_op, out.into(), scratch, m, n, k, flags);
            let want = matmul_reference(&a, &b, m, n, k, flags);
            let name = format!("matmul {m}x{n}x{k} flags {flags}");
            check.expect(name, out, 0, want, Tolerance::for_sums(k));
            checks.push(check);
        }
    }
    checks
}

/// Plain-loop `C = op(A)·op(B)` (`flags` as [`matmul`] takes them).
fn matmul_reference(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, flags: u32) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for t in 0..k {
                let av = if flags & TRANS_A != 0 {
                    a[t * m + i]
                } else {
                    a[i * k + t]
                };
                let bv = if flags & TRANS_B != 0 {
                    b[j * k + t]
                } else {
                    b[t * n + j]
                };
                s += av * bv;
            }
            c[i * n + j] = s;
        }
    }
    c
}

fn dense_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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
        Sizes::Network { plan, batch } => {
            layers_of(plan, |l| matches!(l.layer, Layer::Dense { .. }))
                .map(|l| (batch, l.input.size(), l.output.size(), None))
                .collect()
        }
    };
    let mut checks = Vec::new();
    for (n, d_in, d_out, act) in shapes {
        let mut check = Check::new(gpu);
        let case = &mut check.case;
        let (x, w, b, dy) = (
            random(n * d_in, 1),
            random(d_out * d_in, 2),
            random(d_out, 3),
            random(n * d_out, 4),
        );
        let lead = 3;
        let l = case.dense(lead, &w, &b, n);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(n * d_out), case.output(n * d_in));
        check.dispatches = dense_forward(&l, ix, y, n, act);
        check
            .dispatches
            .extend(dense_backward(&l, ix, idy, Some(dx.into()), n));
        let mut want_y = vec![0.0; n * d_out];
        dense::dense_forward(&x, &w, &b, &mut want_y, n, d_in);
        if act == Some(Activation::Tanh) {
            let z = want_y.clone();
            activation::tanh_forward(&z, &mut want_y);
        }
        let (mut want_dx, mut dw, mut db) =
            (vec![0.0; n * d_in], vec![0.0; w.len()], vec![0.0; d_out]);
        dense::dense_backward(&x, &w, &dy, Some(&mut want_dx), &mut dw, &mut db, n, d_in);
        let tag = format!("dense n={n} {d_in}->{d_out}");
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

fn conv_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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
        Sizes::Network { plan, batch } => layers_of(plan, |l| ConvShape::of(l).is_some())
            .filter_map(|l| ConvShape::of(l).map(|s| (batch, s)))
            .collect(),
    };
    let mut checks = Vec::new();
    for (n, sh) in shapes {
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
        let l = case.conv(lead, &w, &b, sh, n);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(out_len), case.output(in_len));
        check.dispatches = conv_forward(&l, ix, y, n, None);
        check
            .dispatches
            .extend(conv_backward(&l, ix, idy, Some(dx.into()), n));
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
        let tag = format!(
            "conv n={n} {}x{}x{} -> {} filters {}x{} stride {} padding {}",
            sh.c, sh.h, sh.w, sh.f, sh.k, sh.k, sh.s, sh.p
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

fn maxpool_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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
        Sizes::Network { plan, batch } => layers_of(plan, |l| PoolShape::of(l).is_some())
            .filter_map(|l| PoolShape::of(l).map(|s| (batch, s)))
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

fn activation_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let lengths: Vec<usize> = match sizes {
        Sizes::Small => vec![3 * 67],
        Sizes::Awkward => vec![1, 3 * 65, 17 * 100],
        Sizes::Network { plan, batch } => {
            layers_of(plan, |l| matches!(l.layer, Layer::Activation(_)))
                .map(|l| batch * l.output.size())
                .collect()
        }
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

fn dropout_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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

fn augment_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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
            ranges: AugmentRanges::default(),
        };
        let (ix, out) = (case.input(&x), case.output(len));
        check.dispatches = vec![augment(ix, out, n, dims, &key)];
        let mut want = x.clone();
        augment_batch(&mut want, dims, key.seed, key.step, key.chance, &key.ranges);
        let tag = format!(
            "augmentation warp of {n} images {}x{}x{}",
            dims.0, dims.1, dims.2
        );
        check.expect(tag, out, 0, want, Tolerance::new(1e-4, 1e-3));
        checks.push(check);
    }
    checks
}

fn batchnorm_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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
        Sizes::Network { plan, batch } => layers_of(plan, |l| l.layer == Layer::BatchNorm)
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
        norm::batchnorm_forward_eval(&x, &gamma, &beta, rm, rv, &mut want_eval, sh);
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

fn loss_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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

fn optimiser_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
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
        let tag = format!("{total} parameters");
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
