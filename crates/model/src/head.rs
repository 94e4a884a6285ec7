//! The sentence-transformers head and the final vector: dense_2, dense_3, L2 normalization and
//! Matryoshka truncation.

use crate::scratch::Scratch;
use crate::weights::HeadWeights;
use kernels::ThreadPool;

/// head_out = dense_3(dense_2(pooled)) for the first `n_seq` pooled rows.
pub fn dense_head(head: &HeadWeights, n_seq: usize, s: &mut Scratch, pool: &ThreadPool) {
    let (n_embd, hidden) = (head.dense_2.cols(), head.dense_2.rows());
    // [n_seq, hidden]
    kernels::matmul(
        &head.dense_2,
        &s.pooled[..n_seq * n_embd],
        n_seq,
        &mut s.head_h[..n_seq * hidden],
        &mut s.matmul,
        pool,
    );
    // [n_seq, n_embd]
    kernels::matmul(
        &head.dense_3,
        &s.head_h[..n_seq * hidden],
        n_seq,
        &mut s.head_out[..n_seq * n_embd],
        &mut s.matmul,
        pool,
    );
}

/// The returned vector: the first `dims` components (Matryoshka), L2-normalized when asked.
/// Truncating then normalizing equals sentence-transformers' normalize → truncate → normalize.
pub fn finish(v: &[f32], dims: usize, normalize: bool) -> Vec<f32> {
    let mut out = v[..dims].to_vec();
    if normalize {
        kernels::l2_normalize(&mut out);
    }
    out
}
