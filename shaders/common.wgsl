// Prepended to every shader, after the host's declaration of `WG`, the workgroup size of every
// kernel but the GEMM core (which sets its own from its block size): `const WG: u32 = 64u;`
// from `WORKGROUP_SIZE` in src/gpu/kernel.rs, the one place it is said.
// A 1-D launch of more than 65535 workgroups is spread over a 2-D grid; `flat_id` undoes that.

// The flat index of this invocation in a 1-D launch.
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

// An activation fused into the kernel that produces its input: 0 none, 1 ReLU, 2 tanh
// (activation_forward.wgsl applies it too, where no kernel can take it).
fn fused_activation(v: f32, act: u32) -> f32 {
    if (act == 1u) { return max(v, 0.0); }
    if (act == 2u) { return tanh(v); }
    return v;
}

// The backward of an activation fused into the kernel that writes its input gradient, from
// the activation's output y: d·[y > 0] (ReLU, 1), d·(1 − y²) (tanh, 2), d (none, 0).
fn fused_activation_grad(d: f32, y: f32, act: u32) -> f32 {
    if (act == 1u) { return select(0.0, d, y > 0.0); }
    if (act == 2u) { return d * (1.0 - y * y); }
    return d;
}

// The flat index of this workgroup (kernels that give each output a whole workgroup).
fn group_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// The sizes of a GEMM (gemm_core.wgsl, gemm_reduce.wgsl), the first field of its kernel's
// Params: C (M, N) = Σ_k A(m, k)·B(k, n), each split of k k_chunk long.
struct Gemm { m: u32, n: u32, k: u32, k_chunk: u32 }

// PCG hash (Jarzynski & Olano 2020); u32 arithmetic wraps, as `wrapping_mul` on the host.
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// The dropout a kernel applies to what it writes: `rate` 0 keeps everything (inference, no
// draws); otherwise element i is multiplied by `scale` = 1/(1 − rate) (computed on the host)
// if counter_uniform(seed, step, layer, i) >= rate, else by 0 — the CPU's mask, bit for bit.
struct Dropout { seed: u32, step: u32, layer: u32, rate: f32, scale: f32, _pad0: u32, _pad1: u32, _pad2: u32 }

// Element i's dropout multiplier (its mask value).
fn dropout_multiplier(d: Dropout, i: u32) -> f32 {
    if (d.rate == 0.0) { return 1.0; }
    return select(0.0, d.scale, counter_uniform(d.seed, d.step, d.layer, i) >= d.rate);
}

// The host's `rng::counter_uniform(seed, step, stream, i)`, bit for bit: a uniform draw in
// [0, 1) from the top 24 bits of a four-level hash chain.
fn counter_uniform(seed: u32, step: u32, stream: u32, i: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(pcg_hash(seed) ^ step) ^ stream) ^ i);
    return f32(h >> 8u) * (1.0 / 16777216.0);
}
