//! Every buffer the forward pass touches, allocated once for `max_tokens` tokens (the per-forward
//! token budget) and sized from the model's widths ([`ScratchDims`]); the forward pass itself
//! never allocates.

use kernels::{AttnScratch, MatmulScratch};

/// The head group size of the Gemma dense head (sequences run through it together).
use crate::head::HEAD_ROWS;

/// The widths an architecture needs buffers for.
#[derive(Debug, Clone, Copy)]
pub struct ScratchDims {
    pub n_embd: usize,
    /// n_head·head_dim
    pub n_q: usize,
    /// n_head_kv·head_dim
    pub n_kv: usize,
    pub n_ff: usize,
    /// Widest intermediate row: fused qkv, or fused gate‖up.
    pub wide: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Most tokens in one sequence.
    pub n_ctx: usize,
    /// Hidden width of a dense head after pooling (0 without one).
    pub head_hidden: usize,
    /// Bytes of one stored token_embd row.
    pub embd_row_bytes: usize,
}

pub struct Scratch {
    /// Tokens one forward pass can hold (all sequences together).
    pub max_tokens: usize,
    /// [max_tokens] each token's position in its sequence
    pub pos: Vec<u32>,
    /// [max_tokens, n_embd] the residual stream
    pub x: Vec<f32>,
    /// [max_tokens, n_embd] a sub-block's input, then its output
    pub cur: Vec<f32>,
    /// [max_tokens, wide] fused qkv, later fused gate‖up
    pub wide: Vec<f32>,
    /// [max_tokens, n_q]
    pub q: Vec<f32>,
    /// [max_tokens, n_kv]
    pub k: Vec<f32>,
    /// [max_tokens, n_kv]
    pub v: Vec<f32>,
    /// [max_tokens, n_q] attention output, heads side by side
    pub attn: Vec<f32>,
    /// [max_tokens, n_ff] the FFN's hidden activations
    pub ffn_h: Vec<f32>,
    /// [max_tokens, n_embd] one vector per sequence (at most one sequence per token): pooled,
    /// then replaced by the head's output
    pub pooled: Vec<f32>,
    /// [HEAD_ROWS, head_hidden] dense_2 output for a group of sequences
    pub head_h: Vec<f32>,
    /// [HEAD_ROWS, n_embd] dense_3 output for a group of sequences
    pub head_out: Vec<f32>,
    /// [row_bytes] one stored token_embd row
    pub embd_row: Vec<u8>,
    pub matmul: MatmulScratch,
    pub attention: AttnScratch,
}

impl Scratch {
    pub fn new(d: &ScratchDims, max_tokens: usize, n_threads: usize) -> Scratch {
        let max_cols = d.n_embd.max(d.n_q).max(d.n_ff).max(d.head_hidden);
        let head_rows = if d.head_hidden > 0 {
            HEAD_ROWS.min(max_tokens)
        } else {
            0
        };
        let buf = |width: usize| vec![0f32; max_tokens * width];
        Scratch {
            max_tokens,
            pos: vec![0; max_tokens],
            x: buf(d.n_embd),
            cur: buf(d.n_embd),
            wide: buf(d.wide),
            q: buf(d.n_q),
            k: buf(d.n_kv),
            v: buf(d.n_kv),
            attn: buf(d.n_q),
            ffn_h: buf(d.n_ff),
            pooled: buf(d.n_embd),
            head_h: vec![0f32; head_rows * d.head_hidden],
            head_out: vec![0f32; head_rows * d.n_embd],
            embd_row: vec![0u8; d.embd_row_bytes],
            matmul: MatmulScratch::new(max_tokens, max_cols),
            // One sequence is at most n_ctx tokens.
            attention: AttnScratch::with_heads(
                d.n_ctx.min(max_tokens),
                n_threads,
                d.n_head,
                d.n_head_kv,
                d.head_dim,
            ),
        }
    }

    /// Bytes held by the buffers (the kernels' scratch not included).
    pub fn f32_bytes(&self) -> usize {
        [
            &self.x,
            &self.cur,
            &self.wide,
            &self.q,
            &self.k,
            &self.v,
            &self.attn,
            &self.ffn_h,
            &self.pooled,
            &self.head_h,
            &self.head_out,
        ]
        .iter()
        .map(|b| b.len() * 4)
        .sum::<usize>()
            + self.embd_row.len()
    }
}
