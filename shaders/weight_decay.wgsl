// Decoupled weight decay (AdamW) before an update, over one weight tensor of the flat parameter
// vector: w ← w − rate·w for the `total` values from `offset` on, rate = lr_t·λ computed on the
// host exactly as the CPU twin does.
struct Params { offset: u32, total: u32, rate: f32, _pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    let j = p.offset + i;
    params[j] -= p.rate * params[j];
}
