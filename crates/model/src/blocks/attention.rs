//! The self-attention sub-block: fused QKV projection, per-head RMSNorm of q and k, NeoX RoPE,
//! bidirectional attention per sequence (windowed on sliding layers), output projection.

use crate::config::Config;
use crate::forward::Batch;
use crate::profile::OpTimer;
use crate::rope::RopeTable;
use crate::scratch::Scratch;
use crate::weights::LayerWeights;
use kernels::{par_rows, AttnShape, Rows, RowsMut, ThreadPool};

/// Tokens per pool task of the q/k norm + RoPE step, at least (~0.4 µs per token).
const QK_ROPE_MIN_ROWS: usize = 6;

/// attn_output(attention(q, k, v)) for the normed input in `s.cur`; the result replaces `s.cur`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn self_attention(
    cfg: &Config,
    layer: &LayerWeights,
    il: usize,
    rope: &RopeTable,
    batch: &Batch,
    s: &mut Scratch,
    pool: &ThreadPool,
    timer: &mut OpTimer,
) {
    let n_tok = batch.tokens.len();
    let (n_embd, n_q, n_kv, hd) = (cfg.n_embd, cfg.n_embd_q(), cfg.n_embd_kv(), cfg.head_dim);
    let n_qkv = n_q + 2 * n_kv;

    // [n_tok, n_q + 2·n_kv]: each row is q ‖ k ‖ v
    let qkv = &mut s.wide[..n_tok * n_qkv];
    kernels::matmul(
        &layer.attn_qkv,
        &s.cur[..n_tok * n_embd],
        n_tok,
        qkv,
        &mut s.matmul,
        pool,
    );
    timer.lap("attn_qkv");

    // Split into q [n_tok, n_q], k [n_tok, n_kv], v [n_tok, n_kv]; then per head:
    // q = rope(rms_norm(q) · attn_q_norm), k = rope(rms_norm(k) · attn_k_norm).
    let (q, k, v) = (
        &mut s.q[..n_tok * n_q],
        &mut s.k[..n_tok * n_kv],
        &mut s.v[..n_tok * n_kv],
    );
    let bufs = (
        Rows::new(qkv, n_qkv),
        Rows::new(&s.pos[..n_tok], 1),
        RowsMut::new(q, n_q),
        RowsMut::new(k, n_kv),
        RowsMut::new(v, n_kv),
    );
    par_rows(
        pool,
        n_tok,
        QK_ROPE_MIN_ROWS,
        bufs,
        |_, (qkv, pos, q, k, v)| {
            for (t, &pos) in pos.iter().enumerate() {
                let row = &qkv[t * n_qkv..(t + 1) * n_qkv];
                let (q_t, k_t, v_t) = (
                    &mut q[t * n_q..(t + 1) * n_q],
                    &mut k[t * n_kv..(t + 1) * n_kv],
                    &mut v[t * n_kv..(t + 1) * n_kv],
                );
                q_t.copy_from_slice(&row[..n_q]);
                k_t.copy_from_slice(&row[n_q..n_q + n_kv]);
                v_t.copy_from_slice(&row[n_q + n_kv..]);

                let (cos, sin) = rope.at(pos as usize);
                for head in q_t.chunks_exact_mut(hd) {
                    kernels::rms_norm_inplace(head, &layer.attn_q_norm, cfg.rms_eps);
                    kernels::rope_neox(head, cos, sin);
                }
                for head in k_t.chunks_exact_mut(hd) {
                    kernels::rms_norm_inplace(head, &layer.attn_k_norm, cfg.rms_eps);
                    kernels::rope_neox(head, cos, sin);
                }
            }
        },
    );

    timer.lap("q_norm+k_norm+rope");

    // softmax(q·kᵀ · scale) · v within each sequence                      [n_tok, n_q]
    let shape = AttnShape {
        n_tok,
        n_head: cfg.n_head,
        n_head_kv: cfg.n_head_kv,
        head_dim: hd,
        window: cfg.window(il),
        scale: cfg.attn_scale,
    };
    kernels::attention_seqs(
        q,
        k,
        v,
        &mut s.attn[..n_tok * n_q],
        batch.seqs,
        &shape,
        &mut s.attention,
        pool,
    );

    timer.lap("attention");

    // attn_output: [n_tok, n_q] -> [n_tok, n_embd]
    kernels::matmul(
        &layer.attn_output,
        &s.attn[..n_tok * n_q],
        n_tok,
        &mut s.cur[..n_tok * n_embd],
        &mut s.matmul,
        pool,
    );
    timer.lap("attn_output");
}
