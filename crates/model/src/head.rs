//! What follows pooling: the sentence-transformers dense head (EmbeddingGemma's dense_2,
//! dense_3), L2 normalization and Matryoshka truncation.

use crate::blocks::load::Loader;
use crate::error::ModelError;
use crate::scratch::Scratch;
use kernels::{PackedMatrix, ThreadPool};

/// Sequences run through the head together (bounds the head's scratch; results are per row).
pub const HEAD_ROWS: usize = 64;

/// The sentence-transformers head after pooling: two bias-free linear layers.
pub struct HeadWeights {
    /// n_embd -> dense_2_feat_out
    pub dense_2: PackedMatrix,
    /// dense_2_feat_out -> n_embd
    pub dense_3: PackedMatrix,
}

const DENSE_2: &str = "dense_2.weight";
const DENSE_3: &str = "dense_3.weight";

impl HeadWeights {
    /// `dense_2`/`dense_3` (hidden width from `dense_2_feat_out` when given, else from the
    /// tensor); `Ok(None)` for a file with neither when `allow_missing` (the caller warns).
    pub fn load(
        l: &Loader,
        n_embd: usize,
        hidden: Option<usize>,
        allow_missing: bool,
    ) -> Result<Option<HeadWeights>, ModelError> {
        match (l.has(DENSE_2), l.has(DENSE_3)) {
            (true, true) => {
                let hidden = hidden.or_else(|| l.rows_of(DENSE_2)).unwrap_or(0);
                Ok(Some(HeadWeights {
                    dense_2: l.pack_f32(l.linear(DENSE_2, n_embd, hidden)?)?,
                    dense_3: l.pack_f32(l.linear(DENSE_3, hidden, n_embd)?)?,
                }))
            }
            (false, false) if allow_missing => Ok(None),
            (false, false) => Err(ModelError::MissingHead),
            (true, false) => Err(ModelError::MissingTensor {
                name: DENSE_3.into(),
            }),
            (false, true) => Err(ModelError::MissingTensor {
                name: DENSE_2.into(),
            }),
        }
    }
}

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
