// From the forward output y: dx = dy·(1 − y²) (tanh, kind 2) or dy·[y > 0] (ReLU, kind 1), the
// codes of `fused_activation` in common.wgsl.
struct Params { total: u32, kind: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    let o = y[i];
    if (p.kind == 2u) { dx[i] = dy[i] * (1.0 - o * o); }
    else { dx[i] = select(0.0, dy[i], o > 0.0); }
}
