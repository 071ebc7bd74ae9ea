// Fused softmax–cross-entropy (loss_common.wgsl: one workgroup, the batch's sums added to the
// running totals). For each example n of logits (N, K), with label smoothing ε = p.smoothing and
// targets t[j] = (1 − ε)·[j = label] + ε/K: probs[n] = softmax(logits[n]) (shifted by the row
// max), loss = −Σ_j t[j]·ln(max(p[j], 1e-12)) (−ln(max(p[label], 1e-12)) when ε = 0),
// correct = [first argmax of probs = label], dz[n, j] = (p[n, j] − t[j])·scale with
// scale = 1/N of the whole batch.
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
    let keep = 1.0 - p.smoothing;
    let spread = p.smoothing / f32(p.k);
    var best = 0u;
    var spread_loss = 0.0;
    for (var j = 0u; j < p.k; j++) {
        let q = probs[base + j] / sum;
        probs[base + j] = q;
        if (q > probs[base + best]) { best = j; }
        dz[base + j] = (q - (select(0.0, 1.0, j == label) * keep + spread)) * p.scale;
        spread_loss -= log(max(q, 1e-12));
    }
    var loss = -log(max(probs[base + label], 1e-12));
    if (p.smoothing > 0.0) { loss = keep * loss + spread * spread_loss; }
    return Example(loss, select(0u, 1u, best == label));
}
