//! The GPU kernels that do other layers' work, against the CPU running those layers one by
//! one: activations fused into the dense or conv layer before them, and the backwards of
//! activations and dropouts applied by the kernel of the layer after them (dense and conv data
//! gradients, max-pool and dropout backwards), including the split-k sums that then apply them.
//! Output buffers are poisoned with NaN before each run.

#[path = "common/gpu.rs"]
mod gpu_common;

use gpu_common::{
    Case, assert_close, conv_backward_ref, conv_shape, dense_backward_ref, gpu_or_skip, pool_shape,
    random,
};
use shadernet::cpu::activation;
use shadernet::cpu::conv::conv_forward;
use shadernet::cpu::dense::dense_forward;
use shadernet::cpu::dropout::{dropout_backward, dropout_forward};
use shadernet::cpu::pool::{maxpool_backward, maxpool_forward};
use shadernet::executor::DropoutKey;
use shadernet::gpu::kernel::Kernel;
use shadernet::gpu::ops::pool as gpool;
use shadernet::gpu::ops::{conv as gconv, dense as gdense};
use shadernet::model::Activation;
use shadernet::model::MatmulPrecision;

#[test]
fn activations_fused_into_conv_and_dense_match_the_layer_then_the_activation() {
    let Some(gpu) = gpu_or_skip() else { return };
    // Conv 3x3 'same' with ReLU fused, batch 3, 2 channels in, 5 filters, 7x6 image.
    let sh = conv_shape(2, 7, 6, 5, 3, 1, 1);
    let n = 3;
    let (in_len, out_len, wlen) = (n * 2 * 7 * 6, n * 5 * 7 * 6, 5 * 2 * 9);
    let (x, w, b) = (random(in_len, 11), random(wlen, 12), random(5, 13));
    let mut case = Case::new(gpu);
    let l = case.conv(0, &w, &b, sh, n);
    let (ix, y) = (case.input(&x), case.output(out_len));
    case.run(&gconv::conv_forward(&l, ix, y, n, Some(Activation::Relu)));
    let mut col = vec![0.0; sh.scratch_size()];
    let (mut z, mut want) = (vec![0.0; out_len], vec![0.0; out_len]);
    conv_forward(&x, &w, &b, &mut z, &mut col, &sh, n, MatmulPrecision::F32);
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
    dense_forward(&x, &w, &b, &mut z, n, d_in, MatmulPrecision::F32);
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
            let (g, _, _) = dense_backward_ref(&a, &w, &dy, n, d_in);
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
            let (g, _, _) = conv_backward_ref(&a, &w, &dy, &sh, n);
            assert_close(&tag, &case.read(dz, in_len), &backward(&g), 1e-5, 1e-5);
        }
        // Max-pool 2x2/2 on 7x7, batch 3.
        let sh = pool_shape(2, 7, 7, 2, 2);
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
        let (g, dw, _) = dense_backward_ref(&x, &w, &dy, n, d_in);
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
        let (g, dw, _) = conv_backward_ref(&x, &w, &dy, &sh, n);
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
