//! Every GPU op, forward and backward, against its CPU twin at awkward shapes (batch 1, 3, 17;
//! 1 and 3 channels; 5x5 'same', 3x3 'valid', stride 2; sizes that are not multiples of the
//! workgroup size). Output buffers are poisoned with NaN before each run, so an element the
//! shader forgot to write fails the comparison.

#[path = "common/gpu.rs"]
mod gpu_common;

use gpu_common::{Case, assert_close, gpu_or_skip, random};
use shadernet::cpu::activation;
use shadernet::cpu::conv::{ConvShape, conv_backward, conv_forward};
use shadernet::cpu::dense::{dense_backward, dense_forward};
use shadernet::cpu::dropout::{DropoutKey, dropout_backward, dropout_forward};
use shadernet::cpu::pool::{PoolShape, maxpool_backward, maxpool_forward};
use shadernet::gpu::kernel::Kernel;
use shadernet::gpu::ops::dense as gdense;
use shadernet::gpu::ops::gemm::GemmParams;
use shadernet::gpu::ops::matmul::{self as gmatmul, Operand};
use shadernet::gpu::ops::pool::{self as gpool, PoolDropout};
use shadernet::gpu::ops::{activation as gact, conv as gconv};
use shadernet::model::Activation;

/// Plain-loop reference: `C = op(A)·op(B)`.
fn matmul_ref(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, flags: u32) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for t in 0..k {
                let av = if flags & gmatmul::TRANS_A != 0 {
                    a[t * m + i]
                } else {
                    a[i * k + t]
                };
                let bv = if flags & gmatmul::TRANS_B != 0 {
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

#[test]
fn matmul_every_transpose() {
    let Some(gpu) = gpu_or_skip() else { return };
    // Awkward sizes, several blocks of the 64 x 64 tiling, and long k that is split across
    // workgroups and summed by a second dispatch (70 x 130 x 600, 1 x 10 x 2000).
    for (m, n, k) in [
        (1, 1, 1),
        (3, 5, 17),
        (17, 13, 9),
        (65, 10, 33),
        (130, 129, 40),
        (70, 130, 600),
        (1, 10, 2000),
    ] {
        for flags in [
            0,
            gmatmul::TRANS_A,
            gmatmul::TRANS_B,
            gmatmul::TRANS_A | gmatmul::TRANS_B,
        ] {
            let mut case = Case::new(gpu);
            let (a, b) = (random(m * k, 1), random(k * n, 2));
            // Operands start at an offset, as layers' weights do inside the parameter buffer.
            let mut padded_b = vec![7.0; 5];
            padded_b.extend_from_slice(&b);
            let (ia, ib) = (case.input(&a), case.input(&padded_b));
            let out = case.output(m * n);
            let b_op = Operand {
                buffer: ib,
                offset: 5,
            };
            let scratch = case.output(GemmParams::new(m, n, k).scratch_bytes() / 4 + 1);
            let list = gmatmul::matmul(ia.into(), b_op, out.into(), scratch, m, n, k, flags);
            if k >= 600 {
                assert!(
                    list.iter().any(|d| d.kernel == Kernel::MatmulReduce),
                    "{m}x{n}x{k}"
                );
            }
            case.run(&list);
            let want = matmul_ref(&a, &b, m, n, k, flags);
            let name = format!("matmul {m}x{n}x{k} flags {flags}");
            // Rounding differences grow like √k in sums that cancel to near 0.
            let atol = 1e-5 * (k as f32 / 16.0).sqrt().max(1.0);
            assert_close(&name, &case.read(out, m * n), &want, atol, 1e-5);
        }
    }
}

#[test]
fn dense_asymmetric_pattern_catches_swapped_axes() {
    // x[i, j] = i + 1, W[o, j] = (o + 1)·(j + 2): integer-valued, exact in f32, and any swap of
    // N, D_in or D_out changes the answer.
    let Some(gpu) = gpu_or_skip() else { return };
    let (n, d_in, d_out) = (3, 5, 2);
    let x: Vec<f32> = (0..n * d_in).map(|i| (i / d_in + 1) as f32).collect();
    let w: Vec<f32> = (0..d_out * d_in)
        .map(|i| ((i / d_in + 1) * (i % d_in + 2)) as f32)
        .collect();
    let b = [100.0, 200.0];
    let mut case = Case::new(gpu);
    let l = case.dense(0, &w, &b, n);
    let ix = case.input(&x);
    let y = case.output(n * d_out);
    case.run(&gdense::dense_forward(&l, ix, y, n, None));
    let mut want = vec![0.0; n * d_out];
    dense_forward(&x, &w, &b, &mut want, n, d_in);
    assert_eq!(case.read(y, n * d_out), want);
    assert_eq!(want[..2], [120.0, 240.0]); // row 0: 1·(2+3+4+5+6) + 100, 2·20 + 200
}

#[test]
fn dense_forward_and_backward() {
    let Some(gpu) = gpu_or_skip() else { return };
    let mut kernels_used = std::collections::HashSet::new();
    // The last case, 300 examples of 300 inputs, is long enough along k (300) for the forward
    // and weight-gradient products to be split and summed by a second dispatch, which then
    // adds the bias, applies the activation and fills the bias-gradient column.
    for (n, d_in, d_out, activation) in [
        (1, 7, 3, None),
        (3, 70, 10, None),
        (17, 33, 65, None),
        (300, 300, 5, Some(Activation::Tanh)),
    ] {
        let mut case = Case::new(gpu);
        let (x, w, b, dy) = (
            random(n * d_in, 1),
            random(d_out * d_in, 2),
            random(d_out, 3),
            random(n * d_out, 4),
        );
        let l = case.dense(3, &w, &b, n);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(n * d_out), case.output(n * d_in));
        let mut list = gdense::dense_forward(&l, ix, y, n, activation);
        list.extend(gdense::dense_backward(&l, ix, idy, Some(dx.into()), n));
        kernels_used.extend(list.iter().map(|d| d.kernel));
        case.run(&list);
        let mut want_y = vec![0.0; n * d_out];
        dense_forward(&x, &w, &b, &mut want_y, n, d_in);
        if activation == Some(Activation::Tanh) {
            let z = want_y.clone();
            activation::tanh_forward(&z, &mut want_y);
        }
        let (mut want_dx, mut dw, mut db) =
            (vec![0.0; n * d_in], vec![0.0; w.len()], vec![0.0; d_out]);
        dense_backward(&x, &w, &dy, Some(&mut want_dx), &mut dw, &mut db, n, d_in);
        let tag = format!("dense n={n} {d_in}->{d_out}");
        // Rounding differences grow like √k in sums that cancel to near 0.
        let atol = 1e-5 * (n.max(d_in).max(d_out) as f32 / 16.0).sqrt().max(1.0);
        assert_close(
            &format!("{tag} y"),
            &case.read(y, n * d_out),
            &want_y,
            atol,
            1e-5,
        );
        assert_close(
            &format!("{tag} dx"),
            &case.read(dx, n * d_in),
            &want_dx,
            atol,
            1e-5,
        );
        let g = case.read(l.grads, 3 + w.len() + d_out);
        assert_close(&format!("{tag} dW"), &g[3..3 + w.len()], &dw, atol, 1e-5);
        assert_close(&format!("{tag} db"), &g[3 + w.len()..], &db, atol, 1e-5);
    }
    for split_sum in [
        Kernel::DenseForwardReduce,
        Kernel::DenseBackwardWeightsReduce,
    ] {
        assert!(
            kernels_used.contains(&split_sum),
            "no case split k for {split_sum:?}"
        );
    }
}

fn conv_shape(c: usize, h: usize, w: usize, f: usize, k: usize, s: usize, p: usize) -> ConvShape {
    let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    ConvShape {
        c,
        h,
        w,
        f,
        k,
        s,
        p,
        ho,
        wo,
    }
}

#[test]
fn conv_forward_and_backward() {
    let Some(gpu) = gpu_or_skip() else { return };
    let cases = [
        (
            "5x5 same, 1 channel, batch 1",
            1,
            conv_shape(1, 7, 6, 3, 5, 1, 2),
        ),
        (
            "3x3 valid, 3 channels, batch 3",
            3,
            conv_shape(3, 9, 8, 4, 3, 1, 0),
        ),
        (
            "3x3 stride 2 padding 1, batch 3",
            3,
            conv_shape(2, 7, 7, 5, 3, 2, 1),
        ),
        (
            "5x5 same, 3 channels, batch 17",
            17,
            conv_shape(3, 6, 5, 2, 5, 1, 2),
        ),
        // Long enough k (C·K·K = 300, F·K·K = 630) for the forward and data-gradient products
        // to split k across workgroups.
        (
            "3x3 same, 70 filters (two row blocks), batch 4",
            4,
            conv_shape(3, 12, 12, 70, 3, 1, 1),
        ),
        (
            "5x5 same, 12 channels, batch 2",
            2,
            conv_shape(12, 6, 6, 4, 5, 1, 2),
        ),
        (
            "7x7 same on a 3x2 image (padding wider than the image)",
            3,
            conv_shape(2, 3, 2, 3, 7, 1, 3),
        ),
    ];
    let mut kernels_used = std::collections::HashSet::new();
    for (name, n, sh) in cases {
        let mut case = Case::new(gpu);
        let (in_len, out_len) = (n * sh.c * sh.h * sh.w, n * sh.f * sh.ho * sh.wo);
        let wlen = sh.f * sh.c * sh.k * sh.k;
        let (x, w, b, dy) = (
            random(in_len, 1),
            random(wlen, 2),
            random(sh.f, 3),
            random(out_len, 4),
        );
        let l = case.conv(2, &w, &b, sh, n);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, dx) = (case.output(out_len), case.output(in_len));
        let mut list = gconv::conv_forward(&l, ix, y, n, None);
        list.extend(gconv::conv_backward(&l, ix, idy, Some(dx.into()), n));
        kernels_used.extend(list.iter().map(|d| d.kernel));
        case.run(&list);
        let mut col = vec![0.0; sh.col_rows() * sh.col_cols()];
        let mut want_y = vec![0.0; out_len];
        conv_forward(&x, &w, &b, &mut want_y, &mut col, &sh, n);
        let (mut want_dx, mut dw, mut db) = (vec![0.0; in_len], vec![0.0; wlen], vec![0.0; sh.f]);
        conv_backward(
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
        assert_close(
            &format!("conv {name} y"),
            &case.read(y, out_len),
            &want_y,
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("conv {name} dx"),
            &case.read(dx, in_len),
            &want_dx,
            1e-5,
            1e-5,
        );
        let g = case.read(l.grads, 2 + wlen + sh.f);
        assert_close(&format!("conv {name} dW"), &g[2..2 + wlen], &dw, 1e-4, 1e-5);
        assert_close(&format!("conv {name} db"), &g[2 + wlen..], &db, 1e-4, 1e-5);
    }
    for split_sum in [
        Kernel::ConvForwardReduce,
        Kernel::ConvBackwardWeightsReduce,
        Kernel::ConvBackwardDataReduce,
    ] {
        assert!(
            kernels_used.contains(&split_sum),
            "no case split k for {split_sum:?}"
        );
    }
}

#[test]
fn maxpool_forward_and_backward() {
    let Some(gpu) = gpu_or_skip() else { return };
    let shape = |c, h, w, size, stride| PoolShape {
        c,
        h,
        w,
        size,
        stride,
        ho: (h - size) / stride + 1,
        wo: (w - size) / stride + 1,
    };
    // 2x2/2 on odd sizes (a row and column left over), and overlapping 3x3/2 windows, where an
    // input can be the maximum of several windows and gathers all their gradients.
    for (n, sh) in [
        (1, shape(1, 7, 7, 2, 2)),
        (3, shape(3, 9, 6, 3, 2)),
        (17, shape(2, 4, 5, 2, 1)),
    ] {
        let mut case = Case::new(gpu);
        let (in_len, out_len) = (n * sh.c * sh.h * sh.w, n * sh.c * sh.ho * sh.wo);
        // Few distinct values, so ties happen and the first-maximum rule is exercised.
        let x: Vec<f32> = random(in_len, 5)
            .iter()
            .map(|v| (v * 4.0).round())
            .collect();
        let dy = random(out_len, 6);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, arg, dx) = (
            case.output(out_len),
            case.output(out_len),
            case.output(in_len),
        );
        case.run(&[gpool::maxpool_forward(&sh, ix, y, arg, n, None)]);
        let got_arg = case.read_u32(arg, out_len);
        let arg_dev = case.input_u32(&got_arg);
        case.run(&[gpool::maxpool_backward(
            &sh,
            idy,
            arg_dev,
            None,
            ix,
            dx.into(),
            n,
        )]);
        let (mut want_y, mut want_arg, mut want_dx) =
            (vec![0.0; out_len], vec![0; out_len], vec![0.0; in_len]);
        maxpool_forward(&x, &mut want_y, &mut want_arg, &sh, n);
        maxpool_backward(&dy, &want_arg, &mut want_dx);
        assert_eq!(case.read(y, out_len), want_y, "maxpool y n={n} {sh:?}");
        assert_eq!(got_arg, want_arg, "maxpool argmax n={n} {sh:?}");
        // Same additions in the same order: bit-identical.
        assert_eq!(case.read(dx, in_len), want_dx, "maxpool dx n={n} {sh:?}");

        // With a dropout after the pool fused in: the pool draws the dropout's mask and writes
        // its output, and the pool's backward applies the dropout's backward as it gathers.
        let key = DropoutKey {
            seed: 77,
            step: 4,
            layer: 9,
        };
        let (y, arg, mask, dx) = (
            case.output(out_len),
            case.output(out_len),
            case.output(out_len),
            case.output(in_len),
        );
        let dropout = PoolDropout {
            mask,
            rate: 0.4,
            key,
        };
        case.run(&[
            gpool::maxpool_forward(&sh, ix, y, arg, n, Some(dropout)),
            gpool::maxpool_backward(&sh, idy, arg, Some(mask), ix, dx.into(), n),
        ]);
        let (mut want_y_drop, mut want_mask, mut g) =
            (vec![0.0; out_len], vec![0.0; out_len], vec![0.0; out_len]);
        dropout_forward(&want_y, &mut want_y_drop, &mut want_mask, 0.4, key, 0);
        dropout_backward(&dy, &want_mask, &mut g);
        maxpool_backward(&g, &want_arg, &mut want_dx);
        let tag = format!("maxpool + dropout n={n} {sh:?}");
        assert_eq!(case.read(mask, out_len), want_mask, "{tag}: mask");
        assert!(want_mask.contains(&0.0) && want_mask.iter().any(|&m| m > 1.0));
        assert_eq!(case.read(y, out_len), want_y_drop, "{tag}: y");
        // Overlapping windows add several products, which the shader compiler may fuse into
        // multiply-adds: close, not always bit-identical.
        assert_close(&tag, &case.read(dx, in_len), &want_dx, 1e-6, 1e-6);
    }
}

#[test]
fn activations_forward_and_backward() {
    let Some(gpu) = gpu_or_skip() else { return };
    for total in [1, 3 * 65, 17 * 100] {
        for kind in [Activation::Tanh, Activation::Relu] {
            let mut case = Case::new(gpu);
            let x: Vec<f32> = random(total, 7).iter().map(|v| v * 3.0).collect();
            let dy = random(total, 8);
            let (ix, idy) = (case.input(&x), case.input(&dy));
            let (y, dx) = (case.output(total), case.output(total));
            case.run(&[
                gact::activation_forward(kind, ix, y, total),
                gact::activation_backward(kind, y, idy, dx, total),
            ]);
            let (mut want_y, mut want_dx) = (vec![0.0; total], vec![0.0; total]);
            match kind {
                Activation::Tanh => activation::tanh_forward(&x, &mut want_y),
                Activation::Relu => activation::relu_forward(&x, &mut want_y),
            }
            let got_y = case.read(y, total);
            assert_close(&format!("{kind:?} y"), &got_y, &want_y, 2e-6, 1e-5);
            // The backward from the GPU's own forward output, so only the backward is tested.
            match kind {
                Activation::Tanh => activation::tanh_backward(&got_y, &dy, &mut want_dx),
                Activation::Relu => activation::relu_backward(&got_y, &dy, &mut want_dx),
            }
            assert_close(
                &format!("{kind:?} dx"),
                &case.read(dx, total),
                &want_dx,
                1e-6,
                1e-6,
            );
        }
    }
}

#[test]
fn batchnorm_forward_backward_and_running_statistics() {
    use shadernet::cpu::norm::{self, NormSaved, NormShape};
    use shadernet::gpu::ops::norm::{self as gnorm, NormLayout};
    let Some(gpu) = gpu_or_skip() else { return };
    // Images (per channel over N, H, W) and flat features (per feature over N), batch 2, 3 and
    // 17, sizes that are not multiples of the workgroup; the layer's parameters start mid-buffer
    // and its running statistics after another layer's.
    for (n, c, inner) in [
        (2, 1, 1),
        (3, 4, 7 * 5),
        (17, 10, 1),
        (3, 3, 67),
        (17, 2, 9),
    ] {
        let tag = format!("batchnorm n={n} c={c} inner={inner}");
        let sh = NormShape { n, c, inner };
        let len = n * c * inner;
        // Offset and scaled inputs, so the mean and variance matter.
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
        let mut case = Case::new(gpu);
        let params = case.input(&flat);
        let grads = case.output(flat.len());
        let run_buf = case.input(&running);
        let saved = case.output(3 * c);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y_eval, y, dx, unused) = (
            case.output(len),
            case.output(len),
            case.output(len),
            case.output(1),
        );
        let l = NormLayout {
            params,
            grads,
            g_off: 3,
            running: run_buf,
            r_off: 4,
            saved,
            c,
            inner,
        };
        case.run(&[
            gnorm::batchnorm_forward(&l, ix, y_eval, n, false),
            gnorm::batchnorm_forward(&l, ix, y, n, true),
            gnorm::batchnorm_backward(&l, ix, idy, unused, false, n),
            gnorm::batchnorm_backward(&l, ix, idy, dx, true, n),
        ]);
        let (rm, rv) = running[4..].split_at(c);
        let mut want_eval = vec![0.0; len];
        norm::batchnorm_forward_eval(&x, &gamma, &beta, rm, rv, &mut want_eval, sh);
        let (mut want_y, mut s) = (vec![0.0; len], NormSaved::default());
        norm::batchnorm_forward_train(&x, &gamma, &beta, &mut want_y, &mut s, sh);
        let (mut want_rm, mut want_rv) = (rm.to_vec(), rv.to_vec());
        norm::batchnorm_update_running(&mut want_rm, &mut want_rv, &s, n * inner);
        let (mut want_dx, mut dg, mut db) = (vec![0.0; len], vec![0.0; c], vec![0.0; c]);
        norm::batchnorm_backward(
            &x,
            &gamma,
            &s,
            &dy,
            Some(&mut want_dx),
            &mut dg,
            &mut db,
            sh,
        );
        assert_close(
            &format!("{tag} y (eval)"),
            &case.read(y_eval, len),
            &want_eval,
            1e-5,
            1e-5,
        );
        assert_close(&format!("{tag} y"), &case.read(y, len), &want_y, 1e-4, 1e-4);
        let want_saved: Vec<f32> = [s.mean, s.var, s.inv_std].concat();
        assert_close(
            &format!("{tag} saved"),
            &case.read(saved, 3 * c),
            &want_saved,
            1e-5,
            1e-4,
        );
        let got_running = case.read(run_buf, running.len());
        assert_eq!(
            got_running[..4],
            [9.0; 4],
            "{tag}: another layer's statistics"
        );
        let want_running = [want_rm, want_rv].concat();
        assert_close(
            &format!("{tag} running"),
            &got_running[4..],
            &want_running,
            1e-5,
            1e-4,
        );
        assert_close(
            &format!("{tag} dx"),
            &case.read(dx, len),
            &want_dx,
            1e-4,
            1e-3,
        );
        assert!(case.read(unused, 1)[0].is_nan(), "{tag}: dx written");
        let g = case.read(grads, flat.len());
        assert!(g[..3].iter().all(|v| v.is_nan()), "{tag}: wrote outside");
        assert_close(&format!("{tag} dgamma"), &g[3..3 + c], &dg, 1e-4, 1e-4);
        assert_close(&format!("{tag} dbeta"), &g[3 + c..], &db, 1e-4, 1e-4);
    }
}

#[test]
fn activations_fused_into_conv_and_dense_match_the_layer_then_the_activation() {
    let Some(gpu) = gpu_or_skip() else { return };
    // Conv 3x3 'same' with ReLU fused, batch 3, 2 channels in, 5 filters, 7x6 image.
    let sh = ConvShape {
        c: 2,
        h: 7,
        w: 6,
        f: 5,
        k: 3,
        s: 1,
        p: 1,
        ho: 7,
        wo: 6,
    };
    let n = 3;
    let (in_len, out_len, wlen) = (n * 2 * 7 * 6, n * 5 * 7 * 6, 5 * 2 * 9);
    let (x, w, b) = (random(in_len, 11), random(wlen, 12), random(5, 13));
    let mut case = Case::new(gpu);
    let l = case.conv(0, &w, &b, sh, n);
    let (ix, y) = (case.input(&x), case.output(out_len));
    case.run(&gconv::conv_forward(&l, ix, y, n, Some(Activation::Relu)));
    let mut col = vec![0.0; sh.col_rows() * sh.col_cols()];
    let (mut z, mut want) = (vec![0.0; out_len], vec![0.0; out_len]);
    conv_forward(&x, &w, &b, &mut z, &mut col, &sh, n);
    activation::relu_forward(&z, &mut want);
    assert!(want.contains(&0.0) && want.iter().any(|&v| v > 0.0));
    assert_close("conv + relu", &case.read(y, out_len), &want, 1e-5, 1e-5);

    // Dense 9 -> 4 with tanh fused, batch 17.
    let (n, d_in, d_out) = (17, 9, 4);
    let (x, w, b) = (
        random(n * d_in, 14),
        random(d_out * d_in, 15),
        random(d_out, 16),
    );
    let mut case = Case::new(gpu);
    let l = case.dense(0, &w, &b, n);
    let (ix, y) = (case.input(&x), case.output(n * d_out));
    case.run(&gdense::dense_forward(&l, ix, y, n, Some(Activation::Tanh)));
    let (mut z, mut want) = (vec![0.0; n * d_out], vec![0.0; n * d_out]);
    dense_forward(&x, &w, &b, &mut z, n, d_in);
    activation::tanh_forward(&z, &mut want);
    assert_close("dense + tanh", &case.read(y, n * d_out), &want, 1e-5, 1e-5);
}

/// The activation `kind` on `z`, and its backward from its output `a`: the CPU twins.
fn activation_pair(kind: Activation, z: &[f32]) -> (Vec<f32>, impl Fn(&[f32]) -> Vec<f32> + use<>) {
    let mut a = vec![0.0; z.len()];
    match kind {
        Activation::Tanh => activation::tanh_forward(z, &mut a),
        Activation::Relu => activation::relu_forward(z, &mut a),
    }
    let out = a.clone();
    let backward = move |g: &[f32]| {
        let mut dz = vec![0.0; g.len()];
        match kind {
            Activation::Tanh => activation::tanh_backward(&a, g, &mut dz),
            Activation::Relu => activation::relu_backward(&a, g, &mut dz),
        }
        dz
    };
    (out, backward)
}

/// An element-wise fused backward against the CPU: bit-identical for ReLU (a select); for
/// tanh close, since a driver may contract `d·(1 − y²)` into multiply-adds.
fn assert_fused(tag: &str, kind: Activation, gpu: &[f32], cpu: &[f32]) {
    match kind {
        Activation::Relu => assert_eq!(gpu, cpu, "{tag}"),
        Activation::Tanh => assert_close(tag, gpu, cpu, 1e-6, 1e-6),
    }
}

#[test]
fn activation_backward_fused_into_the_layer_after_it_matches_the_layer_then_the_activation() {
    use shadernet::gpu::ops::activation::InputGrad;
    use shadernet::gpu::ops::dropout as gdrop;
    let Some(gpu) = gpu_or_skip() else { return };
    let mut kernels_used = std::collections::HashSet::new();
    for kind in [Activation::Relu, Activation::Tanh] {
        let through = |buffer| InputGrad {
            buffer,
            through: Some(kind),
            dropout: None,
        };
        // Dense 20 -> 300 at batch 3: the data gradient's k (300) is split and summed by a
        // second dispatch, whose store applies the activation's backward.
        for (n, d_in, d_out) in [(17, 9, 4), (3, 20, 300)] {
            let tag = format!("{kind:?} then dense n={n} {d_in}->{d_out}");
            let (a, backward) = activation_pair(kind, &random(n * d_in, 31));
            let (w, b, dy) = (
                random(d_out * d_in, 32),
                random(d_out, 33),
                random(n * d_out, 34),
            );
            let mut case = Case::new(gpu);
            let l = case.dense(0, &w, &b, n);
            let (ia, idy, dz) = (case.input(&a), case.input(&dy), case.output(n * d_in));
            let list = gdense::dense_backward(&l, ia, idy, Some(through(dz)), n);
            kernels_used.extend(list.iter().map(|d| d.kernel));
            case.run(&list);
            let (mut g, mut dw, mut db) =
                (vec![0.0; n * d_in], vec![0.0; w.len()], vec![0.0; d_out]);
            dense_backward(&a, &w, &dy, Some(&mut g), &mut dw, &mut db, n, d_in);
            assert_close(&tag, &case.read(dz, n * d_in), &backward(&g), 1e-5, 1e-5);
        }
        // Conv 3x3 'same', 70 filters: the data gradient's k (F·K·K = 630) is split.
        for (n, sh) in [
            (3, conv_shape(2, 7, 6, 5, 3, 1, 1)),
            (2, conv_shape(3, 6, 6, 70, 3, 1, 1)),
        ] {
            let tag = format!("{kind:?} then conv n={n} {sh:?}");
            let (in_len, out_len) = (n * sh.c * sh.h * sh.w, n * sh.f * sh.ho * sh.wo);
            let wlen = sh.f * sh.c * sh.k * sh.k;
            let (a, backward) = activation_pair(kind, &random(in_len, 35));
            let (w, b, dy) = (random(wlen, 36), random(sh.f, 37), random(out_len, 38));
            let mut case = Case::new(gpu);
            let l = case.conv(0, &w, &b, sh, n);
            let (ia, idy, dz) = (case.input(&a), case.input(&dy), case.output(in_len));
            let list = gconv::conv_backward(&l, ia, idy, Some(through(dz)), n);
            kernels_used.extend(list.iter().map(|d| d.kernel));
            case.run(&list);
            let mut col = vec![0.0; sh.col_rows() * sh.col_cols()];
            let (mut g, mut dw, mut db) = (vec![0.0; in_len], vec![0.0; wlen], vec![0.0; sh.f]);
            conv_backward(
                &a,
                &w,
                &dy,
                Some(&mut g),
                &mut dw,
                &mut db,
                &mut col,
                &sh,
                n,
            );
            assert_close(&tag, &case.read(dz, in_len), &backward(&g), 1e-5, 1e-5);
        }
        // Max-pool 2x2/2 on 7x7, batch 3.
        let sh = PoolShape {
            c: 2,
            h: 7,
            w: 7,
            size: 2,
            stride: 2,
            ho: 3,
            wo: 3,
        };
        let n = 3;
        let (in_len, out_len) = (n * 2 * 49, n * 2 * 9);
        let (a, backward) = activation_pair(kind, &random(in_len, 39));
        let dy = random(out_len, 40);
        let (mut y, mut argmax, mut g) = (vec![0.0; out_len], vec![0; out_len], vec![0.0; in_len]);
        maxpool_forward(&a, &mut y, &mut argmax, &sh, n);
        maxpool_backward(&dy, &argmax, &mut g);
        let mut case = Case::new(gpu);
        let (ia, idy, iarg) = (case.input(&a), case.input(&dy), case.input_u32(&argmax));
        let dz = case.output(in_len);
        case.run(&[gpool::maxpool_backward(
            &sh,
            idy,
            iarg,
            None,
            ia,
            through(dz),
            n,
        )]);
        let tag = format!("{kind:?} then maxpool");
        assert_fused(&tag, kind, &case.read(dz, in_len), &backward(&g));
        // Dropout 0.3 on 3 x 67 values.
        let total = 3 * 67;
        let (a, backward) = activation_pair(kind, &random(total, 41));
        let dy = random(total, 42);
        let key = DropoutKey {
            seed: 5,
            step: 2,
            layer: 1,
        };
        let (mut y, mut mask) = (vec![0.0; total], vec![0.0; total]);
        dropout_forward(&a, &mut y, &mut mask, 0.3, key, 0);
        let mut g = vec![0.0; total];
        dropout_backward(&dy, &mask, &mut g);
        let mut case = Case::new(gpu);
        let (ia, idy, imask) = (case.input(&a), case.input(&dy), case.input(&mask));
        let dz = case.output(total);
        case.run(&[gdrop::dropout_backward(idy, imask, ia, through(dz), total)]);
        let tag = format!("{kind:?} then dropout");
        assert_fused(&tag, kind, &case.read(dz, total), &backward(&g));
    }
    for split_sum in [
        Kernel::DenseBackwardDataReduce,
        Kernel::ConvBackwardDataReduce,
    ] {
        assert!(
            kernels_used.contains(&split_sum),
            "no case split k for {split_sum:?}"
        );
    }
}

#[test]
fn dropout_and_activation_fused_into_a_data_gradient_match_the_cpu_layers_one_by_one() {
    // activation -> dropout -> dense or conv: the layer's data-gradient store applies the
    // dropout's backward (·mask), then the activation's (from its output, the dropout's input).
    use shadernet::gpu::ops::activation::{DropoutGrad, InputGrad};
    let Some(gpu) = gpu_or_skip() else { return };
    let key = DropoutKey {
        seed: 3,
        step: 1,
        layer: 2,
    };
    for kind in [None, Some(Activation::Relu), Some(Activation::Tanh)] {
        // The activation's output `a` (random values when there is no activation), the dropout
        // mask and output `x` (the layer's input), and the CPU's chain of backwards.
        let chain = |len: usize, seed: u64| {
            let z = random(len, seed);
            let (a, backward) = match kind {
                Some(kind) => {
                    let (a, backward) = activation_pair(kind, &z);
                    (a, Some(backward))
                }
                None => (z, None),
            };
            let (mut x, mut mask) = (vec![0.0; len], vec![0.0; len]);
            dropout_forward(&a, &mut x, &mut mask, 0.4, key, 0);
            let kept = mask.clone();
            let through = move |g: &[f32]| {
                let mut dropped = vec![0.0; g.len()];
                dropout_backward(g, &kept, &mut dropped);
                match &backward {
                    Some(backward) => backward(&dropped),
                    None => dropped,
                }
            };
            (a, x, mask, through)
        };
        // The input gradient's buffer, and the dropout (and activation) fused into it.
        let grad = |case: &mut Case, a: &[f32], mask: &[f32]| {
            let dz = case.output(a.len());
            let dx = InputGrad {
                buffer: dz,
                through: kind,
                dropout: Some(DropoutGrad {
                    mask: case.input(mask),
                    input: case.input(a),
                }),
            };
            (dz, dx)
        };
        // Dense 9 -> 4 at batch 17.
        let (n, d_in, d_out) = (17, 9, 4);
        let (a, x, mask, through) = chain(n * d_in, 51);
        let (w, b, dy) = (
            random(d_out * d_in, 52),
            random(d_out, 53),
            random(n * d_out, 54),
        );
        let mut case = Case::new(gpu);
        let l = case.dense(0, &w, &b, n);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (dz, dx) = grad(&mut case, &a, &mask);
        case.run(&gdense::dense_backward(&l, ix, idy, Some(dx), n));
        let (mut g, mut dw, mut db) = (vec![0.0; n * d_in], vec![0.0; w.len()], vec![0.0; d_out]);
        dense_backward(&x, &w, &dy, Some(&mut g), &mut dw, &mut db, n, d_in);
        let tag = format!("{kind:?}, dropout, dense");
        assert_close(&tag, &case.read(dz, n * d_in), &through(&g), 1e-5, 1e-5);
        let got_dw = case.read(l.grads, w.len());
        assert_close(&format!("{tag} dW"), &got_dw, &dw, 1e-5, 1e-5);

        // Conv 3x3 'same', 2 -> 5 channels, batch 3.
        let (n, sh) = (3, conv_shape(2, 7, 6, 5, 3, 1, 1));
        let (in_len, out_len) = (n * sh.c * sh.h * sh.w, n * sh.f * sh.ho * sh.wo);
        let wlen = sh.f * sh.c * sh.k * sh.k;
        let (a, x, mask, through) = chain(in_len, 55);
        let (w, b, dy) = (random(wlen, 56), random(sh.f, 57), random(out_len, 58));
        let mut case = Case::new(gpu);
        let l = case.conv(0, &w, &b, sh, n);
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (dz, dx) = grad(&mut case, &a, &mask);
        case.run(&gconv::conv_backward(&l, ix, idy, Some(dx), n));
        let mut col = vec![0.0; sh.col_rows() * sh.col_cols()];
        let (mut g, mut dw, mut db) = (vec![0.0; in_len], vec![0.0; wlen], vec![0.0; sh.f]);
        conv_backward(
            &x,
            &w,
            &dy,
            Some(&mut g),
            &mut dw,
            &mut db,
            &mut col,
            &sh,
            n,
        );
        let tag = format!("{kind:?}, dropout, conv");
        assert_close(&tag, &case.read(dz, in_len), &through(&g), 1e-5, 1e-5);
        assert_close(
            &format!("{tag} dW"),
            &case.read(l.grads, wlen),
            &dw,
            1e-4,
            1e-5,
        );
    }
}
