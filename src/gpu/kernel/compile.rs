//! Kernels into pipelines: each compiled on first use (the GEMM kernels in one of two block
//! heights, and with unpadded staging rows where the device has too little workgroup memory),
//! through the on-disk pipeline cache when the device has one.

use super::Kernel;
use crate::gpu::ops::gemm::{BLOCK_K, BLOCK_M, BLOCK_N, NARROW_BLOCK_M};
use crate::gpu::pipeline_cache::DiskPipelineCache;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// A compiled kernel: its bind-group layout and pipeline.
pub struct Compiled {
    /// Binding 0: the `Params` uniform; 1..: storage buffers as [`Kernel::storage`] says.
    pub layout: wgpu::BindGroupLayout,
    /// The compute pipeline (entry point `main`).
    pub pipeline: wgpu::ComputePipeline,
}

/// Every kernel's pipeline, compiled on first use, through the on-disk pipeline cache when
/// the device has one.
pub struct Kernels {
    compiled: [OnceLock<Compiled>; Kernel::ALL.len()],
    /// The GEMM kernels built with [`NARROW_BLOCK_M`]-row blocks (other slots unused).
    narrow: [OnceLock<Compiled>; Kernel::ALL.len()],
    disk: Option<DiskPipelineCache>,
    /// Set when a kernel was compiled since the cache file was last written.
    unsaved: AtomicBool,
}

impl Kernels {
    /// No kernel compiled yet; `disk` keeps compiled pipelines between runs.
    pub fn new(disk: Option<DiskPipelineCache>) -> Self {
        Kernels {
            compiled: Default::default(),
            narrow: Default::default(),
            disk,
            unsaved: AtomicBool::new(false),
        }
    }

    /// The compiled pipeline of `kernel`, for a GEMM kernel with `narrow` blocks or not
    /// (compiles it the first time; [`Kernels::save`] then writes the pipeline cache).
    pub fn get(&self, device: &wgpu::Device, kernel: Kernel, narrow: bool) -> &Compiled {
        let slot = Kernel::ALL
            .iter()
            .position(|&k| k == kernel)
            .expect("every kernel is in Kernel::ALL");
        debug_assert!(
            !narrow || kernel.is_gemm(),
            "{kernel:?} has no narrow blocks"
        );
        let slots = if narrow { &self.narrow } else { &self.compiled };
        slots[slot].get_or_init(|| {
            self.unsaved.store(true, Ordering::Relaxed);
            compile(device, kernel, narrow, self.disk.as_ref().map(|d| &d.cache))
        })
    }

    /// Writes the on-disk pipeline cache if kernels were compiled since it was last written
    /// ([`Program::new`](super::Program::new) calls it once for all the kernels of its list).
    pub fn save(&self) {
        if self.unsaved.swap(false, Ordering::Relaxed)
            && let Some(disk) = &self.disk
        {
            disk.save();
        }
    }

    /// The on-disk pipeline cache, when the device has one.
    pub fn disk_cache(&self) -> Option<&DiskPipelineCache> {
        self.disk.as_ref()
    }
}

/// Bytes of workgroup memory the GEMM core stages its slices in with padded rows (`a_tile`
/// and `b_tile` in `gemm_core.wgsl`: `BLOCK_K` rows of `BLOCK_M/4 + 1` and `BLOCK_N/4 + 1`
/// vec4s): 16,896, a little over the 16,384 that WebGPU guarantees. Unpadded they take 16,384;
/// narrow blocks take 12,800 padded.
pub const PADDED_STAGING_BYTES: u32 = padded_staging_bytes(BLOCK_M);

/// [`PADDED_STAGING_BYTES`] for blocks of `block_m` rows.
const fn padded_staging_bytes(block_m: usize) -> u32 {
    (16 * BLOCK_K * (block_m / 4 + 1 + BLOCK_N / 4 + 1)) as u32
}

/// A GEMM kernel's source: with `narrow`, blocks of [`NARROW_BLOCK_M`] rows instead of
/// [`BLOCK_M`]; for a device offering `workgroup_bytes` of workgroup memory, padded staging
/// rows as written when they fit, else `ROW_PAD` 0 and swizzled rows. (Text replaced rather
/// than a constant tested in the shader: a select on `ROW_PAD` made a seedtf step 4% slower on
/// an H200.)
fn gemm_source(source: String, workgroup_bytes: u32, narrow: bool) -> String {
    let (source, padded_bytes) = if narrow {
        let wide = format!("const BM: u32 = {BLOCK_M}u;");
        debug_assert!(
            source.contains(&wide),
            "gemm_core.wgsl declares BM = BLOCK_M"
        );
        let source = source.replace(&wide, &format!("const BM: u32 = {NARROW_BLOCK_M}u;"));
        (source, padded_staging_bytes(NARROW_BLOCK_M))
    } else {
        (source, PADDED_STAGING_BYTES)
    };
    const PADDED: [(&str, &str); 2] = [
        ("const ROW_PAD: u32 = 1u;", "const ROW_PAD: u32 = 0u;"),
        (
            "fn swizzled(kk: u32, q: u32) -> u32 { return q; }",
            "fn swizzled(kk: u32, q: u32) -> u32 { return q ^ (kk & 7u); }",
        ),
    ];
    if workgroup_bytes >= padded_bytes {
        return source;
    }
    PADDED.iter().fold(source, |s, (padded, unpadded)| {
        debug_assert!(s.contains(padded), "gemm_core.wgsl declares {padded}");
        s.replace(padded, unpadded)
    })
}

fn compile(
    device: &wgpu::Device,
    kernel: Kernel,
    narrow: bool,
    cache: Option<&wgpu::PipelineCache>,
) -> Compiled {
    let mut source = format!(
        "{}\n{}",
        include_str!("../../../shaders/common.wgsl"),
        kernel.source()
    );
    if kernel.is_gemm() {
        source = gemm_source(
            source,
            device.limits().max_compute_workgroup_storage_size,
            narrow,
        );
    }
    let label = kernel.label(narrow);
    let descriptor = wgpu::ShaderModuleDescriptor {
        label: Some(&label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    };
    let module = if kernel.is_gemm() {
        // SAFETY: see `Kernel::is_gemm`: these shaders index only inside their buffers and
        // workgroup arrays, and every loop ends.
        unsafe {
            device.create_shader_module_trusted(descriptor, wgpu::ShaderRuntimeChecks::unchecked())
        }
    } else {
        device.create_shader_module(descriptor)
    };
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }];
    for (i, &read_only) in kernel.storage().iter().enumerate() {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: i as u32 + 1,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
    }
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&label),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&label),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&label),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("main"),
        // No zeroing of workgroup memory when a workgroup starts (WebGPU's default, which naga
        // implements where the driver cannot as one invocation storing every element, then a
        // barrier): every kernel writes its workgroup arrays before a barrier and reads only
        // what was written.
        compilation_options: wgpu::PipelineCompilationOptions {
            zero_initialize_workgroup_memory: false,
            ..Default::default()
        },
        cache,
    });
    Compiled { layout, pipeline }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_rows_are_unpadded_only_where_the_padded_slices_do_not_fit() {
        let source = || Kernel::Matmul.source().to_string();
        assert_eq!(PADDED_STAGING_BYTES, 16_896);
        assert_eq!(gemm_source(source(), 16_896, false), source());
        let narrow = gemm_source(source(), 16_896, true);
        assert!(
            narrow.contains("const BM: u32 = 64u;") && !narrow.contains("const BM: u32 = 128u;")
        );
        assert_eq!(gemm_source(source(), 12_800, true), narrow);
        let compact = gemm_source(source(), 16_384, false);
        assert!(compact.contains("const ROW_PAD: u32 = 0u;"));
        assert!(compact.contains("return q ^ (kk & 7u);"));
        assert!(!compact.contains("const ROW_PAD: u32 = 1u;"));
    }
}
