//! Bidirectional multi-head attention for one sequence, exact softmax in f32.
//!
//! Sliding windows are computed from indices (query i attends key j iff |i-j| <= window), never
//! from a mask. The query heads that share a K/V head are stacked into one tile against it.
//!
//! Every path (the scalar one too, with 1-lane vectors), per KV head g and tile of query tokens
//! that see the same key range [lo, hi) (one token on windowed layers, a few on global ones):
//! 1. scores S[r, j] = scale · Σ_d q[r, d]·K[j, d], vectorized over keys against K transposed
//!    once per call (K^T [g][d][j], zero padded);
//! 2. an exact softmax per row over [lo, hi) (max, exp(s - max), sum);
//! 3. out[r, :] = (Σ_j p[r, j]·V[j, :]) / sum, vectorized over the head dimension.
//!
//! Operands live in 32-bit *slots*: one f32, or with [`AttnShape::bf16`] a bf16 pair (q and K
//! pair along the head dimension, P and V along the keys: keys (2m, 2m + 1) of the sequence,
//! a row's keys outside its window as zero probabilities), multiplied as the [`bf16`] module
//! defines. The chains below then run over slots in order, two FMAs (or one `vdpbf16ps`) per
//! slot.
//!
//! Every row's arithmetic depends only on that row and its key range, so results do not depend
//! on the thread count, the tile the row lands in, or the other sequences. Work is split across
//! tiles only. Each score is one FMA chain over d in order, each output one FMA chain over keys
//! in order, and the softmax sums run on 16 virtual lanes in a fixed order, so every path
//! (scalar, AVX2, AVX-512, NEON) gives the same bits.
//!
//! Files: [`scratch`] (buffers), [`layout`] (K^T and V panels), [`bf16`] (the pair product),
//! [`block`] (one work item: the only per-ISA code, a match choosing the vector
//! type), [`scores`] (QK^T tiles), [`softmax`], [`pv`] (P·V tiles).

mod bf16;
mod block;
mod layout;
mod pv;
mod scores;
mod scratch;
mod softmax;
#[cfg(test)]
mod tests;

pub use scratch::AttnScratch;

use crate::pool::{SyncPtr, ThreadPool};
use crate::Isa;
use layout::{panel_v, transpose_k, v_panel_width};

/// Shape of one attention call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttnShape {
    pub n_tok: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Attend iff |i-j| <= window; `None` = global attention.
    pub window: Option<usize>,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// q, k, v and the probabilities rounded to bf16, products in pairs (`vdpbf16ps`'s
    /// arithmetic, on every path): twice the f32 rate where AVX512_BF16 runs it. `false`: f32.
    pub bf16: bool,
}

/// Keys computed per score chunk at most (the K^T rows and score rows are padded by this).
pub(crate) const KEY_CHUNK: usize = 32;
/// Keys per P·V block: the V panel slice of a block (≤ 64 dims × this) stays in L1.
pub(crate) const PV_KEYS: usize = 128;
/// Query rows (token × head pairs sharing one K/V head) per block, about: every K^T chunk and
/// V slice loaded is used by this many rows.
pub(crate) const BLOCK_ROWS: usize = 48;

/// Bidirectional attention for ONE sequence.  q: [n_tok, n_head*head_dim]
/// k, v: [n_tok, n_head_kv*head_dim]   out: [n_tok, n_head*head_dim]. Exact softmax.
/// Batch/thread invariant.
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    shape: &AttnShape,
    scratch: &mut AttnScratch,
    pool: &ThreadPool,
) {
    attention_with(crate::active_isa(), q, k, v, out, shape, scratch, pool)
}

/// [`attention`] on an explicit path.
#[allow(clippy::too_many_arguments)]
pub fn attention_with(
    isa: Isa,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    shape: &AttnShape,
    scratch: &mut AttnScratch,
    pool: &ThreadPool,
) {
    attention_exec(isa, q, k, v, out, shape, scratch, Some(pool))
}

/// [`attention_with`] on `pool`, or on the calling thread alone if `pool` is `None`.
#[allow(clippy::too_many_arguments)]
fn attention_exec(
    isa: Isa,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    shape: &AttnShape,
    scratch: &mut AttnScratch,
    pool: Option<&ThreadPool>,
) {
    let AttnShape {
        n_tok,
        n_head,
        n_head_kv,
        head_dim,
        ..
    } = *shape;
    assert!(
        n_head_kv > 0 && n_head % n_head_kv == 0,
        "attention: n_head ({n_head}) must be a multiple of n_head_kv ({n_head_kv})"
    );
    assert_eq!(
        q.len(),
        n_tok * n_head * head_dim,
        "attention: q must be [n_tok, n_head*head_dim]"
    );
    assert_eq!(
        k.len(),
        n_tok * n_head_kv * head_dim,
        "attention: k must be [n_tok, n_head_kv*head_dim]"
    );
    assert_eq!(
        v.len(),
        k.len(),
        "attention: v must be [n_tok, n_head_kv*head_dim]"
    );
    assert_eq!(
        out.len(),
        q.len(),
        "attention: out must be [n_tok, n_head*head_dim]"
    );
    if n_tok == 0 {
        return;
    }
    let isa = isa.or_supported();
    let n_threads = pool.map_or(1, ThreadPool::n_threads);
    scratch.ensure(shape, n_threads);
    let ld = scratch.ld();
    let slot_len = scratch.rows_per_slot * ld;
    // K^T and V panels: two independent copies, side by side on a pool.
    let vd = v_panel_width(isa);
    match pool {
        Some(pool) if pool.n_threads() > 1 => {
            let (ktp, kt_len) = (SyncPtr(scratch.kt.as_mut_ptr()), scratch.kt.len());
            let (vtp, vt_len) = (SyncPtr(scratch.vt.as_mut_ptr()), scratch.vt.len());
            pool.run(2, &|i| {
                // SAFETY: task 0 alone writes kt and task 1 alone writes vt (two distinct
                // buffers of the scratch, of the lengths taken above); both outlive `pool.run`.
                unsafe {
                    if i == 0 {
                        let kt = std::slice::from_raw_parts_mut(ktp.get(), kt_len);
                        transpose_k(k, shape, kt, ld);
                    } else {
                        let vt = std::slice::from_raw_parts_mut(vtp.get(), vt_len);
                        panel_v(v, shape, vt, ld, vd);
                    }
                }
            });
        }
        _ => {
            transpose_k(k, shape, &mut scratch.kt, ld);
            panel_v(v, shape, &mut scratch.vt, ld, vd);
        }
    }
    let plan = Plan::new(shape, n_threads);
    let rows_per_slot = scratch.rows_per_slot;
    let sp = SyncPtr(scratch.scores.as_mut_ptr());
    let ip = SyncPtr(scratch.inv.as_mut_ptr());
    let q2_slot = scratch::q2_per_slot(scratch.rows_per_slot, shape.head_dim);
    let qp = SyncPtr(scratch.q2.as_mut_ptr());
    let op = SyncPtr(out.as_mut_ptr());
    let (kt, vt) = (&scratch.kt[..], &scratch.vt[..]);
    let task = |item: usize, th: usize| {
        // SAFETY: the thread with index `th` (< n_threads <= n_slots) is the only one using
        // slot `th`, and work item `item` writes only its own output rows (disjoint from other
        // items'); all buffers outlive the loop / `pool.run_on_threads`.
        let scores =
            unsafe { std::slice::from_raw_parts_mut(sp.get().add(th * slot_len), slot_len) };
        // SAFETY: as above (slot `th` of the per-row 1/Σ buffer).
        let inv = unsafe {
            std::slice::from_raw_parts_mut(ip.get().add(th * rows_per_slot), rows_per_slot)
        };

        // SAFETY: as above (slot `th` of the packed query rows).
        let q2 = unsafe { std::slice::from_raw_parts_mut(qp.get().add(th * q2_slot), q2_slot) };

        let (g, i0, i1) = plan.item(item);
        // SAFETY: as above; item (g, i0..i1) owns the out rows (i, heads of g), i in i0..i1;
        // out is [n_tok, n_head·head_dim] (asserted).
        unsafe {
            block::simd_block(
                isa,
                q,
                kt,
                vt,
                op.get(),
                shape,
                g,
                i0,
                i1,
                scores,
                inv,
                q2,
                ld,
            )
        };
    };
    match pool {
        Some(pool) => pool.run_on_threads(plan.n_items, &task),
        None => (0..plan.n_items).for_each(|item| task(item, 0)),
    }
}

/// Sequences of at most this many tokens may be spread across threads whole (one thread each)
/// by [`attention_seqs`]; longer ones are split across threads by query tiles.
pub const SEQ_PARALLEL_MAX_TOKENS: usize = 256;

/// [`attention`] for every sequence of a ragged batch: `seqs` are ascending, disjoint token
/// ranges of q/k/v/out (rows as in [`attention`]); `shape.n_tok` is ignored (each sequence's
/// length is used). Long sequences run one at a time, split across the pool by query tiles;
/// short ones ([`SEQ_PARALLEL_MAX_TOKENS`]) run concurrently, one thread per sequence — unless
/// one holds more than 1/n_threads of the batch's attention work (Σ len²: e.g. a lone input),
/// which would leave threads idle, so it is split by tiles like a long one. Either way each
/// sequence's result is exactly what [`attention`] gives for it alone.
#[allow(clippy::too_many_arguments)]
pub fn attention_seqs(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    seqs: &[std::ops::Range<usize>],
    shape: &AttnShape,
    scratch: &mut AttnScratch,
    pool: &ThreadPool,
) {
    let isa = crate::active_isa();
    let (wq, wkv) = (
        shape.n_head * shape.head_dim,
        shape.n_head_kv * shape.head_dim,
    );
    let n_tok = q.len() / wq.max(1);
    let mut end = 0;
    for s in seqs {
        assert!(
            s.start >= end && s.start <= s.end && s.end <= n_tok,
            "attention_seqs: sequences must be ascending, disjoint ranges within {n_tok} tokens"
        );
        end = s.end;
    }
    let shape_of = |s: &std::ops::Range<usize>| AttnShape {
        n_tok: s.len(),
        ..*shape
    };
    let parallel = pool.n_threads() > 1;
    // Attention work ~ len² per sequence.
    let work: usize = seqs.iter().map(|s| s.len() * s.len()).sum();
    let is_short = |s: &std::ops::Range<usize>| {
        parallel
            && s.len() <= SEQ_PARALLEL_MAX_TOKENS
            && s.len() * s.len() * pool.n_threads() <= work
    };
    for s in seqs.iter().filter(|s| !is_short(s)) {
        attention_exec(
            isa,
            &q[s.start * wq..s.end * wq],
            &k[s.start * wkv..s.end * wkv],
            &v[s.start * wkv..s.end * wkv],
            &mut out[s.start * wq..s.end * wq],
            &shape_of(s),
            scratch,
            Some(pool),
        );
    }
    // Threads claim the short sequences longest first (work ~ len²), so the last ones claimed
    // are short and the threads finish together.
    let order = &mut scratch.seq_order;
    order.clear();
    order.extend((0..seqs.len()).filter(|&i| is_short(&seqs[i])));
    order.sort_unstable_by_key(|&i| (std::cmp::Reverse(seqs[i].len()), i));
    if order.is_empty() {
        return;
    }
    // One single-threaded scratch per thread, sized for the longest short sequence.
    let n_threads = pool.n_threads();
    if scratch.per_thread.len() < n_threads {
        scratch.per_thread.resize_with(n_threads, || {
            AttnScratch::with_heads(
                SEQ_PARALLEL_MAX_TOKENS,
                1,
                shape.n_head,
                shape.n_head_kv,
                shape.head_dim,
            )
        });
    }
    let slots = SyncPtr(scratch.per_thread.as_mut_ptr());
    let op = SyncPtr(out.as_mut_ptr());
    let order = &scratch.seq_order;
    pool.run_on_threads(order.len(), &|n, th| {
        let s = &seqs[order[n]];
        // SAFETY: thread `th` (< n_threads <= per_thread.len()) is the only user of slot `th`;
        // sequence i's out rows are disjoint from every other sequence's (ranges checked
        // above) and within `out`; both outlive `run_on_threads`.
        let (slot, out) = unsafe {
            (
                &mut *slots.get().add(th),
                std::slice::from_raw_parts_mut(op.get().add(s.start * wq), s.len() * wq),
            )
        };
        attention_exec(
            isa,
            &q[s.start * wq..s.end * wq],
            &k[s.start * wkv..s.end * wkv],
            &v[s.start * wkv..s.end * wkv],
            out,
            &shape_of(s),
            slot,
            None,
        );
    });
}

/// Work items: (KV head, block of consecutive query tokens).
struct Plan {
    n_kv: usize,
    n_tok: usize,
    /// Query tokens per tile.
    qb: usize,
    n_items: usize,
}

impl Plan {
    fn new(shape: &AttnShape, n_threads: usize) -> Self {
        let group = shape.n_head / shape.n_head_kv;
        // Blocks of ~BLOCK_ROWS rows; on several threads, at least two per thread-ish for load
        // balance (smaller blocks reuse each K^T chunk and V slice for fewer rows).
        let per_block = (BLOCK_ROWS / group).max(1);
        let qb = if n_threads > 1 {
            per_block.min(shape.n_tok.div_ceil(4)).max(1)
        } else {
            per_block
        };
        let n_tiles = shape.n_tok.div_ceil(qb);
        Plan {
            n_kv: shape.n_head_kv,
            n_tok: shape.n_tok,
            qb,
            n_items: n_tiles * shape.n_head_kv,
        }
    }

    /// (kv head, first token, end token) of work item `w` (tiles of one head are adjacent).
    fn item(&self, w: usize) -> (usize, usize, usize) {
        let (tile, g) = (w / self.n_kv, w % self.n_kv);
        let i0 = tile * self.qb;
        (g, i0, (i0 + self.qb).min(self.n_tok))
    }
}

/// Keys visible from query i: lo..hi.
#[inline]
pub(crate) fn key_range(shape: &AttnShape, i: usize) -> (usize, usize) {
    match shape.window {
        Some(w) => (i.saturating_sub(w), (i + w + 1).min(shape.n_tok)),
        None => (0, shape.n_tok),
    }
}
