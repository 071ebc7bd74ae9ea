// Batch gathering on the device. The dataset's images are bytes (N_all, C, H, W) packed four
// to a u32 word (little-endian); x[b, j] = byte(indices[b]·size + j) / 255 for the batch
// x (n, size), and labels[b] = all_labels[indices[b]].
struct Params { n: u32, size: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> all_labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> labels: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.n * p.size) { return; }
    let b = i / p.size;
    let j = i % p.size;
    let image = indices[b];
    let byte_index = image * p.size + j;
    let byte = (images[byte_index / 4u] >> (8u * (byte_index % 4u))) & 255u;
    x[i] = f32(byte) / 255.0;
    if (j == 0u) { labels[b] = all_labels[image]; }
}
