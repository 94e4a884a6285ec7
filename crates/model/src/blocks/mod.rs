//! The building blocks every encoder is made of: plain functions over token-row buffers and
//! the kernels' pool. An architecture (`crate::arch`) is a sequence of these calls.
//!
//! | block | what |
//! |---|---|
//! | [`load`] | metadata values, tensors, repacked linear layers |
//! | [`embedding`] | the token embedding table, read row by row from the file |
//! | [`attention`] | QKV (+ biases) → per-head norm → RoPE → softmax(q·kᵀ·scale)·v (window) → output |
//! | [`ffn`] | GeGLU (tanh), SwiGLU, or GELU (erf) feed-forward |
//! | [`norm`] | RMSNorm and LayerNorm, fused with the residual adds (pre- and post-norm) |
//! | [`rope`] | NeoX rotary tables |
//! | [`pooling`] | mean or CLS |

pub mod attention;
pub mod embedding;
pub mod ffn;
pub mod load;
pub mod norm;
pub mod pooling;
pub mod rope;

use crate::arch::Batch;

/// pos[t] = position of token t within its sequence (RoPE / position table index).
pub fn positions(batch: &Batch, pos: &mut [u32]) {
    for seq in batch.seqs {
        for (t, i) in seq.clone().enumerate() {
            pos[i] = t as u32;
        }
    }
}
