//! The network's state between host and device: parameters, gradients, optimiser moments,
//! batchnorm running statistics and dropout masks, read back or written in the crate's layouts.

use super::GpuNet;
use crate::error::{Error, Result};
use crate::executor::OptimizerState;
use crate::gpu::context::Gpu;
use crate::gpu::plan::OpKind;

impl GpuNet {
    /// All parameters (crate layout): with weight averaging, the averaged weights.
    pub fn parameters(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        pollster::block_on(self.parameters_async(gpu))
    }

    /// [`GpuNet::parameters`] without blocking (for a browser).
    pub async fn parameters_async(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let id = self.exec.ema.unwrap_or(self.exec.params);
        self.arena.read_async(gpu, id, self.exec.n_params).await
    }

    /// The gradient of the mean batch loss from the last training step.
    pub fn gradients(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        pollster::block_on(self.gradients_async(gpu))
    }

    /// [`GpuNet::gradients`] without blocking (for a browser).
    pub async fn gradients_async(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        self.arena
            .read_async(gpu, self.exec.grads, self.exec.n_params)
            .await
    }

    /// Every dropout layer's mask `(n, size)` from the last training step, in layer order.
    pub fn dropout_masks(&self, gpu: &Gpu, n: usize) -> Result<Vec<Vec<f32>>> {
        let mut masks = Vec::new();
        for op in &self.exec.ops {
            if let OpKind::Dropout { mask, .. } = op.kind {
                masks.push(
                    self.arena
                        .read_f32(gpu, mask, n * self.exec.sizes[op.output])?,
                );
            }
        }
        Ok(masks)
    }

    /// The batchnorm running statistics (layout of [`crate::model::initial_running_stats`]; empty without
    /// batchnorm).
    pub fn running_stats(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        pollster::block_on(self.running_stats_async(gpu))
    }

    /// [`GpuNet::running_stats`] without blocking (for a browser).
    pub async fn running_stats_async(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        if self.exec.n_running == 0 {
            return Ok(Vec::new());
        }
        self.arena
            .read_async(gpu, self.exec.running, self.exec.n_running)
            .await
    }

    /// Replaces the batchnorm running statistics (layout of [`GpuNet::running_stats`]).
    pub fn set_running_stats(&self, gpu: &Gpu, stats: &[f32]) -> Result<()> {
        if stats.len() != self.exec.n_running {
            return Err(Error::Mismatch(format!(
                "expected {} batchnorm running statistics, got {}",
                self.exec.n_running,
                stats.len()
            )));
        }
        self.arena.write(gpu, self.exec.running, 0, stats);
        Ok(())
    }

    /// The optimiser's state: the update counter and Adam's moments read back from the device
    /// (empty for SGD).
    pub fn optimizer_state(&self, gpu: &Gpu) -> Result<OptimizerState> {
        let (adam_m, adam_v) = match self.exec.moments {
            Some((m, v)) => (
                self.arena.read_f32(gpu, m, self.exec.n_params)?,
                self.arena.read_f32(gpu, v, self.exec.n_params)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let raw_params = match self.exec.ema {
            Some(_) => self
                .arena
                .read_f32(gpu, self.exec.params, self.exec.n_params)?,
            None => Vec::new(),
        };
        Ok(OptimizerState {
            updates: self.updates,
            adam_m,
            adam_v,
            raw_params,
        })
    }

    /// Replaces the optimiser's state: the update counter, and Adam's moments written to the
    /// device (empty moments mean zeros).
    pub fn set_optimizer_state(&mut self, gpu: &Gpu, state: &OptimizerState) -> Result<()> {
        state.check_fits(self.exec.n_params)?;
        if let Some((m, v)) = self.exec.moments {
            if state.adam_m.is_empty() {
                self.arena.fill_f32(gpu, m, self.exec.n_params, 0.0);
                self.arena.fill_f32(gpu, v, self.exec.n_params, 0.0);
            } else {
                self.arena.write(gpu, m, 0, &state.adam_m);
                self.arena.write(gpu, v, 0, &state.adam_v);
            }
        }
        if self.exec.ema.is_some() && !state.raw_params.is_empty() {
            self.arena
                .write(gpu, self.exec.params, 0, &state.raw_params);
        }
        self.updates = state.updates;
        Ok(())
    }

    /// Replaces all parameters (crate layout), and with weight averaging the averaged weights
    /// too.
    pub fn set_parameters(&self, gpu: &Gpu, params: &[f32]) -> Result<()> {
        if params.len() != self.exec.n_params {
            return Err(Error::Mismatch(format!(
                "expected {} parameters, got {}",
                self.exec.n_params,
                params.len()
            )));
        }
        self.arena.write(gpu, self.exec.params, 0, params);
        if let Some(averaged) = self.exec.ema {
            self.arena.write(gpu, averaged, 0, params);
        }
        Ok(())
    }
}
