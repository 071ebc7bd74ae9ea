// Inverted dropout with a counter-based mask, bit-identical to the CPU's (`dropout_multiplier`
// of common.wgsl): mask[i] = 1/(1 − rate) or 0, y = x·mask; at inference (rate 0) a copy.
struct Params { total: u32, _pad0: u32, _pad1: u32, _pad2: u32, drop: Dropout }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    let m = dropout_multiplier(p.drop, i);
    mask[i] = m;
    y[i] = x[i] * m;
}
