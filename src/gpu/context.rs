//! Adapter discovery. All direct use of the `wgpu` instance API lives here, because that API
//! changes between releases. [`Gpu`] is the opened device every GPU op takes.

use super::kernel::Kernels;
use super::pipeline_cache::DiskPipelineCache;
use crate::error::{Error, Result};

/// What `shadernet info` shows of one adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Vulkan, Metal, Dx12 or Gl.
    pub backend: String,
    /// DiscreteGpu, IntegratedGpu, Cpu, ...
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// Whether it is a software rasteriser (device type Cpu).
    pub is_software: bool,
    /// Largest storage buffer binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Largest dispatch per dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Most invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroup shared memory, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Storage buffers per shader stage.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Whether GPU timestamp queries are available.
    pub timestamp_query: bool,
}

/// A wgpu instance honouring `WGPU_BACKEND` (e.g. `vulkan`, `metal`, `dx12`, `gl`), after
/// [`check_backend_env`].
pub fn instance() -> Result<wgpu::Instance> {
    check_backend_env()?;
    Ok(wgpu::Instance::new(
        wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
    ))
}

/// The names `WGPU_BACKEND` may list: wgpu's names of the native backends, each group's
/// aliases after its first name (wgpu's `webgpu`, for browsers, and `noop` find no adapter
/// here).
const BACKEND_NAMES: [&[&str]; 4] = [
    &["vulkan", "vk"],
    &["metal", "mtl"],
    &["dx12", "d3d12"],
    &["gl", "gles", "opengl"],
];

/// Refuses a `WGPU_BACKEND` that names something other than backends: wgpu skips unknown
/// names with a log line, so `WGPU_BACKEND=nonsense` would search no backend at all and end in
/// "no adapter", pointing at drivers instead of at the variable. Unset is fine (all backends).
pub fn check_backend_env() -> Result<()> {
    let Some(value) = std::env::var_os("WGPU_BACKEND") else {
        return Ok(());
    };
    let valid = || {
        BACKEND_NAMES
            .iter()
            .map(|names| match names {
                [one] => one.to_string(),
                [first, aliases @ ..] => format!("{first} ({})", aliases.join(", ")),
                [] => String::new(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let shown = value.to_string_lossy();
    let shown: String = shown.chars().take(60).collect();
    let bad = |what: String| {
        Err(Error::Gpu(format!(
            "WGPU_BACKEND={shown:?}: {what}; expected one or more of {}, separated by commas \
             (or leave WGPU_BACKEND unset to search every backend)",
            valid()
        )))
    };
    let Some(text) = value.to_str() else {
        return bad("the value is not UTF-8 text".into());
    };
    for name in text.split(',') {
        let name = name.trim().to_lowercase();
        if !BACKEND_NAMES
            .iter()
            .any(|names| names.contains(&name.as_str()))
        {
            let name: String = name.chars().take(40).collect();
            return bad(if name.is_empty() {
                "an empty name is not a backend".into()
            } else {
                format!("`{name}` is not a backend")
            });
        }
    }
    Ok(())
}

/// Every adapter wgpu can see, in the order it reports them; an error only for a bad
/// `WGPU_BACKEND` ([`check_backend_env`]).
pub fn list_adapters() -> Result<Vec<AdapterSummary>> {
    let adapters = pollster::block_on(instance()?.enumerate_adapters(wgpu::Backends::all()));
    Ok(adapters.iter().map(summarise).collect())
}

fn summarise(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let limits = adapter.limits();
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        is_software: info.device_type == wgpu::DeviceType::Cpu,
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_buffer_size: limits.max_buffer_size,
        max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
        max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
        timestamp_query: adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY),
    }
}

/// An opened GPU: the adapter's description, the device and its queue, and the limits the
/// device was created with (the adapter's own, not the conservative defaults).
///
/// Code that uses the GPU takes `&Gpu`. Reading data back goes through [`Gpu::read_bytes`],
/// the one read-back path (copy → `map_async` → poll).
pub struct Gpu {
    /// What the adapter is (as `shadernet info` prints it).
    pub summary: AdapterSummary,
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The limits the device was created with.
    pub limits: wgpu::Limits,
    /// The features enabled on the device (`TIMESTAMP_QUERY` when the adapter has it).
    pub features: wgpu::Features,
    /// Compiled pipelines, one per kernel, built on first use.
    pub kernels: Kernels,
    /// Work sent to the queue so far, for `bench`.
    pub counters: Counters,
}

/// How much work has been sent to a device's queue: submits (steps and read-backs) and
/// compute dispatches.
#[derive(Debug, Default)]
pub struct Counters {
    /// `queue.submit` calls.
    pub submits: std::sync::atomic::AtomicU64,
    /// Compute dispatches recorded into submitted work.
    pub dispatches: std::sync::atomic::AtomicU64,
}

impl Counters {
    /// Counts one submit carrying `dispatches` dispatches.
    pub fn count(&self, dispatches: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.submits.fetch_add(1, Relaxed);
        self.dispatches.fetch_add(dispatches as u64, Relaxed);
    }

    /// (submits, dispatches) so far.
    pub fn read(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.submits.load(Relaxed), self.dispatches.load(Relaxed))
    }
}

/// How to get a GPU when there is none: shown in errors and by the tests.
pub const NO_ADAPTER_HINT: &str = "no GPU adapter was found. ---> HINT: install a Vulkan driver; \
     with no GPU, `apt-get install -y mesa-vulkan-drivers` (Debian/Ubuntu) gives Mesa's lavapipe, \
     a software Vulkan device that runs every shader on the CPU. `WGPU_BACKEND` (vulkan, metal, \
     dx12, gl) restricts which backends are searched.";

impl Gpu {
    /// Opens a GPU. With `adapter_name`, the first adapter whose name contains it
    /// (case-insensitive); without, wgpu's high-performance choice. Honours `WGPU_BACKEND`.
    /// Requests the adapter's own limits and, where available, `TIMESTAMP_QUERY`.
    ///
    /// Errors ([`Error::Gpu`]) say what was searched and how to get an adapter. Blocks until
    /// the device is open: native code only; a browser awaits [`Gpu::request`].
    pub fn new(adapter_name: Option<&str>) -> Result<Gpu> {
        pollster::block_on(Self::request(adapter_name))
    }

    /// [`Gpu::new`] without blocking, for a browser's event loop (WebGPU answers adapter and
    /// device requests asynchronously); native code may await it too.
    pub async fn request(adapter_name: Option<&str>) -> Result<Gpu> {
        let adapter = Self::find_adapter(adapter_name).await?;
        Self::open_async(&adapter, adapter.limits()).await
    }

    /// The adapter [`Gpu::new`] opens: with `adapter_name`, the first whose name contains it
    /// (case-insensitive); without, wgpu's high-performance choice.
    pub fn adapter(adapter_name: Option<&str>) -> Result<wgpu::Adapter> {
        pollster::block_on(Self::find_adapter(adapter_name))
    }

    async fn find_adapter(adapter_name: Option<&str>) -> Result<wgpu::Adapter> {
        let instance = instance()?;
        let adapter = match adapter_name {
            Some(name) => {
                let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
                let wanted = name.to_lowercase();
                let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
                let found = adapters
                    .into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&wanted));
                match found {
                    Some(adapter) => adapter,
                    None if names.is_empty() => return Err(Error::Gpu(NO_ADAPTER_HINT.into())),
                    None => {
                        return Err(Error::Gpu(format!(
                            "no adapter's name contains {name:?}; the adapters are: {}",
                            names.join(", ")
                        )));
                    }
                }
            }
            None => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    force_fallback_adapter: false,
                    compatible_surface: None,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::Gpu(format!("{NO_ADAPTER_HINT} (wgpu: {e})")))?,
        };
        Ok(adapter)
    }

    /// Opens the first hardware adapter (device type other than `Cpu`), or `None` when there
    /// is only a software one or none: what `--backend auto` wants (then the CPU executor).
    pub fn hardware() -> Result<Option<Gpu>> {
        let adapters = pollster::block_on(instance()?.enumerate_adapters(wgpu::Backends::all()));
        match adapters
            .iter()
            .find(|a| a.get_info().device_type != wgpu::DeviceType::Cpu)
        {
            Some(adapter) => Gpu::open(adapter).map(Some),
            None => Ok(None),
        }
    }

    /// Opens the device of `adapter` with the adapter's own limits.
    pub fn open(adapter: &wgpu::Adapter) -> Result<Gpu> {
        Self::open_with_limits(adapter, adapter.limits())
    }

    /// Opens the device of `adapter` with `limits` (at most the adapter's), e.g.
    /// `wgpu::Limits::default()`, what every WebGPU adapter offers, to check that the kernels
    /// need no more.
    pub fn open_with_limits(adapter: &wgpu::Adapter, limits: wgpu::Limits) -> Result<Gpu> {
        pollster::block_on(Self::open_async(adapter, limits))
    }

    /// [`Gpu::open_with_limits`] without blocking.
    pub async fn open_async(adapter: &wgpu::Adapter, limits: wgpu::Limits) -> Result<Gpu> {
        let summary = summarise(adapter);
        let features =
            adapter.features() & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::PIPELINE_CACHE);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("shadernet"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::Gpu(format!(
                    "could not open the device of {}: {e}",
                    summary.name
                ))
            })?;
        let kernels = Kernels::new(DiskPipelineCache::open(&device, &adapter.get_info()));
        Ok(Gpu {
            summary,
            device,
            queue,
            limits,
            features,
            kernels,
            counters: Counters::default(),
        })
    }

    /// This device with every kernel compiled with wgpu's runtime checks, the GEMMs included
    /// ([`Kernels::with_runtime_checks`]): for tests that hold the unchecked GEMMs to the
    /// checked ones.
    pub fn with_runtime_checks(mut self) -> Gpu {
        self.kernels = Kernels::with_runtime_checks();
        self
    }

    /// A storage buffer of `size` bytes (at least 4), usable as a copy source and destination.
    pub fn storage_buffer(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Blocks until all submitted work has finished.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the device failed: {e}")))
    }

    /// The one read-back path: copies `size` bytes at `offset` of `buffer` into a staging
    /// buffer, maps it and waits. `offset` and `size` must be multiples of 4. Blocks: native
    /// code only; a browser awaits [`Gpu::read_bytes_async`].
    pub fn read_bytes(&self, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
        pollster::block_on(self.read_bytes_async(buffer, offset, size))
    }

    /// [`Gpu::read_bytes`] without blocking: natively it polls the device until the copy is
    /// done; in a browser the device polls itself and the future resolves from the event loop.
    pub async fn read_bytes_async(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        size: u64,
    ) -> Result<Vec<u8>> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        self.counters.count(0);
        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        self.wait()?;
        receiver
            .receive()
            .await
            .ok_or_else(|| Error::Gpu("the read-back was never answered".into()))?
            .map_err(|e| Error::Gpu(format!("mapping a read-back buffer failed: {e}")))?;
        let bytes = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Gpu(format!("reading a mapped buffer failed: {e}")))?;
            view.to_vec()
        };
        staging.unmap();
        Ok(bytes)
    }

    /// `len` `f32` values starting at element `offset` of `buffer`.
    pub fn read_f32(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<f32>> {
        pollster::block_on(self.read_async(buffer, offset, len))
    }

    /// `len` `u32` values starting at element `offset` of `buffer`.
    pub fn read_u32(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<u32>> {
        pollster::block_on(self.read_async(buffer, offset, len))
    }

    /// [`Gpu::read_f32`] and [`Gpu::read_u32`] without blocking: `len` values of `T` from
    /// element `offset` of `buffer` (offsets and sizes in bytes multiples of 4).
    pub async fn read_async<T: bytemuck::Pod>(
        &self,
        buffer: &wgpu::Buffer,
        offset: usize,
        len: usize,
    ) -> Result<Vec<T>> {
        let size = std::mem::size_of::<T>() as u64;
        let bytes = self
            .read_bytes_async(buffer, size * offset as u64, size * len as u64)
            .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
