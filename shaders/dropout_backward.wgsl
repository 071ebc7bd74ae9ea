// dx = dy · mask, element-wise, then through the activation before the dropout when one is
// fused in (act ≠ 0): dx = fused_activation_grad(dy · mask, x, act), x being the dropout's
// input, which is that activation's output.
struct Params { total: u32, act: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    var d = dy[i] * mask[i];
    if (p.act != 0u) { d = fused_activation_grad(d, x[i], p.act); }
    dx[i] = d;
}
