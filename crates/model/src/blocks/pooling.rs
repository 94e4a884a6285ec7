//! Pooling: one vector per sequence from its token vectors, as sentence-transformers' `Pooling`
//! module does without padding: the mean of all tokens (prompt, BOS/[CLS] and EOS/[SEP]
//! included), or the first token ([CLS]).

use std::ops::Range;

/// How token vectors become one vector (GGUF `<arch>.pooling_type`: 1 = mean, 2 = CLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

impl Pooling {
    /// From llama.cpp's `pooling_type` value; `None` for values this engine does not run
    /// (0 none, 3 last token, 4 rank).
    pub fn from_gguf(v: u64) -> Option<Pooling> {
        match v {
            1 => Some(Pooling::Mean),
            2 => Some(Pooling::Cls),
            _ => None,
        }
    }

    /// sentence-transformers' name for the mode: "mean" or "cls".
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

/// out[i] = pooling of x[t] for t in seqs[i].  x: [n_tok, n_embd]   out: [n_seq, n_embd]
pub fn pool(kind: Pooling, x: &[f32], n_embd: usize, seqs: &[Range<usize>], out: &mut [f32]) {
    match kind {
        Pooling::Mean => mean_pool(x, n_embd, seqs, out),
        Pooling::Cls => {
            for (seq, o) in seqs.iter().zip(out.chunks_exact_mut(n_embd)) {
                o.copy_from_slice(&x[seq.start * n_embd..(seq.start + 1) * n_embd]);
            }
        }
    }
}

/// out[i] = mean of x[t] for t in seqs[i].  x: [n_tok, n_embd]   out: [n_seq, n_embd]
/// Sums in f64 in token order, so the result depends only on the sequence itself.
pub fn mean_pool(x: &[f32], n_embd: usize, seqs: &[Range<usize>], out: &mut [f32]) {
    let mut acc = [0f64; 64];
    for (i, seq) in seqs.iter().enumerate() {
        let inv_len = 1.0 / seq.len() as f64;
        let out_row = &mut out[i * n_embd..(i + 1) * n_embd];
        // Accumulate in f64, 64 columns at a time (fixed-size stack buffer, no allocation).
        for c0 in (0..n_embd).step_by(acc.len()) {
            let w = acc.len().min(n_embd - c0);
            acc[..w].iter_mut().for_each(|a| *a = 0.0);
            for t in seq.clone() {
                let row = &x[t * n_embd + c0..t * n_embd + c0 + w];
                acc[..w]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(a, v)| *a += *v as f64);
            }
            for (o, a) in out_row[c0..c0 + w].iter_mut().zip(&acc[..w]) {
                *o = (*a * inv_len) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cls_takes_each_first_token() {
        let x = [1.0, 2.0, 3.0, 6.0, -1.0, 0.5];
        let mut out = [0f32; 4];
        pool(Pooling::Cls, &x, 2, &[0..2, 2..3], &mut out);
        assert_eq!(out, [1.0, 2.0, -1.0, 0.5]);
    }

    #[test]
    fn averages_each_sequence_separately() {
        // 3 tokens of width 2: seq 0 = tokens 0..2, seq 1 = token 2
        let x = [1.0, 2.0, 3.0, 6.0, -1.0, 0.5];
        let mut out = [0f32; 4];
        mean_pool(&x, 2, &[0..2, 2..3], &mut out);
        assert_eq!(out, [2.0, 4.0, -1.0, 0.5]);
    }

    #[test]
    fn wide_rows_cross_the_column_blocks() {
        let n_embd = 150;
        let x: Vec<f32> = (0..2 * n_embd).map(|i| i as f32).collect();
        let mut out = vec![0f32; n_embd];
        let seqs: [Range<usize>; 1] = [Range { start: 0, end: 2 }];
        mean_pool(&x, n_embd, &seqs, &mut out);
        for (c, o) in out.iter().enumerate() {
            assert_eq!(*o, (c as f32 + (c + n_embd) as f32) / 2.0);
        }
    }
}
