//! [`AttnScratch`]: per-thread score rows, K transposed and V in panels, allocated once.

use super::{AttnShape, BLOCK_ROWS, KEY_CHUNK, SEQ_PARALLEL_MAX_TOKENS};

/// Scratch for [`attention`](super::attention): per-thread score rows and K transposed per KV head.
/// Buffers that the constructor could not size grow on first use, then stay allocated.
pub struct AttnScratch {
    /// [n_slots, rows_per_slot, ld] scores / probabilities.
    pub(super) scores: Vec<f32>,
    /// [n_slots, rows_per_slot] 1/Σ per row.
    pub(super) inv: Vec<f32>,
    /// [n_head_kv, ld / KEY_CHUNK, hs, KEY_CHUNK] K transposed in key panels of slots (f32, or
    /// bf16 pairs: hs = head_dim or head_dim.div_ceil(2)), zero padded (allocated as head_dim).
    pub(super) kt: Vec<u32>,
    /// [n_slots, rows_per_slot, hs·QW <= head_dim + 1] the block's query rows as slots.
    pub(super) q2: Vec<u32>,
    /// [n_head_kv, head_dim / vd, ld, vd] V in head-dim panels of vd columns (last one narrower),
    /// rows of slots (one key, or a bf16 pair of keys).
    pub(super) vt: Vec<u32>,
    max_tokens: usize,
    n_slots: usize,
    pub(super) rows_per_slot: usize,
    /// Single-threaded scratch per pool thread for [`attention_seqs`](super::attention_seqs)'s short sequences
    /// (allocated on first use).
    pub(super) per_thread: Vec<AttnScratch>,
    /// [n_seqs] the order in which [`attention_seqs`](super::attention_seqs) hands out short
    /// sequences (longest first); grows to the largest batch, then stays.
    pub(super) seq_order: Vec<usize>,
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
            kt: vec![0; n_head_kv * head_dim * ld],
            q2: vec![0; n_slots * q2_per_slot(rows_per_slot, head_dim)],
            vt: vec![0; n_head_kv * head_dim * ld],
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
            seq_order: Vec::new(),
        }
    }

    /// Row stride of the score and K^T buffers.
    pub(super) fn ld(&self) -> usize {
        (self.max_tokens + 1).next_multiple_of(KEY_CHUNK) + KEY_CHUNK
    }

    pub(super) fn ensure(&mut self, shape: &AttnShape, n_threads: usize) {
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
        let q2_len = self.n_slots * q2_per_slot(self.rows_per_slot, shape.head_dim);
        if self.q2.len() < q2_len {
            self.q2.resize(q2_len, 0);
        }
        if self.kt.len() < kt_len {
            self.kt.resize(kt_len, 0);
            self.vt.resize(kt_len, 0);
        }
    }
}

/// Words of one thread's packed query rows: `rows_per_slot` rows of at most head_dim + 1 words
/// (hs·QW: f32, bf16 pairs, or an odd head_dim's pairs as two f32 words each).
pub(super) fn q2_per_slot(rows_per_slot: usize, head_dim: usize) -> usize {
    rows_per_slot * (head_dim + 1)
}
