//! Device buffers in an arena, named by index, so that dispatch lists are plain data.

use crate::error::Result;
use crate::gpu::context::Gpu;

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

    /// [`Buffers::read_f32`] and [`Buffers::read_u32`] without blocking (for a browser).
    pub async fn read_async<T: bytemuck::Pod>(
        &self,
        gpu: &Gpu,
        id: BufferId,
        len: usize,
    ) -> Result<Vec<T>> {
        gpu.read_async(self.get(id), 0, len).await
    }
}
