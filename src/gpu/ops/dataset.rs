//! Data on the device: the dataset's bytes packed four to a `u32`, labels as `u32`; a step
//! sends only its batch indices and [`gather`] builds the batch (twin of `Dataset::gather`).
//! Also the layout of the running totals the loss kernels add each batch to.

use super::u;
use crate::data::Dataset;
use crate::gpu::context::Gpu;
use crate::gpu::kernel::{BufferId, Buffers, Dispatch, Kernel, groups_1d};

/// A dataset resident on the device.
#[derive(Clone, Copy, Debug)]
pub struct DeviceDataset {
    /// Image bytes `(N, C, H, W)`, four per little-endian `u32` word.
    pub images: BufferId,
    /// Labels `(N)` as `u32`.
    pub labels: BufferId,
    /// `N`.
    pub len: usize,
    /// `C·H·W`.
    pub image_size: usize,
}

/// Packs bytes four to a little-endian `u32` word (the last word zero-padded).
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut word = [0u8; 4];
            word[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(word)
        })
        .collect()
}

/// Uploads `data` once: `N·C·H·W/4` words of images and `N` labels.
pub fn upload(gpu: &Gpu, arena: &mut Buffers, data: &Dataset) -> DeviceDataset {
    let labels: Vec<u32> = data.labels.iter().map(|&l| u32::from(l)).collect();
    DeviceDataset {
        images: arena.with_data(gpu, "dataset images", &pack_bytes(&data.images)),
        labels: arena.with_data(gpu, "dataset labels", &labels),
        len: data.len(),
        image_size: data.image_size(),
    }
}

/// Host twin of `gather.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GatherParams {
    /// Batch size.
    pub n: u32,
    /// `C·H·W`.
    pub size: u32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 2],
}

/// `x (n, C·H·W) = images[indices] / 255`, `labels (n) = all labels[indices]`; `indices` holds
/// `n` `u32` image numbers.
pub fn gather(
    data: &DeviceDataset,
    indices: BufferId,
    x: BufferId,
    labels: BufferId,
    n: usize,
) -> Dispatch {
    let p = GatherParams {
        n: u(n),
        size: u(data.image_size),
        _pad: [0; 2],
    };
    let buffers = vec![indices, data.images, data.labels, x, labels];
    Dispatch::new(Kernel::Gather, groups_1d(n * data.image_size), buffers, &p)
}

/// The device-side running totals the loss kernels add to: `[loss sum (f32), Kahan
/// compensation (f32), correct (u32), count (u32)]`, 16 bytes.
pub const TOTALS_BYTES: usize = 16;

/// Empty running totals, as written to start or reset them.
pub const ZERO_TOTALS: [u32; 4] = [0; 4];
