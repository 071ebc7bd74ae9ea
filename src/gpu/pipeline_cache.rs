//! Compiled pipelines kept on disk between runs, so a second start does not compile its
//! shaders again (wgpu's `PipelineCache`; Vulkan only).
//!
//! The file lives in `$SHADERNET_CACHE_DIR`, else `$XDG_CACHE_HOME/shadernet`, else
//! `~/.cache/shadernet`, named by wgpu's key for the adapter (vendor and device). The driver
//! validates the data against its own version and ignores a stale or foreign file, and a file
//! that cannot be read or written only costs the compile time it would have saved.

use std::path::PathBuf;

/// A pipeline cache backed by a file.
pub struct DiskPipelineCache {
    /// The cache handed to every pipeline.
    pub cache: wgpu::PipelineCache,
    path: PathBuf,
}

/// The directory pipeline caches are kept in, if one can be named.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("SHADERNET_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("shadernet")))
        .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache/shadernet")))
}

impl DiskPipelineCache {
    /// The cache for `adapter` on `device`, seeded from its file when there is one. `None` when
    /// the device lacks `PIPELINE_CACHE` (it is requested where the adapter has it) or no cache
    /// directory can be named.
    pub fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo) -> Option<Self> {
        if !device.features().contains(wgpu::Features::PIPELINE_CACHE) {
            return None;
        }
        let path = cache_dir()?.join(wgpu::util::pipeline_cache_key(info)?);
        let data = std::fs::read(&path).ok();
        // SAFETY: the data is what `PipelineCache::get_data` wrote for this adapter key; the
        // driver checks its header and, with `fallback`, starts empty if it does not match.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("shadernet pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(DiskPipelineCache { cache, path })
    }

    /// Writes the cache's current contents to its file (atomically: a temporary file, then a
    /// rename). Failures are ignored: the cache is an optimisation.
    pub fn save(&self) {
        let Some(data) = self.cache.get_data() else {
            return;
        };
        let Some(dir) = self.path.parent() else {
            return;
        };
        let temporary = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&temporary, &data))
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
    }

    /// The file the cache is kept in.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
