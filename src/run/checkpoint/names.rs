//! The names of a checkpoint's tensors beyond the parameters' own (which
//! [`ParamLayout`](crate::model::ParamLayout) gives, as PyTorch names them): Adam's moments,
//! the trained weights under weight averaging, and batchnorm's step counters.

/// The prefix of Adam's first-moment tensors.
pub(super) const ADAM_M: &str = "optimizer.m.";
/// The prefix of Adam's second-moment tensors.
pub(super) const ADAM_V: &str = "optimizer.v.";
/// The prefix of the trained weights' tensors, with weight averaging.
pub(super) const RAW: &str = "optimizer.raw.";

/// The name of PyTorch's batchnorm step counter for layer `layer` (an `int64` scalar, stored so
/// `load_state_dict(strict=True)` accepts the file; shadernet writes its update counter there).
pub(super) fn batches_tracked(layer: usize) -> String {
    format!("{layer}.num_batches_tracked")
}

#[cfg(test)]
mod tests {
    use crate::model::{ParamLayout, Shape, preset};

    #[test]
    fn seed9_tensors_are_named_and_shaped_as_in_pytorch() {
        let plan = preset("seed9")
            .unwrap()
            .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
            .unwrap();
        let layout = ParamLayout::of(&plan).tensors;
        let names: Vec<(&str, &[usize])> = layout
            .iter()
            .map(|s| (s.name.as_str(), s.shape.as_slice()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("0.weight", &[8, 1, 5, 5][..]),
                ("0.bias", &[8][..]),
                ("4.weight", &[16, 8, 5, 5][..]),
                ("4.bias", &[16][..]),
                ("9.weight", &[10, 784][..]),
                ("9.bias", &[10][..]),
            ]
        );
        assert_eq!(layout.last().unwrap().range.end, plan.params());
    }
}
