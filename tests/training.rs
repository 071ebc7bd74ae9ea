//! The training loop end to end on the CPU executor: it learns real digits, it is
//! deterministic, and early stopping restores the best weights.

mod common;

use shadernet::cpu::CpuExecutor;
use shadernet::data::{Dataset, load_dir};
use shadernet::executor::Executor;
use shadernet::model::{Shape, preset};
use shadernet::train::{EpochLog, train};

fn mnist() -> (Dataset, Dataset, Dataset) {
    common::mnist_splits(6000, 1000, 5, 2000)
}

fn run(model: &str, epochs: usize, seed: u64) -> (Vec<EpochLog>, f64) {
    let (train_set, validation, test) = mnist();
    let mut network = preset(model).unwrap();
    network.training.epochs = epochs;
    network.training.early_stopping = None;
    let plan = network
        .plan(Shape::Image { c: 1, h: 28, w: 28 }, 10)
        .unwrap();
    let mut executor = CpuExecutor::new(&plan, seed, 2).unwrap();
    let report = train(
        &mut executor,
        &plan.network.training,
        seed,
        &train_set,
        &validation,
        &test,
        &mut |line| println!("{line}"),
    )
    .unwrap();
    (report.epochs, report.test.error_rate())
}

#[test]
fn the_fast_network_learns_digits_from_5000_images() {
    let (epochs, test_error) = run("fast", 2, 1);
    assert!(epochs[1].train.mean_loss() < epochs[0].train.mean_loss());
    // 5,000 images, 2 epochs: a working conv net reaches 5-9%; a broken one stays near 90%.
    assert!(test_error < 0.12, "test error {test_error}");
}

#[test]
fn the_same_seed_gives_identical_numbers() {
    let (a, err_a) = run("seed5", 1, 7);
    let (b, err_b) = run("seed5", 1, 7);
    assert_eq!(a[0].train, b[0].train);
    assert_eq!(a[0].validation, b[0].validation);
    assert_eq!(err_a, err_b);
    let (c, _) = run("seed5", 1, 8);
    assert_ne!(a[0].train, c[0].train);
}

/// An executor whose validation error follows a script, to test the loop's bookkeeping.
struct Scripted {
    validation_errors: Vec<usize>,
    evaluations: usize,
    params: Vec<f32>,
    steps: usize,
}

impl shadernet::executor::Executor for Scripted {
    fn describe(&self) -> String {
        "scripted".into()
    }
    fn train_step(&mut self, _: &Dataset, _: &[u32], _: f32) -> shadernet::Result<()> {
        self.steps += 1;
        self.params = vec![self.steps as f32];
        Ok(())
    }
    fn take_train_metrics(&mut self) -> shadernet::Result<shadernet::executor::Metrics> {
        // Training error follows the validation script backwards (worst epoch last).
        let epoch = self.steps.saturating_sub(1);
        let script = &self.validation_errors;
        let wrong = script
            .get(script.len().saturating_sub(1 + epoch))
            .copied()
            .unwrap_or(0);
        Ok(shadernet::executor::Metrics {
            loss_sum: 0.0,
            correct: 100 - wrong,
            count: 100,
        })
    }
    fn evaluate(&mut self, data: &Dataset) -> shadernet::Result<shadernet::executor::Metrics> {
        // Validation passes follow the script; the final test pass reports the restored weights.
        let wrong = match self.validation_errors.get(self.evaluations) {
            Some(&wrong) => wrong,
            None => self.params[0] as usize,
        };
        self.evaluations += 1;
        Ok(shadernet::executor::Metrics {
            loss_sum: 0.0,
            correct: data.len() - wrong,
            count: data.len(),
        })
    }
    fn predict(&mut self, _: &Dataset, _: &[u32]) -> shadernet::Result<Vec<f32>> {
        Ok(Vec::new())
    }
    fn parameters(&mut self) -> shadernet::Result<Vec<f32>> {
        Ok(self.params.clone())
    }
    fn set_parameters(&mut self, params: &[f32]) -> shadernet::Result<()> {
        self.params = params.to_vec();
        Ok(())
    }
}

/// Runs the scripted executor (validation errors 20, 10, 5, 5, 5, 1 of 100; training errors
/// the same script reversed) for at most `epochs` epochs of one step each, with early stopping
/// `(patience, min_delta_rel, monitor)`; returns the report and the final parameters (the
/// number of the step whose weights they are).
fn scripted_early_stopping(
    epochs: usize,
    stopping: shadernet::model::EarlyStopping,
) -> (shadernet::train::TrainReport, Vec<f32>) {
    let (_, _, test) = mnist();
    let tiny = test.subset(&[0, 1, 2, 3]);
    let validation = test.subset(&(0..100).collect::<Vec<u32>>());
    let mut executor = Scripted {
        validation_errors: vec![20, 10, 5, 5, 5, 1],
        evaluations: 0,
        params: vec![0.0],
        steps: 0,
    };
    let mut settings = preset("fast").unwrap().training;
    settings.epochs = epochs;
    settings.batch_size = 4;
    settings.early_stopping = Some(stopping);
    let report = train(
        &mut executor,
        &settings,
        1,
        &tiny,
        &validation,
        &tiny,
        &mut |_| {},
    )
    .unwrap();
    (report, executor.params)
}

#[test]
fn early_stopping_waits_for_patience_and_restores_the_best_epoch() {
    // Best validation error at epoch 3 (5 wrong); 5 does not beat it by min_delta_rel 0.1, so
    // epochs 4-5 are no improvement and patience 2 stops after epoch 5.
    let (report, params) = scripted_early_stopping(
        10,
        shadernet::model::EarlyStopping {
            patience: 2,
            min_delta_rel: 0.1,
            monitor: shadernet::model::Monitor::Validation,
        },
    );
    assert_eq!(report.epochs.len(), 5);
    assert!(report.stopped_early);
    assert_eq!(report.chosen_epoch, 3);
    // One step per epoch: the restored parameters are those after step 3.
    assert_eq!(params, vec![3.0]);
}

#[test]
fn a_run_resumed_after_it_stopped_early_only_restores_the_best_and_tests() {
    let (_, _, test) = mnist();
    let tiny = test.subset(&[0, 1, 2, 3]);
    let mut executor = Scripted {
        validation_errors: Vec::new(),
        evaluations: 0,
        params: vec![9.0],
        steps: 0,
    };
    let mut settings = preset("fast").unwrap().training;
    settings.epochs = 10;
    settings.early_stopping = Some(shadernet::model::EarlyStopping {
        patience: 1,
        min_delta_rel: 0.0,
        monitor: shadernet::model::Monitor::Validation,
    });
    let epoch = |e: usize| EpochLog {
        epoch: e,
        train: Default::default(),
        validation: Default::default(),
        lr: 0.001,
        train_seconds: 0.0,
        seconds: 0.0,
    };
    let state = shadernet::train::RunState {
        epochs: vec![epoch(1), epoch(2), epoch(3)],
        best: Some(shadernet::train::Best {
            error: 0.02,
            epoch: 2,
            params: vec![2.0],
        }),
        stopped_early: true,
    };
    let data = shadernet::train::Splits {
        train: &tiny,
        validation: &tiny,
        test: &tiny,
    };
    struct Silent;
    impl shadernet::train::Observer for Silent {}
    let report =
        shadernet::train::train_from(&mut executor, &settings, 1, &data, state, &mut Silent)
            .unwrap();
    assert_eq!(executor.steps, 0, "no more training");
    assert_eq!(report.epochs.len(), 3);
    assert!(report.stopped_early);
    assert_eq!(report.chosen_epoch, 2);
    assert_eq!(executor.params, vec![2.0]);
    assert_eq!(
        report.test.count - report.test.correct,
        2,
        "tested with the best weights"
    );
}

#[test]
fn early_stopping_can_watch_the_training_error_as_the_report_did() {
    // Validation errors improve every epoch, but the training errors (1, 5, 5, 5, 10, 20) never
    // beat epoch 1, so patience 2 stops after epoch 3 and restores epoch 1.
    let (report, params) = scripted_early_stopping(
        6,
        shadernet::model::EarlyStopping {
            patience: 2,
            min_delta_rel: 0.0,
            monitor: shadernet::model::Monitor::Training,
        },
    );
    assert_eq!(report.epochs.len(), 3);
    assert!(report.stopped_early);
    assert_eq!(report.chosen_epoch, 1);
    assert_eq!(params, vec![1.0]);
}

#[test]
fn labels_beyond_the_networks_classes_are_an_error_not_a_panic() {
    // The synthetic data has 3 classes; a 2-class network must refuse it before any step runs.
    let dir = common::temp_dir("training-classes");
    common::write_synthetic_dataset(&dir, 32, 8);
    let data = load_dir(&dir).unwrap();
    assert_eq!(data.train.classes, 3);
    let net = "flatten\nbatchnorm\ndense classes\nsoftmax\n";
    let plan = common::plan(net, Shape::Image { c: 1, h: 8, w: 8 }, 2);
    let mut executor = CpuExecutor::new(&plan, 1, 2).unwrap();
    let before = executor.parameters().unwrap();
    let err = executor
        .train_step(&data.train, &[0, 1, 2, 3], 0.1)
        .unwrap_err();
    assert!(err.to_string().contains("at most 2 classes"), "{err}");
    assert_eq!(executor.parameters().unwrap(), before, "no step ran");
}

/// Conv (with batchnorm) and dense weights.
const DECAYED_NET: &str = "conv 3 kernel=3 padding=same\nbatchnorm\nrelu\nflatten\ndense classes\n\
                           softmax\nweight_decay 0.5\n";

/// One update of `DECAYED_NET` + `optimizer` at rate 0.1 on a seeded batch: the parameters
/// before, the gradient, the parameters after, and which parameters are decayed weights.
fn one_decayed_update(optimizer: &str) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<bool>) {
    let text = format!("{DECAYED_NET}{optimizer}\n");
    let input = Shape::Image { c: 1, h: 5, w: 4 };
    let mut net = common::cpu_net(&text, input, 3, 1);
    let (x, labels) = common::batch(input, 3, 6, 7);
    // Every parameter nonzero (biases and β start at 0), so decaying the wrong ones would show.
    for (i, w) in net.params_mut().iter_mut().enumerate() {
        *w = 0.2 + 0.05 * (i % 7) as f32 - if i % 2 == 0 { 0.6 } else { 0.0 };
    }
    let before = net.params().to_vec();
    net.compute_gradients(&x, &labels, 0);
    let grads = net.grads().to_vec();
    net.apply_update(0.1);
    let layout = shadernet::model::ParamLayout::of(&common::plan(&text, input, 3));
    let (conv, dense) = (&layout.layers[0].weight, &layout.layers[4].weight);
    assert_eq!((conv.len(), dense.len()), (3 * 9, 3 * 3 * 5 * 4));
    let decayed = (0..before.len())
        .map(|i| conv.contains(&i) || dense.contains(&i))
        .collect();
    assert!(before.iter().all(|&w| w != 0.0));
    (before, grads, net.params().to_vec(), decayed)
}

fn assert_near(i: usize, after: f32, want: f32, decayed: bool) {
    assert!(
        (after - want).abs() <= 1e-6 * (1.0 + want.abs()),
        "parameter {i} (decayed: {decayed}): {after} after the step, expected {want}"
    );
}

#[test]
fn weight_decay_with_sgd_is_an_l2_penalty_on_dense_and_conv_weights_only() {
    // One SGD step with `weight_decay λ`: w ← w − lr·(g + λ·w) for conv and dense weights,
    // w ← w − lr·g for biases and batchnorm's γ and β, with g the gradient of the loss alone.
    let (before, grads, after, decayed) = one_decayed_update("optimizer sgd");
    for i in 0..before.len() {
        let lambda = if decayed[i] { 0.5 } else { 0.0 };
        assert_near(
            i,
            after[i],
            before[i] - 0.1 * (grads[i] + lambda * before[i]),
            decayed[i],
        );
    }
}

#[test]
fn adamw_decays_the_weights_before_the_adam_step() {
    // Step 1 of AdamW: m̂ = g, v̂ = g², so w ← w·(1 − lr·λ) − lr·g/(|g| + ε) for decayed
    // weights (PyTorch's order: decay first), w ← w − lr·g/(|g| + ε) for the rest.
    let (before, grads, after, decayed) = one_decayed_update("optimizer adam");
    for i in 0..before.len() {
        let lambda = if decayed[i] { 0.5 } else { 0.0 };
        let step = 0.1 * grads[i] / (grads[i].abs() + 1e-8);
        assert_near(
            i,
            after[i],
            before[i] * (1.0 - 0.1 * lambda) - step,
            decayed[i],
        );
    }
}
