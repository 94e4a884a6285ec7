//! One work item on any path: query tokens i0..i1 of one KV head, in three passes
//! (scores, softmax, P·V). The only per-instruction-set code of attention is the `match` in
//! [`simd_block`] that picks the vector type and tile sizes; everything else is generic.

// Register tiles are written as indexed loops over const-size arrays: they unroll fully and
// keep every accumulator in a register.
#![allow(clippy::needless_range_loop)]

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
    pub(super) q: *const f32,
    /// K^T panels of this KV head: [ld / KEY_CHUNK][hd][KEY_CHUNK].
    pub(super) kt: *const f32,
    /// V panels of this KV head: panel at d0 = vt + d0·ld, [ld][width].
    pub(super) vt: *const f32,
    pub(super) out: *mut f32,
    /// [rows][ld] scores of this thread's slot; column c holds key j0 + c.
    pub(super) scores: *mut f32,
    /// [rows] 1/Σ of each row.
    pub(super) inv: *mut f32,
    pub(super) ld: usize,
    pub(super) hd: usize,
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

    /// p[j] of block row r.
    #[inline(always)]
    pub(super) unsafe fn p_row(&self, r: usize) -> *const f32 {
        // SAFETY: r < rows of the slot (caller).
        unsafe { self.scores.add(r * self.ld).cast_const() }
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
    kt: &[f32],
    vt: &[f32],
    out: *mut f32,
    shape: &AttnShape,
    g: usize,
    i0: usize,
    i1: usize,
    scores: &mut [f32],
    inv: &mut [f32],
    ld: usize,
) {
    let group = shape.n_head / shape.n_head_kv;
    let hd = shape.head_dim;
    let rows = (i1 - i0) * group;
    let (lo, _) = key_range(shape, i0);
    let (_, hi) = key_range(shape, i1 - 1);
    let j0 = lo - lo % KEY_CHUNK;
    // Bounds every pointer below relies on.
    assert!(i0 < i1 && i1 <= shape.n_tok && hi <= shape.n_tok);
    assert!(scores.len() >= rows * ld && inv.len() >= rows);
    assert!(hi.next_multiple_of(KEY_CHUNK) <= ld && hi + WIDE <= ld);
    assert!(kt.len() >= (g + 1) * hd * ld && vt.len() >= (g + 1) * hd * ld);
    assert!(q.len() == shape.n_tok * shape.n_head * hd);
    let b = Block {
        q: q.as_ptr(),
        kt: kt[g * hd * ld..].as_ptr(),
        vt: vt[g * hd * ld..].as_ptr(),
        out,
        scores: scores.as_mut_ptr(),
        inv: inv.as_mut_ptr(),
        ld,
        hd,
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
    crate::simd::on(
        isa,
        #[inline(always)]
        || unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => block::<Avx512, 2, 4, 8, 8>(&b, shape, rows),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx2Vnni => block::<Avx2, 2, 2, 6, 6>(&b, shape, rows),
                #[cfg(target_arch = "aarch64")]
                Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => {
                    block::<Neon, 4, 2, 8, 6>(&b, shape, rows)
                }
                _ => block::<Scalar, 8, 16, 8, 6>(&b, shape, rows),
            }
        },
    );
}

/// NVS: key vectors per score tile (6 rows × NVS); NVP: head-dim vectors per P·V tile
/// (NVP·LANES = the V panel width); RP: rows per P·V tile of global attention with at most two
/// query heads per K/V head ([`pv`]'s row-tile path, tiles of RP rows × 2 vectors); RS: rows
/// per score tile on that path (6 on the others).
///
/// # Safety
/// `S` supported; `b` validated by `simd_block`.
#[inline(always)]
unsafe fn block<S: F32s, const NVS: usize, const NVP: usize, const RP: usize, const RS: usize>(
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
        // 1. scores for the block's union key range
        if shape.window.is_none() && b.group <= 2 {
            scores::<S, NVS, RS>(b, rows, lo, hi);
        } else {
            scores::<S, NVS, 6>(b, rows, lo, hi);
        }
        // 2. exact softmax of each row over its own keys
        for r in 0..rows {
            let (lo_r, hi_r) = key_range(shape, b.i0 + r / b.group);
            *b.inv.add(r) = softmax_row::<S>(b.scores.add(r * b.ld + lo_r - b.j0), hi_r - lo_r);
        }
        // 3. out = P·V / Σ
        pv::<S, NVP, RP>(b, shape, rows, lo, hi);
    }
}
