//! The scalar reference every SIMD path is tested against.

use super::{key_range, AttnShape};

/// The scalar reference: one query token, all heads of KV head `g`.
///
/// # Safety
/// `out` is valid for [n_tok, n_head·head_dim]; no other thread accesses the rows
/// (i, heads of g) meanwhile.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn attend_row(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: *mut f32,
    shape: &AttnShape,
    g: usize,
    i: usize,
    scores: &mut [f32],
) {
    let hd = shape.head_dim;
    let group = shape.n_head / shape.n_head_kv;
    let (lo, hi) = key_range(shape, i);
    for h in g * group..(g + 1) * group {
        let qi = &q[(i * shape.n_head + h) * hd..][..hd];
        let mut m = f32::NEG_INFINITY;
        for j in lo..hi {
            let kj = &k[(j * shape.n_head_kv + g) * hd..][..hd];
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
        // SAFETY: per the function contract (row (i, h) belongs to this call).
        let o = unsafe { std::slice::from_raw_parts_mut(out.add((i * shape.n_head + h) * hd), hd) };
        o.fill(0.0);
        for j in lo..hi {
            let p = scores[j - lo];
            let vj = &v[(j * shape.n_head_kv + g) * hd..][..hd];
            for (o, &vv) in o.iter_mut().zip(vj) {
                *o += p * vv;
            }
        }
        for o in o.iter_mut() {
            *o *= inv;
        }
    }
}
