//! The sentence-transformers head and the final vector: dense_2, dense_3, L2 normalization and
//! Matryoshka truncation.

use crate::scratch::Scratch;
use crate::weights::HeadWeights;
use kernels::ThreadPool;

/// Sequences run through the head together (bounds the head's scratch; results are per row).
pub const HEAD_ROWS: usize = 64;

/// pooled = dense_3(dense_2(pooled)) for the first `n_seq` rows, `HEAD_ROWS` at a time.
pub fn dense_head(head: &HeadWeights, n_seq: usize, s: &mut Scratch, pool: &ThreadPool) {
    let (n_embd, hidden) = (head.dense_2.cols(), head.dense_2.rows());
    let group = s.head_out.len() / n_embd;
    for start in (0..n_seq).step_by(group) {
        let n = group.min(n_seq - start);
        let rows = &mut s.pooled[start * n_embd..(start + n) * n_embd];
        // [n, hidden]
        let h = &mut s.head_h[..n * hidden];
        kernels::matmul(&head.dense_2, rows, n, h, &mut s.matmul, pool);
        // [n, n_embd]
        let out = &mut s.head_out[..n * n_embd];
        kernels::matmul(&head.dense_3, h, n, out, &mut s.matmul, pool);
        rows.copy_from_slice(out);
    }
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
