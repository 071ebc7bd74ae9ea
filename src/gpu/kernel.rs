//! Kernels, buffers and dispatch lists.
//!
//! Every shader in `shaders/` follows one skeleton: `common.wgsl` prepended (the shared
//! workgroup size of 64 and the flat-index helpers), a `Params` uniform at binding 0 padded to a
//! multiple of 16 bytes (its host twin is a `#[repr(C)] bytemuck::Pod` struct in
//! [`super::ops`]), then storage buffers at bindings 1.., and a bounds guard on the first line
//! of `main`. Kernels of one family share a `*_common.wgsl` prepended to their file (the
//! `Params` and helpers of the convolutions, dense layers, max-pools and losses). The matrix
//! products share one `main`: an op's file supplies its operands and output (`load_a4`,
//! `load_b4`, `store_c`, `partials`) and `gemm_core.wgsl` (or, for the sum of a split product,
//! `gemm_reduce.wgsl`) is appended; the losses share theirs, in `loss_common.wgsl` (one
//! workgroup looping over the batch, no bounds guard). The bind-group layouts are written out
//! here, with `read_only` set, so this table documents every shader's interface.
//!
//! Host dispatch is data: a step is a `Vec<`[`Dispatch`]`>` (kernel, workgroup counts, buffer
//! ids, parameter bytes) that a test can inspect before anything runs. A [`Program`] turns a
//! list into bind groups once and replays it, with new parameter bytes, every step.

use super::context::Gpu;
use super::ops::gemm::{BLOCK_K, BLOCK_M, BLOCK_N, NARROW_BLOCK_M};
use super::pipeline_cache::DiskPipelineCache;
use crate::error::{Error, Result};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Invocations per workgroup of every kernel but the GEMM core (`gemm_core.wgsl` sets its own
/// from its block size: 256 for the 128 x 128 blocks).
pub const WORKGROUP_SIZE: u32 = 64;

/// The most workgroups a launch puts in one dimension (WebGPU's guaranteed minimum).
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// Every compute kernel: one per op file in `shaders/`, two (the product and the sum of its
/// split) per matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `matmul.wgsl` on `gemm_core.wgsl`: `C = op(A)·op(B)` (benchmarks and tests).
    Matmul,
    /// `matmul.wgsl` on `gemm_reduce.wgsl`: the sum of a split matmul's partial products.
    MatmulReduce,
    /// `dense_forward.wgsl` on `gemm_core.wgsl`: `x·Wᵀ` plus bias and activation.
    DenseForward,
    /// `dense_forward.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products, plus
    /// bias and activation.
    DenseForwardReduce,
    /// `dense_backward_data.wgsl` on `gemm_core.wgsl`: `dx = dy·W`, through the backward of a
    /// fused activation.
    DenseBackwardData,
    /// `dense_backward_data.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products.
    DenseBackwardDataReduce,
    /// `dense_backward_weights.wgsl` on `gemm_core.wgsl`: `dW` and `db` of a dense layer.
    DenseBackwardWeights,
    /// `dense_backward_weights.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial
    /// products.
    DenseBackwardWeightsReduce,
    /// `conv_forward.wgsl` on `gemm_core.wgsl`: convolution plus bias and activation, an
    /// implicit GEMM.
    ConvForward,
    /// `conv_forward.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products, plus
    /// bias and activation.
    ConvForwardReduce,
    /// `conv_backward_data.wgsl` on `gemm_core.wgsl`: `dx` of a convolution, gathered, through
    /// the backward of a fused activation.
    ConvBackwardData,
    /// `conv_backward_data.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial products.
    ConvBackwardDataReduce,
    /// `conv_backward_weights.wgsl` on `gemm_core.wgsl`: `dW` and `db` of a convolution.
    ConvBackwardWeights,
    /// `conv_backward_weights.wgsl` on `gemm_reduce.wgsl`: the sum of its split partial
    /// products.
    ConvBackwardWeightsReduce,
    /// `maxpool_forward.wgsl`: max and argmax of each window.
    MaxPoolForward,
    /// `maxpool_dropout_forward.wgsl`: max and argmax of each window, times the mask of the
    /// dropout after the pool, fused in.
    MaxPoolDropoutForward,
    /// `maxpool_backward.wgsl`: `dx` routed through the argmax, gathered, through the backwards
    /// of a fused dropout and a fused activation.
    MaxPoolBackward,
    /// `activation_forward.wgsl`: tanh or ReLU.
    ActivationForward,
    /// `activation_backward.wgsl`: their derivatives from the forward output, where no
    /// neighbouring kernel takes them in.
    ActivationBackward,
    /// `dropout_forward.wgsl`: counter-based mask and `y = x·mask`.
    DropoutForward,
    /// `dropout_backward.wgsl`: `dx = dy·mask`, through the backward of a fused activation.
    DropoutBackward,
    /// `softmax_cross_entropy.wgsl`: probabilities and gradient, and the batch's loss and
    /// correct count added to the running totals, in one workgroup.
    SoftmaxCrossEntropy,
    /// `mse.wgsl`: gradient of the squared error, and the batch's loss and correct count added
    /// to the running totals, in one workgroup.
    Mse,
    /// `sgd.wgsl`: `w ← w − lr·g`.
    Sgd,
    /// `adam.wgsl`: Adam with both moments on the device.
    Adam,
    /// `gather.wgsl`: batch images from the device-resident byte dataset, scaled to [0, 1].
    Gather,
    /// `batchnorm_forward.wgsl`: batch (or running) statistics and `y = γ·x̂ + β`, one
    /// workgroup per feature.
    BatchNormForward,
    /// `batchnorm_backward.wgsl`: `dγ`, `dβ` and `dx`, one workgroup per feature.
    BatchNormBackward,
    /// `augment.wgsl`: random affine warps of a gathered training batch.
    Augment,
}

/// Storage bindings of a kernel, in binding order (from 1): `true` = read-only.
const R: bool = true;
const W: bool = false;

impl Kernel {
    /// All kernels.
    pub const ALL: [Kernel; 29] = [
        Kernel::Matmul,
        Kernel::MatmulReduce,
        Kernel::DenseForward,
        Kernel::DenseForwardReduce,
        Kernel::DenseBackwardData,
        Kernel::DenseBackwardDataReduce,
        Kernel::DenseBackwardWeights,
        Kernel::DenseBackwardWeightsReduce,
        Kernel::ConvForward,
        Kernel::ConvForwardReduce,
        Kernel::ConvBackwardData,
        Kernel::ConvBackwardDataReduce,
        Kernel::ConvBackwardWeights,
        Kernel::ConvBackwardWeightsReduce,
        Kernel::MaxPoolForward,
        Kernel::MaxPoolDropoutForward,
        Kernel::MaxPoolBackward,
        Kernel::ActivationForward,
        Kernel::ActivationBackward,
        Kernel::DropoutForward,
        Kernel::DropoutBackward,
        Kernel::SoftmaxCrossEntropy,
        Kernel::Mse,
        Kernel::Sgd,
        Kernel::Adam,
        Kernel::Gather,
        Kernel::BatchNormForward,
        Kernel::BatchNormBackward,
        Kernel::Augment,
    ];

    /// The op's file name in `shaders/` (labels and profiles show it); the second pass of a
    /// split GEMM adds " (split sum)". A kernel is compiled from `common.wgsl`, its family's
    /// `*_common.wgsl` if it has one, its file, and for a matrix product `gemm_core.wgsl` or
    /// `gemm_reduce.wgsl`.
    pub fn file(self) -> &'static str {
        self.info().0
    }

    /// The storage bindings (1, 2, ...): `true` where the shader only reads the buffer.
    pub fn storage(self) -> &'static [bool] {
        self.info().2
    }

    fn source(self) -> &'static str {
        self.info().1
    }

    /// Whether this is a GEMM kernel (the `main` of `gemm_core.wgsl`). These are compiled
    /// without wgpu's runtime checks: there they cost 8% of a 4096³ matmul and 9% of a seedtf
    /// step at batch 128 on an H200 (benches/GPU_KERNELS.md, v11), mostly the clamp on every
    /// workgroup-memory index and the counter naga adds to every loop. The core and the product
    /// files keep their accesses in bounds themselves: every load and store is guarded by the
    /// matrix sizes (`M`, `N`, the split's end of `k`) that the host sized the buffers for, a
    /// load's fallback index is the first element of a non-empty buffer, the workgroup-memory
    /// indices are in range by construction, and every loop runs to a uniform bound. On an
    /// adapter with less workgroup memory than their padded staging rows take
    /// ([`PADDED_STAGING_BYTES`] for 128-row blocks), they are compiled with unpadded ones
    /// (`ROW_PAD` 0 in `gemm_core.wgsl`).
    pub fn is_gemm(self) -> bool {
        use Kernel::*;
        matches!(
            self,
            Matmul
                | DenseForward
                | DenseBackwardData
                | DenseBackwardWeights
                | ConvForward
                | ConvBackwardData
                | ConvBackwardWeights
        )
    }

    fn info(self) -> (&'static str, &'static str, &'static [bool]) {
        macro_rules! shader {
            ($file:literal, $bindings:expr) => {
                (
                    $file,
                    include_str!(concat!("../../shaders/", $file)),
                    $bindings,
                )
            };
            // An op's file after the declarations and helpers it shares with a sibling.
            ($file:literal after $common:literal, $bindings:expr) => {
                (
                    $file,
                    concat!(
                        include_str!(concat!("../../shaders/", $common)),
                        "\n",
                        include_str!(concat!("../../shaders/", $file)),
                    ),
                    $bindings,
                )
            };
            // A matrix product: the op's file (after the layer kind's `*_common.wgsl`),
            // then the shared `main` of `gemm_core.wgsl`, or of `gemm_reduce.wgsl` for the sum
            // of a split product.
            ($main:literal, $name:expr, $file:literal $(after $common:literal)?, $bindings:expr) => {
                (
                    $name,
                    concat!(
                        $(include_str!(concat!("../../shaders/", $common)), "\n",)?
                        include_str!(concat!("../../shaders/", $file)),
                        "\n",
                        include_str!(concat!("../../shaders/", $main)),
                    ),
                    $bindings,
                )
            };
        }
        // A matrix product's two kernels share a file and bindings: the GEMM (the `main` of
        // `gemm_core.wgsl`) and, for the `*Reduce` kernel, the sum of a split product's partial
        // sums (`gemm_reduce.wgsl`).
        use Kernel::*;
        let split_sum = matches!(
            self,
            MatmulReduce
                | DenseForwardReduce
                | DenseBackwardDataReduce
                | DenseBackwardWeightsReduce
                | ConvForwardReduce
                | ConvBackwardDataReduce
                | ConvBackwardWeightsReduce
        );
        macro_rules! product {
            ($file:literal $(after $common:literal)?, $bindings:expr) => {
                if split_sum {
                    shader!(
                        "gemm_reduce.wgsl",
                        concat!($file, " (split sum)"),
                        $file $(after $common)?,
                        $bindings
                    )
                } else {
                    shader!("gemm_core.wgsl", $file, $file $(after $common)?, $bindings)
                }
            };
        }
        match self {
            // a, b, c, partials
            Matmul | MatmulReduce => product!("matmul.wgsl", &[R, R, W, W]),
            // x, params, y, partials
            DenseForward | DenseForwardReduce => {
                product!("dense_forward.wgsl" after "dense_common.wgsl", &[R, R, W, W])
            }
            // dy, params, activation output, dropout mask, dx, partials
            DenseBackwardData | DenseBackwardDataReduce => {
                product!("dense_backward_data.wgsl" after "dense_common.wgsl", &[R, R, R, R, W, W])
            }
            // x, dy, grads, partials
            DenseBackwardWeights | DenseBackwardWeightsReduce => {
                product!("dense_backward_weights.wgsl" after "dense_common.wgsl", &[R, R, W, W])
            }
            // x, params, y, partials
            ConvForward | ConvForwardReduce => {
                product!("conv_forward.wgsl" after "conv_common.wgsl", &[R, R, W, W])
            }
            // dy, params, activation output, dropout mask, dx, partials
            ConvBackwardData | ConvBackwardDataReduce => {
                product!("conv_backward_data.wgsl" after "conv_common.wgsl", &[R, R, R, R, W, W])
            }
            // x, dy, grads, partials
            ConvBackwardWeights | ConvBackwardWeightsReduce => {
                product!("conv_backward_weights.wgsl" after "conv_common.wgsl", &[R, R, W, W])
            }
            // x, y, argmax
            MaxPoolForward => {
                shader!("maxpool_forward.wgsl" after "maxpool_common.wgsl", &[R, W, W])
            }
            // x, y, argmax, mask
            MaxPoolDropoutForward => {
                shader!("maxpool_dropout_forward.wgsl" after "maxpool_common.wgsl", &[R, W, W, W])
            }
            // dy, argmax, mask, x, dx
            MaxPoolBackward => shader!("maxpool_backward.wgsl", &[R, R, R, R, W]),
            // x, y
            ActivationForward => shader!("activation_forward.wgsl", &[R, W]),
            // y, dy, dx
            ActivationBackward => shader!("activation_backward.wgsl", &[R, R, W]),
            // x, y, mask
            DropoutForward => shader!("dropout_forward.wgsl", &[R, W, W]),
            // dy, mask, x, dx
            DropoutBackward => shader!("dropout_backward.wgsl", &[R, R, R, W]),
            // labels, totals, logits, probs, dz
            SoftmaxCrossEntropy => {
                shader!("softmax_cross_entropy.wgsl" after "loss_common.wgsl", &[R, W, R, W, W])
            }
            // labels, totals, y, dy
            Mse => shader!("mse.wgsl" after "loss_common.wgsl", &[R, W, R, W]),
            // grads, params
            Sgd => shader!("sgd.wgsl", &[R, W]),
            // grads, params, m, v
            Adam => shader!("adam.wgsl", &[R, W, W, W]),
            // indices, images, all_labels, x, labels
            Gather => shader!("gather.wgsl", &[R, R, R, W, W]),
            // x, params, y, saved, running
            BatchNormForward => shader!("batchnorm_forward.wgsl", &[R, R, W, W, W]),
            // x, dy, params, saved, grads, dx
            BatchNormBackward => shader!("batchnorm_backward.wgsl", &[R, R, R, R, W, W]),
            // src, x
            Augment => shader!("augment.wgsl", &[R, W]),
        }
    }
}

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
    /// ([`Program::new`] calls it once for all the kernels of its list).
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
    const WIDE: &str = "const BM: u32 = 128u;";
    debug_assert!(source.contains(WIDE), "gemm_core.wgsl declares {WIDE}");
    debug_assert_eq!(BLOCK_M, 128, "{WIDE} is gemm_core.wgsl's BLOCK_M");
    let (source, padded_bytes) = if narrow {
        let source = source.replace(WIDE, &format!("const BM: u32 = {NARROW_BLOCK_M}u;"));
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
        include_str!("../../shaders/common.wgsl"),
        kernel.source()
    );
    if kernel.is_gemm() {
        source = gemm_source(
            source,
            device.limits().max_compute_workgroup_storage_size,
            narrow,
        );
    }
    let descriptor = wgpu::ShaderModuleDescriptor {
        label: Some(kernel.file()),
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
        label: Some(kernel.file()),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(kernel.file()),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.file()),
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

/// An index into a [`Buffers`] arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufferId(pub usize);

/// Device buffers, allocated once and named by [`BufferId`].
#[derive(Default)]
pub struct Buffers {
    /// `None` once released (ids are never reused).
    list: Vec<Option<wgpu::Buffer>>,
}

impl Buffers {
    /// An empty arena.
    pub fn new() -> Self {
        Buffers::default()
    }

    /// Allocates a storage buffer of `bytes` bytes (rounded up to 4, at least 4).
    pub fn alloc(&mut self, gpu: &Gpu, label: &str, bytes: usize) -> BufferId {
        self.list
            .push(Some(gpu.storage_buffer(label, bytes as u64)));
        BufferId(self.list.len() - 1)
    }

    /// A buffer holding `data` (`f32` or `u32` words).
    pub fn with_data<T: bytemuck::Pod>(&mut self, gpu: &Gpu, label: &str, data: &[T]) -> BufferId {
        let id = self.alloc(gpu, label, std::mem::size_of_val(data));
        self.write(gpu, id, 0, data);
        id
    }

    /// The buffer `id`.
    ///
    /// # Panics
    /// If `id` was released (a bug in the caller: ids are never reused).
    pub fn get(&self, id: BufferId) -> &wgpu::Buffer {
        self.list[id.0]
            .as_ref()
            .expect("a released buffer was used")
    }

    /// Frees the buffer `id` now; the id is never reused.
    pub fn release(&mut self, id: BufferId) {
        if let Some(buffer) = self.list[id.0].take() {
            buffer.destroy();
        }
    }

    /// Total bytes allocated.
    pub fn total_bytes(&self) -> u64 {
        self.list.iter().flatten().map(|b| b.size()).sum()
    }

    /// Queues a write of `data` at element `offset` (in units of `T`); it lands before the next
    /// submitted work.
    pub fn write<T: bytemuck::Pod>(&self, gpu: &Gpu, id: BufferId, offset: usize, data: &[T]) {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.is_empty() {
            return;
        }
        let offset = (offset * std::mem::size_of::<T>()) as u64;
        if bytes.len().is_multiple_of(4) {
            gpu.queue.write_buffer(self.get(id), offset, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            gpu.queue.write_buffer(self.get(id), offset, &padded);
        }
    }

    /// Fills `len` `f32` elements from element 0 with `value` (tests poison outputs with NaN).
    pub fn fill_f32(&self, gpu: &Gpu, id: BufferId, len: usize, value: f32) {
        self.write(gpu, id, 0, &vec![value; len]);
    }

    /// Reads `len` `f32` values from element 0 (waits for all submitted work).
    pub fn read_f32(&self, gpu: &Gpu, id: BufferId, len: usize) -> Result<Vec<f32>> {
        gpu.read_f32(self.get(id), 0, len)
    }

    /// Reads `len` `u32` values from element 0 (waits for all submitted work).
    pub fn read_u32(&self, gpu: &Gpu, id: BufferId, len: usize) -> Result<Vec<u32>> {
        gpu.read_u32(self.get(id), 0, len)
    }
}

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
    /// GEMM kernels only: built with [`NARROW_BLOCK_M`]-row blocks (a product of at most that
    /// many rows, see [`GemmParams::narrow`](super::ops::gemm::GemmParams::narrow)).
    pub narrow: bool,
}

impl Dispatch {
    /// How profiles and debuggers name this launch: the kernel's file, with " (64-row blocks)"
    /// for a GEMM on narrow blocks.
    pub fn label(&self) -> String {
        label(self.kernel, self.narrow)
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
            narrow: false,
        }
    }
}

/// See [`Dispatch::label`].
fn label(kernel: Kernel, narrow: bool) -> String {
    if narrow {
        format!("{} ({NARROW_BLOCK_M}-row blocks)", kernel.file())
    } else {
        kernel.file().to_string()
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
    launches: Vec<(Kernel, bool, [u32; 3])>,
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
            let compiled = gpu.kernels.get(&gpu.device, d.kernel, d.narrow);
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
                label: Some(d.kernel.file()),
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
                .map(|d| (d.kernel, d.narrow, d.workgroups))
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
                .all(|((d, (k, narrow, _)), b)| {
                    d.kernel == *k && d.narrow == *narrow && &d.buffers == b
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
        for ((kernel, narrow, [x, y, z]), bind_group) in self.launches.iter().zip(&self.bind_groups)
        {
            pass.set_pipeline(&gpu.kernels.get(&gpu.device, *kernel, *narrow).pipeline);
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
        for (i, ((kernel, narrow, [x, y, z]), bind_group)) in
            self.launches.iter().zip(&self.bind_groups).enumerate()
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&label(*kernel, *narrow)),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&gpu.kernels.get(&gpu.device, *kernel, *narrow).pipeline);
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
