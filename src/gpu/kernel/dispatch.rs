//! Launches as data: a [`Dispatch`] names a kernel, its workgroup counts, buffers and
//! parameter bytes; a [`Program`] binds a list once and replays it.

use super::{BufferId, Buffers, Kernel, MAX_GROUPS_PER_DIM, Variant, WORKGROUP_SIZE};
use crate::error::{Error, Result};
use crate::gpu::context::Gpu;

/// One kernel launch, as plain data.
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatch {
    /// Which kernel.
    pub kernel: Kernel,
    /// Workgroup counts `(x, y, z)`.
    pub workgroups: [u32; 3],
    /// Storage buffers for bindings 1.., in order (length = `kernel.storage().len()`).
    pub buffers: Vec<BufferId>,
    /// The `Params` uniform's bytes (a multiple of 16).
    pub params: Vec<u8>,
    /// How the kernel is built (GEMM kernels only; the default for every other kernel).
    pub variant: Variant,
}

impl Dispatch {
    /// How profiles and debuggers name this launch ([`Kernel::label`]).
    pub fn label(&self) -> String {
        self.kernel.label(self.variant)
    }

    /// A launch of `kernel` with the `Params` twin `params`.
    pub fn new<P: bytemuck::Pod>(
        kernel: Kernel,
        workgroups: [u32; 3],
        buffers: Vec<BufferId>,
        params: &P,
    ) -> Dispatch {
        let params = bytemuck::bytes_of(params).to_vec();
        debug_assert_eq!(
            params.len() % 16,
            0,
            "{kernel:?} params must be padded to 16 bytes"
        );
        debug_assert_eq!(buffers.len(), kernel.storage().len(), "{kernel:?} bindings");
        Dispatch {
            kernel,
            workgroups,
            buffers,
            params,
            variant: Variant::default(),
        }
    }
}

/// Workgroups for `items` independent work items, [`WORKGROUP_SIZE`] per group (or, with
/// `per_group`, one item per group), spread over a 2-D grid when a row would pass 65,535.
pub fn groups(items: usize, per_group: usize) -> [u32; 3] {
    let count = items.div_ceil(per_group).max(1);
    let max = MAX_GROUPS_PER_DIM as usize;
    if count <= max {
        [count as u32, 1, 1]
    } else {
        [max as u32, count.div_ceil(max) as u32, 1]
    }
}

/// Workgroups for `items` elements, one invocation each.
pub fn groups_1d(items: usize) -> [u32; 3] {
    groups(items, WORKGROUP_SIZE as usize)
}

/// A dispatch list bound once: one uniform buffer holds every dispatch's parameters (each at
/// an aligned offset), and each dispatch has its bind group. Replaying it with new parameters
/// (a new learning rate, step or dropout key) costs one `write_buffer`.
pub struct Program {
    params: wgpu::Buffer,
    stride: usize,
    bind_groups: Vec<wgpu::BindGroup>,
    launches: Vec<(Kernel, Variant, [u32; 3])>,
    buffers: Vec<Vec<BufferId>>,
}

impl Program {
    /// Binds `dispatches` to the buffers of `arena` and writes their parameters.
    pub fn new(gpu: &Gpu, arena: &Buffers, dispatches: &[Dispatch]) -> Result<Program> {
        let align = gpu.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        let largest = dispatches
            .iter()
            .map(|d| d.params.len())
            .max()
            .unwrap_or(16);
        let stride = largest.next_multiple_of(align);
        let params = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dispatch params"),
            size: (stride * dispatches.len().max(1)) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut bind_groups = Vec::with_capacity(dispatches.len());
        for (i, d) in dispatches.iter().enumerate() {
            if d.buffers.len() != d.kernel.storage().len() {
                return Err(Error::Gpu(format!(
                    "{:?} takes {} buffers, the dispatch gives {}",
                    d.kernel,
                    d.kernel.storage().len(),
                    d.buffers.len()
                )));
            }
            let compiled = gpu.kernels.get(&gpu.device, d.kernel, d.variant);
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &params,
                    offset: (i * stride) as u64,
                    size: wgpu::BufferSize::new(d.params.len() as u64),
                }),
            }];
            for (b, id) in d.buffers.iter().enumerate() {
                entries.push(wgpu::BindGroupEntry {
                    binding: b as u32 + 1,
                    resource: arena.get(*id).as_entire_binding(),
                });
            }
            bind_groups.push(gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&d.label()),
                layout: &compiled.layout,
                entries: &entries,
            }));
        }
        let program = Program {
            params,
            stride,
            bind_groups,
            launches: dispatches
                .iter()
                .map(|d| (d.kernel, d.variant, d.workgroups))
                .collect(),
            buffers: dispatches.iter().map(|d| d.buffers.clone()).collect(),
        };
        gpu.kernels.save();
        program.write_params(gpu, dispatches)?;
        Ok(program)
    }

    /// Replaces every dispatch's parameters and workgroup counts; the kernels and buffers must
    /// be those the program was built with.
    pub fn write_params(&self, gpu: &Gpu, dispatches: &[Dispatch]) -> Result<()> {
        let same = dispatches.len() == self.launches.len()
            && dispatches
                .iter()
                .zip(&self.launches)
                .zip(&self.buffers)
                .all(|((d, (k, variant, _)), b)| {
                    d.kernel == *k && d.variant == *variant && &d.buffers == b
                });
        if !same {
            return Err(Error::Gpu(
                "internal: a dispatch list does not match the program it replays".into(),
            ));
        }
        let mut bytes = vec![0u8; self.stride * dispatches.len()];
        for (i, d) in dispatches.iter().enumerate() {
            bytes[i * self.stride..i * self.stride + d.params.len()].copy_from_slice(&d.params);
        }
        if !bytes.is_empty() {
            gpu.queue.write_buffer(&self.params, 0, &bytes);
        }
        Ok(())
    }

    /// Records every dispatch, in order, into one compute pass of `encoder`.
    pub fn record(&self, gpu: &Gpu, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("shadernet step"),
            timestamp_writes: None,
        });
        for ((kernel, variant, [x, y, z]), bind_group) in
            self.launches.iter().zip(&self.bind_groups)
        {
            pass.set_pipeline(&gpu.kernels.get(&gpu.device, *kernel, *variant).pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(*x, *y, *z);
        }
    }

    /// Records every dispatch in a compute pass of its own whose start and end timestamps go to
    /// queries `2i` and `2i + 1` of `queries` (which needs `2 × dispatches` slots); for
    /// profiling only, since the pass boundaries cost time of their own.
    pub fn record_timed(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        queries: &wgpu::QuerySet,
    ) {
        for (i, ((kernel, variant, [x, y, z]), bind_group)) in
            self.launches.iter().zip(&self.bind_groups).enumerate()
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&kernel.label(*variant)),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&gpu.kernels.get(&gpu.device, *kernel, *variant).pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(*x, *y, *z);
        }
    }

    /// Records the program into one encoder and submits it once.
    pub fn submit(&self, gpu: &Gpu) {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        self.record(gpu, &mut encoder);
        gpu.queue.submit([encoder.finish()]);
        gpu.counters.count(self.launches.len());
    }
}

/// Binds `dispatches`, records them into one encoder, submits once (tests and `verify`).
pub fn run(gpu: &Gpu, arena: &Buffers, dispatches: &[Dispatch]) -> Result<()> {
    Program::new(gpu, arena, dispatches)?.submit(gpu);
    Ok(())
}
