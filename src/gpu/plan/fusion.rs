//! Which layers' work another layer's kernel does. [`lower`] applies the rules once per plan;
//! the buffer list and the step's dispatch list ([`super::ExecutionPlan::step_dispatches`]) both
//! read its [`Fusion`] table, so that a layer whose work is fused away gets neither a dispatch
//! nor buffers it would never use.

use super::{Op, OpKind};
use crate::gpu::kernel::BufferId;
use crate::model::Activation;

/// The activation fused into op `index` (a dense or conv layer directly followed by tanh or
/// ReLU): that layer's kernel applies it and writes the activation's output buffer, so the
/// layer's own output buffer is never used (no backward pass reads it either: the
/// activation's backward uses its output).
fn fused_activation(ops: &[Op], index: usize) -> Option<Activation> {
    match (&ops[index].kind, ops.get(index + 1).map(|next| &next.kind)) {
        (OpKind::Dense(_) | OpKind::Conv(_), Some(OpKind::Activation(a))) => Some(*a),
        _ => None,
    }
}

/// The element-wise layers just before op `index` whose backward op `index`'s backward kernel
/// applies as it writes its input gradient, so that they have no backward dispatch and their
/// output gradients no buffer (none of them at the network's input, where no gradient is
/// wanted):
/// - before a dense or conv layer, a dropout (the data gradient's store multiplies by its
///   mask), unless that dropout is fused into a max-pool before it, and then the ReLU or tanh
///   before that dropout, if any;
/// - otherwise a ReLU or tanh directly before a dense, conv, max-pool or dropout layer (unless
///   that dropout is itself taken by the layer after it).
///
/// The activation's derivative is read from its output: the dropout's input, or the layer's
/// own input when no dropout sits between.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Absorbed {
    /// The dropout layer's index and mask.
    pub dropout: Option<(usize, BufferId)>,
    /// The activation layer's index and kind.
    pub activation: Option<(usize, Activation)>,
}

impl Absorbed {
    /// The first layer whose input gradient the kernel writes: the earliest absorbed one.
    pub fn first(&self, index: usize) -> usize {
        self.activation
            .map(|(a, _)| a)
            .or(self.dropout.map(|(d, _)| d))
            .unwrap_or(index)
    }

    fn contains(&self, layer: usize) -> bool {
        self.dropout.is_some_and(|(d, _)| d == layer)
            || self.activation.is_some_and(|(a, _)| a == layer)
    }
}

fn absorbed(ops: &[Op], index: usize) -> Absorbed {
    let Some(op) = ops.get(index) else {
        return Absorbed::default();
    };
    let at = |i: usize| ops.get(i).filter(|op| op.input != 0).map(|op| &op.kind);
    let activation_at = |i: usize| match at(i) {
        Some(OpKind::Activation(a)) => Some((i, *a)),
        _ => None,
    };
    let Some(before) = index.checked_sub(1) else {
        return Absorbed::default();
    };
    let layer = matches!(op.kind, OpKind::Dense(_) | OpKind::Conv(_));
    if let (true, Some(OpKind::Dropout { mask, .. }), false) =
        (layer, at(before), in_pool(ops, before))
    {
        return Absorbed {
            dropout: Some((before, *mask)),
            activation: before.checked_sub(1).and_then(activation_at),
        };
    }
    let takes_activation = match op.kind {
        OpKind::Dense(_) | OpKind::Conv(_) | OpKind::MaxPool { .. } => true,
        OpKind::Dropout { .. } => !absorbed(ops, index + 1).contains(index),
        _ => false,
    };
    Absorbed {
        dropout: None,
        activation: activation_at(before).filter(|_| takes_activation),
    }
}

/// Whether op `index` is a dropout fused into the max-pool before it ([`fused_dropout`]).
fn in_pool(ops: &[Op], index: usize) -> bool {
    index > 0 && fused_dropout(ops, index - 1).is_some()
}

/// Whether op `index`'s backward is done by a later layer's kernel ([`absorbed`]).
fn absorbed_by_later(ops: &[Op], index: usize) -> bool {
    absorbed(ops, index + 1).contains(index) || absorbed(ops, index + 2).contains(index)
}

/// The dropout fused into op `index`: a max-pool directly followed by a dropout layer, whose
/// rate and mask buffer this returns. The pool's forward draws the dropout's mask and writes
/// the dropout's output (the pool's own output buffer is never used); the pool's backward
/// reads the dropout's output gradient and applies the mask as it gathers (the dropout's input
/// gradient has no buffer either).
fn fused_dropout(ops: &[Op], index: usize) -> Option<(f32, BufferId)> {
    match (&ops[index].kind, &ops.get(index + 1)?.kind) {
        (OpKind::MaxPool { .. }, OpKind::Dropout { rate, mask }) => Some((*rate, *mask)),
        _ => None,
    }
}

/// The fusion decisions for one op.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fusion {
    /// The activation this dense or conv op's kernel applies (`fused_activation`).
    pub activation: Option<Activation>,
    /// The dropout this max-pool's kernel applies: rate and mask (`fused_dropout`).
    pub dropout: Option<(f32, BufferId)>,
    /// The element-wise layers before this op whose backward its backward kernel applies
    /// (`absorbed`).
    pub absorbs: Absorbed,
    /// Whether a later kernel applies this op's backward (`absorbed_by_later`), or this op is
    /// a dropout fused into the max-pool before it (`in_pool`): either way it has no backward
    /// dispatch of its own.
    pub backward_elsewhere: bool,
    /// Whether a later kernel applies this op's backward (`absorbed_by_later`).
    pub absorbed_by_later: bool,
}

/// The fusion decisions for every op of `ops`, in order.
pub fn lower(ops: &[Op]) -> Vec<Fusion> {
    (0..ops.len())
        .map(|i| Fusion {
            activation: fused_activation(ops, i),
            dropout: fused_dropout(ops, i),
            absorbs: absorbed(ops, i),
            backward_elsewhere: absorbed_by_later(ops, i) || in_pool(ops, i),
            absorbed_by_later: absorbed_by_later(ops, i),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::plan::ExecutionPlan;
    use crate::model::{Shape, parse_network};

    /// The ops of a network written one short name per layer (`conv`, `pool`, `dense`,
    /// `dropout`, `relu`, `tanh`, `batchnorm`, `flatten`), lowered as the executor lowers it.
    /// A dense layer, a softmax (and for image chains without one, a flatten before them) are
    /// appended, as every network must end; chains starting with `dense` take flat inputs.
    fn chain(names: &[&str]) -> Vec<Op> {
        let mut lines: Vec<&str> = names
            .iter()
            .map(|name| match *name {
                "conv" => "conv 2 kernel=3 padding=same",
                "pool" => "maxpool 2",
                "dropout" => "dropout 0.2",
                "dense" => "dense 6",
                other => other,
            })
            .collect();
        let flat = names[0] == "dense";
        if !flat && !names.contains(&"flatten") {
            lines.push("flatten");
        }
        lines.extend(["dense classes", "softmax"]);
        let input = if flat {
            Shape::Flat(5)
        } else {
            Shape::Image { c: 1, h: 8, w: 8 }
        };
        let text = lines.join("\n");
        let plan = parse_network(&text, "chain", "chain")
            .and_then(|net| net.plan(input, 3))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        ExecutionPlan::new(&plan, 2).unwrap().ops
    }

    /// The [`Absorbed`] of a dropout at `dropout` (with its mask) and an activation.
    fn takes(
        ops: &[Op],
        dropout: Option<usize>,
        activation: Option<(usize, Activation)>,
    ) -> Absorbed {
        let mask = |d: usize| match ops[d].kind {
            OpKind::Dropout { mask, .. } => mask,
            _ => panic!("layer {d} is not a dropout"),
        };
        Absorbed {
            dropout: dropout.map(|d| (d, mask(d))),
            activation,
        }
    }

    #[test]
    fn each_backward_is_taken_by_exactly_one_kernel() {
        use Activation::{Relu, Tanh};
        // seed12's blocks: the second conv takes the dropout and the ReLU before it; the pool
        // takes its ReLU; the dropout after the pool is fused into the pool (forward and
        // backward), not taken by anyone; flatten keeps the last dropout from the dense layer.
        let ops = chain(&[
            "conv", "relu", "dropout", "conv", "relu", "pool", "dropout", "flatten", "dense",
        ]);
        assert_eq!(absorbed(&ops, 3), takes(&ops, Some(2), Some((1, Relu))));
        assert_eq!(absorbed(&ops, 5), takes(&ops, None, Some((4, Relu))));
        assert!(fused_dropout(&ops, 5).is_some());
        assert_eq!(absorbed(&ops, 8), takes(&ops, None, None));
        let later: Vec<usize> = (0..ops.len())
            .filter(|&i| absorbed_by_later(&ops, i))
            .collect();
        assert_eq!(later, [1, 2, 4]);

        // Two dropouts: the dense layer takes the second; the first takes the ReLU.
        let ops = chain(&["dense", "relu", "dropout", "dropout", "dense"]);
        assert_eq!(absorbed(&ops, 4), takes(&ops, Some(3), None));
        assert_eq!(absorbed(&ops, 3), takes(&ops, None, None));
        assert_eq!(absorbed(&ops, 2), takes(&ops, None, Some((1, Relu))));

        // A dropout before a pool takes the tanh; the pool takes nothing.
        let ops = chain(&["conv", "tanh", "dropout", "pool"]);
        assert_eq!(absorbed(&ops, 3), takes(&ops, None, None));
        assert_eq!(absorbed(&ops, 2), takes(&ops, None, Some((1, Tanh))));

        // Batchnorm then a dropout: the dense layer takes the dropout alone.
        let ops = chain(&["dense", "batchnorm", "dropout", "dense"]);
        assert_eq!(absorbed(&ops, 3), takes(&ops, Some(2), None));

        // Nothing at the input is taken: no gradient is wanted there.
        let ops = chain(&["relu", "dropout", "conv"]);
        assert_eq!(absorbed(&ops, 2), takes(&ops, Some(1), None));
        let ops = chain(&["dropout", "flatten", "dense"]);
        assert_eq!(absorbed(&ops, 2), takes(&ops, None, None));
        assert!(!absorbed_by_later(&ops, 0));
    }
}
