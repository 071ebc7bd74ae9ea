// C (M, N) = op(A) (M, K) · op(B) (K, N), or C += ... when ACCUMULATE is set.
// op(A) = A stored (M, K), or Aᵀ with A stored (K, M) when TRANS_A is set;
// op(B) = B stored (K, N), or Bᵀ with B stored (N, K) when TRANS_B is set.
// Dense forward: x·Wᵀ (TRANS_B); dW = dyᵀ·x (TRANS_A); dx = dy·W (none).
// 8x8 tiles in workgroup memory; each invocation owns one output. Out-of-range loads read 0,
// so the bounds guard is on the loads and the store (a return would skip the barriers).
struct Params {
    m: u32, n: u32, k: u32, flags: u32,
    a_off: u32, b_off: u32, c_off: u32, _pad: u32,
}
const TRANS_A: u32 = 1u;
const TRANS_B: u32 = 2u;
const ACCUMULATE: u32 = 4u;
const TILE: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<workgroup> tile_a: array<array<f32, 8>, 8>;
var<workgroup> tile_b: array<array<f32, 8>, 8>;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * TILE + lid.y;
    let col = wid.x * TILE + lid.x;
    let in_range = row < p.m && col < p.n;
    var acc = 0.0;
    for (var t = 0u; t < p.k; t += TILE) {
        let ka = t + lid.x;
        var va = 0.0;
        if (row < p.m && ka < p.k) {
            if ((p.flags & TRANS_A) != 0u) { va = a[p.a_off + ka * p.m + row]; }
            else { va = a[p.a_off + row * p.k + ka]; }
        }
        tile_a[lid.y][lid.x] = va;
        let kb = t + lid.y;
        var vb = 0.0;
        if (kb < p.k && col < p.n) {
            if ((p.flags & TRANS_B) != 0u) { vb = b[p.b_off + col * p.k + kb]; }
            else { vb = b[p.b_off + kb * p.n + col]; }
        }
        tile_b[lid.y][lid.x] = vb;
        workgroupBarrier();
        for (var i = 0u; i < TILE; i++) {
            acc += tile_a[lid.y][i] * tile_b[i][lid.x];
        }
        workgroupBarrier();
    }
    if (in_range) {
        let idx = p.c_off + row * p.n + col;
        if ((p.flags & ACCUMULATE) != 0u) { c[idx] += acc; } else { c[idx] = acc; }
    }
}
