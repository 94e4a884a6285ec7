//! Scores S = scale · Q·K^T of one block, vectorized over keys against K^T's key panels.

#![allow(clippy::needless_range_loop)]

use super::bf16::PairDot;
use super::block::Block;
use super::KEY_CHUNK;
use crate::simd::{array, F32s};

/// Pass 1: scores of the block's rows for its union key range lo..hi, chunk-outer so a K^T chunk
/// (KEY_CHUNK keys × hd, contiguous) stays in L1 while every row tile (RS >= 5 rows × NVS
/// vectors) uses it.
///
/// # Safety
/// `S` supported; `b` validated by `simd_block`; NVS·LANES divides KEY_CHUNK.
#[inline(always)]
pub(super) unsafe fn scores<S: F32s, D: PairDot<S>, const NVS: usize, const RS: usize>(
    b: &Block,
    rows: usize,
    lo: usize,
    hi: usize,
) {
    // SAFETY: per the function contract.
    unsafe {
        let c = NVS * S::LANES;
        let mut j = lo - lo % c;
        while j < hi {
            // A last chunk of at most one vector of keys is computed one vector wide (each
            // score is the same FMA chain either way; the lanes past hi are never read as
            // scores): short sequences padded to KEY_CHUNK spent ~20% of their score work on
            // padding keys.
            let one = NVS > 1 && hi - j <= S::LANES;
            let mut r0 = 0;
            while r0 < rows {
                // RS rows, then the rest (6 or 7 rows left of RS > 7: 4 first)
                let left = rows - r0;
                let nr = if left >= RS {
                    RS
                } else if left <= 5 {
                    left
                } else {
                    4
                };
                macro_rules! arm {
                    ($r:expr) => {
                        if one {
                            scores_tile::<S, D, { $r }, 1>(b, r0, j)
                        } else {
                            scores_tile::<S, D, { $r }, NVS>(b, r0, j)
                        }
                    };
                }
                match nr {
                    1 => arm!(1),
                    2 => arm!(2),
                    3 => arm!(3),
                    4 => arm!(4),
                    5 => arm!(5),
                    _ => arm!(RS),
                }
                r0 += nr;
            }
            j += c;
        }
    }
}

/// Scores of block rows r0..r0+R for keys j..j+NV·L: S[r][j - j0 + x] = scale · (q[r]·K[j + x]),
/// the dot product over bf16 pairs of [`PairDot`] (the order of the `bf16` module docs).
///
/// # Safety
/// As [`scores`]; j is a multiple of NV·L, which divides KEY_CHUNK.
#[inline(always)]
unsafe fn scores_tile<S: F32s, D: PairDot<S>, const R: usize, const NV: usize>(
    b: &Block,
    r0: usize,
    j: usize,
) {
    let l = S::LANES;
    // SAFETY: per the function contract.
    unsafe {
        let qp: [*const u32; R] = array!(R, |r| b.q_row::<S, D>(r0 + r));
        let kb = b.kt.add((j / KEY_CHUNK) * KEY_CHUNK * b.hs + j % KEY_CHUNK);
        let mut acc = [[S::splat(0.0); NV]; R];
        for p in 0..b.hs {
            for step in 0..D::STEPS {
                let kv: [D::K; NV] = array!(NV, |v| D::load_k(kb.add(p * KEY_CHUNK + v * l), step));
                for r in 0..R {
                    let qb = D::splat_q(qp[r].add(p * D::QW), step);
                    for v in 0..NV {
                        acc[r][v] = D::dot(acc[r][v], qb, kv[v]);
                    }
                }
            }
        }
        let sc = S::splat(b.scale);
        for r in 0..R {
            let sp = b.scores.add((r0 + r) * b.ld + j - b.j0);
            for v in 0..NV {
                S::store(sp.add(v * l), S::mul(acc[r][v], sc));
            }
        }
    }
}
