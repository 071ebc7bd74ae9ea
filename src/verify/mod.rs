//! `shadernet verify`: every op, and one whole training step, on the user's own GPU against
//! the CPU reference, as a table of errors. The one library module that sees both executors.
//!
//! The checks are the tables of [`families`], shared with the tests (which run them at awkward
//! sizes as well) and the kernels bench (which times them at a network's shapes); [`case`] is
//! the harness they all use.

pub mod case;
pub mod families;

pub use case::{Case, Check, Read, Tolerance, VerifyRow, compare, random};
pub use families::{FAMILIES, Family, Sizes};

use crate::cpu::CpuNet;
use crate::error::Result;
use crate::gpu::context::Gpu;
use crate::gpu::net::{GpuNet, StepMode};
use crate::model::{Activation, Init, Layer, Loss, Network, Optimizer, Shape, Training, Units};
use crate::rng::Rng;

/// The least tolerance of [`verify`] (absolute part): a real GPU may round differently from
/// the CPU (fused multiply-adds, another order of a sum), so every check is held to at least
/// `VERIFY_ABS + VERIFY_REL·|cpu|`, on top of its own.
pub const VERIFY_ABS: f32 = 1e-4;
/// See [`VERIFY_ABS`].
pub const VERIFY_REL: f32 = 1e-3;

/// Runs every family's checks at [`Sizes::Small`] (odd sizes, batch 3, outputs poisoned with
/// NaN) and one whole Adam step of a small network, on `gpu` and on the CPU, and returns one
/// row per comparison. A row that fails means this GPU disagrees with the reference.
pub fn verify(gpu: &Gpu) -> Result<Vec<VerifyRow>> {
    pollster::block_on(verify_async(gpu))
}

/// [`verify`] without blocking: what the web page runs in a browser.
pub async fn verify_async(gpu: &Gpu) -> Result<Vec<VerifyRow>> {
    let floor = Tolerance::new(VERIFY_ABS, VERIFY_REL);
    let mut rows = Vec::new();
    for family in &FAMILIES {
        for check in (family.build)(gpu, Sizes::Small) {
            rows.extend(check.run_async(floor).await?);
        }
    }
    rows.extend(whole_step(gpu, floor).await?);
    Ok(rows)
}

/// One Adam step of a small network on both executors, gradients then parameters: convolutions,
/// pooling, dropout and dense layers arranged so that every kernel that applies other layers'
/// backwards is used but one: a conv and a dense data gradient taking an activation's, a dense
/// one taking a dropout's and its activation's, and a max-pool taking a ReLU's, with the
/// dropout after it fused in. (A dropout taking an activation's backward is left to the tests:
/// Adam's first step turns the tiny gradients it makes behind a pool into full-size updates
/// whose sign is rounding, which would make this check flaky.)
async fn whole_step(gpu: &Gpu, tolerance: Tolerance) -> Result<Vec<VerifyRow>> {
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
        compare(
            "whole step: gradients",
            &net.gradients_async(gpu).await?,
            cpu.grads(),
            tolerance,
        ),
        compare(
            "whole step: parameters",
            &net.parameters_async(gpu).await?,
            cpu.params(),
            tolerance,
        ),
    ])
}
