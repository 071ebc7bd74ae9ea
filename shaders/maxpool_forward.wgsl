// Max-pool: y[o] = the maximum of output o's window, argmax[o] = its index into x
// (maxpool_common.wgsl).
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_id(wid, nwg, lid);
    if (o >= p.total) { return; }
    let best = window_argmax(o);
    argmax[o] = best;
    y[o] = x[best];
}
