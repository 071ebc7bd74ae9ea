// Batch normalisation forward (twin of cpu::norm), one workgroup per feature `ch` of
// x (N, C, I), m = N·I values per feature.
// Training (p.train = 1): μ = Σx/m, then σ² = Σ(x − μ)²/m (biased), each a fixed strided
// partial sum per invocation and a fixed tree over the 64 partials (no atomics: deterministic);
// inv_std = 1/√(σ² + ε); saved = [μ (C), σ² (C), inv_std (C)]; the running statistics
// running[r_off + ch] (r_μ) and running[r_off + C + ch] (r_σ²) move towards μ and σ²·m/(m − 1)
// with weight p.momentum. Inference (p.train = 0): μ, σ² are the running statistics.
// Then y = γ·(x − μ)·inv_std + β, γ = params[g_off + ch], β = params[g_off + C + ch].
struct Params {
    n: u32, channels: u32, inner: u32, train: u32,
    g_off: u32, r_off: u32, momentum: f32, eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> saved: array<f32>;
@group(0) @binding(5) var<storage, read_write> running: array<f32>;

var<workgroup> partial: array<f32, 64>;

// The index in x of value t (0 ≤ t < m) of feature ch.
fn at(t: u32, ch: u32) -> u32 {
    return ((t / p.inner) * p.channels + ch) * p.inner + t % p.inner;
}

// Sums the 64 partials with a fixed tree; every invocation gets the total.
fn tree_sum(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { partial[lid] += partial[lid + s]; }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let ch = group_id(wid, nwg);
    if (ch >= p.channels) { return; }
    let m = p.n * p.inner;
    var mean = 0.0;
    var variance = 0.0;
    if (p.train == 1u) {
        var acc = 0.0;
        for (var t = lid; t < m; t += WG) { acc += x[at(t, ch)]; }
        mean = tree_sum(lid, acc) / f32(m);
        acc = 0.0;
        for (var t = lid; t < m; t += WG) {
            let d = x[at(t, ch)] - mean;
            acc += d * d;
        }
        variance = tree_sum(lid, acc) / f32(m);
    } else {
        mean = running[p.r_off + ch];
        variance = running[p.r_off + p.channels + ch];
    }
    let inv_std = 1.0 / sqrt(variance + p.eps);
    if (p.train == 1u && lid == 0u) {
        saved[ch] = mean;
        saved[p.channels + ch] = variance;
        saved[2u * p.channels + ch] = inv_std;
        var unbias = 1.0;
        if (m > 1u) { unbias = f32(m) / f32(m - 1u); }
        let rm = p.r_off + ch;
        let rv = p.r_off + p.channels + ch;
        running[rm] = (1.0 - p.momentum) * running[rm] + p.momentum * mean;
        running[rv] = (1.0 - p.momentum) * running[rv] + p.momentum * variance * unbias;
    }
    let gamma = params[p.g_off + ch];
    let beta = params[p.g_off + p.channels + ch];
    for (var t = lid; t < m; t += WG) {
        let i = at(t, ch);
        y[i] = gamma * (x[i] - mean) * inv_std + beta;
    }
}
