//! Kernels into pipelines: each compiled on first use (the GEMM kernels in one of two block
//! heights, and with unpadded staging rows where the device has too little workgroup memory),
//! through the on-disk pipeline cache when the device has one.

use super::{Kernel, Variant, WORKGROUP_SIZE};
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
    /// Per [`Variant::index`], per kernel (other kernels than the GEMMs use variant 0 only).
    compiled: [[OnceLock<Compiled>; Kernel::ALL.len()]; Variant::COUNT],
    disk: Option<DiskPipelineCache>,
    /// Set when a kernel was compiled since the cache file was last written.
    unsaved: AtomicBool,
    /// Whether the GEMM kernels keep wgpu's runtime checks too (tests: an out-of-bounds access
    /// then reads a clamped index, so results differ from the unchecked build's).
    checked: bool,
}

impl Kernels {
    /// No kernel compiled yet; `disk` keeps compiled pipelines between runs. The GEMM kernels
    /// are compiled without wgpu's runtime checks ([`Kernel::is_gemm`] says why that is safe).
    pub fn new(disk: Option<DiskPipelineCache>) -> Self {
        Kernels {
            compiled: Default::default(),
            disk,
            unsaved: AtomicBool::new(false),
            checked: false,
        }
    }

    /// Like [`Kernels::new`] with no disk cache, but every kernel, the GEMMs included, keeps
    /// wgpu's runtime checks (bounds clamps on every access, loop counters): slower, for tests
    /// that compare the GEMMs' results with and without checks.
    pub fn with_runtime_checks() -> Self {
        Kernels {
            checked: true,
            ..Kernels::new(None)
        }
    }

    /// The compiled pipeline of `kernel` built as `variant` (compiles it the first time;
    /// [`Kernels::save`] then writes the pipeline cache).
    pub fn get(&self, device: &wgpu::Device, kernel: Kernel, variant: Variant) -> &Compiled {
        let slot = Kernel::ALL
            .iter()
            .position(|&k| k == kernel)
            .expect("every kernel is in Kernel::ALL");
        debug_assert!(
            variant == Variant::default() || kernel.is_gemm(),
            "{kernel:?} has one build only"
        );
        self.compiled[variant.index()][slot].get_or_init(|| {
            self.unsaved.store(true, Ordering::Relaxed);
            let cache = self.disk.as_ref().map(|d| &d.cache);
            compile(device, kernel, variant, self.checked, cache)
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

/// The WGSL a kernel is compiled from: the host's `const WG` ([`WORKGROUP_SIZE`]),
/// `common.wgsl`, then the kernel's files ([`Kernel::file`]). A GEMM kernel's source is
/// rewritten for its [`Variant`] (block height, operand precision) and the device's workgroup
/// memory (the lines marked `// host: ...` in `gemm_core.wgsl`).
pub fn kernel_source(kernel: Kernel, variant: Variant, workgroup_bytes: u32) -> String {
    let source = format!(
        "const WG: u32 = {WORKGROUP_SIZE}u;\n{}\n{}",
        include_str!("../../../shaders/common.wgsl"),
        kernel.source()
    );
    if kernel.is_gemm() {
        gemm_source(source, workgroup_bytes, variant)
    } else {
        source
    }
}

/// Replaces the one line of `source` marked `// host: {marker}` (at its end) with `line`
/// (keeping the mark). Panics unless exactly one line carries the mark: the shaders are part
/// of the crate, so a missing or doubled mark is a bug that every build must stop at.
fn rewrite_marked(source: &str, marker: &str, line: &str) -> String {
    let mark = format!("// host: {marker}");
    let marked = source
        .lines()
        .filter(|l| l.trim_end().ends_with(&mark))
        .count();
    assert_eq!(
        marked, 1,
        "the GEMM source must have exactly one line marked `{mark}`, found {marked}"
    );
    let mut out = String::with_capacity(source.len() + line.len());
    for l in source.lines() {
        if l.trim_end().ends_with(&mark) {
            out.push_str(&format!("{line} {mark}"));
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

/// A GEMM kernel's source: for a `narrow` variant, blocks of [`NARROW_BLOCK_M`] rows instead of
/// [`BLOCK_M`]; for a `bf16` one, operands rounded to bfloat16 (to nearest, ties to even, as
/// `cpu::gemm_bf16::round_to_bf16`; a NaN whose payload lies in the low 16 bits alone becomes
/// an infinity, still not finite); for a device offering `workgroup_bytes` of workgroup memory,
/// padded staging rows as written when they fit, else `ROW_PAD` 0 and swizzled rows. The
/// lines replaced are marked `// host: BM`, `// host: operand`, `// host: ROW_PAD` and
/// `// host: swizzled` in `gemm_core.wgsl`.
/// (Text replaced rather than a constant tested in the shader, which was slower:
/// docs/GPU_KERNELS.md, "Choices in the code".)
fn gemm_source(source: String, workgroup_bytes: u32, variant: Variant) -> String {
    let block_m = if variant.narrow {
        NARROW_BLOCK_M
    } else {
        BLOCK_M
    };
    let mut source = rewrite_marked(&source, "BM", &format!("const BM: u32 = {block_m}u;"));
    if variant.bf16 {
        source = rewrite_marked(
            &source,
            "operand",
            "fn operand(v: vec4<f32>) -> vec4<f32> { let b = bitcast<vec4<u32>>(v); \
             return bitcast<vec4<f32>>((b + 0x7FFFu + ((b >> vec4(16u)) & vec4(1u))) \
             & vec4(0xFFFF0000u)); }",
        );
    }
    if workgroup_bytes < padded_staging_bytes(block_m) {
        source = rewrite_marked(&source, "ROW_PAD", "const ROW_PAD: u32 = 0u;");
        source = rewrite_marked(
            &source,
            "swizzled",
            "fn swizzled(kk: u32, q: u32) -> u32 { return q ^ (kk & 7u); }",
        );
    }
    source
}

fn compile(
    device: &wgpu::Device,
    kernel: Kernel,
    variant: Variant,
    checked: bool,
    cache: Option<&wgpu::PipelineCache>,
) -> Compiled {
    let workgroup_bytes = device.limits().max_compute_workgroup_storage_size;
    let source = kernel_source(kernel, variant, workgroup_bytes);
    let label = kernel.label(variant);
    let descriptor = wgpu::ShaderModuleDescriptor {
        label: Some(&label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    };
    let module = if kernel.is_gemm() && !checked {
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
        let source = |narrow, bytes| {
            let variant = Variant {
                narrow,
                bf16: false,
            };
            kernel_source(Kernel::Matmul, variant, bytes)
        };
        let count = |s: &str, what: &str| s.matches(what).count();
        assert_eq!(PADDED_STAGING_BYTES, 16_896);
        let wide = source(false, 16_896);
        assert_eq!(count(&wide, "const BM: u32 = 128u; // host: BM"), 1);
        assert_eq!(count(&wide, "const ROW_PAD: u32 = 1u; // host: ROW_PAD"), 1);
        assert_eq!(count(&wide, "{ return q; } // host: swizzled"), 1);
        let narrow = source(true, 16_896);
        assert_eq!(count(&narrow, "const BM: u32 = 64u; // host: BM"), 1);
        assert_eq!(count(&narrow, "const BM: u32 = 128u;"), 0);
        assert_eq!(
            source(true, 12_800),
            narrow,
            "narrow padded rows fit 12,800 bytes"
        );
        let compact = source(false, 16_384);
        assert_eq!(
            count(&compact, "const ROW_PAD: u32 = 0u; // host: ROW_PAD"),
            1
        );
        assert_eq!(
            count(&compact, "return q ^ (kk & 7u); } // host: swizzled"),
            1
        );
        assert_eq!(count(&compact, "const ROW_PAD: u32 = 1u;"), 0);
        assert!(wide.starts_with(&format!("const WG: u32 = {WORKGROUP_SIZE}u;")));
        // Operands pass through unless the variant rounds them to bfloat16.
        assert_eq!(count(&wide, "{ return v; } // host: operand"), 1);
        let bf16 = kernel_source(
            Kernel::Matmul,
            Variant {
                narrow: false,
                bf16: true,
            },
            16_896,
        );
        assert_eq!(count(&bf16, "{ return v; } // host: operand"), 0);
        assert_eq!(count(&bf16, "& vec4(0xFFFF0000u)); } // host: operand"), 1);
    }

    #[test]
    #[should_panic(expected = "exactly one line marked `// host: BM`, found 0")]
    fn a_missing_mark_stops_every_build() {
        rewrite_marked("const BM: u32 = 128u;", "BM", "const BM: u32 = 64u;");
    }

    #[test]
    #[should_panic(expected = "found 2")]
    fn a_doubled_mark_stops_every_build() {
        rewrite_marked("a // host: BM\nb // host: BM\n", "BM", "c");
    }
}
