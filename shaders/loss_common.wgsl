// Prepended to both loss kernels (logits or outputs (N, K), labels (N) as u32), which define
// `example(n)`: example n's gradient written, its loss and correct flag returned. A loss
// kernel is one workgroup: invocation lid handles examples lid, lid + 64, ... and adds up their
// losses and correct flags, then the batch's sums go to the running totals: a fixed tree over
// the 64 partial sums, then a compensated (Kahan) add into totals.loss and totals.comp.
// Deterministic; no atomics.
struct Params { n: u32, k: u32, scale: f32, smoothing: f32 }
struct Totals { loss: f32, comp: f32, correct: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> totals: Totals;

var<workgroup> part_loss: array<f32, 64>;
var<workgroup> part_correct: array<u32, 64>;

// One example's loss and whether its first argmax is its label.
struct Example { loss: f32, correct: u32 }

// Called by every invocation with its partial sums.
fn add_to_totals(lid: u32, loss: f32, correct: u32) {
    part_loss[lid] = loss;
    part_correct[lid] = correct;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part_loss[lid] += part_loss[lid + s];
            part_correct[lid] += part_correct[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let adj = part_loss[0] - totals.comp;
        let t = totals.loss + adj;
        totals.comp = (t - totals.loss) - adj;
        totals.loss = t;
        totals.correct += part_correct[0];
        totals.count += p.n;
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    var loss = 0.0;
    var correct = 0u;
    for (var n = lid; n < p.n; n += WG) {
        let e = example(n);
        loss += e.loss;
        correct += e.correct;
    }
    add_to_totals(lid, loss, correct);
}
