// Adds one batch's per-example losses (N) and correct flags (N) to the running totals, in one
// workgroup: fixed strided partial sums, a fixed tree, then a compensated (Kahan) add into
// acc.loss/acc.comp. Deterministic; no atomics.
struct Params { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
struct Totals { loss: f32, comp: f32, correct: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> loss: array<f32>;
@group(0) @binding(2) var<storage, read> correct: array<u32>;
@group(0) @binding(3) var<storage, read_write> acc: Totals;

var<workgroup> part_loss: array<f32, 64>;
var<workgroup> part_correct: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
    var l = 0.0;
    var c = 0u;
    for (var i = lid; i < p.n; i += WG) {
        l += loss[i];
        c += correct[i];
    }
    part_loss[lid] = l;
    part_correct[lid] = c;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part_loss[lid] += part_loss[lid + s];
            part_correct[lid] += part_correct[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let y = part_loss[0] - acc.comp;
        let t = acc.loss + y;
        acc.comp = (t - acc.loss) - y;
        acc.loss = t;
        acc.correct += part_correct[0];
        acc.count += p.n;
    }
}
