//! Portable reference matmul over the row-major packing.

use super::{MatmulScratch, Packed, PackedMatrix};
use crate::quant::QK;

/// Compute y[t, r] for all tokens t and rows r in r0..r1.
pub(super) fn matmul_rows(
    w: &PackedMatrix,
    x: &[f32],
    n_tok: usize,
    s: &MatmulScratch,
    r0: usize,
    r1: usize,
    y: &mut [f32],
) {
    let (rows, cols) = (w.rows, w.cols);
    match &w.data {
        Packed::Float { w } => {
            for t in 0..n_tok {
                let xt = &x[t * cols..(t + 1) * cols];
                for r in r0..r1 {
                    let wr = &w[r * cols..(r + 1) * cols];
                    let mut acc = 0f32;
                    for (xv, wv) in xt.iter().zip(wr) {
                        acc = xv.mul_add(*wv, acc);
                    }
                    y[t * rows + r] = acc;
                }
            }
        }
        Packed::Int { q, d } => {
            let nb = cols / QK;
            for t in 0..n_tok {
                let xq = &s.xq[t * nb * QK..(t + 1) * nb * QK];
                let xd = &s.xd[t * nb..(t + 1) * nb];
                for r in r0..r1 {
                    let wq = &q[r * cols..(r + 1) * cols];
                    let wd = &d[r * nb..(r + 1) * nb];
                    let mut acc = 0f32;
                    for b in 0..nb {
                        let isum: i32 = wq[b * QK..(b + 1) * QK]
                            .iter()
                            .zip(&xq[b * QK..(b + 1) * QK])
                            .map(|(&a, &b)| a as i32 * b as i32)
                            .sum();
                        acc = (isum as f32 * xd[b]).mul_add(wd[b], acc);
                    }
                    y[t * rows + r] = acc;
                }
            }
        }
        _ => unreachable!("scalar matmul on a SIMD-packed matrix"),
    }
}
