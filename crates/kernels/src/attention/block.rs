//! One work item on any path: query tokens i0..i1 of one KV head, in three passes
//! (scores, softmax, P·V). The only per-instruction-set code of attention is the `match` in
//! [`simd_block`] that picks the vector type and tile sizes; everything else is generic.

// Register tiles are written as indexed loops over const-size arrays: they unroll fully and
// keep every accumulator in a register.
#![allow(clippy::needless_range_loop)]

#[cfg(target_arch = "x86_64")]
use super::bf16::Dpbf16;
use super::bf16::{fits, slot_elems, Exact, Fma, PairDot};
use super::layout::v_panel_width;
use super::pv::pv;
use super::scores::scores;
use super::softmax::softmax_row;
use super::{key_range, AttnShape, KEY_CHUNK};
#[cfg(target_arch = "aarch64")]
use crate::simd::Neon;
#[cfg(target_arch = "x86_64")]
use crate::simd::{Avx2, Avx512};
use crate::simd::{F32s, Scalar, WIDE};
use crate::Isa;

/// Pointers and sizes of one block: query tokens i0..i1 × the heads of one KV head.
pub(super) struct Block {
    /// q: [n_tok, n_head·hd].
    pub(super) q: *const f32,
    /// [rows][hs·QW] this block's query rows as slots (filled by [`block`]).
    pub(super) q2: *mut u32,
    /// K^T panels of this KV head in slots: [ld / KEY_CHUNK][hs][KEY_CHUNK].
    pub(super) kt: *const u32,
    /// V panels of this KV head in slots of keys: panel at d0 = vt + d0·ld, [ld / e][width].
    pub(super) vt: *const u32,
    pub(super) out: *mut f32,
    /// [rows][ld] scores of this thread's slot; column c holds key j0 + c.
    pub(super) scores: *mut f32,
    /// [rows] 1/Σ of each row.
    pub(super) inv: *mut f32,
    pub(super) ld: usize,
    pub(super) hd: usize,
    /// Slots per query / key row: hd.div_ceil(e), e = 2 (bf16 pairs) or 1 (f32).
    pub(super) hs: usize,
    pub(super) n_head: usize,
    pub(super) group: usize,
    /// First head of this KV head's group.
    pub(super) h0: usize,
    pub(super) i0: usize,
    /// First key column held in `scores` (a multiple of KEY_CHUNK).
    pub(super) j0: usize,
    pub(super) scale: f32,
    /// V panel width (`v_panel_width` of the path).
    pub(super) vd: usize,
}

impl Block {
    /// Offset in q/out of block row r = (token i0 + r / group, head h0 + r % group).
    #[inline(always)]
    pub(super) fn row_off(&self, r: usize) -> usize {
        ((self.i0 + r / self.group) * self.n_head + self.h0 + r % self.group) * self.hd
    }

    /// Block row r's query as D's slots: q itself if they are f32 (E = 1), else the row packed
    /// into `q2` by [`block`].
    #[inline(always)]
    pub(super) unsafe fn q_row<S: F32s, D: PairDot<S>>(&self, r: usize) -> *const u32 {
        // SAFETY: r < rows of the block (caller); q2 holds rows·hs·QW words.
        unsafe {
            if D::E == 1 {
                self.q.add(self.row_off(r)).cast::<u32>()
            } else {
                self.q2.add(r * self.hs * D::QW).cast_const()
            }
        }
    }

    /// Block row r's probabilities as slots of QW words: slot m - j0 / e holds (p[e·m],
    /// p[e·m + 1]) (packed over the row's scores by [`block`]; the f32 scores themselves if
    /// e = 1).
    #[inline(always)]
    pub(super) unsafe fn p_row(&self, r: usize) -> *const u32 {
        // SAFETY: r < rows of the slot (caller).
        unsafe { self.scores.add(r * self.ld).cast::<u32>().cast_const() }
    }
}

/// Attention for query tokens i0..i1 of KV head g; `scores` holds (i1-i0)·group rows of ld,
/// `inv` (i1-i0)·group values.
#[allow(clippy::too_many_arguments)]
///
/// # Safety
/// `out` is valid for [n_tok, n_head·head_dim]; no other thread accesses the rows of this
/// block (tokens i0..i1 × heads of g) meanwhile.
pub(super) unsafe fn simd_block(
    isa: Isa,
    q: &[f32],
    kt: &[u32],
    vt: &[u32],
    out: *mut f32,
    shape: &AttnShape,
    g: usize,
    i0: usize,
    i1: usize,
    scores: &mut [f32],
    inv: &mut [f32],
    q2: &mut [u32],
    ld: usize,
) {
    let group = shape.n_head / shape.n_head_kv;
    let hd = shape.head_dim;
    let hs = hd.div_ceil(slot_elems(shape));
    let rows = (i1 - i0) * group;
    let (lo, _) = key_range(shape, i0);
    let (_, hi) = key_range(shape, i1 - 1);
    let j0 = lo - lo % KEY_CHUNK;
    // Bounds every pointer below relies on.
    assert!(i0 < i1 && i1 <= shape.n_tok && hi <= shape.n_tok);
    assert!(scores.len() >= rows * ld && inv.len() >= rows && q2.len() >= rows * (hd + 1));
    assert!(hi.next_multiple_of(KEY_CHUNK) <= ld && hi + WIDE <= ld);
    assert!(kt.len() >= (g + 1) * hs * ld && vt.len() >= (g + 1) * hd * ld);
    assert!(q.len() == shape.n_tok * shape.n_head * hd);
    let b = Block {
        q: q.as_ptr(),
        q2: q2.as_mut_ptr(),
        kt: kt[g * hs * ld..].as_ptr(),
        vt: vt[g * hd * ld..].as_ptr(),
        out,
        scores: scores.as_mut_ptr(),
        inv: inv.as_mut_ptr(),
        ld,
        hd,
        hs,
        n_head: shape.n_head,
        group,
        h0: g * group,
        i0,
        j0,
        scale: shape.scale,
        vd: v_panel_width(isa),
    };
    // SAFETY: `isa` is supported (resolved by the caller); the asserts above bound every
    // access made by the block kernels (rows of q/out inside [n_tok, n_head·hd], score
    // columns inside ld, K^T/V panels inside this head's hd·ld, keys < hi <= n_tok).
    macro_rules! run {
        ($s:ty, $($c:literal),*) => {
            if shape.bf16 {
                block::<$s, Fma, $($c),*>(&b, shape, rows)
            } else {
                block::<$s, Exact, $($c),*>(&b, shape, rows)
            }
        };
    }
    crate::simd::on(
        isa,
        #[inline(always)]
        || unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512Bf16 if shape.bf16 => {
                    block::<Avx512, Dpbf16, 2, 4, 8, 8>(&b, shape, rows)
                }
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 | Isa::Avx512Bf16 => run!(Avx512, 2, 4, 8, 8),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx2Vnni => run!(Avx2, 2, 2, 6, 6),
                #[cfg(target_arch = "aarch64")]
                Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => run!(Neon, 4, 2, 8, 6),
                _ => run!(Scalar, 8, 16, 8, 6),
            }
        },
    );
}

/// D: the slot product of scores and P·V ([`Exact`] f32, or bf16 pairs: [`Dpbf16`] or its
/// twin [`Fma`]); NVS: key vectors per
/// score tile (6 rows × NVS); NVP: head-dim vectors per P·V tile
/// (NVP·LANES = the V panel width); RP: rows per P·V tile of global attention with at most two
/// query heads per K/V head ([`pv`]'s row-tile path, tiles of RP rows × 2 vectors); RS: rows
/// per score tile on that path (6 on the others).
///
/// # Safety
/// `S` supported; `b` validated by `simd_block`.
#[inline(always)]
unsafe fn block<
    S: F32s,
    D: PairDot<S>,
    const NVS: usize,
    const NVP: usize,
    const RP: usize,
    const RS: usize,
>(
    b: &Block,
    shape: &AttnShape,
    rows: usize,
) {
    let n_tok_blk = rows / b.group;
    let (lo, _) = key_range(shape, b.i0);
    let (_, hi) = key_range(shape, b.i0 + n_tok_blk - 1);
    debug_assert_eq!(NVP * S::LANES, b.vd, "V panel width");
    // SAFETY: per the function contract.
    unsafe {
        // 0. the block's query rows as bf16 slots (f32 slots are q itself: `Block::q_row`)
        let e = D::E;
        if e == 2 {
            for r in 0..rows {
                let src = b.q.add(b.row_off(r));
                let dst = b.q2.add(r * b.hs * D::QW);
                for p in 0..b.hs {
                    let x1 = if 2 * p + 1 < b.hd {
                        *src.add(2 * p + 1)
                    } else {
                        0.0
                    };
                    D::pack(dst.add(p * D::QW), *src.add(2 * p), x1);
                }
            }
        }
        // 1. scores for the block's union key range
        // (5-row tiles where RS or 6 rows would spill: the FMA pair emulation on 16 registers)
        if shape.window.is_none() && b.group <= 2 {
            if fits::<S, D>(RS * NVS, NVS) {
                scores::<S, D, NVS, RS>(b, rows, lo, hi);
            } else {
                scores::<S, D, NVS, 5>(b, rows, lo, hi);
            }
        } else if fits::<S, D>(6 * NVS, NVS) {
            scores::<S, D, NVS, 6>(b, rows, lo, hi);
        } else {
            scores::<S, D, NVS, 5>(b, rows, lo, hi);
        }
        // 2. exact softmax of each row over its own keys, then (bf16) its probabilities as
        // slots of keys (2m, 2m + 1), zero outside the row's keys, packed in place: slot m
        // goes to word (m - j0/2)·QW <= 2m - j0 (QW <= 2), whose values have been read by then.
        for r in 0..rows {
            let (lo_r, hi_r) = key_range(shape, b.i0 + r / b.group);
            let s = b.scores.add(r * b.ld);
            *b.inv.add(r) = softmax_row::<S>(s.add(lo_r - b.j0), hi_r - lo_r);
            if e == 1 {
                continue;
            }
            let p2 = s.cast::<u32>();
            for m in lo_r / e..hi_r.div_ceil(e) {
                let j = e * m;
                let even = if j >= lo_r { *s.add(j - b.j0) } else { 0.0 };
                let odd = if j + 1 < hi_r {
                    *s.add(j + 1 - b.j0)
                } else {
                    0.0
                };
                D::pack(p2.add((m - b.j0 / e) * D::QW), even, odd);
            }
        }
        // 3. out = P·V / Σ
        pv::<S, D, NVP, RP>(b, shape, rows, lo, hi);
    }
}
