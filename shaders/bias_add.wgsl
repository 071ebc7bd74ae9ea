// y (N, channels, inner) += b (channels): y[i] = act(y[i] + b[(i / inner) % channels]), with
// the fused activation `act` (common.wgsl). Dense: inner = 1, channels = D_out.
struct Params { total: u32, channels: u32, inner: u32, b_off: u32, act: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    y[i] = fused_activation(y[i] + params[p.b_off + (i / p.inner) % p.channels], p.act);
}
