//! Every GPU op, forward and backward, against its CPU twin at awkward shapes (batch 1, 3, 17;
//! 1 and 3 channels; 5x5 'same', 3x3 'valid', stride 2; sizes that are not multiples of the
//! workgroup size). Output buffers are poisoned with NaN before each run, so an element the
//! shader forgot to write fails the comparison.

#[path = "common/gpu.rs"]
mod gpu_common;

use gpu_common::{
    Case, assert_close, checked_gpu_or_skip, conv_backward_ref, conv_shape, gpu_or_skip,
    pool_shape, random,
};
use shadernet::cpu::activation;
use shadernet::cpu::conv::conv_forward;
use shadernet::cpu::dense::{dense_backward, dense_forward};
use shadernet::cpu::dropout::{dropout_backward, dropout_forward};
use shadernet::cpu::pool::{maxpool_backward, maxpool_forward};
use shadernet::executor::DropoutKey;
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
    let checked = checked_gpu_or_skip().expect("a device with runtime checks");
    // Awkward sizes, on the narrow blocks (m ≤ 64) and on several 128 x 128 ones, and long k
    // that is split across workgroups and summed by a second dispatch (70 x 130 x 600,
    // 1 x 10 x 2000). Each runs with the GEMMs unchecked (as in training) and with wgpu's
    // runtime checks: the two must agree bit for bit, or the unchecked kernel touched memory
    // outside its buffers.
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
            let (a, b) = (random(m * k, 1), random(k * n, 2));
            let run = |gpu| {
                let mut case = Case::new(gpu);
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
                let list = gmatmul::matmul(ia.into(), b_op, out.into(), scratch, m, n, k, flags);
                if k >= 600 {
                    assert!(
                        list.iter().any(|d| d.kernel == Kernel::MatmulReduce),
                        "{m}x{n}x{k}"
                    );
                }
                case.run(&list);
                case.read(out, m * n)
            };
            let got = run(gpu);
            let want = matmul_ref(&a, &b, m, n, k, flags);
            let name = format!("matmul {m}x{n}x{k} flags {flags}");
            // Rounding differences grow like √k in sums that cancel to near 0.
            let atol = 1e-5 * (k as f32 / 16.0).sqrt().max(1.0);
            assert_close(&name, &got, &want, atol, 1e-5);
            let with_checks = run(checked);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
            assert_eq!(
                bits(&got),
                bits(&with_checks),
                "{name}: unchecked vs checked kernels"
            );
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
        // Long enough k for the forward and data-gradient products to split k across
        // workgroups (F·K·K = 1170 here, C·K·K = 1170 next, C·K·K = 300 in the 12-channel case).
        (
            "3x3 same, 130 filters (two row blocks), batch 4",
            4,
            conv_shape(3, 12, 12, 130, 3, 1, 1),
        ),
        (
            "3x3 same, 130 channels (two row blocks of the data gradient), batch 2",
            2,
            conv_shape(130, 5, 5, 4, 3, 1, 1),
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
        let (want_dx, dw, db) = conv_backward_ref(&x, &w, &dy, &sh, n);
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
    // 2x2/2 on odd sizes (a row and column left over), and overlapping 3x3/2 windows, where an
    // input can be the maximum of several windows and gathers all their gradients.
    for (n, sh) in [
        (1, pool_shape(1, 7, 7, 2, 2)),
        (3, pool_shape(3, 9, 6, 3, 2)),
        (17, pool_shape(2, 4, 5, 2, 1)),
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
    use shadernet::cpu::norm::{self, NormSaved};
    use shadernet::gpu::ops::norm::{self as gnorm, NormLayout};
    use shadernet::model::NormShape;
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
