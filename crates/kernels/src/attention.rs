//! Bidirectional multi-head attention for one sequence, exact softmax in f32.
//!
//! Sliding windows are computed from indices (query i attends key j iff |i-j| <= window), never
//! from a mask. Work is split across query rows only, so results do not depend on the thread
//! count or on the other sequences.

use crate::pool::{SyncPtr, ThreadPool};
use crate::Isa;

/// Shape of one attention call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttnShape {
    pub n_tok: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Attend iff |i-j| <= window; `None` = global attention.
    pub window: Option<usize>,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
}

/// Per-thread score buffers for [`attention`].
pub struct AttnScratch {
    /// [n_slots, max_tokens] softmax numerators.
    scores: Vec<f32>,
    max_tokens: usize,
    n_slots: usize,
}

impl AttnScratch {
    /// Scratch for sequences of up to `max_tokens` tokens, run by up to `n_threads` threads.
    pub fn new(max_tokens: usize, n_threads: usize) -> Self {
        let n_slots = n_threads.max(1);
        AttnScratch {
            scores: vec![0.0; n_slots * max_tokens],
            max_tokens,
            n_slots,
        }
    }

    fn ensure(&mut self, n_tok: usize, n_threads: usize) {
        if n_tok > self.max_tokens || n_threads > self.n_slots {
            *self = AttnScratch::new(n_tok.max(self.max_tokens), n_threads.max(self.n_slots));
        }
    }
}

/// Bidirectional attention for ONE sequence.  q: [n_tok, n_head*head_dim]
/// k, v: [n_tok, n_head_kv*head_dim]   out: [n_tok, n_head*head_dim]. Exact softmax.
/// Batch/thread invariant.
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    shape: &AttnShape,
    scratch: &mut AttnScratch,
    pool: &ThreadPool,
) {
    attention_with(crate::active_isa(), q, k, v, out, shape, scratch, pool)
}

/// [`attention`] on an explicit path.
#[allow(clippy::too_many_arguments)]
pub fn attention_with(
    _isa: Isa,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    shape: &AttnShape,
    scratch: &mut AttnScratch,
    pool: &ThreadPool,
) {
    let AttnShape {
        n_tok,
        n_head,
        n_head_kv,
        head_dim,
        ..
    } = *shape;
    assert!(
        n_head_kv > 0 && n_head % n_head_kv == 0,
        "attention: n_head ({n_head}) must be a multiple of n_head_kv ({n_head_kv})"
    );
    assert_eq!(
        q.len(),
        n_tok * n_head * head_dim,
        "attention: q must be [n_tok, n_head*head_dim]"
    );
    assert_eq!(
        k.len(),
        n_tok * n_head_kv * head_dim,
        "attention: k must be [n_tok, n_head_kv*head_dim]"
    );
    assert_eq!(
        v.len(),
        k.len(),
        "attention: v must be [n_tok, n_head_kv*head_dim]"
    );
    assert_eq!(
        out.len(),
        q.len(),
        "attention: out must be [n_tok, n_head*head_dim]"
    );
    if n_tok == 0 {
        return;
    }
    let n_tasks = pool.n_threads().min(n_tok);
    scratch.ensure(n_tok, n_tasks);
    let max_tokens = scratch.max_tokens;
    let sp = SyncPtr(scratch.scores.as_mut_ptr());
    let op = SyncPtr(out.as_mut_ptr());
    let task = |t: usize| {
        let i0 = t * n_tok / n_tasks;
        let i1 = (t + 1) * n_tok / n_tasks;
        // SAFETY: task t exclusively uses score slot t (t < n_tasks <= n_slots) and writes only
        // the output rows i0..i1; both buffers outlive `pool.run`.
        let scores =
            unsafe { std::slice::from_raw_parts_mut(sp.get().add(t * max_tokens), max_tokens) };
        // SAFETY: as above; rows of different tasks are disjoint.
        let out = unsafe { std::slice::from_raw_parts_mut(op.get(), n_tok * n_head * head_dim) };
        for i in i0..i1 {
            attend_row_scalar(q, k, v, out, shape, i, scores);
        }
    };
    pool.run(n_tasks, &task);
}

/// Keys visible from query i: lo..hi.
#[inline]
pub(crate) fn key_range(shape: &AttnShape, i: usize) -> (usize, usize) {
    match shape.window {
        Some(w) => (i.saturating_sub(w), (i + w + 1).min(shape.n_tok)),
        None => (0, shape.n_tok),
    }
}

fn attend_row_scalar(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    shape: &AttnShape,
    i: usize,
    scores: &mut [f32],
) {
    let hd = shape.head_dim;
    let group = shape.n_head / shape.n_head_kv;
    let (lo, hi) = key_range(shape, i);
    for h in 0..shape.n_head {
        let kvh = h / group;
        let qi = &q[(i * shape.n_head + h) * hd..][..hd];
        let mut m = f32::NEG_INFINITY;
        for j in lo..hi {
            let kj = &k[(j * shape.n_head_kv + kvh) * hd..][..hd];
            let s = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * shape.scale;
            scores[j - lo] = s;
            m = m.max(s);
        }
        let mut sum = 0f32;
        for s in &mut scores[..hi - lo] {
            *s = (*s - m).exp();
            sum += *s;
        }
        let inv = 1.0 / sum;
        let o = &mut out[(i * shape.n_head + h) * hd..][..hd];
        o.fill(0.0);
        for j in lo..hi {
            let p = scores[j - lo];
            let vj = &v[(j * shape.n_head_kv + kvh) * hd..][..hd];
            for (o, &vv) in o.iter_mut().zip(vj) {
                *o += p * vv;
            }
        }
        for o in o.iter_mut() {
            *o *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn rand_vec(n: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    /// Straightforward f64 softmax attention.
    fn reference(q: &[f32], k: &[f32], v: &[f32], s: &AttnShape) -> Vec<f64> {
        let hd = s.head_dim;
        let mut out = vec![0f64; q.len()];
        for i in 0..s.n_tok {
            for h in 0..s.n_head {
                let kvh = h / (s.n_head / s.n_head_kv);
                let vis: Vec<usize> = (0..s.n_tok)
                    .filter(|&j| s.window.is_none_or(|w| i.abs_diff(j) <= w))
                    .collect();
                let sc: Vec<f64> = vis
                    .iter()
                    .map(|&j| {
                        (0..hd)
                            .map(|d| {
                                q[(i * s.n_head + h) * hd + d] as f64
                                    * k[(j * s.n_head_kv + kvh) * hd + d] as f64
                            })
                            .sum::<f64>()
                            * s.scale as f64
                    })
                    .collect();
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    out[(i * s.n_head + h) * hd + d] = vis
                        .iter()
                        .zip(&e)
                        .map(|(&j, p)| p / z * v[(j * s.n_head_kv + kvh) * hd + d] as f64)
                        .sum();
                }
            }
        }
        out
    }

    #[test]
    fn matches_f64_reference_all_paths() {
        let mut rng = StdRng::seed_from_u64(7);
        for &(n_tok, n_head, n_head_kv, head_dim, window) in &[
            (1, 3, 1, 256, None),
            (9, 3, 1, 32, Some(2)),
            (23, 4, 2, 48, None),
            (40, 3, 1, 256, Some(7)),
        ] {
            let shape = AttnShape {
                n_tok,
                n_head,
                n_head_kv,
                head_dim,
                window,
                scale: 1.0 / 16.0,
            };
            let q = rand_vec(n_tok * n_head * head_dim, &mut rng);
            let k = rand_vec(n_tok * n_head_kv * head_dim, &mut rng);
            let v = rand_vec(n_tok * n_head_kv * head_dim, &mut rng);
            let want = reference(&q, &k, &v, &shape);
            for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
                for threads in [1, 2, 3] {
                    let pool = ThreadPool::new(threads);
                    let mut s = AttnScratch::new(n_tok, threads);
                    let mut out = vec![f32::NAN; q.len()];
                    attention_with(isa, &q, &k, &v, &mut out, &shape, &mut s, &pool);
                    for (a, b) in out.iter().zip(&want) {
                        assert!((*a as f64 - b).abs() < 2e-6, "{isa} {shape:?}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn row_invariant_to_thread_count_and_scratch() {
        let mut rng = StdRng::seed_from_u64(8);
        let shape = AttnShape {
            n_tok: 31,
            n_head: 3,
            n_head_kv: 1,
            head_dim: 64,
            window: Some(5),
            scale: 0.125,
        };
        let q = rand_vec(31 * 3 * 64, &mut rng);
        let k = rand_vec(31 * 64, &mut rng);
        let v = rand_vec(31 * 64, &mut rng);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let mut base = vec![0f32; q.len()];
            attention_with(
                isa,
                &q,
                &k,
                &v,
                &mut base,
                &shape,
                &mut AttnScratch::new(31, 1),
                &ThreadPool::new(1),
            );
            for threads in [2, 3] {
                let mut out = vec![0f32; q.len()];
                // undersized scratch must grow, not fail
                attention_with(
                    isa,
                    &q,
                    &k,
                    &v,
                    &mut out,
                    &shape,
                    &mut AttnScratch::new(4, 1),
                    &ThreadPool::new(threads),
                );
                assert!(
                    out.iter()
                        .zip(&base)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa} threads={threads}"
                );
            }
        }
    }
}
