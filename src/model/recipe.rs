//! The training recipe that travels with a network: loss, optimiser, learning rate and its
//! schedule, batch size, epochs, initialisation, augmentation and early stopping. Flags of
//! `shadernet train` override it; [`check_training`] refuses what a run cannot start with.

use crate::error::{Error, Result};

/// The loss minimised by training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Mean squared error against one-hot targets, averaged over the batch and the outputs:
    /// `L = Σ (y − t)² / (N·classes)`.
    Mse,
    /// Cross-entropy of a softmax output, averaged over the batch: `L = −Σ log p[label] / N`.
    /// Fused with the softmax, its gradient at the logits is `(p − onehot)/N`.
    CrossEntropy,
}

/// The parameter update rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// `w ← w − lr·g`.
    Sgd,
    /// Adam (Kingma & Ba 2015) with bias correction:
    /// `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
    /// `w ← w − lr·m̂/(√v̂ + ε)` with `m̂ = m/(1−β1ᵗ)`, `v̂ = v/(1−β2ᵗ)`.
    Adam {
        /// β1.
        beta1: f32,
        /// β2.
        beta2: f32,
        /// ε.
        epsilon: f32,
    },
}

impl Optimizer {
    /// Adam with the usual constants β1 = 0.9, β2 = 0.999, ε = 1e-8.
    pub const ADAM: Optimizer = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
}

/// How weights are drawn before training. Weights of dense and conv layers have
/// `fan_in = D_in` or `C·K·K` and `fan_out = D_out` or `F·K·K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Weights and biases uniform in `[−0.5, 0.5]` (the report's first models).
    Uniform,
    /// Glorot/Xavier uniform: `U[−a, a]`, `a = √(6/(fan_in + fan_out))`; zero biases.
    Glorot,
    /// He normal: `N(0, 2/fan_in)`; zero biases.
    He,
}

/// The learning rate as a function of the epoch (0-based).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `lr` every epoch.
    Constant,
    /// The report's "tunable" scheduler (how we read its buggy listing: see
    /// [`crate::train::schedule`]): warm-up `lr·(e + 1)` for epochs `e < halve_after`, then
    /// halving every `halve_after` epochs, and, when `fast_after` is set, every 3 epochs once
    /// `e > fast_after` instead.
    Tunable {
        /// Epochs of warm-up, and the halving period after it.
        halve_after: usize,
        /// Epoch after which the rate halves every 3 epochs (the report's seed12: 20).
        fast_after: Option<usize>,
    },
    /// Step decay: `lr·factor^⌊e/every⌋`.
    Step {
        /// Epochs between decays (≥ 1).
        every: usize,
        /// Multiplier at each decay, in (0, 1].
        factor: f32,
    },
    /// Linear warm-up from `lr/warmup` to `lr` over the first `warmup` epochs, then cosine
    /// annealing to 0 over the remaining epochs: `lr·(1 + cos(π·t))/2`, `t` the fraction of
    /// the post-warm-up epochs done.
    Cosine {
        /// Warm-up epochs (0 = none).
        warmup: usize,
        /// Whether the rate moves every step (on the fraction of steps done) rather than once
        /// per epoch: see [`crate::train::schedule::step_rate`].
        per_step: bool,
    },
    /// One-cycle (Smith 2018, with PyTorch's `OneCycleLR` defaults): from `lr/25` up to `lr`
    /// along a cosine over the first `warmup` fraction of the epochs, then down to `lr/(25·10⁴)`
    /// along a cosine.
    OneCycle {
        /// Fraction of the epochs spent rising, in (0, 1).
        warmup: f32,
        /// Whether the rate moves every step, exactly as PyTorch's `OneCycleLR` stepped once per
        /// batch, rather than once per epoch: see [`crate::train::schedule::step_rate`].
        per_step: bool,
    },
}

/// The error early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Inference-mode error on the held-out validation split (the honest choice, the default).
    Validation,
    /// Training-mode error accumulated over the epoch's steps, as the report watched.
    Training,
}

/// Stop when the watched error has not improved for `patience` epochs, then restore the best
/// weights. An improvement must beat the best error by the relative margin `min_delta_rel`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Relative improvement that counts: `new < best·(1 − min_delta_rel)`.
    pub min_delta_rel: f32,
    /// Which error is watched.
    pub monitor: Monitor,
}

/// Training settings that travel with a network (flags override them).
#[derive(Clone, Debug, PartialEq)]
pub struct Training {
    /// The loss.
    pub loss: Loss,
    /// The update rule.
    pub optimizer: Optimizer,
    /// Base learning rate.
    pub lr: f32,
    /// Images per step (1 = the report's per-sample SGD).
    pub batch_size: usize,
    /// Epochs to train (an upper bound when early stopping is on).
    pub epochs: usize,
    /// Weight initialisation.
    pub init: Init,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Chance per training image of a random affine warp (0 = off): see
    /// [`crate::data::augment`]; both executors apply it to training batches of image inputs
    /// only, never to evaluation or prediction.
    pub augment: f32,
    /// The warp's ranges when augmenting (the report's by default).
    pub augment_ranges: AugmentRanges,
    /// Early stopping on the validation error, if any.
    pub early_stopping: Option<EarlyStopping>,
    /// Label smoothing `ε` of the cross-entropy loss, in [0, 1): the target of an example of
    /// label `l` is `t_j = (1 − ε)·[j = l] + ε/K` instead of one-hot, as PyTorch's
    /// `CrossEntropyLoss(label_smoothing=ε)`; the loss reported is this smoothed objective.
    pub label_smoothing: f32,
    /// Weight averaging: an exponential moving average of the weights with this decay `d`
    /// (e.g. 0.999), updated after every step `t` (1-based) as
    /// `ema ← d_t·ema + (1 − d_t)·w` with `d_t = min(d, (1 + t)/(10 + t))`, starting from the
    /// initial weights. The averaged weights are what validation, early stopping, evaluation,
    /// prediction and checkpoints see; batchnorm's running statistics are the trained ones.
    pub ema: Option<f32>,
    /// Decoupled weight decay `λ` (AdamW, Loshchilov & Hutter 2019), in [0, 1): before each
    /// update with rate `lr_t`, every dense and conv *weight* (not biases, not batchnorm's `γ`
    /// and `β`) becomes `w − (lr_t·λ)·w`, as PyTorch's `AdamW(weight_decay=λ)` on a parameter
    /// group of those weights (with SGD the same as an L2 penalty `λ/2·‖w‖²`). 0 = none.
    pub weight_decay: f32,
    /// How the matrix products of the dense and convolution layers (forward and backward, on
    /// both executors) treat their operands.
    pub matmul_precision: MatmulPrecision,
}

/// The operands of a network's matrix products `C = A·B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MatmulPrecision {
    /// float32 operands, float32 sums.
    #[default]
    F32,
    /// Both operands rounded to bfloat16 (float32's 8 exponent bits and its 8 leading
    /// significant bits; to nearest, ties to even), each product exact and the sums in float32:
    /// `C = bf16(A)·bf16(B)`, what PyTorch's `torch.set_float32_matmul_precision("medium")`
    /// allows. On processors with AVX512-BF16 the CPU executor multiplies twice as many pairs
    /// per instruction; elsewhere, and on GPUs, it costs a rounding of each operand.
    Bf16,
}

/// The decay [`Training::ema`] `decay` applies at update `t` (1-based): `min(d, (1 + t)/(10 + t))`,
/// so that the first updates, far from where training ends, weigh less.
pub fn ema_decay(decay: f32, t: u32) -> f32 {
    decay.min((1.0 + t as f32) / (10.0 + t as f32))
}

impl Default for Training {
    fn default() -> Self {
        Training {
            loss: Loss::CrossEntropy,
            optimizer: Optimizer::ADAM,
            lr: 0.001,
            batch_size: 16,
            epochs: 3,
            init: Init::He,
            schedule: Schedule::Constant,
            augment: 0.0,
            augment_ranges: AugmentRanges::default(),
            early_stopping: None,
            label_smoothing: 0.0,
            ema: None,
            weight_decay: 0.0,
            matmul_precision: MatmulPrecision::F32,
        }
    }
}

/// The half-widths of the random warp's ranges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AugmentRanges {
    /// Horizontal scale factor in `1 ± scale_x` (default 0.2).
    pub scale_x: f32,
    /// Vertical scale factor in `1 ± scale_y` (default 0.2).
    pub scale_y: f32,
    /// Rotation in `± rotation_degrees` degrees (default 25).
    pub rotation_degrees: f32,
    /// Zoom (both axes) in `1 ± zoom` (default 0.2).
    pub zoom: f32,
    /// Translation on each axis in `± translate_px` pixels (default 2).
    pub translate_px: f32,
    /// Elastic displacement of each corner of a 4 x 4 grid over the image, on each axis in
    /// `± elastic_px` pixels, interpolated bilinearly in between (default 0: none; see
    /// `data::augment`).
    pub elastic_px: f32,
}

impl Default for AugmentRanges {
    fn default() -> Self {
        AugmentRanges {
            scale_x: 0.2,
            scale_y: 0.2,
            rotation_degrees: 25.0,
            zoom: 0.2,
            translate_px: 2.0,
            elastic_px: 0.0,
        }
    }
}

/// The most epochs a run may train, and the most epochs any epoch count of the recipe (a
/// schedule's period or warm-up, early stopping's patience) may name: far beyond any useful run,
/// and small enough that `epochs × steps` cannot overflow.
pub const MAX_EPOCHS: usize = 100_000;

/// The largest batch: more images than MNIST's training set, and small enough that a batch
/// times the largest tensor ([`super::spec::MAX_VALUES`]) times 4 bytes fits in a `u64`.
pub const MAX_BATCH: usize = 65_536;

/// The largest translation range (and elastic displacement range) of the augmentation, in
/// pixels.
pub const MAX_TRANSLATE_PX: f32 = 100.0;

/// Checks training settings a run cannot start with: every number against its range (as
/// docs/NETWORK_FILES.md lists them), so a NaN, an infinity or an absurd size is refused here
/// rather than trained on. Each message names the setting as a network file spells it.
pub fn check_training(t: &Training) -> Result<()> {
    let bad = |what: String| Err(Error::network(what));
    // `contains` is false for NaN, so every range below also refuses NaN.
    let unit_open = |v: f32| (0.0..1.0).contains(&v);
    let epochs_range = 1..=MAX_EPOCHS;
    if !(t.lr.is_finite() && t.lr > 0.0) {
        return bad(format!(
            "learning rate must be a positive number, got {}",
            number(t.lr)
        ));
    }
    if !(1..=MAX_BATCH).contains(&t.batch_size) {
        return bad(format!(
            "batch size must be from 1 to {MAX_BATCH}, got {}",
            t.batch_size
        ));
    }
    if !epochs_range.contains(&t.epochs) {
        return bad(format!(
            "epochs must be from 1 to {MAX_EPOCHS}, got {}",
            t.epochs
        ));
    }
    let r = &t.augment_ranges;
    for (name, value) in [
        ("scale_x", r.scale_x),
        ("scale_y", r.scale_y),
        ("zoom", r.zoom),
    ] {
        if !unit_open(value) {
            return bad(format!(
                "augmentation range {name} must be in [0, 1), got {}",
                number(value)
            ));
        }
    }
    if !(0.0..=180.0).contains(&r.rotation_degrees) {
        return bad(format!(
            "augmentation range rotation must be in [0, 180] degrees, got {}",
            number(r.rotation_degrees)
        ));
    }
    if !(0.0..=MAX_TRANSLATE_PX).contains(&r.translate_px) {
        return bad(format!(
            "augmentation range translate must be in [0, {MAX_TRANSLATE_PX}] pixels, got {}",
            number(r.translate_px)
        ));
    }
    if !(0.0..=MAX_TRANSLATE_PX).contains(&r.elastic_px) {
        return bad(format!(
            "augmentation range elastic must be in [0, {MAX_TRANSLATE_PX}] pixels, got {}",
            number(r.elastic_px)
        ));
    }
    if !unit_open(t.label_smoothing) || (t.label_smoothing > 0.0 && t.loss != Loss::CrossEntropy) {
        return bad(format!(
            "label smoothing must be in [0, 1) and goes with the cross-entropy loss, got {}",
            number(t.label_smoothing)
        ));
    }
    if let Some(decay) = t.ema
        && !(decay > 0.0 && decay < 1.0)
    {
        return bad(format!(
            "ema needs a decay in (0, 1), got {}",
            number(decay)
        ));
    }
    if !unit_open(t.weight_decay) {
        return bad(format!(
            "weight decay must be in [0, 1), got {}",
            number(t.weight_decay)
        ));
    }
    if !(0.0..=1.0).contains(&t.augment) {
        return bad(format!(
            "augmentation chance must be in [0, 1], got {}",
            number(t.augment)
        ));
    }
    match t.schedule {
        Schedule::Constant => {}
        Schedule::Tunable {
            halve_after,
            fast_after,
        } => {
            if !epochs_range.contains(&halve_after) {
                return bad(format!(
                    "the tunable schedule needs halve_after from 1 to {MAX_EPOCHS}, got {halve_after}"
                ));
            }
            if let Some(fast) = fast_after
                && fast > MAX_EPOCHS
            {
                return bad(format!(
                    "the tunable schedule needs fast_after from 0 to {MAX_EPOCHS}, got {fast}"
                ));
            }
        }
        Schedule::Step { every, factor } => {
            if !(epochs_range.contains(&every) && factor > 0.0 && factor <= 1.0) {
                return bad(format!(
                    "the step schedule needs every from 1 to {MAX_EPOCHS} and 0 < factor <= 1, \
                     got every={every} factor={}",
                    number(factor)
                ));
            }
        }
        Schedule::Cosine { warmup, .. } => {
            if warmup > MAX_EPOCHS {
                return bad(format!(
                    "the cosine schedule needs warmup from 0 to {MAX_EPOCHS} epochs, got {warmup}"
                ));
            }
        }
        Schedule::OneCycle { warmup, .. } => {
            if !(warmup > 0.0 && warmup < 1.0) {
                return bad(format!(
                    "the one-cycle schedule needs 0 < warmup < 1 (a fraction of the epochs), got {}",
                    number(warmup)
                ));
            }
        }
    }
    if let Optimizer::Adam {
        beta1,
        beta2,
        epsilon,
    } = t.optimizer
    {
        for (name, value) in [("beta1", beta1), ("beta2", beta2)] {
            if !unit_open(value) {
                return bad(format!(
                    "Adam's {name} must be in [0, 1), got {}",
                    number(value)
                ));
            }
        }
        if !(epsilon > 0.0 && epsilon <= 1.0) {
            return bad(format!(
                "Adam's epsilon must be in (0, 1], got {}",
                number(epsilon)
            ));
        }
    }
    if let Some(stopping) = t.early_stopping {
        if !epochs_range.contains(&stopping.patience) {
            return bad(format!(
                "early stopping needs patience from 1 to {MAX_EPOCHS} epochs, got {}",
                stopping.patience
            ));
        }
        if !unit_open(stopping.min_delta_rel) {
            return bad(format!(
                "early stopping needs min_delta_rel in [0, 1) (a relative improvement), got {}",
                number(stopping.min_delta_rel)
            ));
        }
    }
    Ok(())
}

/// `v` as a message shows it: plainly, or in exponent form when very large or very small (so
/// that `1e30` is not printed with thirty zeros).
fn number(v: f32) -> String {
    let magnitude = v.abs();
    if v.is_finite() && v != 0.0 && !(1e-4..1e6).contains(&magnitude) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}
