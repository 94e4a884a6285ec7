//! Every buffer the forward pass touches, allocated once for `max_tokens` tokens (the per-forward
//! token budget) and reused; the forward pass itself never allocates.

use crate::forward::Model;
use crate::head::HEAD_ROWS;
use kernels::{AttnScratch, MatmulScratch};

pub struct Scratch {
    /// Tokens one forward pass can hold (all sequences together).
    pub max_tokens: usize,
    /// [max_tokens] each token's position in its sequence
    pub pos: Vec<u32>,
    /// [max_tokens, n_embd] the residual stream
    pub x: Vec<f32>,
    /// [max_tokens, n_embd] normed input of a sub-block, then its (normed) output
    pub cur: Vec<f32>,
    /// [max_tokens, max(n_embd_q + 2·n_embd_kv, 2·n_ff)] fused qkv, later fused gate‖up
    pub wide: Vec<f32>,
    /// [max_tokens, n_embd_q]
    pub q: Vec<f32>,
    /// [max_tokens, n_embd_kv]
    pub k: Vec<f32>,
    /// [max_tokens, n_embd_kv]
    pub v: Vec<f32>,
    /// [max_tokens, n_embd_q] attention output, heads side by side
    pub attn: Vec<f32>,
    /// [max_tokens, n_ff] gelu(gate)·up
    pub ffn_h: Vec<f32>,
    /// [max_tokens, n_embd] one vector per sequence (at most one sequence per token): mean-pooled,
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
    pub fn new(model: &Model, max_tokens: usize, n_threads: usize) -> Scratch {
        let cfg = &model.cfg;
        let head_hidden = model.weights.head_hidden();
        let (n_embd, n_q, n_kv, n_ff) = (cfg.n_embd, cfg.n_embd_q(), cfg.n_embd_kv(), cfg.n_ff);
        let wide = (n_q + 2 * n_kv).max(2 * n_ff);
        let max_cols = n_embd.max(n_q).max(n_ff).max(head_hidden);
        let head_rows = HEAD_ROWS.min(max_tokens);
        let buf = |width: usize| vec![0f32; max_tokens * width];
        Scratch {
            max_tokens,
            pos: vec![0; max_tokens],
            x: buf(n_embd),
            cur: buf(n_embd),
            wide: buf(wide),
            q: buf(n_q),
            k: buf(n_kv),
            v: buf(n_kv),
            attn: buf(n_q),
            ffn_h: buf(n_ff),
            pooled: buf(n_embd),
            head_h: vec![0f32; head_rows * head_hidden],
            head_out: vec![0f32; head_rows * n_embd],
            embd_row: vec![0u8; model.token_embd.row_bytes()],
            matmul: MatmulScratch::new(max_tokens, max_cols),
            // One sequence is at most n_ctx tokens.
            attention: AttnScratch::with_heads(
                cfg.n_ctx.min(max_tokens),
                n_threads,
                cfg.n_head,
                cfg.n_head_kv,
                cfg.head_dim,
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
