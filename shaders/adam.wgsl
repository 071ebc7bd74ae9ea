// Adam with bias correction, both moments on the device:
// m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², w ← w − lr·(m/c1)/(√(v/c2) + ε),
// with c1 = 1 − β1ᵗ and c2 = 1 − β2ᵗ computed on the host exactly as the CPU twin does.
struct Params {
    total: u32, lr: f32, beta1: f32, one_minus_beta1: f32,
    beta2: f32, one_minus_beta2: f32, c1: f32, c2: f32,
    epsilon: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= p.total) { return; }
    let g = grads[i];
    let m1 = p.beta1 * m[i] + p.one_minus_beta1 * g;
    let v1 = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
    m[i] = m1;
    v[i] = v1;
    params[i] -= p.lr * (m1 / p.c1) / (sqrt(v1 / p.c2) + p.epsilon);
}
