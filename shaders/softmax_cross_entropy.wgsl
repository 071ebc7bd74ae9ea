// Fused softmax–cross-entropy, one invocation per example n (logits (N, K), labels (N) as u32):
// probs[n] = softmax(logits[n]) (shifted by the row max), loss[n] = −ln(max(p[label], 1e-12)),
// correct[n] = [first argmax of probs = label], dz[n, j] = (p[n, j] − [j = label])·scale with
// scale = 1/N of the whole batch.
struct Params { n: u32, k: u32, scale: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> correct: array<u32>;
@group(0) @binding(6) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let n = flat_id(wid, nwg, lid);
    if (n >= p.n) { return; }
    let base = n * p.k;
    var zmax = logits[base];
    for (var j = 1u; j < p.k; j++) { zmax = max(zmax, logits[base + j]); }
    var sum = 0.0;
    for (var j = 0u; j < p.k; j++) {
        let e = exp(logits[base + j] - zmax);
        probs[base + j] = e;
        sum += e;
    }
    let label = labels[n];
    var best = 0u;
    for (var j = 0u; j < p.k; j++) {
        let q = probs[base + j] / sum;
        probs[base + j] = q;
        if (q > probs[base + best]) { best = j; }
        dz[base + j] = (q - select(0.0, 1.0, j == label)) * p.scale;
    }
    loss[n] = -log(max(probs[base + label], 1e-12));
    correct[n] = select(0u, 1u, best == label);
}
