//! Bidirectional multi-head attention for one sequence, exact softmax in f32.
//!
//! Sliding windows are computed from indices (query i attends key j iff |i-j| <= window), never
//! from a mask. The query heads that share a K/V head are stacked into one tile against it.
//!
//! SIMD path, per KV head g and tile of query tokens that see the same key range [lo, hi)
//! (one token on windowed layers, a few on global ones):
//! 1. scores S[r, j] = scale · Σ_d q[r, d]·K[j, d], vectorized over keys against K transposed
//!    once per call (K^T [g][d][j], zero padded);
//! 2. an exact softmax per row over [lo, hi) (max, exp(s - max), sum);
//! 3. out[r, :] = (Σ_j p[r, j]·V[j, :]) / sum, vectorized over the head dimension.
//!
//! Every row's arithmetic depends only on that row and its key range, so results do not depend
//! on the thread count, the tile the row lands in, or the other sequences. Work is split across
//! tiles only.

use crate::pool::{SyncPtr, ThreadPool};
use crate::Isa;

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
}

/// Keys computed per score chunk at most (the K^T rows and score rows are padded by this).
const KEY_CHUNK: usize = 32;
/// Keys per P·V block: the V panel slice of a block (≤ 64 dims × this) stays in L1.
const PV_KEYS: usize = 128;
/// Query rows (token × head pairs sharing one K/V head) per block, about: every K^T chunk and
/// V slice loaded is used by this many rows.
const BLOCK_ROWS: usize = 48;

/// Scratch for [`attention`]: per-thread score rows and K transposed per KV head.
/// Buffers that the constructor could not size grow on first use, then stay allocated.
pub struct AttnScratch {
    /// [n_slots, rows_per_slot, ld] scores / probabilities.
    scores: Vec<f32>,
    /// [n_slots, rows_per_slot] 1/Σ per row.
    inv: Vec<f32>,
    /// [n_head_kv, ld / KEY_CHUNK, head_dim, KEY_CHUNK] K transposed in key panels, zero padded.
    kt: Vec<f32>,
    /// [n_head_kv, head_dim / vd, ld, vd] V in head-dim panels of vd columns (last one narrower).
    vt: Vec<f32>,
    max_tokens: usize,
    n_slots: usize,
    rows_per_slot: usize,
    /// Single-threaded scratch per pool thread for [`attention_seqs`]'s short sequences
    /// (allocated on first use).
    per_thread: Vec<AttnScratch>,
}

impl AttnScratch {
    /// Scratch for sequences of up to `max_tokens` tokens, run by up to `n_threads` threads.
    /// The transposed-K buffer is allocated by the first call (its size depends on the heads);
    /// [`AttnScratch::with_heads`] allocates everything up front.
    pub fn new(max_tokens: usize, n_threads: usize) -> Self {
        AttnScratch::with_heads(max_tokens, n_threads, 1, 1, 0)
    }

    /// Scratch sized for `n_head` query heads sharing `n_head_kv` K/V heads of `head_dim`.
    pub fn with_heads(
        max_tokens: usize,
        n_threads: usize,
        n_head: usize,
        n_head_kv: usize,
        head_dim: usize,
    ) -> Self {
        let n_slots = n_threads.max(1);
        let group = n_head / n_head_kv.max(1);
        let rows_per_slot = (BLOCK_ROWS / group).max(1) * group;
        let ld = (max_tokens + 1).next_multiple_of(KEY_CHUNK) + KEY_CHUNK;
        AttnScratch {
            scores: vec![0.0; n_slots * rows_per_slot * ld],
            inv: vec![0.0; n_slots * rows_per_slot],
            kt: vec![0.0; n_head_kv * head_dim * ld],
            vt: vec![0.0; n_head_kv * head_dim * ld],
            max_tokens,
            n_slots,
            rows_per_slot,
            per_thread: if n_threads > 1 && head_dim > 0 {
                (0..n_threads)
                    .map(|_| {
                        AttnScratch::with_heads(
                            SEQ_PARALLEL_MAX_TOKENS.min(max_tokens),
                            1,
                            n_head,
                            n_head_kv,
                            head_dim,
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Row stride of the score and K^T buffers.
    fn ld(&self) -> usize {
        (self.max_tokens + 1).next_multiple_of(KEY_CHUNK) + KEY_CHUNK
    }

    fn ensure(&mut self, shape: &AttnShape, n_threads: usize) {
        let group = shape.n_head / shape.n_head_kv;
        let rows = (BLOCK_ROWS / group).max(1) * group;
        if shape.n_tok > self.max_tokens || n_threads > self.n_slots || rows > self.rows_per_slot {
            *self = AttnScratch::with_heads(
                shape.n_tok.max(self.max_tokens),
                n_threads.max(self.n_slots),
                shape.n_head,
                shape.n_head_kv,
                shape.head_dim,
            );
        }
        let kt_len = shape.n_head_kv * shape.head_dim * self.ld();
        if self.kt.len() < kt_len {
            self.kt.resize(kt_len, 0.0);
            self.vt.resize(kt_len, 0.0);
        }
    }
}

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
    if isa != Isa::Scalar {
        transpose_k(k, shape, &mut scratch.kt, ld);
        panel_v(v, shape, &mut scratch.vt, ld, v_panel_width(isa));
    }
    let plan = Plan::new(shape, n_threads);
    let rows_per_slot = scratch.rows_per_slot;
    let sp = SyncPtr(scratch.scores.as_mut_ptr());
    let ip = SyncPtr(scratch.inv.as_mut_ptr());
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

        let (g, i0, i1) = plan.item(item);
        if isa == Isa::Scalar {
            for i in i0..i1 {
                // SAFETY: item (g, i0..i1) owns the out rows (i, heads of g), i in i0..i1.
                unsafe { attend_row_scalar(q, k, v, op.get(), shape, g, i, scores) };
            }
        } else {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above; out is [n_tok, n_head·head_dim] (asserted).
            unsafe {
                simd_block(isa, q, kt, vt, op.get(), shape, g, i0, i1, scores, inv, ld)
            };
        }
    };
    match pool {
        Some(pool) => pool.run_on_threads(plan.n_items, &task),
        None => (0..plan.n_items).for_each(|item| task(item, 0)),
    }
}

/// Sequences of at most this many tokens are spread across threads whole (one thread each) by
/// [`attention_seqs`]; longer ones are split across threads by query tiles.
pub const SEQ_PARALLEL_MAX_TOKENS: usize = 256;

/// [`attention`] for every sequence of a ragged batch: `seqs` are ascending, disjoint token
/// ranges of q/k/v/out (rows as in [`attention`]); `shape.n_tok` is ignored (each sequence's
/// length is used). Long sequences run one at a time, split across the pool by query tiles;
/// short ones ([`SEQ_PARALLEL_MAX_TOKENS`]) run concurrently, one thread per sequence. Either
/// way each sequence's result is exactly what [`attention`] gives for it alone.
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
    let is_short = |s: &std::ops::Range<usize>| parallel && s.len() <= SEQ_PARALLEL_MAX_TOKENS;
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
    let n_short = seqs.iter().filter(|s| is_short(s)).count();
    if n_short == 0 {
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
    pool.run_on_threads(seqs.len(), &|i, th| {
        let s = &seqs[i];
        if !is_short(s) {
            return;
        }
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

/// K^T in key panels: kt[g][j / KEY_CHUNK][d][j % KEY_CHUNK] = k[j][g][d], so a score chunk
/// streams contiguous memory. Keys n_tok..ld (padding) are zero.
fn transpose_k(k: &[f32], shape: &AttnShape, kt: &mut [f32], ld: usize) {
    let hd = shape.head_dim;
    let n_chunks = shape.n_tok.div_ceil(KEY_CHUNK);
    for g in 0..shape.n_head_kv {
        let ktg = &mut kt[g * hd * ld..(g + 1) * hd * ld];
        ktg[..n_chunks * KEY_CHUNK * hd].fill(0.0);
        for j in 0..shape.n_tok {
            let kj = &k[(j * shape.n_head_kv + g) * hd..][..hd];
            let panel = &mut ktg[(j / KEY_CHUNK) * KEY_CHUNK * hd..][..KEY_CHUNK * hd];
            for (d, &x) in kj.iter().enumerate() {
                panel[d * KEY_CHUNK + j % KEY_CHUNK] = x;
            }
        }
    }
}

/// Columns per V panel on `isa` (the P·V register tile width).
fn v_panel_width(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 64,
        _ => 16,
    }
}

/// V in head-dim panels: vt[g][panel p = d / vd][j][d % vd] (the last panel of a head may be
/// narrower: width hd - p·vd), so P·V streams contiguous rows.
fn panel_v(v: &[f32], shape: &AttnShape, vt: &mut [f32], ld: usize, vd: usize) {
    let hd = shape.head_dim;
    for g in 0..shape.n_head_kv {
        let mut d0 = 0;
        while d0 < hd {
            let wd = vd.min(hd - d0);
            let panel = &mut vt[(g * hd + d0) * ld..][..shape.n_tok * wd];
            for (j, row) in panel.chunks_exact_mut(wd).enumerate() {
                row.copy_from_slice(&v[(j * shape.n_head_kv + g) * hd + d0..][..wd]);
            }
            d0 += wd;
        }
    }
}

/// The scalar reference: one query token, all heads of KV head `g`.
///
/// # Safety
/// `out` is valid for [n_tok, n_head·head_dim]; no other thread accesses the rows
/// (i, heads of g) meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn attend_row_scalar(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: *mut f32,
    shape: &AttnShape,
    g: usize,
    i: usize,
    scores: &mut [f32],
) {
    let hd = shape.head_dim;
    let group = shape.n_head / shape.n_head_kv;
    let (lo, hi) = key_range(shape, i);
    for h in g * group..(g + 1) * group {
        let qi = &q[(i * shape.n_head + h) * hd..][..hd];
        let mut m = f32::NEG_INFINITY;
        for j in lo..hi {
            let kj = &k[(j * shape.n_head_kv + g) * hd..][..hd];
            let s = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * shape.scale;
            scores[j - lo] = s;
            m = m.max(s);
        }
        let mut sum = 0f32;
        for s in &mut scores[..hi - lo] {
            *s = (*s - m).exp();
            sum += *s;
        }
        let inv = 1.0 / sum;
        // SAFETY: per the function contract (row (i, h) belongs to this call).
        let o = unsafe { std::slice::from_raw_parts_mut(out.add((i * shape.n_head + h) * hd), hd) };
        o.fill(0.0);
        for j in lo..hi {
            let p = scores[j - lo];
            let vj = &v[(j * shape.n_head_kv + g) * hd..][..hd];
            for (o, &vv) in o.iter_mut().zip(vj) {
                *o += p * vv;
            }
        }
        for o in o.iter_mut() {
            *o *= inv;
        }
    }
}

#[cfg(target_arch = "x86_64")]
use simd::simd_block;

// Register tiles are written as indexed loops over const-size arrays: they unroll fully and
// keep every accumulator in a register.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{key_range, v_panel_width, AttnShape, KEY_CHUNK, PV_KEYS};
    use crate::simd::{array, exp, vec_len, Avx2, Avx512, F32s, Scalar};
    use crate::Isa;

    /// Pointers and sizes of one block: query tokens i0..i1 × the heads of one KV head.
    struct Block {
        q: *const f32,
        /// K^T panels of this KV head: [ld / KEY_CHUNK][hd][KEY_CHUNK].
        kt: *const f32,
        /// V panels of this KV head: panel at d0 = vt + d0·ld, [ld][width].
        vt: *const f32,
        out: *mut f32,
        /// [rows][ld] scores of this thread's slot; column c holds key j0 + c.
        scores: *mut f32,
        /// [rows] 1/Σ of each row.
        inv: *mut f32,
        ld: usize,
        hd: usize,
        n_head: usize,
        group: usize,
        /// First head of this KV head's group.
        h0: usize,
        i0: usize,
        /// First key column held in `scores` (a multiple of KEY_CHUNK).
        j0: usize,
        scale: f32,
    }

    impl Block {
        /// Offset in q/out of block row r = (token i0 + r / group, head h0 + r % group).
        #[inline(always)]
        fn row_off(&self, r: usize) -> usize {
            ((self.i0 + r / self.group) * self.n_head + self.h0 + r % self.group) * self.hd
        }

        /// p[j] of block row r.
        #[inline(always)]
        unsafe fn p_row(&self, r: usize) -> *const f32 {
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
        assert!(hi.next_multiple_of(KEY_CHUNK) <= ld);
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
        };
        // SAFETY: `isa` is supported (resolved by the caller); the asserts above bound every
        // access made by the block kernels (rows of q/out inside [n_tok, n_head·hd], score
        // columns inside ld, K^T/V panels inside this head's hd·ld, keys < hi <= n_tok).
        crate::simd::on(
            isa,
            #[inline(always)]
            || unsafe {
                match isa {
                    Isa::Avx512 => block::<Avx512, 2, 4>(&b, shape, rows),
                    _ => block::<Avx2, 2, 2>(&b, shape, rows),
                }
            },
        );
    }

    /// NVS: key vectors per score tile (6 rows × NVS); NVP: head-dim vectors per P·V tile
    /// (NVP·LANES = the V panel width).
    ///
    /// # Safety
    /// `S` supported; `b` validated by `simd_block`.
    #[inline(always)]
    unsafe fn block<S: F32s, const NVS: usize, const NVP: usize>(
        b: &Block,
        shape: &AttnShape,
        rows: usize,
    ) {
        let n_tok_blk = rows / b.group;
        let (lo, _) = key_range(shape, b.i0);
        let (_, hi) = key_range(shape, b.i0 + n_tok_blk - 1);
        debug_assert_eq!(
            NVP * S::LANES,
            v_panel_width(if S::LANES == 16 {
                Isa::Avx512
            } else {
                Isa::Avx2
            })
        );
        // SAFETY: per the function contract.
        unsafe {
            // 1. scores for the block's union key range, chunk-outer so a K^T chunk
            //    (KEY_CHUNK keys × hd, contiguous) stays in L1 while every row tile uses it.
            let c = NVS * S::LANES;
            let mut j = lo - lo % c;
            while j < hi {
                let mut r0 = 0;
                while r0 < rows {
                    let nr = (rows - r0).min(6);
                    macro_rules! arm {
                        ($r:literal) => {
                            scores_tile::<S, $r, NVS>(b, r0, j)
                        };
                    }
                    match nr {
                        1 => arm!(1),
                        2 => arm!(2),
                        3 => arm!(3),
                        4 => arm!(4),
                        5 => arm!(5),
                        _ => arm!(6),
                    }
                    r0 += nr;
                }
                j += c;
            }
            // 2. exact softmax of each row over its own keys
            for r in 0..rows {
                let (lo_r, hi_r) = key_range(shape, b.i0 + r / b.group);
                *b.inv.add(r) = softmax_row::<S>(b.scores.add(r * b.ld + lo_r - b.j0), hi_r - lo_r);
            }
            // 3. P·V: per V panel (head-dim columns d0..d0+wd), per block of PV_KEYS keys, per
            //    pair of tokens. Partial sums live in `out` between key blocks (stored and
            //    reloaded exactly), so each row still runs one FMA chain over its keys in order.
            let vd = NVP * S::LANES;
            let mut d0 = 0;
            while d0 < b.hd {
                let wd = vd.min(b.hd - d0);
                for r in 0..rows {
                    std::ptr::write_bytes(b.out.add(b.row_off(r) + d0), 0, wd);
                }
                let panel = b.vt.add(d0 * b.ld);
                let mut jb = lo;
                while jb < hi {
                    let je = (jb + PV_KEYS).min(hi);
                    let mut t = 0;
                    while t < n_tok_blk {
                        let pair = t + 1 < n_tok_blk && b.group <= 4;
                        let ra = clip(key_range(shape, b.i0 + t), jb, je);
                        let rb = if pair {
                            clip(key_range(shape, b.i0 + t + 1), jb, je)
                        } else {
                            (0, 0)
                        };
                        let mut dd = 0;
                        while dd < wd {
                            // sub-panel width: the full panel, else single vectors, else scalars
                            let w = if wd == vd {
                                vd
                            } else if dd + S::LANES <= wd {
                                S::LANES
                            } else {
                                1
                            };
                            macro_rules! go {
                                ($g:literal) => {
                                    if w == vd {
                                        pv_pair::<S, $g, NVP>(
                                            b,
                                            t * b.group,
                                            pair,
                                            ra,
                                            rb,
                                            panel,
                                            wd,
                                            d0 + dd,
                                        )
                                    } else if w == S::LANES {
                                        pv_pair::<S, $g, 1>(
                                            b,
                                            t * b.group,
                                            pair,
                                            ra,
                                            rb,
                                            panel.add(dd),
                                            wd,
                                            d0 + dd,
                                        )
                                    } else {
                                        pv_pair::<Scalar, $g, 1>(
                                            b,
                                            t * b.group,
                                            pair,
                                            ra,
                                            rb,
                                            panel.add(dd),
                                            wd,
                                            d0 + dd,
                                        )
                                    }
                                };
                            }
                            if b.group <= 4 {
                                match b.group {
                                    1 => go!(1),
                                    2 => go!(2),
                                    3 => go!(3),
                                    _ => go!(4),
                                }
                            } else {
                                // large groups: one token, 4 rows at a time
                                let mut r = 0;
                                while r < b.group {
                                    let n = (b.group - r).min(4);
                                    let base = t * b.group + r;
                                    macro_rules! one {
                                        ($n:literal) => {
                                            if w == vd {
                                                pv_pair::<S, $n, NVP>(
                                                    b,
                                                    base,
                                                    false,
                                                    ra,
                                                    rb,
                                                    panel,
                                                    wd,
                                                    d0 + dd,
                                                )
                                            } else if w == S::LANES {
                                                pv_pair::<S, $n, 1>(
                                                    b,
                                                    base,
                                                    false,
                                                    ra,
                                                    rb,
                                                    panel.add(dd),
                                                    wd,
                                                    d0 + dd,
                                                )
                                            } else {
                                                pv_pair::<Scalar, $n, 1>(
                                                    b,
                                                    base,
                                                    false,
                                                    ra,
                                                    rb,
                                                    panel.add(dd),
                                                    wd,
                                                    d0 + dd,
                                                )
                                            }
                                        };
                                    }
                                    match n {
                                        1 => one!(1),
                                        2 => one!(2),
                                        3 => one!(3),
                                        _ => one!(4),
                                    }
                                    r += n;
                                }
                            }
                            dd += w;
                        }
                        t += if pair { 2 } else { 1 };
                    }
                    jb = je;
                }
                for r in 0..rows {
                    let o = b.out.add(b.row_off(r) + d0);
                    let iv = *b.inv.add(r);
                    for x in 0..wd {
                        *o.add(x) *= iv;
                    }
                }
                d0 += wd;
            }
        }
    }

    /// Intersection of a key range with [jb, je) (empty ranges become (je, je)).
    #[inline(always)]
    fn clip(r: (usize, usize), jb: usize, je: usize) -> (usize, usize) {
        let (a, b) = (r.0.max(jb), r.1.min(je));
        if a < b {
            (a, b)
        } else {
            (je, je)
        }
    }

    /// Scores of block rows r0..r0+R for keys j..j+NV·L:
    /// S[r][j - j0 + x] = scale · Σ_d q[r][d]·K[j + x][d].
    ///
    /// # Safety
    /// As `block`; j is a multiple of NV·L, which divides KEY_CHUNK.
    #[inline(always)]
    unsafe fn scores_tile<S: F32s, const R: usize, const NV: usize>(
        b: &Block,
        r0: usize,
        j: usize,
    ) {
        let l = S::LANES;
        // SAFETY: per the function contract.
        unsafe {
            let qp: [*const f32; R] = array!(R, |r| b.q.add(b.row_off(r0 + r)));
            let kb = b.kt.add((j / KEY_CHUNK) * KEY_CHUNK * b.hd + j % KEY_CHUNK);
            let mut acc = [[S::splat(0.0); NV]; R];
            for d in 0..b.hd {
                let kv: [S::V; NV] = array!(NV, |v| S::load(kb.add(d * KEY_CHUNK + v * l)));
                for r in 0..R {
                    let qb = S::splat(*qp[r].add(d));
                    for v in 0..NV {
                        acc[r][v] = S::fma(qb, kv[v], acc[r][v]);
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

    /// Continue the P·V sums of token a (G rows from r0) over keys ra, and — if `pair` — of
    /// token b (the next G rows) over keys rb, for NV·L head-dim columns starting at `d`
    /// (`panel` points at those columns of V's panel, row stride `wd`). Keys are visited in
    /// three segments — a only, both, b only — so every row runs exactly its own keys in
    /// increasing order (ra <= rb componentwise for consecutive tokens).
    ///
    /// # Safety
    /// As `block`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn pv_pair<S: F32s, const G: usize, const NV: usize>(
        b: &Block,
        r0: usize,
        pair: bool,
        ra: (usize, usize),
        rb: (usize, usize),
        panel: *const f32,
        wd: usize,
        d: usize,
    ) {
        let l = S::LANES;
        // SAFETY: per the function contract.
        unsafe {
            let pa: [*const f32; G] = array!(G, |r| b.p_row(r0 + r));
            let oa: [*mut f32; G] = array!(G, |r| b.out.add(b.row_off(r0 + r) + d));
            let mut acc_a = [[S::splat(0.0); NV]; G];
            for r in 0..G {
                for v in 0..NV {
                    acc_a[r][v] = S::load(oa[r].add(v * l));
                }
            }
            if !pair {
                segment::<S, G, NV>(b, &pa, &mut acc_a, ra.0, ra.1, panel, wd);
            } else {
                let pb: [*const f32; G] = array!(G, |r| b.p_row(r0 + G + r));
                let ob: [*mut f32; G] = array!(G, |r| b.out.add(b.row_off(r0 + G + r) + d));
                let mut acc_b = [[S::splat(0.0); NV]; G];
                for r in 0..G {
                    for v in 0..NV {
                        acc_b[r][v] = S::load(ob[r].add(v * l));
                    }
                }
                // both ranges are clipped to the same key block; a's keys precede b's
                let both = (ra.0.max(rb.0), ra.1.min(rb.1));
                if both.0 < both.1 {
                    segment::<S, G, NV>(b, &pa, &mut acc_a, ra.0, both.0, panel, wd);
                    segment::<S, G, NV>(b, &pb, &mut acc_b, rb.0, both.0, panel, wd);
                    segment2::<S, G, NV>(
                        b, &pa, &pb, &mut acc_a, &mut acc_b, both.0, both.1, panel, wd,
                    );
                    segment::<S, G, NV>(b, &pa, &mut acc_a, both.1, ra.1, panel, wd);
                    segment::<S, G, NV>(b, &pb, &mut acc_b, both.1, rb.1, panel, wd);
                } else {
                    segment::<S, G, NV>(b, &pa, &mut acc_a, ra.0, ra.1, panel, wd);
                    segment::<S, G, NV>(b, &pb, &mut acc_b, rb.0, rb.1, panel, wd);
                }
                for r in 0..G {
                    for v in 0..NV {
                        S::store(ob[r].add(v * l), acc_b[r][v]);
                    }
                }
            }
            for r in 0..G {
                for v in 0..NV {
                    S::store(oa[r].add(v * l), acc_a[r][v]);
                }
            }
        }
    }

    /// acc[r] += Σ_{j in j_begin..j_end} p[r][j]·V[j][cols] (V rows `wd` apart in `panel`).
    ///
    /// # Safety
    /// As `block`.
    #[inline(always)]
    unsafe fn segment<S: F32s, const G: usize, const NV: usize>(
        b: &Block,
        p: &[*const f32; G],
        acc: &mut [[S::V; NV]; G],
        j_begin: usize,
        j_end: usize,
        panel: *const f32,
        wd: usize,
    ) {
        let l = S::LANES;
        // SAFETY: per the function contract.
        unsafe {
            for j in j_begin..j_end {
                let vj = panel.add(j * wd);
                let vv: [S::V; NV] = array!(NV, |v| S::load(vj.add(v * l)));
                for r in 0..G {
                    let pr = S::splat(*p[r].add(j - b.j0));
                    for v in 0..NV {
                        acc[r][v] = S::fma(pr, vv[v], acc[r][v]);
                    }
                }
            }
        }
    }

    /// [`segment`] for both tokens of a pair at once (each V load feeds 2·G rows).
    ///
    /// # Safety
    /// As `block`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn segment2<S: F32s, const G: usize, const NV: usize>(
        b: &Block,
        pa: &[*const f32; G],
        pb: &[*const f32; G],
        acc_a: &mut [[S::V; NV]; G],
        acc_b: &mut [[S::V; NV]; G],
        j_begin: usize,
        j_end: usize,
        panel: *const f32,
        wd: usize,
    ) {
        let l = S::LANES;
        // SAFETY: per the function contract.
        unsafe {
            for j in j_begin..j_end {
                let vj = panel.add(j * wd);
                let vv: [S::V; NV] = array!(NV, |v| S::load(vj.add(v * l)));
                for r in 0..G {
                    let pr = S::splat(*pa[r].add(j - b.j0));
                    for v in 0..NV {
                        acc_a[r][v] = S::fma(pr, vv[v], acc_a[r][v]);
                    }
                }
                for r in 0..G {
                    let pr = S::splat(*pb[r].add(j - b.j0));
                    for v in 0..NV {
                        acc_b[r][v] = S::fma(pr, vv[v], acc_b[r][v]);
                    }
                }
            }
        }
    }

    /// s[0..n] = exp(s - max); returns 1/Σ. The reduction order depends only on n.
    ///
    /// # Safety
    /// `S` supported; s valid for n elements (n >= 1).
    #[inline(always)]
    unsafe fn softmax_row<S: F32s>(s: *mut f32, n: usize) -> f32 {
        let l = S::LANES;
        let nv = vec_len::<S>(n);
        // SAFETY: per the function contract.
        unsafe {
            let mut mv = S::splat(f32::NEG_INFINITY);
            for j in (0..nv).step_by(l) {
                mv = S::max(mv, S::load(s.add(j)));
            }
            let mut m = S::hmax(mv);
            for j in nv..n {
                m = m.max(*s.add(j));
            }
            let mb = S::splat(m);
            let mut sum = S::splat(0.0);
            for j in (0..nv).step_by(l) {
                let e = exp::<S>(S::sub(S::load(s.add(j)), mb));
                S::store(s.add(j), e);
                sum = S::add(sum, e);
            }
            let mut total = S::hsum(sum);
            for j in nv..n {
                let e = exp::<Scalar>(*s.add(j) - m);
                *s.add(j) = e;
                total += e;
            }
            1.0 / total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn rand_vec(n: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    /// Straightforward f64 softmax attention.
    fn reference(q: &[f32], k: &[f32], v: &[f32], s: &AttnShape) -> Vec<f64> {
        let hd = s.head_dim;
        let mut out = vec![0f64; q.len()];
        for i in 0..s.n_tok {
            for h in 0..s.n_head {
                let kvh = h / (s.n_head / s.n_head_kv);
                let vis: Vec<usize> = (0..s.n_tok)
                    .filter(|&j| s.window.is_none_or(|w| i.abs_diff(j) <= w))
                    .collect();
                let sc: Vec<f64> = vis
                    .iter()
                    .map(|&j| {
                        (0..hd)
                            .map(|d| {
                                q[(i * s.n_head + h) * hd + d] as f64
                                    * k[(j * s.n_head_kv + kvh) * hd + d] as f64
                            })
                            .sum::<f64>()
                            * s.scale as f64
                    })
                    .collect();
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    out[(i * s.n_head + h) * hd + d] = vis
                        .iter()
                        .zip(&e)
                        .map(|(&j, p)| p / z * v[(j * s.n_head_kv + kvh) * hd + d] as f64)
                        .sum();
                }
            }
        }
        out
    }

    #[test]
    fn matches_f64_reference_all_paths() {
        let mut rng = StdRng::seed_from_u64(7);
        for &(n_tok, n_head, n_head_kv, head_dim, window) in &[
            (1, 3, 1, 256, None),
            (9, 3, 1, 32, Some(2)),
            (23, 4, 2, 48, None),
            (40, 3, 1, 256, Some(7)),
        ] {
            let shape = AttnShape {
                n_tok,
                n_head,
                n_head_kv,
                head_dim,
                window,
                scale: 1.0 / 16.0,
            };
            let q = rand_vec(n_tok * n_head * head_dim, &mut rng);
            let k = rand_vec(n_tok * n_head_kv * head_dim, &mut rng);
            let v = rand_vec(n_tok * n_head_kv * head_dim, &mut rng);
            let want = reference(&q, &k, &v, &shape);
            for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
                for threads in [1, 2, 3] {
                    let pool = ThreadPool::new(threads);
                    let mut s = AttnScratch::new(n_tok, threads);
                    let mut out = vec![f32::NAN; q.len()];
                    attention_with(isa, &q, &k, &v, &mut out, &shape, &mut s, &pool);
                    for (a, b) in out.iter().zip(&want) {
                        assert!((*a as f64 - b).abs() < 2e-6, "{isa} {shape:?}: {a} vs {b}");
                    }
                }
            }
        }
    }

    /// A window covering the whole sequence runs with different tiling than global attention
    /// but must give the same bits; SIMD paths agree with the scalar reference.
    #[test]
    fn tiling_invariance_and_scalar_twin() {
        let mut rng = StdRng::seed_from_u64(9);
        for &(n_tok, hd) in &[(1, 64), (2, 256), (7, 40), (33, 256), (70, 24)] {
            let q = rand_vec(n_tok * 3 * hd, &mut rng);
            let k = rand_vec(n_tok * hd, &mut rng);
            let v = rand_vec(n_tok * hd, &mut rng);
            let mut want = vec![0f32; q.len()];
            let global = AttnShape {
                n_tok,
                n_head: 3,
                n_head_kv: 1,
                head_dim: hd,
                window: None,
                scale: 0.0625,
            };
            let pool = ThreadPool::new(2);
            attention_with(
                Isa::Scalar,
                &q,
                &k,
                &v,
                &mut want,
                &global,
                &mut AttnScratch::new(n_tok, 2),
                &pool,
            );
            for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
                let mut base = vec![0f32; q.len()];
                attention_with(
                    isa,
                    &q,
                    &k,
                    &v,
                    &mut base,
                    &global,
                    &mut AttnScratch::with_heads(n_tok, 2, 3, 1, hd),
                    &pool,
                );
                for (a, b) in base.iter().zip(&want) {
                    assert!(
                        (a - b).abs() < 2e-6,
                        "{isa} n_tok={n_tok} hd={hd}: {a} vs {b}"
                    );
                }
                for window in [n_tok.saturating_sub(1), n_tok + 5] {
                    let shape = AttnShape {
                        window: Some(window),
                        ..global
                    };
                    let mut out = vec![0f32; q.len()];
                    attention_with(
                        isa,
                        &q,
                        &k,
                        &v,
                        &mut out,
                        &shape,
                        &mut AttnScratch::new(1, 1),
                        &pool,
                    );
                    assert!(crate::same_bits(&out, &base), "{isa} window={window}");
                }
            }
        }
    }

    /// A windowed row depends only on its query and the keys in its window: embedding the same
    /// window in a longer sequence (other tokens before/after, so different blocks, pairs and
    /// chunk alignments) and using other thread counts must give the same bits.
    #[test]
    fn windowed_row_invariant_to_surrounding_tokens() {
        let mut rng = StdRng::seed_from_u64(10);
        let (n, w, hd, pre, post) = (40, 5, 80, 7, 30);
        let m = pre + n + post;
        let (q, k, v) = (
            rand_vec(m * 3 * hd, &mut rng),
            rand_vec(m * hd, &mut rng),
            rand_vec(m * hd, &mut rng),
        );
        let base = |x: &[f32], width: usize| x[pre * width..(pre + n) * width].to_vec();
        let (qb, kb, vb) = (base(&q, 3 * hd), base(&k, hd), base(&v, hd));
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let small = AttnShape {
                n_tok: n,
                n_head: 3,
                n_head_kv: 1,
                head_dim: hd,
                window: Some(w),
                scale: 0.1,
            };
            let mut o_small = vec![0f32; qb.len()];
            attention_with(
                isa,
                &qb,
                &kb,
                &vb,
                &mut o_small,
                &small,
                &mut AttnScratch::new(n, 1),
                &ThreadPool::new(1),
            );
            for threads in [1, 2, 3] {
                let big = AttnShape { n_tok: m, ..small };
                let mut o_big = vec![0f32; q.len()];
                attention_with(
                    isa,
                    &q,
                    &k,
                    &v,
                    &mut o_big,
                    &big,
                    &mut AttnScratch::new(m, threads),
                    &ThreadPool::new(threads),
                );
                for i in w..n - w {
                    let a = &o_small[i * 3 * hd..(i + 1) * 3 * hd];
                    let b = &o_big[(pre + i) * 3 * hd..(pre + i + 1) * 3 * hd];
                    assert!(crate::same_bits(a, b), "{isa} threads={threads} row {i}");
                }
            }
        }
    }

    #[test]
    fn row_invariant_to_thread_count_and_scratch() {
        let mut rng = StdRng::seed_from_u64(8);
        let shape = AttnShape {
            n_tok: 31,
            n_head: 3,
            n_head_kv: 1,
            head_dim: 64,
            window: Some(5),
            scale: 0.125,
        };
        let q = rand_vec(31 * 3 * 64, &mut rng);
        let k = rand_vec(31 * 64, &mut rng);
        let v = rand_vec(31 * 64, &mut rng);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let mut base = vec![0f32; q.len()];
            attention_with(
                isa,
                &q,
                &k,
                &v,
                &mut base,
                &shape,
                &mut AttnScratch::new(31, 1),
                &ThreadPool::new(1),
            );
            for threads in [2, 3] {
                let mut out = vec![0f32; q.len()];
                // undersized scratch must grow, not fail
                attention_with(
                    isa,
                    &q,
                    &k,
                    &v,
                    &mut out,
                    &shape,
                    &mut AttnScratch::new(4, 1),
                    &ThreadPool::new(threads),
                );
                assert!(crate::same_bits(&out, &base), "{isa} threads={threads}");
            }
        }
    }

    /// A ragged batch gives every sequence exactly what it gets alone, whichever way it is run
    /// (short sequences one per thread, long ones split by tiles), at any thread count.
    #[test]
    fn batch_of_sequences_matches_each_alone() {
        let mut rng = StdRng::seed_from_u64(11);
        let lens = [
            5,
            1,
            SEQ_PARALLEL_MAX_TOKENS + 9,
            33,
            SEQ_PARALLEL_MAX_TOKENS,
            2,
            70,
        ];
        let mut seqs = Vec::new();
        let mut n_tok = 0;
        for &l in &lens {
            seqs.push(n_tok..n_tok + l);
            n_tok += l;
        }
        for window in [None, Some(6)] {
            let shape = AttnShape {
                n_tok,
                n_head: 3,
                n_head_kv: 1,
                head_dim: 64,
                window,
                scale: 0.125,
            };
            let (wq, wkv) = (3 * 64, 64);
            let q = rand_vec(n_tok * wq, &mut rng);
            let k = rand_vec(n_tok * wkv, &mut rng);
            let v = rand_vec(n_tok * wkv, &mut rng);
            let one = ThreadPool::new(1);
            let mut alone = vec![0f32; q.len()];
            for r in &seqs {
                let mut sc = AttnScratch::new(r.len(), 1);
                attention(
                    &q[r.start * wq..r.end * wq],
                    &k[r.start * wkv..r.end * wkv],
                    &v[r.start * wkv..r.end * wkv],
                    &mut alone[r.start * wq..r.end * wq],
                    &AttnShape {
                        n_tok: r.len(),
                        ..shape
                    },
                    &mut sc,
                    &one,
                );
            }
            for threads in [1, 2, 3] {
                let pool = ThreadPool::new(threads);
                let mut sc = AttnScratch::new(16, 1); // grows on demand
                let mut out = vec![f32::NAN; q.len()];
                attention_seqs(&q, &k, &v, &mut out, &seqs, &shape, &mut sc, &pool);
                assert!(
                    crate::same_bits(&out, &alone),
                    "window {window:?}, {threads} threads"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "ascending, disjoint")]
    fn overlapping_sequences_are_rejected() {
        let shape = AttnShape {
            n_tok: 4,
            n_head: 1,
            n_head_kv: 1,
            head_dim: 8,
            window: None,
            scale: 1.0,
        };
        let x = vec![0f32; 4 * 8];
        let mut out = x.clone();
        let mut sc = AttnScratch::new(4, 1);
        let pool = ThreadPool::new(2);
        attention_seqs(&x, &x, &x, &mut out, &[0..3, 2..4], &shape, &mut sc, &pool);
    }
}
