// Weight averaging over the flat parameter vector: ema ← d·ema + (1 − d)·w, with d the step's
// decay (the host's min(decay, (1 + t)/(10 + t)) for update t).
struct Params { total: u32, decay: f32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> ema: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    ema[i] = p.decay * ema[i] + (1.0 - p.decay) * params[i];
}
