//! Element-wise and reduction kernels: RMSNorm, GELU(tanh)·up, NeoX RoPE (and both per
//! attention head), dot, L2 normalize.
//!
//! Each public function runs the [`active_isa`](crate::active_isa) path; the `*_with` variants
//! take an explicit [`Isa`] (tests and benchmarks use them to exercise every path). Every result
//! is bit-identical on every path: reductions (dot, the RMS, the L2 norm) run in one canonical
//! order (see [`dot_body`]).

use crate::simd::{dispatch_f32, exp, vec_len, wadd, wfma, whsum, wload, F32s, Scalar, WIDE};
use crate::Isa;

/// out = x / sqrt(mean(x²) + eps) * weight.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    rms_norm_with(crate::active_isa(), x, weight, eps, out)
}

/// In-place [`rms_norm`].
pub fn rms_norm_inplace(x: &mut [f32], weight: &[f32], eps: f32) {
    assert_eq!(
        x.len(),
        weight.len(),
        "rms_norm: x and weight lengths differ"
    );
    let (n, p) = (x.len(), x.as_mut_ptr());
    dispatch_f32!(
        crate::active_isa(),
        rms_norm_body(p, weight.as_ptr(), eps, p, n)
    )
}

/// [`rms_norm`] on an explicit path.
pub fn rms_norm_with(isa: Isa, x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    assert_eq!(
        x.len(),
        weight.len(),
        "rms_norm: x and weight lengths differ"
    );
    assert_eq!(x.len(), out.len(), "rms_norm: x and out lengths differ");
    let (n, o) = (x.len(), out.as_mut_ptr());
    dispatch_f32!(isa, rms_norm_body(x.as_ptr(), weight.as_ptr(), eps, o, n))
}

/// # Safety
/// `S` supported; x, w, out valid for n elements (out may equal x).
#[inline(always)]
unsafe fn rms_norm_body<S: F32s>(x: *const f32, w: *const f32, eps: f32, out: *mut f32, n: usize) {
    // SAFETY: per the function contract.
    unsafe {
        let ss = dot_body::<S>(x, x, n);
        let scale = 1.0 / (ss / n as f32 + eps).sqrt();
        let nv = vec_len::<S>(n);
        let sv = S::splat(scale);
        for i in (0..nv).step_by(S::LANES) {
            S::store(
                out.add(i),
                S::mul(S::mul(S::load(x.add(i)), sv), S::load(w.add(i))),
            );
        }
        for i in nv..n {
            *out.add(i) = *x.add(i) * scale * *w.add(i);
        }
    }
}

/// out = gelu_tanh(gate) * up, with gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
/// evaluated as x / (1 + exp(-2·√(2/π)·(x + 0.044715·x³))) (the same function, no cancellation).
pub fn gelu_tanh_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    gelu_tanh_mul_with(crate::active_isa(), gate, up, out)
}

/// [`gelu_tanh_mul`] on an explicit path.
pub fn gelu_tanh_mul_with(isa: Isa, gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert_eq!(
        gate.len(),
        up.len(),
        "gelu_tanh_mul: gate and up lengths differ"
    );
    assert_eq!(
        gate.len(),
        out.len(),
        "gelu_tanh_mul: gate and out lengths differ"
    );
    let (n, o) = (gate.len(), out.as_mut_ptr());
    dispatch_f32!(isa, gelu_body(gate.as_ptr(), up.as_ptr(), o, n))
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_COEF_A: f32 = 0.044_715;

/// gelu_tanh(g) * u for one vector.
#[inline(always)]
unsafe fn gelu_v<S: F32s>(g: S::V, u: S::V) -> S::V {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        let t = S::fma(S::mul(g, g), S::splat(GELU_COEF_A), S::splat(1.0));
        let y = S::mul(S::mul(g, t), S::splat(-2.0 * SQRT_2_OVER_PI));
        S::mul(S::div(g, S::add(exp::<S>(y), S::splat(1.0))), u)
    }
}

/// # Safety
/// `S` supported; pointers valid for n elements.
#[inline(always)]
unsafe fn gelu_body<S: F32s>(g: *const f32, u: *const f32, out: *mut f32, n: usize) {
    // SAFETY: per the function contract.
    unsafe {
        let nv = vec_len::<S>(n);
        for i in (0..nv).step_by(S::LANES) {
            S::store(
                out.add(i),
                gelu_v::<S>(S::load(g.add(i)), S::load(u.add(i))),
            );
        }
        for i in nv..n {
            *out.add(i) = gelu_v::<Scalar>(*g.add(i), *u.add(i));
        }
    }
}

/// NeoX RoPE on one head `x` (`[head_dim]`): rotates the pairs `(x[i], x[i + head_dim/2])` by the
/// angle whose cosine/sine are `cos[i]`/`sin[i]` ([head_dim/2], for this token's position).
pub fn rope_neox(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    rope_neox_with(crate::active_isa(), x, cos, sin)
}

/// [`rope_neox`] on an explicit path.
pub fn rope_neox_with(isa: Isa, x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = x.len() / 2;
    assert_eq!(x.len() % 2, 0, "rope_neox: head_dim must be even");
    assert!(
        cos.len() == half && sin.len() == half,
        "rope_neox: cos/sin must have head_dim/2 values"
    );
    let p = x.as_mut_ptr();
    dispatch_f32!(isa, rope_body(p, cos.as_ptr(), sin.as_ptr(), half))
}

/// # Safety
/// `S` supported; x valid for 2*half elements, c and s for half.
#[inline(always)]
unsafe fn rope_body<S: F32s>(x: *mut f32, c: *const f32, s: *const f32, half: usize) {
    // SAFETY: per the function contract.
    unsafe {
        let nv = vec_len::<S>(half);
        for i in (0..nv).step_by(S::LANES) {
            let (a, b) = (S::load(x.add(i)), S::load(x.add(i + half)));
            let (cv, sv) = (S::load(c.add(i)), S::load(s.add(i)));
            S::store(x.add(i), S::sub(S::mul(a, cv), S::mul(b, sv)));
            S::store(x.add(i + half), S::add(S::mul(b, cv), S::mul(a, sv)));
        }
        for i in nv..half {
            let (a, b) = (*x.add(i), *x.add(i + half));
            *x.add(i) = a * *c.add(i) - b * *s.add(i);
            *x.add(i + half) = b * *c.add(i) + a * *s.add(i);
        }
    }
}

/// Pre-norm residual step on token rows (Gemma), per row of `x` and `y` ([rows, n], n =
/// the weights' length): `y = rms_norm(y) · w_post;  x += y;  y = rms_norm(x) · w_next`. The
/// same bits as [`rms_norm_inplace`], an element-wise add and [`rms_norm`] row by row, in one
/// call for all rows.
///
/// # Panics
/// If the weights differ in length, or x and y are not the same whole number of rows.
pub fn residual_rms_norm(x: &mut [f32], y: &mut [f32], w_post: &[f32], w_next: &[f32], eps: f32) {
    residual_rms_norm_with(crate::active_isa(), x, y, w_post, w_next, eps)
}

/// [`residual_rms_norm`] on an explicit path.
pub fn residual_rms_norm_with(
    isa: Isa,
    x: &mut [f32],
    y: &mut [f32],
    w_post: &[f32],
    w_next: &[f32],
    eps: f32,
) {
    let n = w_post.len();
    assert_eq!(
        w_next.len(),
        n,
        "residual_rms_norm: weights differ in length"
    );
    assert!(
        n > 0 && x.len() == y.len() && x.len().is_multiple_of(n),
        "residual_rms_norm: x and y must be the same whole rows of {n}"
    );
    let (rows, xp, yp) = (x.len() / n, x.as_mut_ptr(), y.as_mut_ptr());
    let (wp, wn) = (w_post.as_ptr(), w_next.as_ptr());
    dispatch_f32!(isa, residual_rms_norm_body(xp, yp, wp, wn, eps, rows, n))
}

/// # Safety
/// `S` supported; x and y valid for rows·n elements each (not overlapping), w_post and w_next
/// for n.
#[inline(always)]
unsafe fn residual_rms_norm_body<S: F32s>(
    x: *mut f32,
    y: *mut f32,
    w_post: *const f32,
    w_next: *const f32,
    eps: f32,
    rows: usize,
    n: usize,
) {
    // SAFETY: per the function contract; row r covers elements r·n..(r+1)·n.
    unsafe {
        for r in 0..rows {
            let (xr, yr) = (x.add(r * n), y.add(r * n));
            rms_norm_body::<S>(yr, w_post, eps, yr, n);
            crate::encoder_ops::add_body::<S>(xr, yr, xr, n);
            rms_norm_body::<S>(xr, w_next, eps, yr, n);
        }
    }
}

/// Per head of `x` ([n_heads·head_dim]): the optional RMSNorm `(weight [head_dim], eps)`, then
/// the optional NeoX RoPE `(cos, sin)` ([head_dim/2] each), written to `out` (same shape). The
/// same bits as [`rms_norm`] then [`rope_neox`] on each head (a head without a norm is copied
/// first), in one call: attention's q/k heads need both per token, and separate calls cost
/// more than the arithmetic at head_dim 256.
///
/// # Panics
/// If `x`, `out` differ in length or are not whole heads, the weight is not `[head_dim]`, or
/// cos/sin are not `[head_dim/2]` (head_dim even).
pub fn heads_norm_rope(
    x: &[f32],
    head_dim: usize,
    norm: Option<(&[f32], f32)>,
    rope: Option<(&[f32], &[f32])>,
    out: &mut [f32],
) {
    heads_norm_rope_with(crate::active_isa(), x, head_dim, norm, rope, out)
}

/// [`heads_norm_rope`] on an explicit path.
pub fn heads_norm_rope_with(
    isa: Isa,
    x: &[f32],
    head_dim: usize,
    norm: Option<(&[f32], f32)>,
    rope: Option<(&[f32], &[f32])>,
    out: &mut [f32],
) {
    assert_eq!(
        x.len(),
        out.len(),
        "heads_norm_rope: x and out lengths differ"
    );
    let n_heads = check_heads(x.len(), head_dim, norm, rope);
    let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
    heads_exec(isa, xp, op, n_heads, head_dim, norm, rope)
}

/// In-place [`heads_norm_rope`].
pub fn heads_norm_rope_inplace(
    x: &mut [f32],
    head_dim: usize,
    norm: Option<(&[f32], f32)>,
    rope: Option<(&[f32], &[f32])>,
) {
    let n_heads = check_heads(x.len(), head_dim, norm, rope);
    let p = x.as_mut_ptr();
    heads_exec(crate::active_isa(), p, p, n_heads, head_dim, norm, rope)
}

/// Validates the shapes of [`heads_norm_rope`]; returns the head count.
fn check_heads(
    len: usize,
    head_dim: usize,
    norm: Option<(&[f32], f32)>,
    rope: Option<(&[f32], &[f32])>,
) -> usize {
    assert!(
        head_dim > 0 && len.is_multiple_of(head_dim),
        "heads_norm_rope: {len} values are not whole heads of {head_dim}"
    );
    if let Some((w, _)) = norm {
        assert_eq!(
            w.len(),
            head_dim,
            "heads_norm_rope: norm weight must be [head_dim]"
        );
    }
    if let Some((c, s)) = rope {
        assert!(
            head_dim.is_multiple_of(2) && c.len() == head_dim / 2 && s.len() == head_dim / 2,
            "heads_norm_rope: cos/sin must have head_dim/2 values (head_dim even)"
        );
    }
    len / head_dim
}

/// Runs [`heads_body`] on `isa` (x may equal out).
fn heads_exec(
    isa: Isa,
    x: *const f32,
    out: *mut f32,
    n_heads: usize,
    hd: usize,
    norm: Option<(&[f32], f32)>,
    rope: Option<(&[f32], &[f32])>,
) {
    let (w, eps) = norm.map_or((std::ptr::null(), 0.0), |(w, e)| (w.as_ptr(), e));
    let (c, s) = rope.map_or((std::ptr::null(), std::ptr::null()), |(c, s)| {
        (c.as_ptr(), s.as_ptr())
    });
    dispatch_f32!(isa, heads_body(x, out, n_heads, hd, w, eps, c, s))
}

/// # Safety
/// `S` supported; x and out valid for n_heads·hd elements (out may equal x, else they do not
/// overlap); w null or valid for hd; c, s null or valid for hd/2 each.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn heads_body<S: F32s>(
    x: *const f32,
    out: *mut f32,
    n_heads: usize,
    hd: usize,
    w: *const f32,
    eps: f32,
    c: *const f32,
    s: *const f32,
) {
    // SAFETY: per the function contract; head h covers elements h·hd..(h+1)·hd.
    unsafe {
        for h in 0..n_heads {
            let (xh, oh) = (x.add(h * hd), out.add(h * hd));
            if !w.is_null() {
                rms_norm_body::<S>(xh, w, eps, oh, hd);
            } else if xh != oh.cast_const() {
                std::ptr::copy_nonoverlapping(xh, oh, hd);
            }
            if !c.is_null() {
                rope_body::<S>(oh, c, s, hd / 2);
            }
        }
    }
}

/// `Σ a[i]·b[i]`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_with(crate::active_isa(), a, b)
}

/// [`dot`] on an explicit path.
pub fn dot_with(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    dispatch_f32!(isa, dot_body(a.as_ptr(), b.as_ptr(), a.len()))
}

/// Dot product in the canonical order of every path: 4 accumulators of [`WIDE`] virtual lanes
/// over chunks of 4·WIDE elements, then single WIDE chunks into the first, combined as
/// (0+1)+(2+3) and summed by [`whsum`]'s fixed tree; the last n % WIDE products are added in
/// order with scalar FMAs.
///
/// # Safety
/// `S` supported; a, b valid for n elements.
#[inline(always)]
pub(crate) unsafe fn dot_body<S: F32s>(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: per the function contract.
    unsafe {
        let l = WIDE;
        let mut acc = [S::wsplat(0.0); 4];
        let mut i = 0;
        while i + 4 * l <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                *acc = wfma::<S>(
                    wload::<S>(a.add(i + k * l)),
                    wload::<S>(b.add(i + k * l)),
                    *acc,
                );
            }
            i += 4 * l;
        }
        while i + l <= n {
            acc[0] = wfma::<S>(wload::<S>(a.add(i)), wload::<S>(b.add(i)), acc[0]);
            i += l;
        }
        let mut sum = whsum::<S>(wadd::<S>(
            wadd::<S>(acc[0], acc[1]),
            wadd::<S>(acc[2], acc[3]),
        ));
        while i < n {
            sum = (*a.add(i)).mul_add(*b.add(i), sum);
            i += 1;
        }
        sum
    }
}

/// x /= max(‖x‖₂, 1e-12) (as PyTorch's `F.normalize`; an all-zero vector stays zero).
pub fn l2_normalize(x: &mut [f32]) {
    l2_normalize_with(crate::active_isa(), x)
}

/// [`l2_normalize`] on an explicit path.
pub fn l2_normalize_with(isa: Isa, x: &mut [f32]) {
    let norm = dot_with(isa, x, x).sqrt().max(1e-12);
    let inv = 1.0 / norm;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn supported() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| {
            if !i.is_supported() {
                println!("skipping {i}: not supported by this CPU");
            }
            i.is_supported()
        })
    }

    fn rand_vec(n: usize, scale: f32, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
    }

    /// Odd sizes: the 64-element body, the 16-element chunks, the scalar tail, and mixes.
    const SIZES: [usize; 13] = [0, 1, 7, 15, 16, 17, 33, 63, 65, 100, 257, 768, 1155];

    #[test]
    fn rms_norm_basic() {
        let x = [1.0f32, -2.0, 3.0, -4.0];
        let w = [1.0f32, 2.0, 0.5, 1.0];
        let mut out = [0f32; 4];
        rms_norm(&x, &w, 1e-6, &mut out);
        let rms = ((1.0 + 4.0 + 9.0 + 16.0) / 4.0f64 + 1e-6).sqrt();
        for i in 0..4 {
            assert!((out[i] as f64 - x[i] as f64 / rms * w[i] as f64).abs() < 1e-6);
        }
        let mut y = x;
        rms_norm_inplace(&mut y, &w, 1e-6);
        assert_eq!(y, out);
    }

    #[test]
    fn rms_norm_accurate_and_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(11);
        for n in SIZES.into_iter().filter(|&n| n > 0) {
            let x = rand_vec(n, 30.0, &mut rng);
            let w = rand_vec(n, 2.0, &mut rng);
            let ss: f64 = x.iter().map(|v| (*v as f64).powi(2)).sum();
            let scale = 1.0 / (ss / n as f64 + 1e-6).sqrt();
            let mut scalar = vec![0f32; n];
            rms_norm_with(Isa::Scalar, &x, &w, 1e-6, &mut scalar);
            for isa in supported() {
                let mut out = vec![0f32; n];
                rms_norm_with(isa, &x, &w, 1e-6, &mut out);
                assert!(crate::same_bits(&out, &scalar), "{isa} n={n} vs scalar");
                for i in 0..n {
                    let want = x[i] as f64 * scale * w[i] as f64;
                    assert!(
                        (out[i] as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                        "{isa} n={n}"
                    );
                }
            }
        }
    }

    #[test]
    fn gelu_values() {
        // torch.nn.functional.gelu(x, approximate="tanh")
        let x = [-3.0f32, -1.0, 0.0, 0.5, 1.0, 2.0];
        let expect = [
            -0.003_637_392,
            -0.158_808,
            0.0,
            0.345_714,
            0.841_192,
            1.954_598,
        ];
        let mut out = [0f32; 6];
        gelu_tanh_mul(&x, &[1.0; 6], &mut out);
        for i in 0..6 {
            assert!(
                (out[i] - expect[i]).abs() < 1e-5,
                "{} {}",
                out[i],
                expect[i]
            );
        }
    }

    #[test]
    fn gelu_accurate_and_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(12);
        for n in SIZES {
            let mut g = rand_vec(n, 12.0, &mut rng);
            if n > 3 {
                g[0] = 0.0;
                g[1] = -60.0;
                g[2] = 60.0;
            }
            let u = rand_vec(n, 3.0, &mut rng);
            let mut want = vec![0f32; n];
            gelu_tanh_mul_with(Isa::Scalar, &g, &u, &mut want);
            for i in 0..n {
                let x = g[i] as f64;
                // 0.5·x·(1 + tanh(y)) == x / (1 + exp(-2y)), without f64 cancellation for x << 0
                let y = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
                let r = x / (1.0 + (-2.0 * y).exp()) * u[i] as f64;
                // f32 rounding of the exponent argument (|2y| up to ~30) is amplified by exp
                let tol = 3e-7 * (1.0 + 2.0 * y.abs()) * r.abs() + 1e-30;
                assert!(
                    (want[i] as f64 - r).abs() <= tol,
                    "gelu({x}) {} vs {r}",
                    want[i]
                );
            }
            for isa in supported() {
                let mut out = vec![f32::NAN; n];
                gelu_tanh_mul_with(isa, &g, &u, &mut out);
                assert!(crate::same_bits(&out, &want), "{isa} n={n}");
            }
        }
    }

    #[test]
    fn rope_rotates_halves() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        let (c, s) = (0.3f32.cos(), 0.3f32.sin());
        rope_neox(&mut x, &[c, 1.0], &[s, 0.0]);
        assert!((x[0] - (c - 3.0 * s)).abs() < 1e-6);
        assert!((x[2] - (3.0 * c + s)).abs() < 1e-6);
        assert_eq!((x[1], x[3]), (2.0, 4.0));
    }

    #[test]
    fn rope_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(13);
        for half in [1, 5, 16, 37, 128] {
            let x = rand_vec(2 * half, 4.0, &mut rng);
            let ang = rand_vec(half, 3.0, &mut rng);
            let c: Vec<f32> = ang.iter().map(|a| a.cos()).collect();
            let s: Vec<f32> = ang.iter().map(|a| a.sin()).collect();
            let mut want = x.clone();
            rope_neox_with(Isa::Scalar, &mut want, &c, &s);
            for isa in supported() {
                let mut got = x.clone();
                rope_neox_with(isa, &mut got, &c, &s);
                assert_eq!(got, want, "{isa} half={half}");
            }
        }
    }

    /// heads_norm_rope = rms_norm then rope_neox per head (each optional), bit for bit, on
    /// every path, out of place and in place, at odd head sizes and head counts.
    #[test]
    fn heads_norm_rope_is_norm_then_rope_per_head() {
        let mut rng = StdRng::seed_from_u64(15);
        for (hd, n_heads) in [(2, 1), (10, 3), (34, 2), (256, 3), (74, 1)] {
            let x = rand_vec(hd * n_heads, 3.0, &mut rng);
            let w = rand_vec(hd, 2.0, &mut rng);
            let ang = rand_vec(hd / 2, 3.0, &mut rng);
            let c: Vec<f32> = ang.iter().map(|a| a.cos()).collect();
            let s: Vec<f32> = ang.iter().map(|a| a.sin()).collect();
            for (with_norm, with_rope) in
                [(true, true), (true, false), (false, true), (false, false)]
            {
                let norm = with_norm.then_some((&w[..], 1e-6f32));
                let rope = with_rope.then_some((&c[..], &s[..]));
                let mut want = x.clone();
                for head in want.chunks_exact_mut(hd) {
                    if let Some((w, eps)) = norm {
                        rms_norm_inplace(head, w, eps);
                    }
                    if let Some((c, s)) = rope {
                        rope_neox(head, c, s);
                    }
                }
                let case = format!("hd={hd} heads={n_heads} norm={with_norm} rope={with_rope}");
                for isa in supported() {
                    let mut got = vec![f32::NAN; x.len()];
                    heads_norm_rope_with(isa, &x, hd, norm, rope, &mut got);
                    assert_eq!(got, want, "{isa} {case}");
                }
                let mut inplace = x.clone();
                heads_norm_rope_inplace(&mut inplace, hd, norm, rope);
                assert_eq!(inplace, want, "in place {case}");
            }
        }
    }

    /// residual_rms_norm = rms_norm_inplace(y), x += y, y = rms_norm(x) row by row, bit for
    /// bit on every path, at odd row lengths.
    #[test]
    fn residual_rms_norm_is_the_three_steps_per_row() {
        let mut rng = StdRng::seed_from_u64(16);
        for (n, rows) in [(1, 1), (17, 3), (100, 2), (768, 4), (1155, 1)] {
            let x = rand_vec(n * rows, 3.0, &mut rng);
            let y = rand_vec(n * rows, 5.0, &mut rng);
            let (wp, wn) = (rand_vec(n, 2.0, &mut rng), rand_vec(n, 2.0, &mut rng));
            let (mut wx, mut wy) = (x.clone(), y.clone());
            for (xr, yr) in wx.chunks_exact_mut(n).zip(wy.chunks_exact_mut(n)) {
                rms_norm_inplace(yr, &wp, 1e-6);
                xr.iter_mut().zip(yr.iter()).for_each(|(a, b)| *a += *b);
                rms_norm(xr, &wn, 1e-6, yr);
            }
            for isa in supported() {
                let (mut gx, mut gy) = (x.clone(), y.clone());
                residual_rms_norm_with(isa, &mut gx, &mut gy, &wp, &wn, 1e-6);
                assert_eq!((&gx, &gy), (&wx, &wy), "{isa} n={n} rows={rows}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "not whole heads")]
    fn heads_norm_rope_rejects_partial_heads() {
        let mut out = [0f32; 5];
        heads_norm_rope(&[0.0; 5], 2, None, None, &mut out);
    }

    #[test]
    fn l2_and_dot() {
        let mut x = [3.0f32, 4.0];
        assert_eq!(dot(&x, &x), 25.0);
        l2_normalize(&mut x);
        assert!((x[0] - 0.6).abs() < 1e-7 && (x[1] - 0.8).abs() < 1e-7);
        let mut z = [0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }

    #[test]
    fn dot_and_l2_accurate_and_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(14);
        for n in SIZES {
            let a = rand_vec(n, 1.0, &mut rng);
            let b = rand_vec(n, 1.0, &mut rng);
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let mag: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64 * *y as f64).abs())
                .sum();
            let scalar_dot = dot_with(Isa::Scalar, &a, &b);
            let mut scalar_l2 = a.clone();
            l2_normalize_with(Isa::Scalar, &mut scalar_l2);
            for isa in supported() {
                let got = dot_with(isa, &a, &b);
                assert_eq!(got.to_bits(), scalar_dot.to_bits(), "{isa} n={n} vs scalar");
                let got = got as f64;
                assert!(
                    (got - want).abs() <= 1e-6 * (mag + 1e-30),
                    "{isa} n={n}: {got} vs {want}"
                );
                let mut y = a.clone();
                l2_normalize_with(isa, &mut y);
                assert!(crate::same_bits(&y, &scalar_l2), "{isa} n={n} l2 vs scalar");
                if n > 0 {
                    let norm: f64 = y.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                    assert!((norm - 1.0).abs() < 1e-6, "{isa} n={n}");
                }
            }
        }
    }
}
