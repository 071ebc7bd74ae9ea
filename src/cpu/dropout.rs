//! Inverted dropout with a counter-based mask: element `i` of the batch is kept iff
//! `counter_uniform(seed, step, layer, i) >= rate`, so the GPU executor can draw the same mask.

use crate::executor::DropoutKey;
use crate::rng::counter_uniform;

/// `mask[i] = 1/(1 − rate)` if kept else 0, for batch elements `offset + i`; `y = x · mask`.
pub fn dropout_forward(
    x: &[f32],
    y: &mut [f32],
    mask: &mut [f32],
    rate: f32,
    key: DropoutKey,
    offset: usize,
) {
    let scale = 1.0 / (1.0 - rate);
    for (i, ((o, m), &v)) in y.iter_mut().zip(mask.iter_mut()).zip(x).enumerate() {
        let u = counter_uniform(key.seed, key.step, key.layer, (offset + i) as u32);
        *m = if u >= rate { scale } else { 0.0 };
        *o = v * *m;
    }
}

/// `dx = dy · mask`.
pub fn dropout_backward(dy: &[f32], mask: &[f32], dx: &mut [f32]) {
    for ((g, &d), &m) in dx.iter_mut().zip(dy).zip(mask) {
        *g = d * m;
    }
}
