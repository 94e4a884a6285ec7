//! The exact softmax of one score row.

use crate::simd::{exp, vec_len, F32s, Scalar};

/// s[0..n] = exp(s - max); returns 1/Σ. The reduction order depends only on n.
///
/// # Safety
/// `S` supported; s valid for n elements (n >= 1).
#[inline(always)]
pub(super) unsafe fn softmax_row<S: F32s>(s: *mut f32, n: usize) -> f32 {
    let l = S::LANES;
    let nv = vec_len::<S>(n);
    // SAFETY: per the function contract.
    unsafe {
        let mut mv = S::splat(f32::NEG_INFINITY);
        for j in (0..nv).step_by(l) {
            mv = S::max(mv, S::load(s.add(j)));
        }
        let mut m = S::hmax(mv);
        for j in nv..n {
            m = m.max(*s.add(j));
        }
        let mb = S::splat(m);
        let mut sum = S::splat(0.0);
        for j in (0..nv).step_by(l) {
            let e = exp::<S>(S::sub(S::load(s.add(j)), mb));
            S::store(s.add(j), e);
            sum = S::add(sum, e);
        }
        let mut total = S::hsum(sum);
        for j in nv..n {
            let e = exp::<Scalar>(*s.add(j) - m);
            *s.add(j) = e;
            total += e;
        }
        1.0 / total
    }
}
