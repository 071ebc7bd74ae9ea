//! The tiled GEMM that matmul and the three dense and three convolution products run on
//! (`gemm_core.wgsl`):
//! block sizes, and the split of `k` across workgroups when `C` has too few blocks to occupy
//! the GPU, with the scratch buffer the split's partial sums go to before `gemm_reduce.wgsl`
//! adds them in a fixed order.

use super::u;
use crate::gpu::kernel::{BufferId, Dispatch, Kernel, Variant, groups_1d};
use crate::model::MatmulPrecision;

/// Rows of `C` per workgroup (`BM` in `gemm_core.wgsl`).
pub const BLOCK_M: usize = 128;
/// Rows of `C` per workgroup of a product with at most this many rows (`BM` rewritten by the
/// host, 128 invocations): a 128-row block would compute, and pay for, up to 128 rows of
/// which such a product keeps 64 or fewer (the convolutions' filters or channels).
pub const NARROW_BLOCK_M: usize = 64;
/// Columns of `C` per workgroup (`BN`).
pub const BLOCK_N: usize = 128;
/// Step along `k` staged in workgroup memory (`BK`).
pub const BLOCK_K: usize = 16;
/// Workgroups (of 256 invocations; 128 in narrow blocks) a product aims for before it splits
/// `k`: about four per multiprocessor of a large GPU (an H100 has 132), two of them resident
/// at a time (measured against 256: docs/GPU_KERNELS.md, "Choices in the code").
pub const TARGET_GROUPS: usize = 512;
/// The most splits of `k`.
pub const MAX_SPLITS: usize = 64;
/// About the least `k` a split is given (at most `k / MIN_SPLIT_K` rounded up splits; the last
/// may be shorter), so that each split's work outweighs its partial-sum traffic.
pub const MIN_SPLIT_K: usize = 256;

/// Host twin of `common.wgsl`'s `Gemm`, the first field of every GEMM kernel's `Params`:
/// `C (M, N) = Σ_k A(m, k)·B(k, n)`, each workgroup summing `k_chunk` of the `K` terms.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GemmParams {
    /// `M`.
    pub m: u32,
    /// `N`.
    pub n: u32,
    /// `K`.
    pub k: u32,
    /// Terms of `k` per split (a multiple of [`BLOCK_K`]; `≥ K` when `k` is not split).
    pub k_chunk: u32,
}

impl GemmParams {
    /// The sizes, with `k` split when `C`'s blocks number fewer than [`TARGET_GROUPS`]: into
    /// at most `TARGET_GROUPS / blocks` splits (so the scratch holds at most
    /// `TARGET_GROUPS·BLOCK_M·BLOCK_N` values), at most `⌈k / MIN_SPLIT_K⌉` of them.
    ///
    /// Panics unless `m`, `n` and `k` are all at least 1 (every layer's are): the GEMM kernels
    /// run without wgpu's bounds checks, and a load outside the matrix reads its operand's
    /// first element before discarding it, which an empty operand does not have.
    pub fn new(m: usize, n: usize, k: usize) -> GemmParams {
        assert!(
            m > 0 && n > 0 && k > 0,
            "a matrix product needs m, n, k >= 1 (got {m} x {n} x {k})"
        );
        let blocks = m.div_ceil(block_m(m)) * n.div_ceil(BLOCK_N);
        let wanted = (TARGET_GROUPS / blocks.max(1))
            .min(k.div_ceil(MIN_SPLIT_K))
            .clamp(1, MAX_SPLITS);
        let k_chunk = k.div_ceil(wanted).div_ceil(BLOCK_K).max(1) * BLOCK_K;
        GemmParams {
            m: u(m),
            n: u(n),
            k: u(k),
            k_chunk: u(k_chunk),
        }
    }

    /// Whether the product runs on [`NARROW_BLOCK_M`]-row blocks (`M ≤ NARROW_BLOCK_M`).
    pub fn narrow(&self) -> bool {
        block_m(self.m as usize) == NARROW_BLOCK_M
    }

    /// How many splits of `k` (1: not split).
    pub fn splits(&self) -> usize {
        (self.k as usize).div_ceil(self.k_chunk as usize).max(1)
    }

    /// The GEMM's workgroups: (column blocks, row blocks, splits).
    pub fn groups(&self) -> [u32; 3] {
        [
            u((self.n as usize).div_ceil(BLOCK_N).max(1)),
            u((self.m as usize).div_ceil(block_m(self.m as usize)).max(1)),
            u(self.splits()),
        ]
    }

    /// The reduction's workgroups (one invocation per value of `C`).
    pub fn reduce_groups(&self) -> [u32; 3] {
        groups_1d(self.m as usize * self.n as usize)
    }

    /// Scratch bytes the partial sums need (0 when `k` is not split).
    pub fn scratch_bytes(&self) -> usize {
        match self.splits() {
            1 => 0,
            s => 4 * s * self.m as usize * self.n as usize,
        }
    }
}

/// The dispatches of one product: `kernel` (an op's file on `gemm_core.wgsl`) over
/// [`GemmParams::groups`], then, when `k` is split, its [`Kernel::split_sum`] (the same file on
/// `gemm_reduce.wgsl`) with the same buffers and parameters. `params` is the kernel's `Params`
/// twin, whose first field is `gemm`; the product's operands as `precision` says.
pub fn gemm_dispatches<P: bytemuck::Pod>(
    kernel: Kernel,
    gemm: &GemmParams,
    buffers: Vec<BufferId>,
    params: &P,
    precision: MatmulPrecision,
) -> Vec<Dispatch> {
    let mut product = Dispatch::new(kernel, gemm.groups(), buffers.clone(), params);
    product.variant = Variant {
        narrow: gemm.narrow(),
        bf16: precision == MatmulPrecision::Bf16,
    };
    let mut out = vec![product];
    if gemm.splits() > 1 {
        let reduce = kernel
            .split_sum()
            .expect("gemm_dispatches takes a GEMM kernel");
        out.push(Dispatch::new(reduce, gemm.reduce_groups(), buffers, params));
    }
    out
}

/// Invocations of a workgroup with `block_m`-row blocks (`THREADS` in `gemm_core.wgsl`: one per
/// 8 x 8 values).
const fn threads(block_m: usize) -> usize {
    (block_m / 8) * (BLOCK_N / 8)
}

// Every invocation stages whole vec4s of A and B, one to four per k-step (`A_SLOTS` and
// `B_SLOTS` in `gemm_core.wgsl`; its staging writes up to four), for both block heights.
const _: () = {
    let mut i = 0;
    while i < 2 {
        let bm = [BLOCK_M, NARROW_BLOCK_M][i];
        let (a, b) = (bm * BLOCK_K / 4, BLOCK_N * BLOCK_K / 4);
        assert!(a % threads(bm) == 0 && b % threads(bm) == 0);
        assert!(a / threads(bm) >= 1 && a / threads(bm) <= 4);
        assert!(b / threads(bm) >= 1 && b / threads(bm) <= 4);
        i += 1;
    }
};

/// Rows per block of a product with `m` rows.
fn block_m(m: usize) -> usize {
    if m <= NARROW_BLOCK_M {
        NARROW_BLOCK_M
    } else {
        BLOCK_M
    }
}

/// Scratch bytes enough for any split product whose `C` has at most `m·n` values, whatever
/// its `k`: `min(MAX_SPLITS·m·n, TARGET_GROUPS·BLOCK_M·BLOCK_N)` floats.
pub fn scratch_bytes_bound(m: usize, n: usize) -> usize {
    4 * (MAX_SPLITS * m * n).min(TARGET_GROUPS * BLOCK_M * BLOCK_N)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_when_blocks_are_few_and_k_is_long() {
        let big = GemmParams::new(4096, 4096, 4096);
        assert_eq!(big.splits(), 1);
        assert_eq!(big.groups(), [u(4096 / BLOCK_N), u(4096 / BLOCK_M), 1]);
        let short_k = GemmParams::new(16, 10, 100);
        assert_eq!(short_k.splits(), 1);
        let long_k = GemmParams::new(64, 801, 128 * 784);
        assert!(long_k.splits() > 1);
        let blocks = 64usize.div_ceil(BLOCK_M) * 801usize.div_ceil(BLOCK_N);
        assert!(long_k.splits() * blocks <= TARGET_GROUPS);
        assert_eq!(long_k.k_chunk as usize % BLOCK_K, 0);
        assert!(long_k.k_chunk as usize * long_k.splits() >= 128 * 784);
        assert!(long_k.scratch_bytes() <= scratch_bytes_bound(64, 801));
    }

    #[test]
    fn products_of_at_most_64_rows_take_narrow_blocks() {
        let narrow = GemmParams::new(NARROW_BLOCK_M, 1000, 100);
        assert!(narrow.narrow());
        assert_eq!(narrow.groups()[1], 1);
        let wide = GemmParams::new(NARROW_BLOCK_M + 1, 1000, 100);
        assert!(!wide.narrow());
        assert_eq!(wide.groups()[1], 1);
        assert_eq!(GemmParams::new(BLOCK_M + 1, 1000, 100).groups()[1], 2);
        let list = gemm_dispatches(
            Kernel::Matmul,
            &GemmParams::new(10, 10, 10_000),
            (0..4).map(BufferId).collect(),
            &narrow,
            MatmulPrecision::F32,
        );
        assert!(
            list[0].variant.narrow && !list[1].variant.narrow,
            "only the product, not its split sum"
        );
    }

    #[test]
    #[should_panic(expected = "needs m, n, k >= 1")]
    fn an_empty_product_is_refused() {
        GemmParams::new(3, 4, 0);
    }

    #[test]
    fn every_split_is_non_empty() {
        for k in [1, 15, 16, 17, 255, 257, 1000, 4097, 100_352] {
            for (m, n) in [(1, 1), (10, 16), (64, 64), (128, 3201)] {
                let g = GemmParams::new(m, n, k);
                let last_start = (g.splits() - 1) * g.k_chunk as usize;
                assert!(last_start < k, "m {m} n {n} k {k}: {g:?}");
                assert!(g.scratch_bytes() <= scratch_bytes_bound(m, n));
            }
        }
    }
}
