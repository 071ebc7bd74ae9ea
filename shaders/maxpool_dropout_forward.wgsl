// Max-pool with the dropout after it fused in: argmax[o] as maxpool_forward.wgsl, mask[o] the
// dropout's mask (`dropout_multiplier` of common.wgsl, indexed by output) and y[o] = the
// window's maximum · mask[o], the dropout's output.
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_id(wid, nwg, lid);
    if (o >= p.total) { return; }
    let best = window_argmax(o);
    argmax[o] = best;
    let m = dropout_multiplier(p.drop, o);
    mask[o] = m;
    y[o] = x[best] * m;
}
