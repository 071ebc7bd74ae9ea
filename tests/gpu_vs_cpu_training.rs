//! The GPU's training-step plumbing against its CPU twins: dropout masks, the fused
//! softmax–cross-entropy and MSE with their running totals, SGD and Adam, the dataset gather,
//! augmentation, 2-D launches and `verify`. Output buffers are poisoned with NaN before each run.

#[path = "common/gpu.rs"]
mod gpu_common;

use gpu_common::{Case, assert_close, checked_gpu_or_skip, gpu_or_skip, random};
use shadernet::cpu::dropout::{dropout_backward, dropout_forward};
use shadernet::cpu::loss;
use shadernet::executor::DropoutKey;
use shadernet::gpu::Gpu;
use shadernet::gpu::kernel::{self, PADDED_STAGING_BYTES};
use shadernet::gpu::net::DeviceTotals;
use shadernet::gpu::ops::loss as gloss;
use shadernet::gpu::ops::{activation as gact, dataset as gdata, dropout as gdrop};
use shadernet::model::Activation;

#[test]
fn dropout_masks_are_bit_identical_to_the_cpu() {
    let Some(gpu) = gpu_or_skip() else { return };
    for (total, rate) in [(1, 0.5), (3 * 100, 0.2), (17 * 129, 0.7)] {
        let key = DropoutKey {
            seed: 0xDEAD_BEEF,
            step: 12,
            layer: 3,
        };
        let mut case = Case::new(gpu);
        let (x, dy) = (random(total, 9), random(total, 10));
        let (ix, idy) = (case.input(&x), case.input(&dy));
        let (y, mask, dx) = (case.output(total), case.output(total), case.output(total));
        case.run(&[
            gdrop::dropout_forward(ix, y, mask, total, rate, key),
            gdrop::dropout_backward(idy, mask, ix, dx.into(), total),
        ]);
        let (mut want_y, mut want_mask, mut want_dx) =
            (vec![0.0; total], vec![0.0; total], vec![0.0; total]);
        dropout_forward(&x, &mut want_y, &mut want_mask, rate, key, 0);
        dropout_backward(&dy, &want_mask, &mut want_dx);
        assert_eq!(
            case.read(mask, total),
            want_mask,
            "dropout mask, {total} values, rate {rate}"
        );
        assert_eq!(case.read(y, total), want_y);
        assert_eq!(case.read(dx, total), want_dx);
    }
}

/// Running totals read back: (loss sum with its Kahan compensation applied, correct, count).
fn read_totals(case: &Case, id: kernel::BufferId) -> (f64, usize, usize) {
    let t = DeviceTotals::from_raw(&case.read_u32(id, 4));
    (t.loss_sum, t.correct, t.count)
}

#[test]
fn softmax_cross_entropy_and_mse_add_their_batch_to_the_totals() {
    let Some(gpu) = gpu_or_skip() else { return };
    // 67 and 130 examples: two and three for some invocations of the one-workgroup kernels.
    for (n, k) in [(1, 10), (3, 4), (17, 10), (67, 3), (130, 10)] {
        let mut case = Case::new(gpu);
        let z: Vec<f32> = random(n * k, 11).iter().map(|v| v * 5.0).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((i * 7 + 3) % k) as u8).collect();
        let labels32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let (iz, il) = (case.input(&z), case.input_u32(&labels32));
        let probs = case.output(n * k);
        let ce = gloss::LossOutputs {
            grad: case.output(n * k),
            totals: case.input_u32(&gdata::ZERO_TOTALS),
        };
        let mse = gloss::LossOutputs {
            grad: case.output(n * k),
            totals: case.input_u32(&gdata::ZERO_TOTALS),
        };
        let scale = 1.0 / n as f32;
        let mse_scale = 1.0 / (n * k) as f32;
        // Each loss twice: the second batch adds to the first one's totals.
        let ce_step = gloss::softmax_cross_entropy(iz, il, probs, ce, n, k, scale, 0.0);
        let mse_step = gloss::mse(iz, il, mse, n, k, mse_scale);
        case.run(&[ce_step.clone(), mse_step.clone(), ce_step, mse_step]);
        let mut want_p = vec![0.0; n * k];
        loss::softmax_forward(&z, &mut want_p, k);
        let got_p = case.read(probs, n * k);
        assert_close("softmax probs", &got_p, &want_p, 1e-6, 1e-5);
        let mut want_dz = vec![0.0; n * k];
        loss::softmax_cross_entropy_backward(&want_p, &labels, &mut want_dz, k, scale, 0.0);
        assert_close(
            "softmax-CE dz",
            &case.read(ce.grad, n * k),
            &want_dz,
            1e-6,
            1e-5,
        );
        let (loss_sum, correct, count) = read_totals(&case, ce.totals);
        let want_loss = 2.0 * loss::cross_entropy_sum(&want_p, &labels, k, 0.0);
        assert!(
            (loss_sum - want_loss).abs() <= 1e-5 * (1.0 + want_loss),
            "CE {loss_sum} vs {want_loss}"
        );
        let want_correct = 2 * loss::count_correct(&want_p, &labels, k);
        assert_eq!((correct, count), (want_correct, 2 * n));

        let mut want_dy = vec![0.0; n * k];
        loss::mse_backward(&z, &labels, &mut want_dy, k, mse_scale);
        assert_close("MSE dy", &case.read(mse.grad, n * k), &want_dy, 1e-6, 1e-5);
        let (mse_sum, correct, count) = read_totals(&case, mse.totals);
        let want_mse = 2.0 * loss::mse_sum(&z, &labels, k);
        assert!(
            (mse_sum - want_mse).abs() <= 1e-5 * (1.0 + want_mse),
            "MSE {mse_sum} vs {want_mse}"
        );
        let want_correct = 2 * loss::count_correct(&z, &labels, k);
        assert_eq!((correct, count), (want_correct, 2 * n));
    }
}

#[test]
fn totals_add_up_exactly() {
    // Squared errors of integer outputs are exact in f32: examples lose 0, 1 and 2; the first
    // and last are correct, the middle one's first argmax (a tie) is class 0, not its label.
    let Some(gpu) = gpu_or_skip() else { return };
    let mut case = Case::new(gpu);
    let y = case.input(&[1.0, 0.0, 0.0, 0.0, 2.0, 1.0]);
    let labels = case.input_u32(&[0, 1, 0]);
    let out = gloss::LossOutputs {
        grad: case.output(6),
        totals: case.input_u32(&gdata::ZERO_TOTALS),
    };
    let step = gloss::mse(y, labels, out, 3, 2, 1.0);
    case.run(&[step.clone(), step]);
    let t = case.read_u32(out.totals, 4);
    assert_eq!(
        (f32::from_bits(t[0]), f32::from_bits(t[1]), t[2], t[3]),
        (6.0, 0.0, 4, 6)
    );
}

#[test]
fn gather_scales_bytes() {
    let Some(gpu) = gpu_or_skip() else { return };
    // 5 images of 1x3x3 = 9 bytes: the images straddle u32 words.
    let images: Vec<u8> = (0..45u32).map(|i| (i * 37 % 256) as u8).collect();
    let data = shadernet::data::Dataset {
        images,
        labels: vec![3, 1, 4, 1, 5],
        channels: 1,
        height: 3,
        width: 3,
        classes: 10,
    };
    let mut case = Case::new(gpu);
    let dev = gdata::upload(gpu, &mut case.arena, &data);
    let indices = [4u32, 0, 3];
    let idx = case.input_u32(&indices);
    let (x, labels) = (case.output(27), case.output(3));
    case.run(&[gdata::gather(&dev, idx, x, labels, 3)]);
    let (mut want_x, mut want_l) = (vec![0.0; 27], vec![0; 3]);
    data.gather(&indices, &mut want_x, &mut want_l);
    assert_eq!(case.read(x, 27), want_x);
    let want_l: Vec<u32> = want_l.iter().map(|&l| l as u32).collect();
    assert_eq!(case.read_u32(labels, 3), want_l);
}

#[test]
fn large_launches_spread_over_a_2d_grid() {
    // More than 65,535 workgroups of 64: the launch needs a second grid dimension.
    let Some(gpu) = gpu_or_skip() else { return };
    let total = 65_536 * 64 + 3;
    assert!(kernel::groups_1d(total)[1] > 1);
    let mut case = Case::new(gpu);
    let x: Vec<f32> = (0..total).map(|i| (i % 1000) as f32 - 500.0).collect();
    let ix = case.input(&x);
    let y = case.output(total);
    case.run(&[gact::activation_forward(Activation::Relu, ix, y, total)]);
    let got = case.read(y, total);
    let want: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    assert!(got == want, "ReLU over {total} values");
}

#[test]
fn verify_passes_on_this_device() {
    let Some(gpu) = gpu_or_skip() else { return };
    assert_verify_passes(gpu);
}

/// Within WebGPU's default limits (16,384 bytes of workgroup memory, less than the GEMM's
/// padded staging rows take) the GEMM kernels are compiled with unpadded, swizzled rows, and
/// every one of `verify`'s checks still agrees with the CPU.
#[test]
fn verify_passes_within_webgpu_default_limits() {
    let Some(_) = gpu_or_skip() else { return };
    let limits = wgpu::Limits::default();
    assert!(limits.max_compute_workgroup_storage_size < PADDED_STAGING_BYTES);
    let adapter = Gpu::adapter(None).expect("gpu_or_skip found one");
    let gpu = Gpu::open_with_limits(&adapter, limits).expect("the default limits");
    assert_verify_passes(&gpu);
}

/// Runs `verify` on `gpu`: every op's rows there, each agreeing with the CPU.
#[test]
fn verify_gives_the_same_bits_with_runtime_checks_on_every_kernel() {
    let Some(gpu) = gpu_or_skip() else { return };
    let checked = checked_gpu_or_skip().expect("a device with runtime checks");
    // Every op of verify (the GEMMs of dense and conv layers forward and backward, on both
    // block heights) computes the same bits with wgpu's runtime checks as without: an
    // out-of-bounds access in an unchecked kernel would read or write elsewhere.
    let (plain, with_checks) = (
        shadernet::verify::verify(gpu).unwrap(),
        shadernet::verify::verify(checked).unwrap(),
    );
    assert_eq!(plain.len(), with_checks.len());
    for (a, b) in plain.iter().zip(&with_checks) {
        assert!(b.pass, "{} fails with runtime checks", b.op);
        assert_eq!(
            (a.max_abs.to_bits(), a.max_rel.to_bits()),
            (b.max_abs.to_bits(), b.max_rel.to_bits()),
            "{}: unchecked vs checked kernels",
            a.op
        );
    }
}

fn assert_verify_passes(gpu: &Gpu) {
    let rows = shadernet::verify::verify(gpu).unwrap();
    assert!(rows.len() >= 25, "{} rows", rows.len());
    for r in &rows {
        println!(
            "{:<32} {:>10.2e} {:>10.2e} {}",
            r.op, r.max_abs, r.max_rel, r.pass
        );
    }
    let failed: Vec<_> = rows.iter().filter(|r| !r.pass).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn augmentation_warps_like_the_cpu() {
    use shadernet::data::augment::augment_batch;
    use shadernet::gpu::ops::augment::{AugmentKey, augment};
    use shadernet::model::AugmentRanges;
    let Some(gpu) = gpu_or_skip() else { return };
    // 1 and 3 channels, square and not, a batch of 1 and one of 17, chance 0, ½ and 1, with
    // and without the elastic displacement.
    for (n, dims, chance, elastic_px) in [
        (1, (1, 28, 28), 1.0, 0.0),
        (17, (1, 11, 9), 0.5, 0.0),
        (5, (3, 7, 10), 1.0, 0.0),
        (3, (1, 6, 6), 0.0, 0.0),
        (4, (1, 28, 28), 1.0, 2.0),
        (9, (3, 5, 13), 0.5, 1.0),
        (2, (1, 1, 2), 1.0, 1.0),
        (2, (2, 2, 1), 1.0, 3.0),
    ] {
        let (c, h, w) = dims;
        let len = n * c * h * w;
        let x: Vec<f32> = random(len, 31).iter().map(|v| 0.5 + 0.5 * v).collect();
        let key = AugmentKey {
            seed: 0xBEEF,
            step: 42,
            chance,
            ranges: AugmentRanges {
                elastic_px,
                ..AugmentRanges::default()
            },
        };
        let mut case = Case::new(gpu);
        let src = case.input(&x);
        let out = case.output(len);
        case.run(&[augment(src, out, n, dims, &key)]);
        let mut want = x.clone();
        augment_batch(&mut want, dims, key.seed, key.step, chance, &key.ranges);
        let got = case.read(out, len);
        let tag = format!("augment n={n} {dims:?} chance {chance} elastic {elastic_px}");
        // sin/cos and the bilinear weights round differently on the device: loose, but far
        // below the size of any warp.
        assert_close(&tag, &got, &want, 1e-4, 1e-3);
        if chance == 0.0 {
            assert_eq!(got, x, "{tag}: chance 0 copies exactly");
        }
    }
}
