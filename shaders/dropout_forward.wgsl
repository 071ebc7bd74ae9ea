// Inverted dropout with a counter-based mask, bit-identical to the CPU's:
// u = counter_uniform(seed, step, layer, i) (common.wgsl);
// mask[i] = scale (= 1/(1 − rate), computed on the host) if u >= rate else 0; y = x·mask.
struct Params {
    total: u32, seed: u32, step: u32, layer: u32,
    rate: f32, scale: f32, _pad0: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    if (p.rate == 0.0) { // inference: keep everything, no draws
        mask[i] = 1.0;
        y[i] = x[i];
        return;
    }
    let u = counter_uniform(p.seed, p.step, p.layer, i);
    let m = select(0.0, p.scale, u >= p.rate);
    mask[i] = m;
    y[i] = x[i] * m;
}
