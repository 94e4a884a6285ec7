//! Row kernels of the BERT-style encoders: LayerNorm with bias, exact (erf) GELU, SiLU·up
//! (SwiGLU), and an in-place vector add (bias / residual).
//!
//! Like [`ops`](crate::ops), each public function runs the [`active_isa`](crate::active_isa)
//! path and has a `*_with` twin taking an explicit [`Isa`]. Every result is bit-identical on
//! every path: LayerNorm's reductions (mean, deviations) run on [`WIDE`] virtual lanes in one
//! canonical order.

use crate::simd::{dispatch_f32, exp, vec_len, wadd, wfma, whsum, wload, F32s, Scalar, WIDE};
use crate::Isa;

/// out = (x − mean(x)) / sqrt(var(x) + eps) · weight + bias (PyTorch `nn.LayerNorm`: biased
/// variance, computed in two passes: a mean, then deviations from it with the corrected
/// two-pass formula).
pub fn layer_norm(x: &[f32], weight: &[f32], bias: &[f32], eps: f32, out: &mut [f32]) {
    layer_norm_with(crate::active_isa(), x, weight, bias, eps, out)
}

/// In-place [`layer_norm`].
pub fn layer_norm_inplace(x: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    check_ln(x.len(), weight, bias);
    let (n, p) = (x.len(), x.as_mut_ptr());
    dispatch_f32!(
        crate::active_isa(),
        layer_norm_body(p, weight.as_ptr(), bias.as_ptr(), eps, p, n)
    )
}

/// [`layer_norm`] on an explicit path.
pub fn layer_norm_with(
    isa: Isa,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    eps: f32,
    out: &mut [f32],
) {
    check_ln(x.len(), weight, bias);
    assert_eq!(x.len(), out.len(), "layer_norm: x and out lengths differ");
    let (n, o) = (x.len(), out.as_mut_ptr());
    dispatch_f32!(
        isa,
        layer_norm_body(x.as_ptr(), weight.as_ptr(), bias.as_ptr(), eps, o, n)
    )
}

fn check_ln(n: usize, weight: &[f32], bias: &[f32]) {
    assert!(
        weight.len() == n && bias.len() == n,
        "layer_norm: x, weight and bias lengths differ"
    );
}

/// # Safety
/// `S` supported; x, w, b, out valid for n elements (out may equal x).
#[inline(always)]
unsafe fn layer_norm_body<S: F32s>(
    x: *const f32,
    w: *const f32,
    b: *const f32,
    eps: f32,
    out: *mut f32,
    n: usize,
) {
    if n == 0 {
        return;
    }
    // SAFETY: per the function contract.
    unsafe {
        // the reductions: WIDE virtual lanes over whole chunks, the fixed tree, then the rest
        // in order (the same order on every path)
        let nw = n - n % WIDE;
        // mean
        let mut acc = S::wsplat(0.0);
        for i in (0..nw).step_by(WIDE) {
            acc = wadd::<S>(acc, wload::<S>(x.add(i)));
        }
        let mut sum = whsum::<S>(acc);
        for i in nw..n {
            sum += *x.add(i);
        }
        let m0 = sum / n as f32;
        // deviations from m0: Σd corrects the rounding of m0 (the corrected two-pass
        // algorithm), Σd² gives the variance
        let mv = S::wsplat(m0);
        let (mut acc_d, mut acc_d2) = (S::wsplat(0.0), S::wsplat(0.0));
        for i in (0..nw).step_by(WIDE) {
            let mut d = wload::<S>(x.add(i));
            for (d, m) in d.as_mut().iter_mut().zip(mv.as_ref()) {
                *d = S::sub(*d, *m);
            }
            acc_d = wadd::<S>(acc_d, d);
            acc_d2 = wfma::<S>(d, d, acc_d2);
        }
        let (mut sd, mut ss) = (whsum::<S>(acc_d), whsum::<S>(acc_d2));
        for i in nw..n {
            let d = *x.add(i) - m0;
            sd += d;
            ss = d.mul_add(d, ss);
        }
        let r = sd / n as f32;
        let mean = m0 + r;
        let nv = vec_len::<S>(n);
        let mv = S::splat(mean);
        let var = (ss / n as f32 - r * r).max(0.0);
        let scale = 1.0 / (var + eps).sqrt();
        let sv = S::splat(scale);
        for i in (0..nv).step_by(S::LANES) {
            let y = S::mul(S::sub(S::load(x.add(i)), mv), sv);
            S::store(out.add(i), S::fma(y, S::load(w.add(i)), S::load(b.add(i))));
        }
        for i in nv..n {
            let y = (*x.add(i) - mean) * scale;
            *out.add(i) = y.mul_add(*w.add(i), *b.add(i));
        }
    }
}

/// x = gelu(x) in place, the exact form 0.5·x·(1 + erf(x/√2)) (PyTorch `F.gelu`, Hugging Face
/// `hidden_act: "gelu"`), not the tanh approximation of [`gelu_tanh_mul`](crate::gelu_tanh_mul).
///
/// Evaluated as 0.5·x·((1 + sign(x)) − sign(x)·erfc(|x|/√2)) with erfc(a) = t·exp(P(t) − a²),
/// t = 1/(1 + a/2) and P a degree-9 polynomial fitted (least squares, a in [0, 9.3]) to
/// ln(erfc(a)/t) + a²: relative error of erfc below 3e-7 in exact arithmetic, ~2e-6 in f32
/// for |x| < 5.6 (the rounding of the exp argument), and no cancellation for x ≪ 0.
pub fn gelu_erf_inplace(x: &mut [f32]) {
    gelu_erf_inplace_with(crate::active_isa(), x)
}

/// [`gelu_erf_inplace`] on an explicit path.
pub fn gelu_erf_inplace_with(isa: Isa, x: &mut [f32]) {
    let (n, p) = (x.len(), x.as_mut_ptr());
    dispatch_f32!(isa, gelu_erf_body(p, std::ptr::null(), n))
}

/// x = gelu(x + bias) in place (a bias row, then [`gelu_erf_inplace`]'s exact GELU), in one
/// pass; the same bits as [`add_inplace`] followed by [`gelu_erf_inplace`].
///
/// Panics if the lengths differ.
pub fn add_gelu_erf_inplace(x: &mut [f32], bias: &[f32]) {
    add_gelu_erf_inplace_with(crate::active_isa(), x, bias)
}

/// [`add_gelu_erf_inplace`] on an explicit path.
pub fn add_gelu_erf_inplace_with(isa: Isa, x: &mut [f32], bias: &[f32]) {
    assert_eq!(x.len(), bias.len(), "add_gelu_erf_inplace: lengths differ");
    let (n, p) = (x.len(), x.as_mut_ptr());
    dispatch_f32!(isa, gelu_erf_body(p, bias.as_ptr(), n))
}

/// P(t), lowest degree first (see [`gelu_erf_inplace`]).
const ERFC_P: [f32; 10] = [
    -1.265_466_1,
    0.999_082_9,
    0.382_029_6,
    0.060_361_4,
    -0.085_746_97,
    0.105_123_62,
    -0.946_800_2,
    1.364_849_8,
    -0.777_685_6,
    0.164_251_86,
];

/// gelu_erf(x) for one vector.
#[inline(always)]
unsafe fn gelu_erf_v<S: F32s>(x: S::V) -> S::V {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        let z = S::mul(x, S::splat(std::f32::consts::FRAC_1_SQRT_2));
        let a = S::max(z, S::sub(S::splat(0.0), z));
        let t = S::div(S::splat(1.0), S::fma(a, S::splat(0.5), S::splat(1.0)));
        let mut p = S::splat(ERFC_P[9]);
        for c in ERFC_P[..9].iter().rev() {
            p = S::fma(p, t, S::splat(*c));
        }
        let erfc = S::mul(t, exp::<S>(S::sub(p, S::mul(a, a))));
        // sign(z) ∈ {-1, 0, 1} (|z| < 1e-30 gives a fraction, where erf(|z|) ≈ 0 anyway)
        let sign = S::min(
            S::max(S::mul(z, S::splat(1e30)), S::splat(-1.0)),
            S::splat(1.0),
        );
        // 1 + erf(z) = (1 + sign) − sign·erfc: exactly erfc for z < 0 (no cancellation)
        let one_plus_erf = S::fma(
            S::sub(S::splat(0.0), sign),
            erfc,
            S::add(S::splat(1.0), sign),
        );
        S::mul(S::mul(x, S::splat(0.5)), one_plus_erf)
    }
}

/// x = gelu(x), or gelu(x + b) if `b` is not null.
///
/// # Safety
/// `S` supported; x (and b unless null) valid for n elements.
#[inline(always)]
unsafe fn gelu_erf_body<S: F32s>(x: *mut f32, b: *const f32, n: usize) {
    // SAFETY: per the function contract.
    unsafe {
        let nv = vec_len::<S>(n);
        if b.is_null() {
            for i in (0..nv).step_by(S::LANES) {
                S::store(x.add(i), gelu_erf_v::<S>(S::load(x.add(i))));
            }
            for i in nv..n {
                *x.add(i) = gelu_erf_v::<Scalar>(*x.add(i));
            }
        } else {
            for i in (0..nv).step_by(S::LANES) {
                let y = S::add(S::load(x.add(i)), S::load(b.add(i)));
                S::store(x.add(i), gelu_erf_v::<S>(y));
            }
            for i in nv..n {
                *x.add(i) = gelu_erf_v::<Scalar>(*x.add(i) + *b.add(i));
            }
        }
    }
}

/// out = silu(gate) · up with silu(g) = g / (1 + exp(−g)) (SwiGLU, as in nomic-bert's FFN).
pub fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    silu_mul_with(crate::active_isa(), gate, up, out)
}

/// [`silu_mul`] on an explicit path.
pub fn silu_mul_with(isa: Isa, gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(
        gate.len() == up.len() && gate.len() == out.len(),
        "silu_mul: gate, up and out lengths differ"
    );
    let (n, o) = (gate.len(), out.as_mut_ptr());
    dispatch_f32!(isa, silu_body(gate.as_ptr(), up.as_ptr(), o, n))
}

/// silu(g) · u for one vector.
#[inline(always)]
unsafe fn silu_v<S: F32s>(g: S::V, u: S::V) -> S::V {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        let e = exp::<S>(S::sub(S::splat(0.0), g));
        S::mul(S::div(g, S::add(e, S::splat(1.0))), u)
    }
}

/// # Safety
/// `S` supported; pointers valid for n elements.
#[inline(always)]
unsafe fn silu_body<S: F32s>(g: *const f32, u: *const f32, out: *mut f32, n: usize) {
    // SAFETY: per the function contract.
    unsafe {
        let nv = vec_len::<S>(n);
        for i in (0..nv).step_by(S::LANES) {
            S::store(
                out.add(i),
                silu_v::<S>(S::load(g.add(i)), S::load(u.add(i))),
            );
        }
        for i in nv..n {
            *out.add(i) = silu_v::<Scalar>(*g.add(i), *u.add(i));
        }
    }
}

/// x += y element-wise (a bias row, or a residual).
pub fn add_inplace(x: &mut [f32], y: &[f32]) {
    add_inplace_with(crate::active_isa(), x, y)
}

/// [`add_inplace`] on an explicit path.
pub fn add_inplace_with(isa: Isa, x: &mut [f32], y: &[f32]) {
    assert_eq!(x.len(), y.len(), "add_inplace: lengths differ");
    let (n, p) = (x.len(), x.as_mut_ptr());
    dispatch_f32!(isa, add_body(p, y.as_ptr(), p, n))
}

/// out = x + y element-wise (e.g. a row plus its bias, copied out of a wider row in the same
/// pass); the same bits as copying x to out, then [`add_inplace`].
///
/// Panics if the lengths differ.
pub fn add(x: &[f32], y: &[f32], out: &mut [f32]) {
    add_with(crate::active_isa(), x, y, out)
}

/// [`add`] on an explicit path.
pub fn add_with(isa: Isa, x: &[f32], y: &[f32], out: &mut [f32]) {
    assert!(
        x.len() == y.len() && x.len() == out.len(),
        "add: x, y and out lengths differ"
    );
    let (n, o) = (x.len(), out.as_mut_ptr());
    dispatch_f32!(isa, add_body(x.as_ptr(), y.as_ptr(), o, n))
}

/// out = x + y (out may be x).
///
/// # Safety
/// `S` supported; x, y and out valid for n elements; out is x or overlaps neither.
#[inline(always)]
pub(crate) unsafe fn add_body<S: F32s>(x: *const f32, y: *const f32, out: *mut f32, n: usize) {
    // SAFETY: per the function contract.
    unsafe {
        let nv = vec_len::<S>(n);
        for i in (0..nv).step_by(S::LANES) {
            S::store(out.add(i), S::add(S::load(x.add(i)), S::load(y.add(i))));
        }
        for i in nv..n {
            *out.add(i) = *x.add(i) + *y.add(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn supported() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported())
    }

    fn rand_vec(n: usize, scale: f32, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
    }

    /// Odd sizes that exercise the vector body, the scalar tail and both together.
    const SIZES: [usize; 12] = [0, 1, 7, 15, 16, 17, 33, 100, 384, 769, 1023, 1537];

    /// erf(x) in f64: Taylor series for |x| < 3 (error < 1e-11 after cancellation), a continued
    /// fraction for erfc beyond.
    fn erf64(x: f64) -> f64 {
        let a = x.abs();
        let r = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = exp(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
        };
        r.copysign(x)
    }

    #[test]
    fn erf_reference_is_right() {
        // values from tables of erf
        for (x, want) in [
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.5, 0.999_999_256_901_627_7),
        ] {
            assert!((erf64(x) - want).abs() < 1e-14, "erf({x}) = {}", erf64(x));
            assert!((erf64(-x) + want).abs() < 1e-14);
        }
    }

    #[test]
    fn layer_norm_accurate_and_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(21);
        for n in SIZES.into_iter().filter(|&n| n > 0) {
            // an offset mean, as in real residual streams
            let x: Vec<f32> = rand_vec(n, 3.0, &mut rng).iter().map(|v| v + 5.0).collect();
            let w = rand_vec(n, 2.0, &mut rng);
            let b = rand_vec(n, 1.0, &mut rng);
            let mean = x.iter().map(|v| *v as f64).sum::<f64>() / n as f64;
            let var = x.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let inv = 1.0 / (var + 1e-12).sqrt();
            let mut scalar = vec![0f32; n];
            layer_norm_with(Isa::Scalar, &x, &w, &b, 1e-12, &mut scalar);
            for isa in supported() {
                let mut out = vec![f32::NAN; n];
                layer_norm_with(isa, &x, &w, &b, 1e-12, &mut out);
                for i in 0..n {
                    let want = (x[i] as f64 - mean) * inv * w[i] as f64 + b[i] as f64;
                    assert!(
                        (out[i] as f64 - want).abs() <= 2e-6 * (1.0 + want.abs()),
                        "{isa} n={n} i={i}: {} vs {want}",
                        out[i]
                    );
                }
                assert!(crate::same_bits(&out, &scalar), "{isa} vs scalar n={n}");
                let mut inplace = x.clone();
                layer_norm_inplace(&mut inplace, &w, &b, 1e-12);
                let mut active = vec![0f32; n];
                layer_norm(&x, &w, &b, 1e-12, &mut active);
                assert!(crate::same_bits(&inplace, &active), "in place n={n}");
            }
        }
    }

    #[test]
    fn layer_norm_of_a_constant_row_is_the_bias() {
        let x = [4.0f32; 37];
        let (w, b) = ([3.0f32; 37], [0.25f32; 37]);
        for isa in supported() {
            let mut out = [0f32; 37];
            layer_norm_with(isa, &x, &w, &b, 1e-12, &mut out);
            assert_eq!(out, b, "{isa}");
        }
    }

    #[test]
    fn gelu_erf_values() {
        // torch.nn.functional.gelu(x) (approximate="none")
        let x = [-5.0f32, -3.0, -1.0, -0.1, 0.0, 0.5, 1.0, 2.0, 10.0];
        let want = [
            -1.433_257_9e-6,
            -0.004_049_694,
            -0.158_655_25,
            -0.046_017_22,
            0.0,
            0.345_731_23,
            0.841_344_7,
            1.954_499_7,
            10.0,
        ];
        let mut y = x;
        gelu_erf_inplace(&mut y);
        for i in 0..x.len() {
            assert!(
                (y[i] - want[i]).abs() <= 1e-6 * want[i].abs().max(1e-3),
                "gelu({}) = {} vs {}",
                x[i],
                y[i],
                want[i]
            );
        }
    }

    #[test]
    fn gelu_erf_accurate_and_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(22);
        for n in SIZES {
            let mut x = rand_vec(n, 8.0, &mut rng);
            if n > 4 {
                x[0] = 0.0;
                x[1] = -60.0;
                x[2] = 60.0;
                x[3] = 1e-35;
            }
            let mut want = x.clone();
            gelu_erf_inplace_with(Isa::Scalar, &mut want);
            for (xi, got) in x.iter().zip(&want) {
                let v = *xi as f64;
                let r = 0.5 * v * (1.0 + erf64(v / std::f64::consts::SQRT_2));
                // relative for x < 0 (the erfc tail, ~2e-6 from the f32 exp argument), absolute
                // (in units of |x|) for x ≥ 0
                let tol = 3e-6 * r.abs() + 3e-7 * v.abs() + 1e-37;
                assert!((*got as f64 - r).abs() <= tol, "gelu({v}) {got} vs {r}");
            }
            for isa in supported() {
                let mut got = x.clone();
                gelu_erf_inplace_with(isa, &mut got);
                assert!(crate::same_bits(&got, &want), "{isa} n={n}");
            }
        }
    }

    #[test]
    fn add_is_copy_then_add_inplace_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(25);
        for n in SIZES {
            let x = rand_vec(n, 8.0, &mut rng);
            let y = rand_vec(n, 2.0, &mut rng);
            let mut want = x.clone();
            add_inplace_with(Isa::Scalar, &mut want, &y);
            for (a, (b, w)) in x.iter().zip(y.iter().zip(&want)) {
                assert_eq!(a + b, *w);
            }
            for isa in supported() {
                let mut got = vec![f32::NAN; n];
                add_with(isa, &x, &y, &mut got);
                assert!(crate::same_bits(&got, &want), "{isa} n={n}");
                let mut inplace = x.clone();
                add_inplace_with(isa, &mut inplace, &y);
                assert!(crate::same_bits(&inplace, &want), "{isa} n={n} in place");
            }
        }
    }

    #[test]
    fn add_gelu_erf_is_add_then_gelu_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(24);
        for n in SIZES {
            let x = rand_vec(n, 8.0, &mut rng);
            let b = rand_vec(n, 2.0, &mut rng);
            let mut want = x.clone();
            add_inplace_with(Isa::Scalar, &mut want, &b);
            gelu_erf_inplace_with(Isa::Scalar, &mut want);
            for isa in supported() {
                let mut got = x.clone();
                add_gelu_erf_inplace_with(isa, &mut got, &b);
                assert!(crate::same_bits(&got, &want), "{isa} n={n}");
            }
        }
    }

    #[test]
    fn silu_mul_accurate_and_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(23);
        for n in SIZES {
            let mut g = rand_vec(n, 12.0, &mut rng);
            if n > 3 {
                g[0] = 0.0;
                g[1] = -100.0;
                g[2] = 100.0;
            }
            let u = rand_vec(n, 3.0, &mut rng);
            let mut want = vec![0f32; n];
            silu_mul_with(Isa::Scalar, &g, &u, &mut want);
            for i in 0..n {
                let x = g[i] as f64;
                let r = x / (1.0 + (-x).exp()) * u[i] as f64;
                let tol = 3e-7 * (1.0 + x.abs()) * r.abs() + 1e-30;
                assert!(
                    (want[i] as f64 - r).abs() <= tol,
                    "silu({x}) {} vs {r}",
                    want[i]
                );
            }
            for isa in supported() {
                let mut out = vec![f32::NAN; n];
                silu_mul_with(isa, &g, &u, &mut out);
                assert!(crate::same_bits(&out, &want), "{isa} n={n}");
            }
        }
    }

    #[test]
    fn add_inplace_bit_identical_on_all_paths() {
        let mut rng = StdRng::seed_from_u64(24);
        for n in SIZES {
            let x = rand_vec(n, 5.0, &mut rng);
            let y = rand_vec(n, 5.0, &mut rng);
            let want: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
            for isa in supported() {
                let mut got = x.clone();
                add_inplace_with(isa, &mut got, &y);
                assert!(crate::same_bits(&got, &want), "{isa} n={n}");
            }
        }
    }
}
