// Inverted dropout with a counter-based mask, bit-identical to the CPU's `rng::counter_uniform`:
// u = pcg_hash(pcg_hash(pcg_hash(pcg_hash(seed) ^ step) ^ layer) ^ i), top 24 bits / 2^24;
// mask[i] = scale (= 1/(1 − rate), computed on the host) if u >= rate else 0; y = x·mask.
struct Params {
    total: u32, seed: u32, step: u32, layer: u32,
    rate: f32, scale: f32, _pad0: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;

// PCG hash (Jarzynski & Olano 2020); u32 arithmetic wraps, as `wrapping_mul` on the host.
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    let h = pcg_hash(pcg_hash(pcg_hash(pcg_hash(p.seed) ^ p.step) ^ p.layer) ^ i);
    let u = f32(h >> 8u) * (1.0 / 16777216.0);
    let m = select(0.0, p.scale, u >= p.rate);
    mask[i] = m;
    y[i] = x[i] * m;
}
