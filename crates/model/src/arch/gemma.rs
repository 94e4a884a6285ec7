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
//! Each residual add is fused with the norm that follows it: post_attention_norm+add with
//! ffn_norm, post_ffw_norm+add with the next layer's attn_norm (or output_norm after the last).
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
use kernels::{par_rows, Rows, RowsMut, ThreadPool};
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

        // Token positions within their sequence (RoPE)                         [n_tok]
        for seq in batch.seqs {
            for (t, pos) in seq.clone().enumerate() {
                s.pos[pos] = t as u32;
            }
        }

        let layers = &self.weights.layers;
        // cur = attn_norm(x) of the first layer; every later norm is fused with a residual add.
        rms_norm_rows(
            pool,
            &s.x,
            &layers[0].attn_norm,
            cfg.rms_eps,
            &mut s.cur,
            n_tok,
        );
        timer.lap("attn_norm");
        for (il, layer) in layers.iter().enumerate() {
            let rope = if cfg.swa_layers[il] {
                &self.rope_swa
            } else {
                &self.rope
            };
            // x = x + post_attention_norm(attention(cur));  cur = ffn_norm(x)
            self_attention(cfg, layer, il, rope, batch, s, pool, timer);
            residual_norm(
                pool,
                (&mut s.x, &mut s.cur),
                (&layer.post_attention_norm, &layer.ffn_norm),
                cfg,
                n_tok,
            );
            timer.lap("post_attention_norm+add+ffn_norm");

            // x = x + post_ffw_norm(ffn(cur));  cur = attn_norm(x) of the next layer, or
            // output_norm(x) after the last one
            feed_forward(cfg, layer, n_tok, s, pool, timer);
            let next_norm = layers
                .get(il + 1)
                .map_or(&self.weights.output_norm, |l| &l.attn_norm);
            residual_norm(
                pool,
                (&mut s.x, &mut s.cur),
                (&layer.post_ffw_norm, next_norm),
                cfg,
                n_tok,
            );
            timer.lap("post_ffw_norm+add+next_norm");
        }

        // e = mean_pool(output_norm(x))                                        [n_seq, n_embd]
        let n_seq = batch.seqs.len();
        mean_pool(&s.cur[..n_tok * n_embd], n_embd, batch.seqs, &mut s.pooled);
        timer.lap("mean_pool");

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
    let bufs = (Rows::new(gate_up, 2 * n_ff), RowsMut::new(h, n_ff));
    par_rows(pool, n_tok, GELU_MIN_ROWS, bufs, |_, (gate_up, h)| {
        for (gu, h) in gate_up.chunks_exact(2 * n_ff).zip(h.chunks_exact_mut(n_ff)) {
            let (gate, up) = gu.split_at(n_ff);
            kernels::gelu_tanh_mul(gate, up, h);
        }
    });
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

/// Rows per pool task of the row-wise ops, at least: below this a task costs more to hand
/// out than it saves (measured: ~0.1 µs per row for a norm, ~0.4 µs for GELU or q/k norm+RoPE).
const NORM_MIN_ROWS: usize = 24;
const GELU_MIN_ROWS: usize = 6;

/// out[t] = rms_norm(x[t]) · weight for the first n_tok token rows.
fn rms_norm_rows(
    pool: &ThreadPool,
    x: &[f32],
    weight: &[f32],
    eps: f32,
    out: &mut [f32],
    n_tok: usize,
) {
    let n = weight.len();
    let bufs = (Rows::new(x, n), RowsMut::new(out, n));
    par_rows(pool, n_tok, NORM_MIN_ROWS, bufs, |_, (x, out)| {
        for (xr, or) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            kernels::rms_norm(xr, weight, eps, or);
        }
    });
}

/// The residual add after a sub-block, fused with the norm in front of the next one, per token
/// row: y = rms_norm(y) · w_post;  x += y;  y = rms_norm(x) · w_next.
fn residual_norm(
    pool: &ThreadPool,
    (x, y): (&mut [f32], &mut [f32]),
    (w_post, w_next): (&[f32], &[f32]),
    cfg: &Config,
    n_tok: usize,
) {
    let (n, eps) = (cfg.n_embd, cfg.rms_eps);
    let bufs = (RowsMut::new(x, n), RowsMut::new(y, n));
    par_rows(pool, n_tok, NORM_MIN_ROWS, bufs, |_, (x, y)| {
        for (xr, yr) in x.chunks_exact_mut(n).zip(y.chunks_exact_mut(n)) {
            kernels::rms_norm_inplace(yr, w_post, eps);
            xr.iter_mut().zip(yr.iter()).for_each(|(a, b)| *a += *b);
            kernels::rms_norm(xr, w_next, eps, yr);
        }
    });
}
