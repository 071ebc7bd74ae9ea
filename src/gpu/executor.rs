//! [`GpuNet`] behind the [`Executor`] interface: datasets uploaded once and kept on the device,
//! batches sent as indices, metrics read back only when asked for.

use super::context::Gpu;
use super::net::{DeviceTotals, GpuNet, StepMode, Totals};
use super::ops::dataset::DeviceDataset;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::executor::{Executor, Metrics, OptimizerState};
use crate::model::Plan;
use std::sync::Arc;

/// Datasets kept on the device at once (training, validation, test).
const MAX_DATASETS: usize = 3;

/// Identifies a host dataset cheaply, so a step can tell whether its dataset is already on the
/// device: its buffers' addresses and lengths, and a hash of up to 512 evenly spaced labels and
/// image bytes (a dataset freed and replaced by another at the same address shows up there).
/// Computed once per step, it costs a few hundred byte reads whatever the dataset's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DatasetKey {
    images: (usize, usize),
    labels: (usize, usize),
    hash: u64,
}

/// Bytes of each buffer sampled into [`DatasetKey`]'s hash.
const KEY_SAMPLES: usize = 512;

impl DatasetKey {
    fn of(data: &Dataset) -> Self {
        // FNV-1a over evenly spaced bytes of the labels, then of the images.
        fn sample(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
            let step = bytes.len().div_ceil(KEY_SAMPLES).max(1);
            bytes.iter().step_by(step).copied()
        }
        let hash = sample(&data.labels)
            .chain(sample(&data.images))
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        DatasetKey {
            images: (data.images.as_ptr() as usize, data.images.len()),
            labels: (data.labels.as_ptr() as usize, data.labels.len()),
            hash,
        }
    }
}

/// The GPU executor as the training loop sees it.
pub struct GpuExecutor {
    gpu: Arc<Gpu>,
    net: GpuNet,
    datasets: Vec<(DatasetKey, DeviceDataset)>,
}

impl GpuExecutor {
    /// A GPU executor for `plan` on `gpu`, parameters, dropout and augment seeds as
    /// `CpuExecutor::new(plan, seed, _)`, buffers for batches of up to `max_batch` examples
    /// (training steps; evaluation and prediction run in chunks of that many). Errors if a
    /// buffer would exceed the adapter's limits (naming the largest batch that fits).
    pub fn new(gpu: Arc<Gpu>, plan: &Plan, seed: u64, max_batch: usize) -> Result<Self> {
        let net = GpuNet::new(&gpu, plan, seed, max_batch.max(1))?;
        Ok(GpuExecutor {
            gpu,
            net,
            datasets: Vec::new(),
        })
    }

    /// The underlying network.
    pub fn net(&mut self) -> &mut GpuNet {
        &mut self.net
    }

    fn dataset(&mut self, data: &Dataset) -> Result<DeviceDataset> {
        let key = DatasetKey::of(data);
        if let Some(pos) = self.datasets.iter().position(|(k, _)| *k == key) {
            let entry = self.datasets.remove(pos);
            let dev = entry.1;
            self.datasets.push(entry);
            return Ok(dev);
        }
        if self.datasets.len() >= MAX_DATASETS {
            let (_, old) = self.datasets.remove(0);
            self.net.release(&old);
        }
        let dev = self.net.upload(&self.gpu, data)?;
        self.datasets.push((key, dev));
        Ok(dev)
    }

    fn check_indices(data: &Dataset, indices: &[u32]) -> Result<()> {
        if let Some(&bad) = indices.iter().find(|&&i| i as usize >= data.len()) {
            return Err(Error::Mismatch(format!(
                "image index {bad} is out of range for a dataset of {} images",
                data.len()
            )));
        }
        Ok(())
    }

    /// Per-example objective as `Metrics` wants it: MSE's sum over outputs divided by classes.
    fn metrics(&self, t: DeviceTotals) -> Metrics {
        Metrics {
            loss_sum: t.loss_sum / self.net.plan().loss_terms() as f64,
            correct: t.correct,
            count: t.count,
        }
    }

    /// Queues an inference step over `chunk` (at most [`GpuNet::capacity`] images of the
    /// dataset `dev`).
    fn forward_chunk(&mut self, dev: &DeviceDataset, chunk: &[u32]) -> Result<()> {
        self.net.write_indices(&self.gpu, chunk)?;
        self.net
            .step(&self.gpu, chunk.len(), StepMode::Eval, Some(dev))
    }

    /// [`Executor::take_train_metrics`] without blocking (for a browser).
    pub async fn take_train_metrics_async(&mut self) -> Result<Metrics> {
        let t = self.net.take_totals_async(&self.gpu, Totals::Train).await?;
        Ok(self.metrics(t))
    }

    /// [`Executor::evaluate`] without blocking (for a browser).
    pub async fn evaluate_async(&mut self, data: &Dataset) -> Result<Metrics> {
        self.net.reset_totals(&self.gpu, Totals::Eval);
        let dev = self.dataset(data)?;
        let all: Vec<u32> = (0..data.len() as u32).collect();
        for chunk in all.chunks(self.net.capacity()) {
            self.forward_chunk(&dev, chunk)?;
        }
        let t = self.net.take_totals_async(&self.gpu, Totals::Eval).await?;
        Ok(self.metrics(t))
    }

    /// [`Executor::parameters`] without blocking (for a browser): the trainable parameters
    /// followed by the batchnorm running statistics.
    pub async fn parameters_async(&mut self) -> Result<Vec<f32>> {
        let mut all = self.net.parameters_async(&self.gpu).await?;
        all.extend(self.net.running_stats_async(&self.gpu).await?);
        Ok(all)
    }

    /// [`Executor::predict`] without blocking (for a browser).
    pub async fn predict_async(&mut self, data: &Dataset, indices: &[u32]) -> Result<Vec<f32>> {
        Self::check_indices(data, indices)?;
        let dev = self.dataset(data)?;
        let mut outputs = Vec::with_capacity(indices.len() * self.net.plan().classes);
        for chunk in indices.chunks(self.net.capacity()) {
            self.forward_chunk(&dev, chunk)?;
            outputs.extend(self.net.outputs_async(&self.gpu, chunk.len()).await?);
        }
        Ok(outputs)
    }
}

impl Executor for GpuExecutor {
    fn launch_counts(&self) -> Option<(u64, u64)> {
        Some(self.gpu.counters.read())
    }

    fn describe(&self) -> String {
        let s = &self.gpu.summary;
        format!("gpu ({}, {})", s.name, s.backend)
    }

    fn train_step(&mut self, data: &Dataset, indices: &[u32], lr: f32) -> Result<()> {
        Self::check_indices(data, indices)?;
        let dev = self.dataset(data)?;
        self.net.write_indices(&self.gpu, indices)?;
        let mode = StepMode::Train { lr };
        self.net.step(&self.gpu, indices.len(), mode, Some(&dev))
    }

    fn take_train_metrics(&mut self) -> Result<Metrics> {
        pollster::block_on(self.take_train_metrics_async())
    }

    fn evaluate(&mut self, data: &Dataset) -> Result<Metrics> {
        pollster::block_on(self.evaluate_async(data))
    }

    fn predict(&mut self, data: &Dataset, indices: &[u32]) -> Result<Vec<f32>> {
        pollster::block_on(self.predict_async(data, indices))
    }

    /// The trainable parameters followed by the batchnorm running statistics, as
    /// `CpuExecutor::parameters`.
    fn parameters(&mut self) -> Result<Vec<f32>> {
        pollster::block_on(self.parameters_async())
    }

    /// Replaces parameters and running statistics (the layout of [`Executor::parameters`]).
    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        let expected = self.net.plan().params() + self.net.plan().running_stats();
        if params.len() != expected {
            return Err(Error::Mismatch(format!(
                "expected {expected} values ({} parameters and {} batchnorm running \
                 statistics), got {}",
                self.net.plan().params(),
                self.net.plan().running_stats(),
                params.len()
            )));
        }
        let (weights, running) = params.split_at(self.net.plan().params());
        self.net.set_parameters(&self.gpu, weights)?;
        self.net.set_running_stats(&self.gpu, running)
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState> {
        self.net.optimizer_state(&self.gpu)
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.net.set_optimizer_state(&self.gpu, state)
    }
}
