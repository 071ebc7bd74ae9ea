//! Every composed shader, checked without a device by naga (the WGSL front end wgpu itself
//! uses): it parses and validates in every variant the host builds (GEMMs on 128- and 64-row
//! blocks, padded and unpadded staging rows); its workgroup size is the host's
//! `WORKGROUP_SIZE` (the GEMM core's its own); its storage bindings are the ones
//! `Kernel::storage` declares, read-only where the table says so; and its `Params` uniform has
//! the size of the host twin that real dispatches carry. So the hand-kept binding table and the
//! `#[repr(C)]` twins cannot drift from the shaders.

mod common;

use common::plan;
use shadernet::gpu::kernel::{
    BufferId, Dispatch, Kernel, PADDED_STAGING_BYTES, Variant, WORKGROUP_SIZE, kernel_source,
};
use shadernet::gpu::ops::dataset::DeviceDataset;
use shadernet::gpu::ops::matmul::matmul;
use shadernet::gpu::plan::{ExecutionPlan, StepKeys, StepMode};
use shadernet::model::Shape;
use std::collections::BTreeMap;
use wgpu::naga;

/// What a shader's module says about its interface.
struct Interface {
    /// Bytes of the `Params` uniform at binding 0 (naga's layout).
    params_bytes: u32,
    /// Storage bindings 1.. in order: `true` = read-only.
    storage: Vec<bool>,
    /// `main`'s workgroup size.
    workgroup_size: [u32; 3],
}

/// Parses and validates `source` (panicking with naga's message) and reads its interface.
fn interface(label: &str, source: &str) -> Interface {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{label}: {}", e.emit_to_string(source)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{label} does not validate: {e:?}"));
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("a layout");
    let mut params_bytes = None;
    let mut storage = BTreeMap::new();
    for (_, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else {
            continue;
        };
        assert_eq!(binding.group, 0, "{label}: one bind group");
        match var.space {
            naga::AddressSpace::Uniform => {
                assert_eq!(binding.binding, 0, "{label}: Params at binding 0");
                params_bytes = Some(layouter[var.ty].size);
            }
            naga::AddressSpace::Storage { access } => {
                let read_only = !access.contains(naga::StorageAccess::STORE);
                assert!(
                    storage.insert(binding.binding, read_only).is_none(),
                    "{label}: binding {} twice",
                    binding.binding
                );
            }
            other => panic!("{label}: a binding in {other:?}"),
        }
    }
    let bindings: Vec<u32> = storage.keys().copied().collect();
    let expected: Vec<u32> = (1..=bindings.len() as u32).collect();
    assert_eq!(bindings, expected, "{label}: storage bindings numbered 1..");
    let main = module
        .entry_points
        .iter()
        .find(|e| e.name == "main")
        .unwrap_or_else(|| panic!("{label}: no `main`"));
    Interface {
        params_bytes: params_bytes.unwrap_or_else(|| panic!("{label}: no Params uniform")),
        storage: storage.into_values().collect(),
        workgroup_size: main.workgroup_size,
    }
}

/// The variants the host compiles a kernel in: (build, workgroup bytes).
fn variants(kernel: Kernel) -> Vec<(Variant, u32)> {
    if kernel.is_gemm() {
        let compact = PADDED_STAGING_BYTES - 1;
        let mut list = Vec::new();
        for bf16 in [false, true] {
            let wide = Variant {
                narrow: false,
                bf16,
            };
            let narrow = Variant { narrow: true, bf16 };
            list.extend([
                (wide, PADDED_STAGING_BYTES),
                (wide, compact),
                (narrow, PADDED_STAGING_BYTES),
                (narrow, 12_799),
            ]);
        }
        list
    } else {
        vec![(Variant::default(), PADDED_STAGING_BYTES)]
    }
}

#[test]
fn every_kernel_validates_and_declares_the_bindings_of_the_table() {
    for kernel in Kernel::ALL {
        for (variant, bytes) in variants(kernel) {
            let label = format!("{} ({bytes} bytes)", kernel.label(variant));
            let found = interface(&label, &kernel_source(kernel, variant, bytes));
            assert_eq!(found.storage, kernel.storage(), "{label}: read-only flags");
            if kernel.is_gemm() {
                let threads = if variant.narrow { 128 } else { 256 };
                assert_eq!(found.workgroup_size, [threads, 1, 1], "{label}");
            } else {
                assert_eq!(found.workgroup_size, [WORKGROUP_SIZE, 1, 1], "{label}");
            }
            assert_eq!(
                found.params_bytes % 16,
                0,
                "{label}: Params padded to 16 bytes"
            );
        }
    }
}

/// Dispatches of every kernel, built the way the executor builds them (no device needed).
fn dispatches_of_every_kernel() -> Vec<Dispatch> {
    let image = Shape::Image { c: 1, h: 12, w: 11 };
    let data = DeviceDataset {
        images: BufferId(10_000),
        labels: BufferId(10_001),
        len: 100,
        image_size: image.size(),
    };
    let networks = [
        // Fused activations and pool dropouts, Adam, augmentation (gather and warp); the
        // second convolution's products have k = 24·5·5 and are split at small batches.
        "conv 24 kernel=5 padding=same\nrelu\nmaxpool 2\ndropout 0.2\nconv 24 kernel=5\n\
         tanh\nmaxpool 2 stride=1\nflatten\ndense classes\nsoftmax\naugment 0.5\n",
        // Stand-alone activation (forward after a batchnorm, backward before one), dropout and
        // max-pool kernels, batchnorm, SGD with weight decay, weight averaging and MSE.
        "conv 2 kernel=3\nbatchnorm\nrelu\nmaxpool 2\nflatten\ndense 300\ntanh\n\
         batchnorm\ndropout 0.3\nbatchnorm\ndense classes\nloss mse\noptimizer sgd\nema 0.99\n\
         weight_decay 0.05\n",
    ];
    let mut list = Vec::new();
    // Batch 600: the weight gradients' k is the batch, long enough to split.
    for (text, batch) in networks.iter().flat_map(|t| [(t, 2), (t, 600)]) {
        let exec = ExecutionPlan::new(&plan(text, image, 10), batch).unwrap();
        for mode in [StepMode::Train { lr: 0.1 }, StepMode::Eval] {
            list.extend(exec.step_dispatches(batch, mode, Some(&data), StepKeys::default()));
        }
    }
    // A product with a long k is split: its partial products and their sum.
    let b = BufferId(0);
    list.extend(matmul(b.into(), b.into(), b.into(), b, 8, 8, 100_000, 0));
    list.extend(matmul(b.into(), b.into(), b.into(), b, 256, 256, 64, 0));
    list
}

#[test]
fn every_dispatch_carries_its_shaders_params_and_buffers() {
    let mut seen = BTreeMap::new();
    for d in dispatches_of_every_kernel() {
        let label = d.label();
        let size = seen.entry(label.clone()).or_insert_with(|| {
            let source = kernel_source(d.kernel, d.variant, PADDED_STAGING_BYTES);
            interface(&label, &source).params_bytes as usize
        });
        assert_eq!(
            d.params.len(),
            *size,
            "{label}: host Params vs the shader's"
        );
        assert_eq!(
            d.buffers.len(),
            d.kernel.storage().len(),
            "{label}: buffers"
        );
    }
    let missing: Vec<Kernel> = Kernel::ALL
        .into_iter()
        .filter(|k| {
            !seen
                .keys()
                .any(|l| l.starts_with(k.file()) && k.label(Variant::default()) == k.file())
        })
        .collect();
    assert!(missing.is_empty(), "no dispatch of {missing:?}");
}
