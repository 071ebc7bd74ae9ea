//! Matrix products: every transpose, awkward sizes, products long enough to split k.

use super::Sizes;
use crate::gpu::context::Gpu;
use crate::gpu::ops::gemm::GemmParams;
use crate::gpu::ops::matmul::{Operand, TRANS_A, TRANS_B, matmul};
use crate::verify::case::{Check, Tolerance, random};

pub(super) fn matmul_checks<'g>(gpu: &'g Gpu, sizes: Sizes) -> Vec<Check<'g>> {
    let shapes: &[(usize, usize, usize)] = match sizes {
        Sizes::Small => &[(3, 5, 17), (70, 130, 600)],
        // The narrow blocks (m ≤ 64), several 128 x 128 ones, and long k split across
        // workgroups and summed by a second dispatch (70 x 130 x 600, 1 x 10 x 2000).
        Sizes::Awkward => &[
            (1, 1, 1),
            (3, 5, 17),
            (17, 13, 9),
            (65, 10, 33),
            (130, 129, 40),
            (70, 130, 600),
            (1, 10, 2000),
        ],
        Sizes::Network { .. } => &[],
    };
    let flags = [0, TRANS_A, TRANS_B, TRANS_A | TRANS_B];
    let mut checks = Vec::new();
    for &(m, n, k) in shapes {
        for flags in flags {
            let mut check = Check::new(gpu);
            let case = &mut check.case;
            let (a, b) = (random(m * k, 1), random(k * n, 2));
            // An operand that starts at an offset in its buffer (the op takes one).
            let mut padded_b = vec![7.0; 5];
            padded_b.extend_from_slice(&b);
            let (ia, ib) = (case.input(&a), case.input(&padded_b));
            let out = case.output(m * n);
            let b_op = Operand {
                buffer: ib,
                offset: 5,
            };
            let scratch = case.output(GemmParams::new(m, n, k).scratch_bytes() / 4 + 1);
            check.dispatches = matmul(ia.into(), b_op, out.into(), scratch, m, n, k, flags);
            let want = matmul_reference(&a, &b, m, n, k, flags);
            let name = format!("matmul {m}x{n}x{k} flags {flags}");
            check.expect(name, out, 0, want, Tolerance::for_sums(k));
            checks.push(check);
        }
    }
    checks
}

/// Plain-loop `C = op(A)·op(B)` (`flags` as [`matmul`] takes them).
fn matmul_reference(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, flags: u32) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for t in 0..k {
                let av = if flags & TRANS_A != 0 {
                    a[t * m + i]
                } else {
                    a[i * k + t]
                };
                let bv = if flags & TRANS_B != 0 {
                    b[j * k + t]
                } else {
                    b[t * n + j]
                };
                s += av * bv;
            }
            c[i * n + j] = s;
        }
    }
    c
}
