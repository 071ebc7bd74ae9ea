// Mean squared error against one-hot targets, one invocation per example n (y (N, K)):
// loss[n] = Σ_j (y[n, j] − t_j)², correct[n] = [first argmax of y[n] = label],
// dy[n, j] = 2·(y[n, j] − t_j)·scale with scale = 1/(N·K) of the whole batch.
struct Params { n: u32, k: u32, scale: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> correct: array<u32>;
@group(0) @binding(5) var<storage, read_write> dy: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let n = flat_id(wid, nwg, lid);
    if (n >= p.n) { return; }
    let base = n * p.k;
    let label = labels[n];
    var sum = 0.0;
    var best = 0u;
    for (var j = 0u; j < p.k; j++) {
        let v = y[base + j];
        let d = v - select(0.0, 1.0, j == label);
        sum += d * d;
        if (v > y[base + best]) { best = j; }
        dy[base + j] = 2.0 * d * p.scale;
    }
    loss[n] = sum;
    correct[n] = select(0u, 1u, best == label);
}
