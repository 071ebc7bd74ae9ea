//! One table of GPU-vs-CPU checks per op family ([`FAMILIES`]): each family builds its
//! [`Check`]s at a set of [`Sizes`] — small ones for `shadernet verify`, awkward ones (batch 1
//! and 17, odd channels and images, products long enough to split k, padding wider than the
//! image) for the tests, or a network's own shapes for the kernels bench, which times the same
//! launches. Each check computes the CPU twin's values with the `cpu` module's functions.

mod elementwise;
mod layers;
mod matmul;
mod step;

use super::case::Check;
use crate::gpu::context::Gpu;
use crate::model::{ConvShape, Layer, Plan, PlannedLayer, PoolShape, Shape};

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
        build: matmul::matmul_checks,
    },
    Family {
        name: "dense",
        build: layers::dense_checks,
    },
    Family {
        name: "conv",
        build: layers::conv_checks,
    },
    Family {
        name: "maxpool",
        build: elementwise::maxpool_checks,
    },
    Family {
        name: "activation",
        build: elementwise::activation_checks,
    },
    Family {
        name: "dropout",
        build: elementwise::dropout_checks,
    },
    Family {
        name: "augment",
        build: elementwise::augment_checks,
    },
    Family {
        name: "batchnorm",
        build: layers::batchnorm_checks,
    },
    Family {
        name: "loss",
        build: step::loss_checks,
    },
    Family {
        name: "optimiser",
        build: step::optimiser_checks,
    },
];

/// A convolution's sizes from the model's shape inference.
pub(super) fn conv_shape(
    c: usize,
    h: usize,
    w: usize,
    f: usize,
    k: usize,
    s: usize,
    p: usize,
) -> ConvShape {
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
pub(super) fn pool_shape(c: usize, h: usize, w: usize, size: usize, stride: usize) -> PoolShape {
    let layer = Layer::MaxPool { size, stride };
    let planned =
        PlannedLayer::new(layer, Shape::Image { c, h, w }, 1).expect("the check's max-pool plans");
    PoolShape::of(&planned).expect("a max-pool layer")
}
