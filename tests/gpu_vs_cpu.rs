//! Every GPU op, forward and backward, against its CPU twin: the check tables of
//! `shadernet::verify::families` (shared with `shadernet verify` and the kernels bench), at
//! their small and awkward sizes (batch 1, 3, 17; 1 and 3 channels; 5x5 'same', 3x3 'valid',
//! stride 2; sizes that are not multiples of the workgroup size; products long enough to split
//! k). Output buffers are poisoned with NaN before each run, so an element a shader forgot to
//! write fails the comparison. Plus what a table row cannot say: an asymmetric pattern, the
//! GEMMs with and without runtime checks, and writes outside an op's own range.

#[path = "common/gpu.rs"]
mod gpu_common;

use gpu_common::{Case, checked_gpu_or_skip, gpu_or_skip};
use shadernet::cpu::dense::dense_forward;
use shadernet::gpu::Gpu;
use shadernet::gpu::kernel::Kernel;
use shadernet::gpu::ops::dense as gdense;
use shadernet::model::MatmulPrecision;
use shadernet::verify::{FAMILIES, Sizes, Tolerance};
use std::collections::HashSet;

/// Runs the checks of the family `name` at its small and awkward sizes on `gpu`: every row must
/// be within its own tolerance. Returns the kernels its launches used.
fn run_family(gpu: &Gpu, name: &str) -> HashSet<Kernel> {
    let family = FAMILIES
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"));
    let mut used = HashSet::new();
    for sizes in [Sizes::Small, Sizes::Awkward] {
        for check in (family.build)(gpu, sizes) {
            used.extend(check.dispatches.iter().map(|d| d.kernel));
            for row in check.run(Tolerance::EXACT).unwrap() {
                assert!(row.pass, "{row}");
            }
        }
    }
    used
}

/// One test per family, named after it.
macro_rules! family_tests {
    ($($test:ident: $family:literal $(uses $($kernel:ident),+)?;)*) => {
        $(
            #[test]
            fn $test() {
                let Some(gpu) = gpu_or_skip() else { return };
                let _used = run_family(gpu, $family);
                $($(assert!(
                    _used.contains(&Kernel::$kernel),
                    "no {} check used {:?}",
                    $family,
                    Kernel::$kernel
                );)+)?
            }
        )*

        #[test]
        fn every_family_has_its_test() {
            let tested = [$($family),*];
            for family in &FAMILIES {
                assert!(tested.contains(&family.name), "no test runs the {} family", family.name);
            }
        }
    };
}

family_tests! {
    matmul_every_transpose: "matmul" uses Matmul, MatmulReduce;
    dense_forward_and_backward: "dense" uses DenseForwardReduce, DenseBackwardWeightsReduce;
    conv_forward_and_backward:
        "conv" uses ConvForwardReduce, ConvBackwardWeightsReduce, ConvBackwardDataReduce;
    maxpool_forward_and_backward: "maxpool" uses MaxPoolForward, MaxPoolDropoutForward;
    activations_forward_and_backward: "activation";
    dropout_masks: "dropout";
    augmentation_warps: "augment";
    batchnorm_forward_backward_and_running_statistics: "batchnorm";
    losses_and_their_totals: "loss";
    sgd_and_three_adam_steps: "optimiser" uses Sgd, Adam;
}

#[test]
fn gemms_give_the_same_bits_with_and_without_runtime_checks() {
    let Some(gpu) = gpu_or_skip() else { return };
    let checked = checked_gpu_or_skip().expect("a device with runtime checks");
    // The products of the matmul, dense and conv tables run with the GEMMs unchecked (as in
    // training) and with wgpu's runtime checks: the two must agree bit for bit, or the
    // unchecked kernel touched memory outside its buffers.
    let bits = |outputs: Vec<Vec<f32>>| -> Vec<Vec<u32>> {
        outputs
            .iter()
            .map(|o| o.iter().map(|v| v.to_bits()).collect())
            .collect()
    };
    for name in ["matmul", "dense", "conv"] {
        let family = FAMILIES.iter().find(|f| f.name == name).unwrap();
        let plain = (family.build)(gpu, Sizes::Awkward);
        let with_checks = (family.build)(checked, Sizes::Awkward);
        for (a, b) in plain.iter().zip(&with_checks) {
            a.run(Tolerance::EXACT).unwrap();
            b.run(Tolerance::EXACT).unwrap();
            let label = &a.expected[0].op;
            let (a, b) = (a.outputs().unwrap(), b.outputs().unwrap());
            assert_eq!(bits(a), bits(b), "{label}: unchecked vs checked kernels");
        }
    }
}

#[test]
fn batchnorm_writes_only_its_own_values() {
    use shadernet::gpu::ops::norm::{self as gnorm, NormLayout};
    use shadernet::verify::random;
    let Some(gpu) = gpu_or_skip() else { return };
    let (n, c, inner) = (3, 4, 35);
    let len = n * c * inner;
    let mut case = Case::new(gpu);
    let mut flat = vec![0.5; 3];
    flat.extend(random(2 * c, 1));
    let grads = case.output(flat.len());
    let l = NormLayout {
        params: case.input(&flat),
        grads,
        g_off: 3,
        running: case.input(&vec![1.0; 4 + 2 * c]),
        r_off: 4,
        saved: case.output(3 * c),
        c,
        inner,
    };
    let (x, dy) = (case.input(&random(len, 2)), case.input(&random(len, 3)));
    let (y, unused) = (case.output(len), case.output(1));
    case.run(&[
        gnorm::batchnorm_forward(&l, x, y, n, true),
        gnorm::batchnorm_backward(&l, x, dy, unused, false, n),
    ]);
    // Without an input gradient wanted, dx is bound but not written; the gradients before the
    // layer's own stay untouched.
    assert!(case.read(unused, 1)[0].is_nan(), "dx written");
    let g = case.read(grads, flat.len());
    assert!(
        g[..3].iter().all(|v| v.is_nan()),
        "wrote outside its gradients"
    );
    assert!(g[3..].iter().all(|v| v.is_finite()), "its own gradients");
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
    dense_forward(&x, &w, &b, &mut want, n, d_in, MatmulPrecision::F32);
    assert_eq!(case.read(y, n * d_out), want);
    assert_eq!(want[..2], [120.0, 240.0]); // row 0: 1·(2+3+4+5+6) + 100, 2·20 + 200
}
