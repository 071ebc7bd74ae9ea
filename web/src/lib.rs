//! shadernet in the browser: the library's GPU executor on WebGPU behind a small JavaScript
//! interface. The page (`web/www/`) fetches the bundled MNIST files, trains a preset with the
//! same WGSL kernels, plans and dispatch lists as the native executor, and classifies the
//! digits a visitor draws.
//!
//! Nothing here blocks: steps are queued on the device, and everything read back (metrics,
//! outputs) comes through a promise that the browser's event loop resolves. Training follows
//! `shadernet train` step for step: the same validation split, shuffles and learning rates, so
//! a page run and a native run of the same seed compute the same thing (up to the order of
//! floating-point sums).

// A session's state stays borrowed while a call awaits the GPU: that is how one call at a time
// is enforced (`lock` refuses a second, never queues it). And the `Gpu` in the executor's `Arc`
// is not `Send` in a browser (WebGPU's objects belong to the page's thread), which is the one
// thread there is.
#![allow(
    clippy::await_holding_refcell_ref,
    reason = "the borrow is the session's lock"
)]
#![allow(
    clippy::arc_with_non_send_sync,
    reason = "a browser runs the module on one thread"
)]

use js_sys::Promise;
use serde::Serialize;
use shadernet::cpu::CpuExecutor;
use shadernet::data::preprocess::{GreyImage, mnist_style};
use shadernet::data::{
    DEFAULT_DATA_LIMIT, Dataset, IdxBytes, LoadOptions, load_bytes, load_test_bytes,
};
use shadernet::executor::{Executor, Metrics};
use shadernet::gpu::{Gpu, GpuExecutor};
use shadernet::model::{Network, Plan, Shape, load_network, parse_network};
use shadernet::run::checkpoint::Checkpoint;
use shadernet::train::{epoch_order, step_rate};
use std::cell::RefCell;
use std::cell::RefMut;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// Training images held out for validation, as `shadernet train` does by default.
const VALIDATION: usize = 5000;

/// A network being trained (or loaded from a checkpoint) on the page's GPU, with its data.
#[wasm_bindgen]
pub struct Session {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    executor: GpuExecutor,
    plan: Plan,
    adapter: String,
    seed: u64,
    train: Dataset,
    validation: Dataset,
    test: Dataset,
    /// Steps queued so far, over all epochs.
    steps_done: usize,
    /// The batch order of one epoch ([`epoch_order`]), kept while its steps are queued.
    order: Option<(usize, Vec<u32>)>,
}

/// What [`Session::progress`] reports, as JSON.
#[derive(Serialize)]
struct Progress {
    epoch: usize,
    epochs: usize,
    steps_done: usize,
    steps_total: usize,
    lr: f32,
    train_loss: f64,
    train_error: f64,
    images: usize,
}

/// The session's state for one call: the page must wait for a call's promise before the next
/// (a second call while one awaits the GPU is refused, not queued).
fn lock(inner: &RefCell<Inner>) -> Result<RefMut<'_, Inner>, JsError> {
    inner.try_borrow_mut().map_err(|_| {
        JsError::new("the session is busy: wait for the previous call's promise before the next")
    })
}

/// A library error as a JavaScript exception.
fn js(e: shadernet::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// The network named `model`: a preset, or the text of a network file.
fn network(model: &str) -> shadernet::Result<Network> {
    if model.contains('\n') {
        parse_network(model, "the page's network text", "custom")
    } else {
        load_network(model)
    }
}

fn input_shape(data: &Dataset) -> Shape {
    Shape::Image {
        c: data.channels,
        h: data.height,
        w: data.width,
    }
}

impl Inner {
    fn steps_per_epoch(&self) -> usize {
        self.train
            .len()
            .div_ceil(self.plan.network.training.batch_size)
    }

    fn steps_total(&self) -> usize {
        self.steps_per_epoch() * self.plan.network.training.epochs
    }

    /// The learning rate of global step `s`, as the native training loop computes it.
    fn rate(&self, s: usize) -> f32 {
        let t = &self.plan.network.training;
        let steps = self.steps_per_epoch();
        step_rate(t.schedule, t.lr, s / steps, s % steps, steps, t.epochs)
    }

    /// Queues up to `count` training steps (fewer at the end of training).
    fn queue_steps(&mut self, count: usize) -> shadernet::Result<()> {
        let steps = self.steps_per_epoch();
        let batch = self.plan.network.training.batch_size;
        let end = (self.steps_done + count).min(self.steps_total());
        while self.steps_done < end {
            let epoch = self.steps_done / steps;
            if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                self.order = Some((epoch, epoch_order(self.seed, epoch, self.train.len())));
            }
            let order = self.order.as_ref().map_or(&[][..], |(_, o)| o);
            let first = self.steps_done % steps;
            let last = (first + end - self.steps_done).min(steps);
            for step in first..last {
                let indices = &order[step * batch..((step + 1) * batch).min(order.len())];
                let lr = self.rate(epoch * steps + step);
                self.executor.train_step(&self.train, indices, lr)?;
            }
            self.steps_done += last - first;
        }
        Ok(())
    }
}

#[wasm_bindgen]
impl Session {
    /// Opens the browser's GPU, reads the four MNIST files (raw or `.gz` bytes, as served),
    /// holds out the validation split of `shadernet train --seed seed` and builds `model` (a
    /// preset name, or a network file's text) for training over `epochs` epochs (0: the
    /// model's own), as `train --epochs` would. The page trains every epoch of the schedule:
    /// it has no early stopping.
    pub async fn create(
        model: String,
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
        seed: u32,
        epochs: usize,
    ) -> Result<Session, JsError> {
        let files = IdxBytes {
            train_images: &train_images,
            train_labels: &train_labels,
            test_images: &test_images,
            test_labels: &test_labels,
        };
        let data = load_bytes(&files, &LoadOptions::default()).map_err(js)?;
        let seed = u64::from(seed);
        let (train, validation) = data.train.split_validation(VALIDATION, seed).map_err(js)?;
        let mut network = network(&model).map_err(js)?;
        if epochs > 0 {
            network.training.epochs = epochs;
        }
        let plan = network
            .plan(input_shape(&train), train.classes)
            .map_err(js)?;
        Self::open(plan, seed, train, validation, data.test).await
    }

    /// A session around a checkpoint written by `shadernet train` (its `.safetensors` bytes),
    /// for evaluation and prediction; `test_images` and `test_labels` are the test files.
    pub async fn from_checkpoint(
        checkpoint: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
    ) -> Result<Session, JsError> {
        let checkpoint =
            Checkpoint::from_bytes(&checkpoint, Path::new("the checkpoint")).map_err(js)?;
        let plan = checkpoint.plan().map_err(js)?;
        let test = load_test_bytes(
            &test_images,
            &test_labels,
            checkpoint.classes,
            DEFAULT_DATA_LIMIT,
        )
        .map_err(js)?;
        let none = test.subset(&[]);
        let session = Self::open(plan, checkpoint.seed, none.subset(&[]), none, test).await?;
        session
            .inner
            .borrow_mut()
            .executor
            .set_parameters(&checkpoint.params)
            .map_err(js)?;
        Ok(session)
    }

    async fn open(
        plan: Plan,
        seed: u64,
        train: Dataset,
        validation: Dataset,
        test: Dataset,
    ) -> Result<Session, JsError> {
        let gpu = Gpu::request(None).await.map_err(js)?;
        let adapter = match gpu.summary.name.as_str() {
            "" => "a WebGPU adapter whose name the browser keeps to itself".to_string(),
            name => format!("{name} ({})", gpu.summary.backend),
        };
        let batch = plan.network.training.batch_size;
        let executor = GpuExecutor::new(Arc::new(gpu), &plan, seed, batch).map_err(js)?;
        Ok(Session {
            inner: Rc::new(RefCell::new(Inner {
                executor,
                plan,
                adapter,
                seed,
                train,
                validation,
                test,
                steps_done: 0,
                order: None,
            })),
        })
    }

    /// The GPU adapter's name and backend.
    pub fn adapter(&self) -> String {
        self.inner.borrow().adapter.clone()
    }

    /// A line describing the network and its training settings.
    pub fn summary(&self) -> String {
        let inner = self.inner.borrow();
        let t = &inner.plan.network.training;
        format!(
            "{}: {} parameters | {} training, {} validation, {} test images | batch {}, lr {}, {} epochs",
            inner.plan.network.name,
            inner.plan.params(),
            inner.train.len(),
            inner.validation.len(),
            inner.test.len(),
            t.batch_size,
            t.lr,
            t.epochs
        )
    }

    /// Training steps in the whole schedule.
    pub fn steps_total(&self) -> usize {
        self.inner.borrow().steps_total()
    }

    /// Training steps queued so far.
    pub fn steps_done(&self) -> usize {
        self.inner.borrow().steps_done
    }

    /// Training steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.inner.borrow().steps_per_epoch()
    }

    /// Queues up to `count` more training steps; resolves, once the device has run them, to
    /// JSON `{epoch, epochs, steps_done, steps_total, lr, train_loss, train_error, images}`:
    /// the training loss and error (in [0, 1]) over the steps since the last call.
    pub fn train(&self, count: usize) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let mut inner = lock(&inner)?;
            if inner.train.is_empty() {
                return Err(JsError::new(
                    "a session loaded from a checkpoint does not train",
                ));
            }
            inner.queue_steps(count).map_err(js)?;
            let metrics = inner
                .executor
                .take_train_metrics_async()
                .await
                .map_err(js)?;
            let steps = inner.steps_per_epoch();
            let done = inner.steps_done;
            let progress = Progress {
                epoch: done.div_ceil(steps),
                epochs: inner.plan.network.training.epochs,
                steps_done: done,
                steps_total: inner.steps_total(),
                lr: inner.rate(done.saturating_sub(1)),
                train_loss: metrics.mean_loss(),
                train_error: metrics.error_rate(),
                images: metrics.count,
            };
            json(&progress)
        })
    }

    /// Trains a fresh copy of this session's network for `steps` steps (the first `steps` of
    /// its schedule) on the page's GPU and on the CPU executor compiled into this module (one
    /// thread), from the same initial parameters, batches and rates, reading the metrics back
    /// after every step. Resolves to JSON (see the fields of `Agreement` in web/src/lib.rs): the
    /// losses must agree to `1e-3·(1 + loss)` and the correct counts within one example each
    /// step, and the parameters to `2e-5 + 1e-3·|cpu|`, except round-off gradients' (at most
    /// twice the rates' sum apart, at most 1% of them).
    pub fn compare_with_cpu(&self, steps: usize) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let inner = lock(&inner)?;
            if inner.train.is_empty() {
                return Err(JsError::new(
                    "a session loaded from a checkpoint does not train",
                ));
            }
            let plan = &inner.plan;
            let batch = plan.network.training.batch_size;
            let gpu = Gpu::request(None).await.map_err(js)?;
            let mut g = GpuExecutor::new(Arc::new(gpu), plan, inner.seed, batch).map_err(js)?;
            let mut c = CpuExecutor::new(plan, inner.seed, 1).map_err(js)?;
            let order = epoch_order(inner.seed, 0, inner.train.len());
            let steps = steps.min(inner.steps_per_epoch());
            let mut report = Agreement {
                steps,
                gpu_losses: Vec::new(),
                cpu_losses: Vec::new(),
                gpu_correct: Vec::new(),
                cpu_correct: Vec::new(),
                max_abs: 0.0,
                beyond_tolerance: 0,
                parameters: plan.params(),
                pass: true,
            };
            let mut moved = 0.0f32;
            for (step, indices) in order.chunks(batch).take(steps).enumerate() {
                let lr = inner.rate(step);
                moved += lr;
                g.train_step(&inner.train, indices, lr).map_err(js)?;
                c.train_step(&inner.train, indices, lr).map_err(js)?;
                let gm = g.take_train_metrics_async().await.map_err(js)?;
                let cm = c.take_train_metrics().map_err(js)?;
                report.pass &=
                    (gm.mean_loss() - cm.mean_loss()).abs() <= 1e-3 * (1.0 + cm.mean_loss());
                report.pass &= gm.correct.abs_diff(cm.correct) <= 1;
                report.gpu_losses.push(gm.mean_loss());
                report.cpu_losses.push(cm.mean_loss());
                report.gpu_correct.push(gm.correct);
                report.cpu_correct.push(cm.correct);
            }
            let gp = g.parameters_async().await.map_err(js)?;
            let cp = c.parameters().map_err(js)?;
            for (a, b) in gp.iter().zip(&cp) {
                let d = (a - b).abs();
                report.max_abs = report.max_abs.max(d);
                if d.is_nan() || d > 2e-5 + 1e-3 * b.abs() {
                    report.beyond_tolerance += 1;
                    report.pass &= d <= 2.0 * moved + 2e-5;
                }
            }
            report.pass &= gp.len() == cp.len() && report.beyond_tolerance * 100 <= cp.len();
            json(&report)
        })
    }

    /// Resolves to the error rate (in [0, 1]) on the validation split.
    pub fn validation_error(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let mut inner = lock(&inner)?;
            let Inner {
                executor,
                validation,
                ..
            } = &mut *inner;
            let m: Metrics = executor.evaluate_async(validation).await.map_err(js)?;
            Ok(JsValue::from_f64(m.error_rate()))
        })
    }

    /// Resolves to the error rate (in [0, 1]) on the test images, all of them.
    pub fn test_error(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let mut inner = lock(&inner)?;
            let Inner { executor, test, .. } = &mut *inner;
            let m: Metrics = executor.evaluate_async(test).await.map_err(js)?;
            Ok(JsValue::from_f64(m.error_rate()))
        })
    }

    /// Classifies a drawing: `pixels` are `width x height` grey values in [0, 1] (0 black, 1
    /// white; dark ink on light paper or light on dark, as `shadernet predict` takes pictures),
    /// preprocessed as `predict` does. Resolves to the class probabilities (a `Float32Array`);
    /// rejects when the drawing holds no ink.
    pub fn predict(&self, pixels: Vec<f32>, width: usize, height: usize) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let mut inner = lock(&inner)?;
            let Shape::Image { c: 1, h, w } = inner.plan.input else {
                return Err(JsError::new("this network does not take grey pictures"));
            };
            let grey = GreyImage {
                width,
                height,
                pixels,
            };
            let digit = mnist_style(&grey, h, w).map_err(js)?;
            let data = Dataset {
                images: digit.iter().map(|&v| (v * 255.0).round() as u8).collect(),
                labels: vec![0],
                channels: 1,
                height: h,
                width: w,
                classes: inner.plan.classes,
            };
            let out = inner
                .executor
                .predict_async(&data, &[0])
                .await
                .map_err(js)?;
            json(&out)
        })
    }
}

/// What [`Session::compare_with_cpu`] reports, as JSON.
#[derive(Serialize)]
struct Agreement {
    steps: usize,
    /// Each step's mean training loss on the GPU and on the CPU executor.
    gpu_losses: Vec<f64>,
    cpu_losses: Vec<f64>,
    /// Each step's correctly classified examples on both.
    gpu_correct: Vec<usize>,
    cpu_correct: Vec<usize>,
    /// Largest `|gpu − cpu|` of the parameters after the steps.
    max_abs: f32,
    /// Parameters beyond `2e-5 + 1e-3·|cpu|`: only those whose gradient is round-off may be,
    /// and by at most twice the rates' sum (Adam moves any nonzero gradient by about the rate).
    beyond_tolerance: usize,
    parameters: usize,
    pass: bool,
}

/// One row of [`verify`], as JSON.
#[derive(Serialize)]
struct VerifyJson {
    op: String,
    pass: bool,
    max_abs: f32,
    max_rel: f32,
    mismatched: usize,
    len: usize,
    text: String,
}

/// `shadernet verify` in the browser: every GPU kernel check and one whole training step on
/// the page's GPU against the CPU reference (compiled into this module, single-threaded), at
/// the native command's sizes and tolerances. Resolves to a JSON list of rows
/// `{op, pass, max_abs, max_rel, mismatched, len, text}`.
#[wasm_bindgen]
pub async fn verify() -> Result<String, JsError> {
    let gpu = Gpu::request(None).await.map_err(js)?;
    let rows = shadernet::verify::verify_async(&gpu).await.map_err(js)?;
    let rows: Vec<VerifyJson> = rows
        .into_iter()
        .map(|r| VerifyJson {
            text: r.to_string(),
            op: r.op,
            pass: r.pass,
            max_abs: r.max_abs,
            max_rel: r.max_rel,
            mismatched: r.mismatched,
            len: r.len,
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| JsError::new(&e.to_string()))
}

/// `value` as a JSON string for JavaScript's `JSON.parse`.
fn json<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    serde_json::to_string(value)
        .map(|s| JsValue::from_str(&s))
        .map_err(|e| JsError::new(&e.to_string()))
}

/// Runs `future` to a JavaScript promise.
fn promise(future: impl Future<Output = Result<JsValue, JsError>> + 'static) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move { future.await.map_err(JsValue::from) })
}
