//! Checkpoints: PyTorch names and layouts, an exact resume on the CPU executor, and clear
//! errors for truncated, corrupt and mismatched files.

mod common;
#[path = "common/gpu.rs"]
mod gpu_common;

use common::assert_bits_eq;
use shadernet::cpu::CpuExecutor;
use shadernet::data::Dataset;
use shadernet::executor::Executor;
use shadernet::model::{Plan, Shape, preset};
use shadernet::run::Checkpoint;
use shadernet::train::{
    Best, EpochLog, EpochSnapshot, Observer, RunState, Splits, TrainReport, train_from,
};
use std::path::Path;

fn mnist(train: u32, validation: usize) -> (Dataset, Dataset, Dataset) {
    common::mnist_splits(train, validation, 3, 300)
}

/// A preset planned for MNIST with `epochs` epochs; `NAME+ema` adds weight averaging (0.99),
/// `NAME+wd` weight decay (0.1).
fn plan(model: &str, epochs: usize) -> Plan {
    let (name, ema) = match model.strip_suffix("+ema") {
        Some(name) => (name, Some(0.99)),
        None => (model, None),
    };
    let (name, weight_decay) = match name.strip_suffix("+wd") {
        Some(name) => (name, 0.1),
        None => (name, 0.0),
    };
    let mut network = preset(name).unwrap();
    network.training.epochs = epochs;
    network.training.ema = ema;
    network.training.weight_decay = weight_decay;
    network
        .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
        .unwrap()
}

/// Keeps the checkpoint of one epoch, as `train` would write it, in bytes.
struct Keep {
    plan: Plan,
    seed: u64,
    at_epoch: usize,
    bytes: Option<Vec<u8>>,
}

impl Observer for Keep {
    fn epoch_end(
        &mut self,
        executor: &mut dyn Executor,
        state: &RunState,
        _snapshot: &EpochSnapshot,
        _improved: bool,
    ) -> shadernet::Result<()> {
        if state.epochs.len() == self.at_epoch {
            let checkpoint = Checkpoint {
                network: self.plan.network.clone(),
                input: self.plan.input,
                classes: self.plan.classes,
                params: executor.parameters()?,
                optimizer: executor.optimizer_state()?,
                seed: self.seed,
                validation: 0,
                data: "data/mnist".into(),
                backend: executor.describe(),
                epochs: state.epochs.clone(),
                best: state.best.as_ref().map(|b| (b.epoch, b.error)),
                stopped_early: state.stopped_early,
            };
            self.bytes = Some(checkpoint.to_bytes()?);
        }
        Ok(())
    }
}

fn same_numbers(a: &[EpochLog], b: &[EpochLog]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (x.epoch, x.train, x.validation, x.lr),
            (y.epoch, y.train, y.validation, y.lr)
        );
    }
}

/// Builds an executor for a plan and a seed.
type Make = dyn Fn(&Plan, u64) -> Box<dyn Executor>;

fn cpu(plan: &Plan, seed: u64) -> Box<dyn Executor> {
    Box::new(CpuExecutor::new(plan, seed, 2).unwrap())
}

/// Trains `model` on `images` MNIST images for `epochs` straight, and again stopping after
/// `stop_after` epochs, saving, loading and resuming in a new executor; returns both runs'
/// reports and final parameters.
fn straight_and_resumed(
    make: &Make,
    model: &str,
    images: u32,
    epochs: usize,
    stop_after: usize,
) -> ((TrainReport, Vec<f32>), (TrainReport, Vec<f32>)) {
    straight_and_resumed_from(make, model, images, epochs, stop_after, &|bytes| bytes)
}

/// [`straight_and_resumed`], with the saved checkpoint's bytes passed through `convert` before
/// they are loaded.
fn straight_and_resumed_from(
    make: &Make,
    model: &str,
    images: u32,
    epochs: usize,
    stop_after: usize,
    convert: &dyn Fn(Vec<u8>) -> Vec<u8>,
) -> ((TrainReport, Vec<f32>), (TrainReport, Vec<f32>)) {
    let (train_set, validation, test) = mnist(images, images as usize / 4);
    let data = Splits {
        train: &train_set,
        validation: &validation,
        test: &test,
    };
    let seed = 11;
    let plan = plan(model, epochs);
    let settings = &plan.network.training;
    let mut straight = make(&plan, seed);
    let mut keep = Keep {
        plan: plan.clone(),
        seed,
        at_epoch: stop_after,
        bytes: None,
    };
    let a = train_from(
        straight.as_mut(),
        settings,
        seed,
        &data,
        RunState::default(),
        &mut keep,
    )
    .unwrap();
    let a_params = straight.parameters().unwrap();

    // A fresh process: a new executor built with the checkpoint's seed (which also seeds the
    // dropout masks), its parameters and optimiser state restored from the checkpoint's bytes.
    let bytes = convert(keep.bytes.unwrap());
    let checkpoint = Checkpoint::from_bytes(&bytes, Path::new("mem")).unwrap();
    assert_eq!(checkpoint.epoch(), stop_after);
    let mut resumed = make(&checkpoint.plan().unwrap(), checkpoint.seed);
    // Scramble the parameters first, to be sure the checkpoint overwrites all of them.
    resumed
        .set_parameters(&vec![0.5; checkpoint.params.len()])
        .unwrap();
    resumed.set_parameters(&checkpoint.params).unwrap();
    resumed.set_optimizer_state(&checkpoint.optimizer).unwrap();
    let state = RunState {
        epochs: checkpoint.epochs.clone(),
        best: checkpoint.best.map(|(epoch, error)| Best {
            epoch,
            error,
            // Only used if early stopping restores; these tests compare without it.
            params: checkpoint.params.clone(),
        }),
        stopped_early: checkpoint.stopped_early,
    };
    let b = train_from(
        resumed.as_mut(),
        settings,
        checkpoint.seed,
        &data,
        state,
        &mut Keep {
            plan: plan.clone(),
            seed,
            at_epoch: 0,
            bytes: None,
        },
    )
    .unwrap();
    let b_params = resumed.parameters().unwrap();
    ((a, a_params), (b, b_params))
}

#[test]
fn a_resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    // seed5: Adam (moments and step count matter) and dropout (the update counter matters).
    let ((a, a_params), (b, b_params)) = straight_and_resumed(&cpu, "seed5", 900, 2, 1);
    same_numbers(&a.epochs, &b.epochs);
    assert_eq!(a.test, b.test);
    assert_bits_eq("parameters", &a_params, &b_params);
}

#[test]
fn a_resumed_run_with_weight_averaging_is_bit_identical_too() {
    // The checkpoint's parameters are the averaged weights; the trained ones travel as
    // `optimizer.raw.*` and training continues from them.
    let ((a, a_params), (b, b_params)) = straight_and_resumed(&cpu, "seed5+ema", 900, 2, 1);
    same_numbers(&a.epochs, &b.epochs);
    assert_eq!(a.test, b.test);
    assert_bits_eq("averaged parameters", &a_params, &b_params);
}

#[test]
fn a_resumed_run_with_weight_decay_is_bit_identical_too() {
    let ((a, a_params), (b, b_params)) = straight_and_resumed(&cpu, "seed5+wd", 900, 2, 1);
    same_numbers(&a.epochs, &b.epochs);
    assert_eq!(a.test, b.test);
    assert_bits_eq("parameters", &a_params, &b_params);
    // And the decay acted: the same run without it ends elsewhere.
    let ((plain, _), _) = straight_and_resumed(&cpu, "seed5", 900, 2, 1);
    assert_ne!(plain.test, a.test);
}

#[test]
fn a_resumed_conv_run_is_bit_identical_too() {
    // seed9: convolutions, pools and two dropout layers; three epochs, stopped after one.
    let ((a, a_params), (b, b_params)) = straight_and_resumed(&cpu, "seed9", 900, 3, 1);
    same_numbers(&a.epochs, &b.epochs);
    assert_eq!(a.test, b.test);
    assert_bits_eq("parameters", &a_params, &b_params);
}

/// The bytes of a checkpoint with some metadata values replaced.
fn with_metadata(bytes: &[u8], edits: &[(&str, String)]) -> Vec<u8> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    for (key, value) in edits {
        meta.insert(key.to_string(), value.clone());
    }
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    safetensors::serialize(file.tensors(), Some(meta)).unwrap()
}

/// A metadata value of a checkpoint's bytes.
fn metadata(bytes: &[u8], key: &str) -> String {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    header.metadata().as_ref().unwrap()[key].clone()
}

/// The checkpoint as a `shadernet-checkpoint-1` file has it: the history one line of numbers
/// per epoch (`epoch lr train_loss_sum train_correct train_count val_loss_sum val_correct
/// val_count train_seconds seconds`, each as Rust's `Display` writes it).
fn in_format_1(bytes: Vec<u8>) -> Vec<u8> {
    let checkpoint = Checkpoint::from_bytes(&bytes, Path::new("mem")).unwrap();
    let lines: Vec<String> = checkpoint
        .epochs
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {} {} {} {} {}",
                e.epoch,
                e.lr,
                e.train.loss_sum,
                e.train.correct,
                e.train.count,
                e.validation.loss_sum,
                e.validation.correct,
                e.validation.count,
                e.train_seconds,
                e.seconds
            )
        })
        .collect();
    let old = with_metadata(
        &bytes,
        &[
            ("format", "shadernet-checkpoint-1".into()),
            ("history", lines.join("\n")),
        ],
    );
    assert!(metadata(&old, "history").starts_with("1 "));
    old
}

#[test]
fn a_run_resumed_from_a_format_1_checkpoint_is_bit_identical_too() {
    // Checkpoints written before the history became JSON still load and resume exactly.
    let ((a, a_params), (b, b_params)) =
        straight_and_resumed_from(&cpu, "seed5", 900, 3, 2, &in_format_1);
    same_numbers(&a.epochs, &b.epochs);
    assert_eq!(a.test, b.test);
    assert_bits_eq("parameters", &a_params, &b_params);
}

#[test]
fn the_history_is_json_and_reads_back_bit_for_bit() {
    let (_, mut checkpoint) = seed9_checkpoint();
    let log = |epoch, lr, loss_sum, seconds| EpochLog {
        epoch,
        train: shadernet::executor::Metrics {
            loss_sum,
            correct: 3,
            count: 4,
        },
        validation: shadernet::executor::Metrics {
            loss_sum: -loss_sum,
            correct: 1,
            count: 2,
        },
        lr,
        train_seconds: seconds / 3.0,
        seconds,
    };
    // 7.038531e-26 is an f32 that reading its shortest text as an f64 first would get wrong;
    // a diverged run's loss is NaN or infinite.
    checkpoint.epochs = vec![
        log(1, 0.01, 0.1 + 0.2, 1.0),
        log(2, 7.038531e-26, f64::NAN, 1e-300),
        log(3, f32::MIN_POSITIVE / 3.0, f64::INFINITY, 5e-324),
        log(4, 1.0e-3, 123_456.789_012_345_67, 2.5),
    ];
    let bytes = checkpoint.to_bytes().unwrap();
    assert_eq!(metadata(&bytes, "format"), "shadernet-checkpoint-2");
    let history = metadata(&bytes, "history");
    let json: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(json[0]["epoch"], 1);
    assert_eq!(json[0]["lr"].to_string(), "0.01");
    assert_eq!(json[0]["train"]["correct"], 3);
    assert_eq!(json[1]["train"]["loss_sum"], "NaN");
    assert_eq!(json[2]["validation"]["loss_sum"], "-inf");
    let back = Checkpoint::from_bytes(&bytes, Path::new("x")).unwrap();
    assert_eq!(back.epochs.len(), 4);
    for (a, b) in checkpoint.epochs.iter().zip(&back.epochs) {
        // Bit for bit, but any NaN is one NaN (the text "NaN" keeps neither sign nor payload).
        let bits = |x: f64| {
            if x.is_nan() {
                f64::NAN.to_bits()
            } else {
                x.to_bits()
            }
        };
        let bits = |e: &EpochLog| {
            (
                e.epoch,
                e.lr.to_bits(),
                bits(e.train.loss_sum),
                bits(e.validation.loss_sum),
                (e.train.correct, e.train.count),
                (e.validation.correct, e.validation.count),
                e.train_seconds.to_bits(),
                e.seconds.to_bits(),
            )
        };
        assert_eq!(bits(a), bits(b), "epoch {}", a.epoch);
    }
}

#[test]
fn a_malformed_history_names_the_file_and_the_field() {
    let (_, mut checkpoint) = seed9_checkpoint();
    checkpoint.epochs = vec![EpochLog {
        epoch: 1,
        train: Default::default(),
        validation: Default::default(),
        lr: 0.01,
        train_seconds: 1.0,
        seconds: 1.0,
    }];
    let bytes = checkpoint.to_bytes().unwrap();
    let good = metadata(&bytes, "history");
    let cases = [
        (
            "shadernet-checkpoint-2",
            "1 0.01 0 0 0 0 0 0 1 1".to_string(),
            "not a JSON list",
        ),
        (
            "shadernet-checkpoint-2",
            good.replace("\"epoch\":1", "\"epoch\":2"),
            "entry 1 is epoch 2, expected epoch 1",
        ),
        (
            "shadernet-checkpoint-2",
            good.replace("\"lr\":0.01", "\"lr\":\"fast\""),
            "`\"fast\"` is not a number",
        ),
        (
            "shadernet-checkpoint-2",
            good.replace(",\"seconds\":1.0", ""),
            "missing field `seconds`",
        ),
        ("shadernet-checkpoint-1", good.clone(), "line 1 is `[{"),
        (
            "shadernet-checkpoint-1",
            "1 0.01 0 0 0 0 0 0 1".into(),
            "expected 10 numbers",
        ),
    ];
    for (format, history, expected) in cases {
        let e = load_error(&with_metadata(
            &bytes,
            &[("format", format.into()), ("history", history.clone())],
        ));
        assert!(
            e.starts_with("runs/x/last.safetensors: metadata `history`") && e.contains(expected),
            "{format} {history}: {e}"
        );
    }
    let e = load_error(&with_metadata(
        &bytes,
        &[("format", "shadernet-checkpoint-9".into())],
    ));
    assert!(
        e.contains("checkpoint format `shadernet-checkpoint-9`, expected `shadernet-checkpoint-2`"),
        "{e}"
    );
}

#[test]
fn a_resumed_gpu_run_is_bit_identical_too() {
    // The GPU executor reads Adam's moments back from the device and writes them again.
    if gpu_common::gpu_or_skip().is_none() {
        return;
    }
    let gpu = std::sync::Arc::new(shadernet::gpu::Gpu::new(None).unwrap());
    let make = move |plan: &Plan, seed: u64| -> Box<dyn Executor> {
        Box::new(shadernet::gpu::GpuExecutor::new(gpu.clone(), plan, seed, 16).unwrap())
    };
    for model in ["seed5", "seed5+ema"] {
        let ((a, a_params), (b, b_params)) = straight_and_resumed(&make, model, 400, 2, 1);
        same_numbers(&a.epochs, &b.epochs);
        assert_bits_eq(&format!("{model} parameters"), &a_params, &b_params);
    }
}

fn seed9_checkpoint() -> (Plan, Checkpoint) {
    let plan = plan("seed9", 1);
    let mut executor = CpuExecutor::new(&plan, 5, 1).unwrap();
    let (x_train, _, _) = mnist(64, 16);
    executor.train_step(&x_train, &[0, 1, 2, 3], 0.001).unwrap();
    let checkpoint = Checkpoint {
        network: plan.network.clone(),
        input: plan.input,
        classes: plan.classes,
        params: executor.parameters().unwrap(),
        optimizer: executor.optimizer_state().unwrap(),
        seed: 5,
        validation: 16,
        data: "data/mnist".into(),
        backend: executor.describe(),
        epochs: Vec::new(),
        best: None,
        stopped_early: false,
    };
    (plan, checkpoint)
}

#[test]
fn tensors_have_pytorch_names_and_shapes_and_round_trip() {
    let (_, checkpoint) = seed9_checkpoint();
    let bytes = checkpoint.to_bytes().unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(
        names,
        vec![
            "0.bias",
            "0.weight",
            "4.bias",
            "4.weight",
            "9.bias",
            "9.weight",
            "optimizer.m.0.bias",
            "optimizer.m.0.weight",
            "optimizer.m.4.bias",
            "optimizer.m.4.weight",
            "optimizer.m.9.bias",
            "optimizer.m.9.weight",
            "optimizer.v.0.bias",
            "optimizer.v.0.weight",
            "optimizer.v.4.bias",
            "optimizer.v.4.weight",
            "optimizer.v.9.bias",
            "optimizer.v.9.weight",
        ]
    );
    assert_eq!(file.tensor("4.weight").unwrap().shape(), &[16, 8, 5, 5]);
    assert_eq!(file.tensor("9.weight").unwrap().shape(), &[10, 784]);
    // The dense weight's first row is the first 784 values after the conv parameters.
    let dense = file.tensor("9.weight").unwrap();
    let first = f32::from_le_bytes(dense.data()[..4].try_into().unwrap());
    assert_eq!(first, checkpoint.params[8 * 25 + 8 + 16 * 8 * 25 + 16]);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().as_ref().unwrap();
    for key in [
        "shadernet_version",
        "network",
        "input_shape",
        "classes",
        "epoch",
        "updates",
        "seed",
        "best_validation_error",
        "backend",
    ] {
        assert!(meta.contains_key(key), "metadata lacks {key}");
    }
    assert_eq!(meta["input_shape"], "1,28,28");
    assert_eq!(meta["updates"], "1");
    let back = Checkpoint::from_bytes(&bytes, Path::new("x")).unwrap();
    assert_eq!(back, checkpoint);
}

fn load_error(bytes: &[u8]) -> String {
    Checkpoint::from_bytes(bytes, Path::new("runs/x/last.safetensors"))
        .unwrap_err()
        .to_string()
}

#[test]
fn truncated_and_corrupt_checkpoints_are_clear_errors() {
    let (_, checkpoint) = seed9_checkpoint();
    let bytes = checkpoint.to_bytes().unwrap();
    for cut in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = load_error(&bytes[..cut]);
        assert!(
            e.starts_with("runs/x/last.safetensors: not a readable safetensors checkpoint"),
            "cut at {cut}: {e}"
        );
    }
    let mut garbage = bytes.clone();
    garbage[8..40].fill(b'#');
    assert!(load_error(&garbage).contains("not a readable safetensors checkpoint"));
    // A valid safetensors file that is not ours.
    let foreign = safetensors::serialize(
        [(
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0, 0, 0, 0])
                .unwrap(),
        )],
        None,
    )
    .unwrap();
    assert!(load_error(&foreign).contains("metadata has no `format`"));
}

#[test]
fn a_checkpoint_for_another_network_names_the_first_mismatching_tensor() {
    let (_, checkpoint) = seed9_checkpoint();
    let path = Path::new("best.safetensors");
    let other = plan("seed3", 1);
    let e = checkpoint
        .check_network(&other, path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("different network"), "{e}");
    assert!(
        e.contains("`0.weight` (8, 1, 5, 5)") && e.contains("`1.weight` (128, 784)"),
        "{e}"
    );
    // Same tensors, a different layer in between.
    let mut relu_for_tanh = plan("seed9", 1);
    relu_for_tanh.network.layers[1] =
        shadernet::model::Layer::Activation(shadernet::model::Activation::Tanh);
    let relu_for_tanh = relu_for_tanh
        .network
        .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
        .unwrap();
    let e = checkpoint
        .check_network(&relu_for_tanh, path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layer 1 is `relu` in the checkpoint, `tanh`"),
        "{e}"
    );
    checkpoint.check_network(&plan("seed9", 7), path).unwrap();
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named() {
    let (_, checkpoint) = seed9_checkpoint();
    let bytes = checkpoint.to_bytes().unwrap();
    // Rewrite the metadata's network to seed3's: the tensors no longer fit it.
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.insert(
        "network".into(),
        shadernet::model::network_to_text(&preset("seed3").unwrap()),
    );
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = file
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("optimizer"))
        .collect();
    let edited = safetensors::serialize(tensors, Some(meta)).unwrap();
    let e = load_error(&edited);
    assert!(
        e.contains("tensor `1.weight`") || e.contains("has no tensor `1.weight`"),
        "{e}"
    );
}

#[test]
fn batchnorm_running_statistics_travel_with_the_checkpoint() {
    let text =
        "conv 4 kernel=3\nrelu\nmaxpool 2\nflatten\ndense 8\nbatchnorm\ndense classes\nsoftmax\n";
    let network = shadernet::model::parse_network(text, "bn.txt", "bn").unwrap();
    let plan = network
        .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
        .unwrap();
    let mut executor = CpuExecutor::new(&plan, 3, 2).unwrap();
    let (train_set, _, _) = mnist(64, 16);
    for step in 0..3u32 {
        let batch: Vec<u32> = (step * 8..step * 8 + 8).collect();
        executor.train_step(&train_set, &batch, 0.01).unwrap();
    }
    let params = executor.parameters().unwrap();
    assert_eq!(params.len(), plan.params() + plan.running_stats());
    let checkpoint = Checkpoint {
        network: plan.network.clone(),
        input: plan.input,
        classes: plan.classes,
        params: params.clone(),
        optimizer: executor.optimizer_state().unwrap(),
        seed: 3,
        validation: 16,
        data: "data/mnist".into(),
        backend: executor.describe(),
        epochs: Vec::new(),
        best: None,
        stopped_early: false,
    };
    let bytes = checkpoint.to_bytes().unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mean = file.tensor("5.running_mean").unwrap();
    assert_eq!(mean.shape(), &[8]);
    let tracked = file.tensor("5.num_batches_tracked").unwrap();
    assert_eq!(tracked.dtype(), safetensors::Dtype::I64);
    assert_eq!(tracked.data(), &3i64.to_le_bytes());
    let back = Checkpoint::from_bytes(&bytes, Path::new("bn.safetensors")).unwrap();
    assert_eq!(
        back.params, params,
        "running statistics included, bit for bit"
    );
    // The running statistics moved away from their initial 0 and 1.
    let running = &params[plan.params()..];
    assert!(running[..8].iter().any(|&m| m != 0.0) && running[8..].iter().any(|&v| v != 1.0));
}
