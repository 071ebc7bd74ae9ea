//! The runtime: an [`ExecutionPlan`] materialised on one device.
//!
//! [`GpuNet`] creates the plan's buffers in a [`Buffers`] arena (the plan's [`BufferId`]s are
//! the arena's), compiles each step's dispatch list into a [`Program`] once per batch size and
//! mode, and submits a whole training step (gather, forward, loss and metrics, backward,
//! update) as one command buffer. Losses and correct counts are added up on the device and read
//! back only by [`GpuNet::take_totals`].
//!
//! [`super::executor::GpuExecutor`] puts it behind [`crate::executor::Executor`]: the training
//! data lives on the device as bytes and a step uploads only its batch indices. `limits.rs`
//! checks a plan against the device before anything is allocated, `state.rs` moves
//! parameters, optimiser state and statistics between host and device, and `step.rs` submits
//! steps.

mod limits;
mod state;
mod step;

use limits::binding_limit;
pub use limits::{check_limits, check_sizes};

use super::context::Gpu;
use super::kernel::{BufferId, Buffers, Dispatch, Program};
use super::ops::dataset::{DeviceDataset, ZERO_TOTALS, upload};
use super::plan::{Contents, ExecutionPlan, StepKeys};
pub use super::plan::{StepMode, Totals};
use crate::data::Dataset;
use crate::data::augment::augment_seed;
use crate::error::{Error, Result};
use crate::executor::{check_data, dropout_seed};
use crate::model::{Plan, initial_parameters, initial_running_stats};
use std::collections::HashMap;

/// Loss sum, correct count and example count read back from the device.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeviceTotals {
    /// Σ per-example loss (CE `−ln p`, MSE `Σ_j (y − t)²`).
    pub loss_sum: f64,
    /// Examples whose first argmax is the label.
    pub correct: usize,
    /// Examples.
    pub count: usize,
}

impl DeviceTotals {
    /// The totals from the raw words of a totals buffer ([`crate::gpu::ops::dataset::TOTALS_BYTES`]): loss sum and its
    /// Kahan compensation (`f32` bits), correct count, example count.
    pub fn from_raw(raw: &[u32]) -> DeviceTotals {
        let (sum, comp) = (f32::from_bits(raw[0]) as f64, f32::from_bits(raw[1]) as f64);
        DeviceTotals {
            loss_sum: sum - comp,
            correct: raw[2] as usize,
            count: raw[3] as usize,
        }
    }
}

/// A planned network resident on one GPU. Every method takes the [`Gpu`] it was built on.
pub struct GpuNet {
    exec: ExecutionPlan,
    arena: Buffers,
    updates: u32,
    dropout_seed: u32,
    augment_seed: u32,
    programs: HashMap<(usize, bool, Option<BufferId>), Program>,
}

impl GpuNet {
    /// Builds the network for batches of up to `capacity` examples, with the parameters
    /// ([`initial_parameters`]), dropout seed and augment seed of a run with seed `seed`, as the
    /// CPU executor derives them, so both executors start identical. Checks every buffer
    /// against the device's limits first.
    pub fn new(gpu: &Gpu, plan: &Plan, seed: u64, capacity: usize) -> Result<GpuNet> {
        // Before the initial parameters take host memory.
        check_limits(gpu, plan, capacity.max(1))?;
        let initial = initial_parameters(plan, seed);
        let mut net = GpuNet::with_params(gpu, plan, &initial, capacity)?;
        net.dropout_seed = dropout_seed(seed);
        net.augment_seed = augment_seed(seed);
        Ok(net)
    }

    /// Builds the network with the given flat parameters (layout in the crate doc), fresh
    /// batchnorm running statistics (`r_μ = 0`, `r_σ² = 1`) and dropout seed 0; see
    /// [`GpuNet::new`].
    pub fn with_params(gpu: &Gpu, plan: &Plan, initial: &[f32], capacity: usize) -> Result<GpuNet> {
        let capacity = capacity.max(1);
        check_limits(gpu, plan, capacity)?;
        let exec = ExecutionPlan::new(plan, capacity)?;
        if initial.len() != exec.n_params {
            return Err(Error::Mismatch(format!(
                "expected {} parameters, got {}",
                exec.n_params,
                initial.len()
            )));
        }
        let running = initial_running_stats(plan);
        let mut arena = Buffers::new();
        for (i, spec) in exec.buffers().iter().enumerate() {
            let id = match spec.contents {
                Contents::Parameters => arena.with_data(gpu, &spec.label, initial),
                Contents::RunningStats if !running.is_empty() => {
                    arena.with_data(gpu, &spec.label, &running)
                }
                Contents::RunningStats | Contents::Zeros => {
                    arena.alloc(gpu, &spec.label, spec.bytes)
                }
            };
            debug_assert_eq!(
                id,
                BufferId(i),
                "the arena numbers buffers as the plan does"
            );
        }
        for t in exec.totals {
            arena.write(gpu, t, 0, &ZERO_TOTALS);
        }
        Ok(GpuNet {
            exec,
            arena,
            updates: 0,
            dropout_seed: 0,
            augment_seed: 0,
            programs: HashMap::new(),
        })
    }

    /// The execution plan this network runs.
    pub fn execution_plan(&self) -> &ExecutionPlan {
        &self.exec
    }

    /// The dispatch list of one step on `n` examples with this network's next random keys
    /// ([`ExecutionPlan::step_dispatches`]).
    pub fn step_dispatches(
        &self,
        n: usize,
        mode: StepMode,
        data: Option<&DeviceDataset>,
    ) -> Vec<Dispatch> {
        self.exec.step_dispatches(n, mode, data, self.keys())
    }

    /// The random keys of the next step.
    fn keys(&self) -> StepKeys {
        StepKeys {
            step: self.updates,
            dropout_seed: self.dropout_seed,
            augment_seed: self.augment_seed,
        }
    }

    /// The plan this network runs.
    pub fn plan(&self) -> &Plan {
        self.exec.plan()
    }

    /// The largest batch the buffers hold.
    pub fn capacity(&self) -> usize {
        self.exec.capacity()
    }

    /// Updates applied so far (the next training step's dropout masks use this number).
    pub fn updates(&self) -> u32 {
        self.updates
    }

    /// Device bytes held by this network's buffers (constant after construction except for
    /// uploaded datasets).
    pub fn device_bytes(&self) -> u64 {
        self.arena.total_bytes()
    }

    /// Uploads a dataset into this network's buffer arena (images as packed bytes).
    pub fn upload(&mut self, gpu: &Gpu, data: &Dataset) -> Result<DeviceDataset> {
        check_data(self.exec.plan(), data)?;
        let bytes = data.images.len() as u64;
        let limit = binding_limit(gpu);
        if bytes > limit {
            return Err(Error::Gpu(format!(
                "the dataset's {bytes} bytes of images exceed this adapter's \
                 max_storage_buffer_binding_size / max_buffer_size of {limit} bytes"
            )));
        }
        Ok(upload(gpu, &mut self.arena, data))
    }

    /// Frees a dataset uploaded by [`GpuNet::upload`] (and forgets the programs bound to it).
    pub fn release(&mut self, data: &DeviceDataset) {
        self.programs.retain(|key, _| key.2 != Some(data.images));
        self.arena.release(data.images);
        self.arena.release(data.labels);
    }

    /// Writes a host batch `x (n, C, H, W)` and its labels into the input buffers, for
    /// [`GpuNet::step`] with no dataset (tests and `verify`).
    pub fn load_batch(&self, gpu: &Gpu, x: &[f32], labels: &[u8]) -> Result<()> {
        let n = labels.len();
        self.check_batch(n)?;
        if x.len() != n * self.exec.sizes[0] {
            return Err(Error::Mismatch(format!(
                "a batch of {n} labels needs {} input values, got {}",
                n * self.exec.sizes[0],
                x.len()
            )));
        }
        self.arena.write(gpu, self.exec.acts[0], 0, x);
        let labels: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        self.arena.write(gpu, self.exec.labels, 0, &labels);
        Ok(())
    }

    fn check_batch(&self, n: usize) -> Result<()> {
        if n == 0 || n > self.exec.capacity() {
            return Err(Error::Mismatch(format!(
                "a batch of {n} examples does not fit this GPU network, built for 1 to {}",
                self.exec.capacity()
            )));
        }
        Ok(())
    }

    /// The buffers the network's dispatches refer to.
    pub fn arena(&self) -> &Buffers {
        &self.arena
    }

    /// Writes the batch's image numbers for the next step's gather.
    pub fn write_indices(&self, gpu: &Gpu, indices: &[u32]) -> Result<()> {
        self.check_batch(indices.len())?;
        self.arena.write(gpu, self.exec.indices, 0, indices);
        Ok(())
    }

    /// Zeroes the running totals `which` without reading them (queued: no wait).
    pub fn reset_totals(&self, gpu: &Gpu, which: Totals) {
        self.arena
            .write(gpu, self.exec.totals[which as usize], 0, &ZERO_TOTALS);
    }

    /// Reads and resets the running totals (the only read-back of training metrics).
    pub fn take_totals(&self, gpu: &Gpu, which: Totals) -> Result<DeviceTotals> {
        pollster::block_on(self.take_totals_async(gpu, which))
    }

    /// [`GpuNet::take_totals`] without blocking (for a browser).
    pub async fn take_totals_async(&self, gpu: &Gpu, which: Totals) -> Result<DeviceTotals> {
        let id = self.exec.totals[which as usize];
        let raw = self.arena.read_async(gpu, id, 4).await?;
        self.reset_totals(gpu, which);
        Ok(DeviceTotals::from_raw(&raw))
    }

    /// The network's outputs `(n, classes)` of the last step.
    pub fn outputs(&self, gpu: &Gpu, n: usize) -> Result<Vec<f32>> {
        pollster::block_on(self.outputs_async(gpu, n))
    }

    /// [`GpuNet::outputs`] without blocking (for a browser).
    pub async fn outputs_async(&self, gpu: &Gpu, n: usize) -> Result<Vec<f32>> {
        let last = self.exec.ops.last().map_or(0, |op| op.output);
        self.arena
            .read_async(gpu, self.exec.acts[last], n * self.exec.plan().classes)
            .await
    }
}
