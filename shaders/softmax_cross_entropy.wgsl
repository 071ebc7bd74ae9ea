// Fused softmax–cross-entropy (loss_common.wgsl: one workgroup, the batch's sums added to the
// running totals). For each example n of logits (N, K): probs[n] = softmax(logits[n])
// (shifted by the row max), loss = −ln(max(p[label], 1e-12)), correct = [first argmax of
// probs = label], dz[n, j] = (p[n, j] − [j = label])·scale with scale = 1/N of the whole batch.
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> dz: array<f32>;

fn example(n: u32) -> Example {
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
    return Example(-log(max(probs[base + label], 1e-12)), select(0u, 1u, best == label));
}
