//! Portable reference matmul over the row-major packing.

use super::int8::QuantPtrs;
use super::offsets::offset_term;
use super::{Packed, PackedMatrix};
use crate::quant::QK;

/// Compute y[t, r] for tokens t in t_lo..t_hi and rows r in r0..r1 (y: [n_tok, w.rows]).
///
/// # Safety
/// `y` is valid for t_hi × w.rows elements, and no other thread accesses y[t_lo..t_hi, r0..r1]
/// meanwhile (tasks write disjoint ranges through raw pointers, never through overlapping
/// references); for int8 matrices `s` holds the quantized tokens t_lo..t_hi.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul_rows(
    w: &PackedMatrix,
    x: &[f32],
    (t_lo, t_hi): (usize, usize),
    s: &QuantPtrs,
    r0: usize,
    r1: usize,
    y: *mut f32,
) {
    let (rows, cols) = (w.rows, w.cols);
    // y[t, r0..r1]: disjoint from every other task's slices.
    // SAFETY: per the function contract.
    let yt = |t: usize| unsafe { std::slice::from_raw_parts_mut(y.add(t * rows + r0), r1 - r0) };
    match &w.data {
        Packed::Float { w } => {
            // ROWS outputs at a time: independent FMA chains (each output still runs
            // acc = fma(x[k], w[k], acc) for k in order).
            const ROWS: usize = 8;
            for t in t_lo..t_hi {
                let xt = &x[t * cols..(t + 1) * cols];
                let mut r = r0;
                while r < r1 {
                    let n = ROWS.min(r1 - r);
                    let mut acc = [0f32; ROWS];
                    if n == ROWS {
                        let wr: [&[f32]; ROWS] =
                            std::array::from_fn(|i| &w[(r + i) * cols..(r + i + 1) * cols]);
                        for (k, xv) in xt.iter().enumerate() {
                            for i in 0..ROWS {
                                acc[i] = xv.mul_add(wr[i][k], acc[i]);
                            }
                        }
                    } else {
                        for (i, acc) in acc.iter_mut().enumerate().take(n) {
                            let wr = &w[(r + i) * cols..(r + i + 1) * cols];
                            for (xv, wv) in xt.iter().zip(wr) {
                                *acc = xv.mul_add(*wv, *acc);
                            }
                        }
                    }
                    yt(t)[r - r0..r - r0 + n].copy_from_slice(&acc[..n]);
                    r += n;
                }
            }
        }
        Packed::Int { q, d, m } => {
            let nb = cols / QK;
            for t in t_lo..t_hi {
                // SAFETY: per the function contract, row t of the scratch is quantized and
                // not written meanwhile.
                let (xq, xd, xs) = unsafe {
                    (
                        std::slice::from_raw_parts(s.xq.add(t * nb * QK), nb * QK),
                        std::slice::from_raw_parts(s.xd.add(t * nb), nb),
                        std::slice::from_raw_parts(s.xdsum.add(t * nb), nb),
                    )
                };
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
                    if let Some(m) = m {
                        acc -= offset_term(&m[r * nb..(r + 1) * nb], xs);
                    }
                    yt(t)[r - r0] = acc;
                }
            }
        }
        _ => unreachable!("scalar matmul on a SIMD-packed matrix"),
    }
}
