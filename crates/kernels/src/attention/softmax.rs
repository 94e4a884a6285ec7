//! The exact softmax of one score row.

use crate::simd::{exp, wadd, whmax, whsum, wload, wmax, F32s, Scalar, WIDE};

/// s[0..n] = exp(s - max); returns 1/Σ. The reduction order depends only on n, and is the same
/// on every path: [`WIDE`] virtual lanes over whole chunks, the fixed tree, then the rest in
/// order.
///
/// # Safety
/// `S` supported; s valid for n elements (n >= 1) and readable (any values) up to
/// n.next_multiple_of(WIDE).
#[inline(always)]
pub(super) unsafe fn softmax_row<S: F32s>(s: *mut f32, n: usize) -> f32 {
    let nw = n - n % WIDE;
    // SAFETY: per the function contract.
    unsafe {
        let mut mv = S::wsplat(f32::NEG_INFINITY);
        for j in (0..nw).step_by(WIDE) {
            mv = wmax::<S>(mv, wload::<S>(s.add(j)));
        }
        let mut m = whmax::<S>(mv);
        for j in nw..n {
            m = m.max(*s.add(j));
        }
        let mb = S::splat(m);
        let mut sum = S::wsplat(0.0);
        for j in (0..nw).step_by(WIDE) {
            let mut e = wload::<S>(s.add(j));
            for (r, v) in e.as_mut().iter_mut().enumerate() {
                *v = exp::<S>(S::sub(*v, mb));
                S::store(s.add(j + r * S::LANES), *v);
            }
            sum = wadd::<S>(sum, e);
        }
        let mut total = whsum::<S>(sum);
        if S::LANES > 1 && n > nw {
            // The tail's exps on whole vectors (lane by lane the same values as Scalar's exp;
            // the lanes past n are discarded), then summed in order as on the scalar path.
            let mut e = wload::<S>(s.add(nw));
            let mut buf = [0f32; WIDE];
            for (r, v) in e.as_mut().iter_mut().enumerate() {
                *v = exp::<S>(S::sub(*v, mb));
                S::store(buf.as_mut_ptr().add(r * S::LANES), *v);
            }
            for (j, &e) in (nw..n).zip(&buf) {
                *s.add(j) = e;
                total += e;
            }
        } else {
            for j in nw..n {
                let e = exp::<Scalar>(*s.add(j) - m);
                *s.add(j) = e;
                total += e;
            }
        }
        1.0 / total
    }
}
