// Mean squared error against one-hot targets (loss_common.wgsl: one workgroup, the batch's
// sums added to the running totals). For each example n of y (N, K): loss = Σ_j (y[n, j] −
// t_j)², correct = [first argmax of y[n] = label], dy[n, j] = 2·(y[n, j] − t_j)·scale with
// scale = 1/(N·K) of the whole batch.
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> dy: array<f32>;

fn example(n: u32) -> Example {
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
    return Example(sum, select(0u, 1u, best == label));
}
