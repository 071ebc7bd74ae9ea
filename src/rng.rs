//! Seeded random numbers.
//!
//! Two generators, both hand-written so that their streams are fixed forever (a dependency
//! upgrade must never change a training run):
//! - [`Rng`]: a sequential SplitMix64 stream for initialisation, shuffling and splits;
//! - [`counter_uniform`]: a stateless hash of `(seed, step, layer, index)` for dropout masks, in
//!   32-bit integer arithmetic only, so a WGSL shader can compute exactly the same bits.

/// A SplitMix64 generator (Steele, Lea & Flood 2014): 64 bits of state, full period.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose stream is a pure function of `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// A generator for a named sub-stream of `seed` (e.g. one per epoch), independent of the others.
    pub fn derived(seed: u64, stream: u64) -> Self {
        let mut mixer = Rng::new(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        Rng::new(mixer.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [low, high).
    pub fn uniform_range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Standard normal N(0, 1) by the Box–Muller transform.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: log is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for
    /// the sizes used here).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// The PCG hash of one 32-bit word (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020).
pub fn pcg_hash(input: u32) -> u32 {
    let state = input.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// A uniform number in [0, 1) that is a pure function of its four arguments:
/// `pcg_hash(pcg_hash(pcg_hash(pcg_hash(seed) ^ step) ^ layer) ^ index)`, top 24 bits / 2^24.
/// Used for dropout masks, so the CPU and GPU executors draw identical masks.
pub fn counter_uniform(seed: u32, step: u32, layer: u32, index: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(pcg_hash(seed) ^ step) ^ layer) ^ index);
    (h >> 8) as f32 * (1.0 / 16_777_216.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_in_range_and_has_the_right_mean() {
        let mut rng = Rng::new(7);
        let samples: Vec<f64> = (0..100_000).map(|_| rng.uniform()).collect();
        assert!(samples.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut rng = Rng::new(11);
        let samples: Vec<f64> = (0..100_000).map(|_| rng.normal()).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..1000).collect();
        let mut b = a.clone();
        Rng::new(3).shuffle(&mut a);
        Rng::new(3).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        a.sort_unstable();
        assert_eq!(a, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn counter_uniform_is_uniform_and_depends_on_every_argument() {
        let n = 100_000u32;
        let mean = (0..n)
            .map(|i| counter_uniform(1, 2, 3, i) as f64)
            .sum::<f64>()
            / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        let base = counter_uniform(1, 2, 3, 4);
        assert_ne!(base, counter_uniform(9, 2, 3, 4));
        assert_ne!(base, counter_uniform(1, 9, 3, 4));
        assert_ne!(base, counter_uniform(1, 2, 9, 4));
        assert_ne!(base, counter_uniform(1, 2, 3, 9));
    }
}
