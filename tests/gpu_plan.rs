//! The GPU execution plan without a device: which buffers a network gets and how big, and which
//! kernels one step dispatches. These run on any machine, GPU or not.

mod common;

use common::plan;
use shadernet::gpu::Kernel;
use shadernet::gpu::kernel::BufferId;
use shadernet::gpu::plan::{Contents, ExecutionPlan, OpKind, StepKeys, StepMode};
use shadernet::model::Shape;

const SEED9_LIKE: &str = "conv 3 kernel=5 padding=same\nrelu\nmaxpool 2\ndropout 0.2\n\
                          conv 4 kernel=3 padding=valid\nrelu\nmaxpool 2 stride=1\ndropout 0.2\n\
                          flatten\ndense classes\nsoftmax\noptimizer adam\nlr 0.001\n";

#[test]
fn one_step_is_one_plain_dispatch_list() {
    let plan = plan(SEED9_LIKE, Shape::Image { c: 1, h: 12, w: 11 }, 10);
    let exec = ExecutionPlan::new(&plan, 4).unwrap();
    let train = StepMode::Train { lr: 0.01 };
    let list = exec.step_dispatches(4, train, None, StepKeys::default());
    let kernels: Vec<Kernel> = list.iter().map(|d| d.kernel).collect();
    let count = |k: Kernel| kernels.iter().filter(|&&x| x == k).count();
    assert_eq!(count(Kernel::ConvForward), 2);
    assert_eq!(count(Kernel::ConvBackwardWeights), 2);
    // The first convolution reads the input: its data gradient is never computed.
    assert_eq!(count(Kernel::ConvBackwardData), 1);
    assert_eq!(count(Kernel::SoftmaxCrossEntropy), 1);
    // Both ReLUs are fused into the convolutions before them, and their backward passes into
    // the max-pools after them: no activation dispatch at all.
    assert_eq!(count(Kernel::ActivationForward), 0);
    assert_eq!(count(Kernel::ActivationBackward), 0);
    assert_eq!(count(Kernel::MaxPoolBackward), 2);
    // Both dropouts follow a max-pool and are fused into it, forward and backward.
    assert_eq!(count(Kernel::DropoutForward), 0);
    assert_eq!(count(Kernel::DropoutBackward), 0);
    assert_eq!(count(Kernel::MaxPoolDropoutForward), 2);
    assert_eq!(count(Kernel::MaxPoolForward), 0);
    // The dense layer: one product forward (bias in its store), one for dW and db, one for dx.
    assert_eq!(count(Kernel::DenseForward), 1);
    assert_eq!(count(Kernel::DenseBackwardWeights), 1);
    assert_eq!(count(Kernel::DenseBackwardData), 1);
    assert_eq!(kernels.last(), Some(&Kernel::Adam));
    let buffers = exec.buffers().len();
    assert!(list.iter().all(|d| {
        d.params.len() % 16 == 0
            && d.buffers.len() == d.kernel.storage().len()
            && d.buffers.iter().all(|b| b.0 < buffers)
    }));
    let eval = exec.step_dispatches(4, StepMode::Eval, None, StepKeys::default());
    assert!(
        eval.iter()
            .all(|d| d.kernel != Kernel::Adam && d.kernel != Kernel::ConvBackwardWeights)
    );
    // The keys reach the dispatches: another step number changes the dropout kernels' params.
    let later = exec.step_dispatches(
        4,
        train,
        None,
        StepKeys {
            step: 5,
            ..StepKeys::default()
        },
    );
    let pools = |l: &[shadernet::gpu::Dispatch]| -> Vec<Vec<u8>> {
        l.iter()
            .filter(|d| d.kernel == Kernel::MaxPoolDropoutForward)
            .map(|d| d.params.clone())
            .collect()
    };
    assert_ne!(pools(&list), pools(&later));
}

#[test]
fn buffers_are_sized_for_the_capacity_and_fused_away_ones_are_placeholders() {
    let input = Shape::Image { c: 1, h: 12, w: 11 };
    let plan = plan(SEED9_LIKE, input, 10);
    let capacity = 7;
    let exec = ExecutionPlan::new(&plan, capacity).unwrap();
    let bytes = |id: BufferId| exec.buffers()[id.0].bytes;
    let n_params = plan.params();
    assert_eq!(exec.n_params, n_params);
    assert_eq!(bytes(exec.params), 4 * n_params);
    assert_eq!(exec.buffers()[exec.params.0].contents, Contents::Parameters);
    assert_eq!(bytes(exec.grads), 4 * n_params);
    let (m, v) = exec.moments.expect("Adam has moments");
    assert_eq!((bytes(m), bytes(v)), (4 * n_params, 4 * n_params));
    assert_eq!(exec.n_running, 0);
    assert_eq!(bytes(exec.running), 4);
    assert_eq!(bytes(exec.acts[0]), 4 * capacity * input.size());
    assert_eq!(bytes(exec.act_grads[0]), 4, "no gradient at the input");
    // Layer by layer: conv (its output is replaced by the fused ReLU's), relu, pool (replaced
    // by the fused dropout's), dropout, the same again, then flatten (a view), dense, softmax.
    for (i, (op, planned)) in exec.ops.iter().zip(&plan.layers).enumerate() {
        let full = 4 * capacity * planned.output.size();
        let fused_away = matches!(i, 0 | 2 | 4 | 6);
        let out = bytes(exec.acts[op.output]);
        assert_eq!(out, if fused_away { 4 } else { full }, "layer {i}'s output");
        match op.kind {
            OpKind::MaxPool { argmax, .. } => assert_eq!(bytes(argmax), full),
            OpKind::Dropout { mask, .. } => assert_eq!(bytes(mask), full),
            _ => {}
        }
    }
    // The ReLUs' and the pools' gradients are never written: the kernel after them does their
    // backward (the ReLUs), or the dropout fused into them (the pools).
    let grads: Vec<usize> = exec
        .ops
        .iter()
        .map(|op| bytes(exec.act_grads[op.output]))
        .collect();
    assert_eq!(grads[1], 4);
    assert_eq!(grads[2], 4);
    assert_eq!(
        grads[9],
        4 * capacity * 10,
        "the dense layer's output gradient"
    );
    assert_eq!(bytes(exec.labels), 4 * capacity);
    assert!(
        exec.augment_src.is_none(),
        "no augmentation in this network"
    );
    assert_eq!(
        exec.bytes(),
        exec.buffers().iter().map(|b| b.bytes as u64).sum::<u64>()
    );

    // Augmentation adds the buffer a training step gathers into before the warp.
    let augmented = common::plan(&format!("{SEED9_LIKE}augment 0.5\n"), input, 10);
    let exec = ExecutionPlan::new(&augmented, capacity).unwrap();
    let src = exec.augment_src.expect("a warp source buffer");
    assert_eq!(exec.buffers()[src.0].bytes, 4 * capacity * input.size());
}
