//! The feed-forward sub-block: `ffn_down(act(ffn_up(h)))`, or gated
//! `ffn_down(act(ffn_gate(h)) · ffn_up(h))` with gate and up as one fused matmul.
//!
//! `cur` in, `cur` out: ffn_down's bias (if any) is left to the caller, which fuses it with the
//! residual add (see [`residual_layer_norm`](super::norm::residual_layer_norm)).

use super::load::Loader;
use crate::error::ModelError;
use crate::profile::OpTimer;
use crate::scratch::Scratch;
use kernels::{par_rows, PackedMatrix, Rows, RowsMut, ThreadPool};

/// Rows per pool task of the activation, at least (~0.4 µs per row for GELU).
const ACT_MIN_ROWS: usize = 6;

/// The activation, and whether a gate multiplies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// gelu_tanh(gate) · up (Gemma: GeGLU with the tanh approximation)
    GeluTanhGated,
    /// silu(gate) · up (SwiGLU: nomic-bert)
    SiluGated,
    /// gelu(up) with the exact erf GELU (BERT: Hugging Face `hidden_act: "gelu"`)
    GeluErf,
}

impl Act {
    fn gated(self) -> bool {
        self != Act::GeluErf
    }
}

/// One layer's FFN weights (GGUF names `blk.N.ffn_*`).
pub struct FfnWeights {
    pub act: Act,
    /// ffn_gate ‖ ffn_up (gated) or ffn_up: n_embd -> 2·n_ff or n_ff
    pub up: PackedMatrix,
    /// [n_ff] ffn_up.bias (ungated only)
    pub up_bias: Option<Vec<f32>>,
    /// ffn_down: n_ff -> n_embd
    pub down: PackedMatrix,
    /// [n_embd] ffn_down.bias, added by the caller
    pub down_bias: Option<Vec<f32>>,
}

impl FfnWeights {
    /// Layer `il`'s FFN: ffn_gate (gated acts), ffn_up, ffn_down, and their biases when present
    /// (a gated FFN with an up bias is refused).
    pub fn load(
        l: &Loader,
        il: usize,
        act: Act,
        n_embd: usize,
        n_ff: usize,
    ) -> Result<FfnWeights, ModelError> {
        let n = |t: &str| format!("blk.{il}.{t}");
        let up = if act.gated() {
            for b in ["ffn_gate.bias", "ffn_up.bias"] {
                if l.has(&n(b)) {
                    return Err(ModelError::bad_metadata(
                        &n(b),
                        "biases on a gated FFN are not supported",
                    ));
                }
            }
            l.pack(&[
                l.linear(&n("ffn_gate.weight"), n_embd, n_ff)?,
                l.linear(&n("ffn_up.weight"), n_embd, n_ff)?,
            ])?
        } else {
            l.pack(&[l.linear(&n("ffn_up.weight"), n_embd, n_ff)?])?
        };
        Ok(FfnWeights {
            act,
            up,
            up_bias: l.opt_vector(&n("ffn_up.bias"), n_ff)?,
            down: l.pack(&[l.linear(&n("ffn_down.weight"), n_ff, n_embd)?])?,
            down_bias: l.opt_vector(&n("ffn_down.bias"), n_embd)?,
        })
    }

    pub fn packed_bytes(&self) -> usize {
        self.up.size_bytes() + self.down.size_bytes()
    }
}

/// ffn_down(act(…)) for h = `s.cur` [n_tok, n_embd]; the result (without ffn_down's bias)
/// replaces `s.cur`.
pub fn feed_forward(
    w: &FfnWeights,
    n_tok: usize,
    s: &mut Scratch,
    pool: &ThreadPool,
    timer: &mut OpTimer,
) {
    let (n_embd, n_ff) = (w.down.rows(), w.down.cols());
    // [n_tok, n_ff]
    let h = &mut s.ffn_h[..n_tok * n_ff];
    if w.act.gated() {
        // [n_tok, 2·n_ff]: each row is gate ‖ up
        let gate_up = &mut s.wide[..n_tok * 2 * n_ff];
        kernels::matmul(
            &w.up,
            &s.cur[..n_tok * n_embd],
            n_tok,
            gate_up,
            &mut s.matmul,
            pool,
        );
        timer.lap("ffn_gate+ffn_up");
        let bufs = (Rows::new(gate_up, 2 * n_ff), RowsMut::new(h, n_ff));
        par_rows(pool, n_tok, ACT_MIN_ROWS, bufs, |_, (gate_up, h)| {
            for (gu, h) in gate_up.chunks_exact(2 * n_ff).zip(h.chunks_exact_mut(n_ff)) {
                let (gate, up) = gu.split_at(n_ff);
                match w.act {
                    Act::SiluGated => kernels::silu_mul(gate, up, h),
                    _ => kernels::gelu_tanh_mul(gate, up, h),
                }
            }
        });
        timer.lap(match w.act {
            Act::SiluGated => "silu*up",
            _ => "gelu*up",
        });
    } else {
        kernels::matmul(
            &w.up,
            &s.cur[..n_tok * n_embd],
            n_tok,
            h,
            &mut s.matmul,
            pool,
        );
        timer.lap("ffn_up");
        par_rows(pool, n_tok, ACT_MIN_ROWS, RowsMut::new(h, n_ff), |_, h| {
            for h in h.chunks_exact_mut(n_ff) {
                match &w.up_bias {
                    Some(b) => kernels::add_gelu_erf_inplace(h, b),
                    None => kernels::gelu_erf_inplace(h),
                }
            }
        });
        timer.lap("gelu");
    }
    kernels::matmul(
        &w.down,
        h,
        n_tok,
        &mut s.cur[..n_tok * n_embd],
        &mut s.matmul,
        pool,
    );
    timer.lap("ffn_down");
}
