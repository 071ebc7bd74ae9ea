//! Submitting a step: its dispatch list compiled into a [`Program`] once per batch size, mode
//! and dataset, then one submit per step.

use super::GpuNet;
use crate::error::Result;
use crate::gpu::context::Gpu;
use crate::gpu::kernel::Program;
use crate::gpu::ops::dataset::DeviceDataset;
use crate::gpu::plan::StepMode;

/// Programs kept at once (batch sizes x modes x datasets); beyond it the cache starts afresh,
/// so memory stays flat however many distinct batch sizes a run uses.
const MAX_PROGRAMS: usize = 16;

impl GpuNet {
    /// Runs one step on `n` examples (already loaded by [`GpuNet::load_batch`], or gathered
    /// from `data` by the indices in [`GpuNet::write_indices`]): the whole step is recorded into
    /// one encoder and submitted once; nothing is read back.
    pub fn step(
        &mut self,
        gpu: &Gpu,
        n: usize,
        mode: StepMode,
        data: Option<&DeviceDataset>,
    ) -> Result<()> {
        self.check_batch(n)?;
        let dispatches = self.step_dispatches(n, mode, data);
        let key = (
            n,
            matches!(mode, StepMode::Train { .. }),
            data.map(|d| d.images),
        );
        if !self.programs.contains_key(&key) && self.programs.len() >= MAX_PROGRAMS {
            self.programs.clear();
        }
        match self.programs.get(&key) {
            Some(program) => program.write_params(gpu, &dispatches)?,
            None => {
                let program = Program::new(gpu, &self.arena, &dispatches)?;
                self.programs.insert(key, program);
            }
        }
        self.programs[&key].submit(gpu);
        if matches!(mode, StepMode::Train { .. }) {
            self.updates += 1;
        }
        Ok(())
    }
}
