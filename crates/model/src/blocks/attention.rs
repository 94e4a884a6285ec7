//! The self-attention sub-block shared by every encoder: fused QKV projection (with optional
//! biases), optional per-head RMSNorm of q and k, optional NeoX RoPE, bidirectional attention
//! per sequence (optionally windowed), output projection.
//!
//! `cur` in, `cur` out: the output projection's bias (if any) is left to the caller, which
//! fuses it with the residual add (see [`residual_layer_norm`](super::norm::residual_layer_norm)).

use super::load::Loader;
use super::rope::RopeTable;
use crate::arch::Batch;
use crate::error::ModelError;
use crate::profile::OpTimer;
use crate::scratch::Scratch;
use kernels::{par_rows, AttnShape, PackedMatrix, Rows, RowsMut, ThreadPool};

/// Tokens per pool task of the split + q/k norm + RoPE step, at least (~0.4 µs per token).
const QK_ROPE_MIN_ROWS: usize = 6;

/// One layer's attention weights (GGUF names `blk.N.attn_*`).
pub struct AttnWeights {
    /// attn_q ‖ attn_k ‖ attn_v (or a stored attn_qkv): n_embd -> n_q + 2·n_kv
    pub qkv: PackedMatrix,
    /// [n_q + 2·n_kv] q ‖ k ‖ v biases (BERT)
    pub qkv_bias: Option<Vec<f32>>,
    /// [head_dim] attn_q_norm and attn_k_norm, RMSNorm per head (Gemma)
    pub qk_norm: Option<(Vec<f32>, Vec<f32>)>,
    /// attn_output: n_q -> n_embd
    pub output: PackedMatrix,
    /// [n_embd] attn_output.bias, added by the caller
    pub output_bias: Option<Vec<f32>>,
    /// Attention in bf16 (`AttnShape::bf16`): when attn_q, attn_k and attn_v are all stored
    /// with fewer than 8 bits per weight (K-quants, Q4_0..Q5_1, IQ4_NL), whose rounding
    /// dwarfs bf16's; f32 for F32, F16, BF16 and Q8_0 weights.
    pub bf16: bool,
}

/// Widths of the attention of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnDims {
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
}

impl AttnDims {
    /// Width of q: all query heads side by side.
    pub fn n_q(&self) -> usize {
        self.n_head * self.head_dim
    }
    /// Width of k (and of v): all KV heads side by side.
    pub fn n_kv(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

/// What one layer's attention does besides softmax(q·kᵀ·scale)·v.
pub struct AttnOptions<'a> {
    /// Attend iff |i-j| <= window; `None` = every token of the sequence.
    pub window: Option<usize>,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// NeoX RoPE on q and k (after their norm).
    pub rope: Option<&'a RopeTable>,
    /// eps of the per-head q/k RMSNorm (used when the weights have one).
    pub qk_norm_eps: f32,
}

impl AttnWeights {
    /// Layer `il`'s weights: `attn_qkv` or `attn_q/k/v` (+ biases, fused or separate, when
    /// present), `attn_q_norm/attn_k_norm` if `qk_norm`, `attn_output` (+ bias when present).
    pub fn load(
        l: &Loader,
        il: usize,
        d: &AttnDims,
        qk_norm: bool,
    ) -> Result<AttnWeights, ModelError> {
        let n = |t: &str, kind: &str| format!("blk.{il}.{t}.{kind}");
        let (n_embd, n_q, n_kv) = (d.n_embd, d.n_q(), d.n_kv());
        let parts = if l.has(&n("attn_qkv", "weight")) {
            // Some converters store Q, K and V already fused.
            vec![l.linear(&n("attn_qkv", "weight"), n_embd, n_q + 2 * n_kv)?]
        } else {
            vec![
                l.linear(&n("attn_q", "weight"), n_embd, n_q)?,
                l.linear(&n("attn_k", "weight"), n_embd, n_kv)?,
                l.linear(&n("attn_v", "weight"), n_embd, n_kv)?,
            ]
        };
        let bf16 = parts.iter().all(|p| {
            let t = p.wtype();
            t.block_bytes() * 8 < 8 * t.block_size()
        });
        let qkv = l.pack(&parts)?;
        let qkv_bias = if l.has(&n("attn_qkv", "bias")) {
            Some(l.vector(&n("attn_qkv", "bias"), n_q + 2 * n_kv)?)
        } else {
            let parts = [("attn_q", n_q), ("attn_k", n_kv), ("attn_v", n_kv)];
            if parts.iter().any(|(t, _)| l.has(&n(t, "bias"))) {
                // A missing part is a zero bias.
                let mut b = Vec::with_capacity(n_q + 2 * n_kv);
                for (t, len) in parts {
                    match l.opt_vector(&n(t, "bias"), len)? {
                        Some(v) => b.extend(v),
                        None => b.extend(std::iter::repeat_n(0.0, len)),
                    }
                }
                Some(b)
            } else {
                None
            }
        };
        let qk_norm = if qk_norm {
            Some((
                l.vector(&n("attn_q_norm", "weight"), d.head_dim)?,
                l.vector(&n("attn_k_norm", "weight"), d.head_dim)?,
            ))
        } else {
            None
        };
        Ok(AttnWeights {
            qkv,
            qkv_bias,
            qk_norm,
            output: l.pack(&[l.linear(&n("attn_output", "weight"), n_q, n_embd)?])?,
            output_bias: l.opt_vector(&n("attn_output", "bias"), n_embd)?,
            bf16,
        })
    }

    pub fn packed_bytes(&self) -> usize {
        self.qkv.size_bytes() + self.output.size_bytes()
    }
}

/// attn_output(attention(q, k, v)) for the input in `s.cur` (token positions in `s.pos`); the
/// result (without attn_output's bias) replaces `s.cur`.
#[allow(clippy::too_many_arguments)]
pub fn self_attention(
    w: &AttnWeights,
    d: &AttnDims,
    opt: &AttnOptions,
    batch: &Batch,
    s: &mut Scratch,
    pool: &ThreadPool,
    timer: &mut OpTimer,
) {
    let n_tok = batch.tokens.len();
    let (n_embd, n_q, n_kv, hd) = (d.n_embd, d.n_q(), d.n_kv(), d.head_dim);
    let n_qkv = n_q + 2 * n_kv;

    // [n_tok, n_q + 2·n_kv]: each row is q ‖ k ‖ v
    let qkv = &mut s.wide[..n_tok * n_qkv];
    kernels::matmul(
        &w.qkv,
        &s.cur[..n_tok * n_embd],
        n_tok,
        qkv,
        &mut s.matmul,
        pool,
    );
    timer.lap("attn_qkv");

    // Split into q [n_tok, n_q], k [n_tok, n_kv], v [n_tok, n_kv] (+ biases); then per head:
    // q = rope(rms_norm(q) · attn_q_norm), k = rope(rms_norm(k) · attn_k_norm), each step
    // only when the model has it.
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
                let (rq, rk, rv) = (&row[..n_q], &row[n_q..n_q + n_kv], &row[n_q + n_kv..]);
                let rope = opt.rope.map(|r| r.at(pos as usize));
                let (qn, kn) = match &w.qk_norm {
                    Some((qn, kn)) => (
                        Some((&qn[..], opt.qk_norm_eps)),
                        Some((&kn[..], opt.qk_norm_eps)),
                    ),
                    None => (None, None),
                };
                match &w.qkv_bias {
                    Some(b) => {
                        kernels::add(rq, &b[..n_q], q_t);
                        kernels::add(rk, &b[n_q..n_q + n_kv], k_t);
                        kernels::add(rv, &b[n_q + n_kv..], v_t);
                        if qn.is_some() || rope.is_some() {
                            kernels::heads_norm_rope_inplace(q_t, hd, qn, rope);
                            kernels::heads_norm_rope_inplace(k_t, hd, kn, rope);
                        }
                    }
                    // Read from the qkv row: norm and RoPE per head in one call each.
                    None => {
                        kernels::heads_norm_rope(rq, hd, qn, rope, q_t);
                        kernels::heads_norm_rope(rk, hd, kn, rope, k_t);
                        v_t.copy_from_slice(rv);
                    }
                }
            }
        },
    );
    timer.lap("q_norm+k_norm+rope");

    // softmax(q·kᵀ · scale) · v within each sequence                      [n_tok, n_q]
    let shape = AttnShape {
        n_tok,
        n_head: d.n_head,
        n_head_kv: d.n_head_kv,
        head_dim: hd,
        window: opt.window,
        scale: opt.scale,
        bf16: w.bf16,
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
        &w.output,
        &s.attn[..n_tok * n_q],
        n_tok,
        &mut s.cur[..n_tok * n_embd],
        &mut s.matmul,
        pool,
    );
    timer.lap("attn_output");
}
