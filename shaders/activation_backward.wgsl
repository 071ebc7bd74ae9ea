// From the forward output y: dx = dy·(1 − y²) (tanh, kind 2) or dy·[y > 0] (ReLU, kind 1)
// (`fused_activation_grad` of common.wgsl). Used where no neighbouring kernel takes it in.
struct Params { total: u32, kind: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    dx[i] = fused_activation_grad(dy[i], y[i], p.kind);
}
