// y = act(x), element-wise over `total` values: `fused_activation` of common.wgsl (kind 1 ReLU,
// 2 tanh).
struct Params { total: u32, kind: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    y[i] = fused_activation(x[i], p.kind);
}
