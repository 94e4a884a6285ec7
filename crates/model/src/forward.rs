//! The EmbeddingGemma encoder, one forward pass over a ragged batch:
//!
//! ```text
//! x = token_embd[ids] · sqrt(n_embd)
//! for each layer:
//!     x = x + post_attention_norm(attention(attn_norm(x)))     // bidirectional; sliding or global
//!     x = x + post_ffw_norm(ffn_down(gelu(ffn_gate(h)) · ffn_up(h)))   where h = ffn_norm(x)
//! e = mean over each sequence's tokens of output_norm(x)
//! e = dense_3(dense_2(e))                                      // the sentence-transformers head
//! ```
//!
//! All sequences' tokens are concatenated (no padding) for the linear layers and norms;
//! attention runs per sequence. Every kernel is batch invariant, so a sequence's result does not
//! depend on what else is in the batch.

use crate::attention::self_attention;
use crate::config::Config;
use crate::embedding::TokenEmbedding;
use crate::error::ModelError;
use crate::head::dense_head;
use crate::pooling::mean_pool;
use crate::profile::OpTimer;
use crate::rope::RopeTable;
use crate::scratch::Scratch;
use crate::weights::{LayerWeights, Weights};
use kernels::ThreadPool;
use std::ops::Range;

/// Everything the forward pass reads: the config, weights and precomputed tables.
pub struct Model {
    pub cfg: Config,
    pub weights: Weights,
    pub token_embd: TokenEmbedding,
    /// RoPE of the global layers (base `rope.freq_base`)
    pub rope: RopeTable,
    /// RoPE of the sliding-window layers (base `rope.freq_base_swa`)
    pub rope_swa: RopeTable,
}

/// Sequences laid end to end: `tokens[seqs[i]]` is sequence i (ids already validated).
pub struct Batch<'a> {
    pub tokens: &'a [u32],
    pub seqs: &'a [Range<usize>],
}

impl Model {
    /// Encodes the batch; returns the per-sequence vectors [n_seq, n_embd] (before L2 norm).
    /// `timer` is charged op by op (a disabled timer costs nothing). Fails only if reading
    /// token_embd rows from the file fails.
    pub fn forward<'s>(
        &self,
        batch: &Batch,
        s: &'s mut Scratch,
        pool: &ThreadPool,
        timer: &mut OpTimer,
    ) -> Result<&'s [f32], ModelError> {
        let cfg = &self.cfg;
        let (n_tok, n_embd) = (batch.tokens.len(), cfg.n_embd);
        debug_assert!(n_tok <= s.max_tokens);

        // x = token_embd[ids] · sqrt(n_embd)                                   [n_tok, n_embd]
        let x = &mut s.x[..n_tok * n_embd];
        let scale = (n_embd as f32).sqrt();
        for (row, &id) in x.chunks_exact_mut(n_embd).zip(batch.tokens) {
            self.token_embd.row(id, &mut s.embd_row, row)?;
            row.iter_mut().for_each(|v| *v *= scale);
        }
        timer.lap("token_embd");

        for (il, layer) in self.weights.layers.iter().enumerate() {
            let rope = if cfg.swa_layers[il] {
                &self.rope_swa
            } else {
                &self.rope
            };
            // x = x + post_attention_norm(attention(attn_norm(x)))
            rms_norm_rows(
                &s.x[..n_tok * n_embd],
                &layer.attn_norm,
                cfg.rms_eps,
                &mut s.cur,
            );
            timer.lap("attn_norm");
            self_attention(cfg, layer, il, rope, batch, s, pool, timer);
            add_normed(&mut s.x, &mut s.cur, &layer.post_attention_norm, cfg, n_tok);
            timer.lap("post_attention_norm+add");

            // x = x + post_ffw_norm(ffn(ffn_norm(x)))
            rms_norm_rows(
                &s.x[..n_tok * n_embd],
                &layer.ffn_norm,
                cfg.rms_eps,
                &mut s.cur,
            );
            timer.lap("ffn_norm");
            feed_forward(cfg, layer, n_tok, s, pool, timer);
            add_normed(&mut s.x, &mut s.cur, &layer.post_ffw_norm, cfg, n_tok);
            timer.lap("post_ffw_norm+add");
        }

        // e = mean_pool(output_norm(x))                                        [n_seq, n_embd]
        rms_norm_rows(
            &s.x[..n_tok * n_embd],
            &self.weights.output_norm,
            cfg.rms_eps,
            &mut s.cur,
        );
        let n_seq = batch.seqs.len();
        mean_pool(&s.cur[..n_tok * n_embd], n_embd, batch.seqs, &mut s.pooled);
        timer.lap("output_norm+mean_pool");

        // e = dense_3(dense_2(e))
        if let Some(head) = &self.weights.head {
            dense_head(head, n_seq, s, pool);
            timer.lap("dense_2+dense_3");
        }
        Ok(&s.pooled[..n_seq * n_embd])
    }
}

/// ffn_down(gelu_tanh(ffn_gate(h)) · ffn_up(h)) for h = `s.cur`; the result replaces `s.cur`.
fn feed_forward(
    cfg: &Config,
    layer: &LayerWeights,
    n_tok: usize,
    s: &mut Scratch,
    pool: &ThreadPool,
    timer: &mut OpTimer,
) {
    let (n_embd, n_ff) = (cfg.n_embd, cfg.n_ff);
    // [n_tok, 2·n_ff]: each row is gate ‖ up
    let gate_up = &mut s.wide[..n_tok * 2 * n_ff];
    kernels::matmul(
        &layer.ffn_gate_up,
        &s.cur[..n_tok * n_embd],
        n_tok,
        gate_up,
        &mut s.matmul,
        pool,
    );
    timer.lap("ffn_gate+ffn_up");
    // [n_tok, n_ff]
    let h = &mut s.ffn_h[..n_tok * n_ff];
    for (gu, h) in gate_up.chunks_exact(2 * n_ff).zip(h.chunks_exact_mut(n_ff)) {
        let (gate, up) = gu.split_at(n_ff);
        kernels::gelu_tanh_mul(gate, up, h);
    }
    timer.lap("gelu*up");
    kernels::matmul(
        &layer.ffn_down,
        h,
        n_tok,
        &mut s.cur[..n_tok * n_embd],
        &mut s.matmul,
        pool,
    );
    timer.lap("ffn_down");
}

/// out[t] = rms_norm(x[t]) · weight for every token row.
pub(crate) fn rms_norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let n = weight.len();
    for (xr, or) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        kernels::rms_norm(xr, weight, eps, or);
    }
}

/// The residual add after a sub-block: y = rms_norm(y) · weight, then x += y (token rows).
fn add_normed(x: &mut [f32], y: &mut [f32], weight: &[f32], cfg: &Config, n_tok: usize) {
    let n = cfg.n_embd;
    let (x, y) = (&mut x[..n_tok * n], &mut y[..n_tok * n]);
    for (xr, yr) in x.chunks_exact_mut(n).zip(y.chunks_exact_mut(n)) {
        kernels::rms_norm_inplace(yr, weight, cfg.rms_eps);
        xr.iter_mut().zip(yr.iter()).for_each(|(a, b)| *a += *b);
    }
}
