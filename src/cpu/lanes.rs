//! Sums that vectorise: floating-point addition is not associative, so a plain `.sum()` adds
//! one value at a time, each waiting for the one before; [`lane_sum`] keeps independent lanes.

/// Values whose `f32` partial sums [`lane_sum`] adds in `f64`: a block's rounding stays near
/// `f32`'s own, however large a plane is.
const BLOCK: usize = 1024;
/// Independent `f32` accumulators per block, so that the additions vectorise instead of
/// waiting on one another.
const LANES: usize = 16;

/// `Σ f(aᵢ, bᵢ)` over two equally long slices: `f32` sums in 16 (`LANES`) lanes within blocks of
/// 1,024 (`BLOCK`) values, each block's total added in `f64`.
pub fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut total = 0.0f64;
    for (a, b) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let (a_lanes, b_lanes) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = (a_lanes.remainder().iter().zip(b_lanes.remainder()))
            .map(|(&x, &y)| f(x, y))
            .sum();
        let mut lanes = [0.0f32; LANES];
        for (a, b) in a_lanes.zip(b_lanes) {
            for l in 0..LANES {
                lanes[l] += f(a[l], b[l]);
            }
        }
        total += (lanes.iter().sum::<f32>() + tail) as f64;
    }
    total
}
