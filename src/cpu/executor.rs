//! [`CpuNet`] behind the [`Executor`] interface: gathers batches (warping training batches when
//! the network's `Training::augment` chance is above 0, see [`crate::data::augment`]) and
//! accumulates metrics.

use super::net::{BatchStats, CpuNet, Mode};
use crate::data::Dataset;
use crate::data::augment::{augment_batch_with, augment_seed};
use crate::error::{Error, Result};
use crate::executor::{Executor, Metrics, OptimizerState, check_data};
use crate::model::{Plan, Shape};

/// Examples per forward pass when evaluating.
const EVAL_BATCH: usize = 256;

/// The CPU executor as the training loop sees it.
pub struct CpuExecutor {
    net: CpuNet,
    images: Vec<f32>,
    labels: Vec<u8>,
    /// One image: the source of a warp in progress.
    warp_source: Vec<f32>,
    train_metrics: Metrics,
    augment_seed: u32,
}

impl CpuExecutor {
    /// A CPU executor for `plan`, parameters initialised from `seed`, on `threads` threads.
    pub fn new(plan: &Plan, seed: u64, threads: usize) -> Result<Self> {
        Ok(CpuExecutor {
            net: CpuNet::new(plan, seed, threads)?,
            images: Vec::new(),
            labels: Vec::new(),
            warp_source: Vec::new(),
            train_metrics: Metrics::default(),
            augment_seed: augment_seed(seed),
        })
    }

    fn gather(&mut self, data: &Dataset, indices: &[u32]) -> Result<()> {
        check_data(self.net.plan(), data)?;
        self.images.resize(indices.len() * data.image_size(), 0.0);
        self.labels.resize(indices.len(), 0);
        data.gather(indices, &mut self.images, &mut self.labels);
        Ok(())
    }

    /// Per-example objective: MSE sums over the outputs, the objective averages them.
    fn metrics(&self, stats: BatchStats, count: usize) -> Metrics {
        Metrics {
            loss_sum: stats.loss_sum / self.net.plan().loss_terms() as f64,
            correct: stats.correct,
            count,
        }
    }
}

impl Executor for CpuExecutor {
    fn describe(&self) -> String {
        match self.net.threads() {
            1 => "cpu (1 thread)".into(),
            n => format!("cpu ({n} threads)"),
        }
    }

    fn train_step(&mut self, data: &Dataset, indices: &[u32], lr: f32) -> Result<()> {
        self.gather(data, indices)?;
        let chance = self.net.plan().network.training.augment;
        if let Shape::Image { c, h, w } = self.net.plan().input {
            let step = self.net.updates();
            let (seed, ranges) = (
                self.augment_seed,
                &self.net.plan().network.training.augment_ranges,
            );
            let (images, scratch) = (&mut self.images, &mut self.warp_source);
            augment_batch_with(images, scratch, (c, h, w), seed, step, chance, ranges);
        }
        let stats = self.net.train_step(&self.images, &self.labels, lr);
        let metrics = self.metrics(stats, indices.len());
        self.train_metrics.add(metrics);
        Ok(())
    }

    fn take_train_metrics(&mut self) -> Result<Metrics> {
        Ok(std::mem::take(&mut self.train_metrics))
    }

    fn evaluate(&mut self, data: &Dataset) -> Result<Metrics> {
        let mut total = Metrics::default();
        let all: Vec<u32> = (0..data.len() as u32).collect();
        for chunk in all.chunks(EVAL_BATCH) {
            self.gather(data, chunk)?;
            let (images, labels) = (&self.images, &self.labels);
            let stats = self
                .net
                .with_averaged_weights(|net| net.forward(images, labels, Mode::Eval, None));
            let metrics = self.metrics(stats, chunk.len());
            total.add(metrics);
        }
        Ok(total)
    }

    fn predict(&mut self, data: &Dataset, indices: &[u32]) -> Result<Vec<f32>> {
        let k = self.net.plan().classes;
        let mut outputs = vec![0.0; indices.len() * k];
        for (chunk, out) in indices
            .chunks(EVAL_BATCH)
            .zip(outputs.chunks_mut(EVAL_BATCH * k))
        {
            self.gather(data, chunk)?;
            let (images, labels) = (&self.images, &self.labels);
            self.net
                .with_averaged_weights(|net| net.forward(images, labels, Mode::Eval, Some(out)));
        }
        Ok(outputs)
    }

    /// The trainable parameters (crate layout; with weight averaging, the averaged ones)
    /// followed by the batchnorm running statistics ([`CpuNet::running_stats`]):
    /// `plan.params() + plan.running_stats()` values.
    fn parameters(&mut self) -> Result<Vec<f32>> {
        let mut all = self.net.averaged_params().to_vec();
        all.extend_from_slice(self.net.running_stats());
        Ok(all)
    }

    /// Replaces the parameters and running statistics (the layout of
    /// [`CpuExecutor::parameters`]).
    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        let trainable = self.net.params().len();
        let expected = trainable + self.net.running_stats().len();
        if params.len() != expected {
            return Err(Error::Mismatch(format!(
                "expected {expected} values ({trainable} parameters and {} batchnorm running \
                 statistics), got {}",
                expected - trainable,
                params.len()
            )));
        }
        let (weights, running) = params.split_at(trainable);
        self.net.set_params(weights);
        self.net.running_stats_mut().copy_from_slice(running);
        Ok(())
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState> {
        Ok(self.net.optimizer_state())
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.net.set_optimizer_state(state)
    }
}
