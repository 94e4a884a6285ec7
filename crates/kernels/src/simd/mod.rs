//! A small f32 SIMD abstraction: kernels are written once, generic over [`F32s`], and
//! instantiated for [`Scalar`] (1 lane), AVX2 (8 lanes), AVX-512 (16 lanes) and NEON (4 lanes)
//! inside thin `#[target_feature]` entry points ([`on`]).
//!
//! Every operation is IEEE-exact per lane (add, mul, fma, div, sqrt, min/max, round), so an
//! element-wise kernel gives bit-identical results on every path. Reductions run on
//! [`F32s::W`], 16 *virtual lanes* on every path (one zmm, two ymm, four NEON q registers, or
//! 16 scalars) with one fixed combining tree ([`whsum`]), so they too are bit-identical on
//! every path (see the crate docs, "Reduction order").

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(target_arch = "aarch64")]
pub(crate) use neon::Neon;

use crate::Isa;

/// Operations on a vector of f32 lanes.
///
/// # Safety
/// Implementations use instructions the CPU may lack: callers must only use a type whose
/// [`F32s::ISA`] is supported (guaranteed by [`on`]). Pointer arguments must be valid for
/// `LANES` elements.
pub(crate) unsafe trait F32s: Copy {
    const LANES: usize;
    /// Vector registers of the path (register tiles are sized to fit them).
    const REGS: usize;
    type V: Copy;
    unsafe fn splat(x: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    /// a * b + c with one rounding.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    /// Round to the nearest integer, ties to even.
    unsafe fn round_even(v: Self::V) -> Self::V;
    /// 2^n for integral n in [-126, 127].
    unsafe fn exp2i(n: Self::V) -> Self::V;
    /// Sum of the lanes by folding halves: lane i += lane i + LANES/2, repeated down to one
    /// lane (the tree [`whsum`] continues).
    unsafe fn hsum(v: Self::V) -> f32;
    /// Maximum of the lanes.
    unsafe fn hmax(v: Self::V) -> f32;
    /// Each lane's bits as a pair of bf16 (bits 16..32 = the odd element, 0..16 = the even
    /// one): the odd element as an f32 (`bits & 0xffff_0000`).
    unsafe fn bf16_odd(v: Self::V) -> Self::V;
    /// As [`F32s::bf16_odd`], the even element (`bits << 16`).
    unsafe fn bf16_even(v: Self::V) -> Self::V;
    /// [`WIDE`] virtual lanes: `WIDE / LANES` vectors, lanes in memory order (vector r holds
    /// virtual lanes r·LANES..(r+1)·LANES).
    type W: Copy + AsRef<[Self::V]> + AsMut<[Self::V]>;
    /// Every virtual lane = x.
    unsafe fn wsplat(x: f32) -> Self::W;
}

/// Virtual lanes of every reduction ([`F32s::W`]): the AVX-512 width, so that path runs its
/// natural code and the others emulate it.
pub(crate) const WIDE: usize = 16;

/// Load [`WIDE`] values.
///
/// # Safety
/// `S` supported; p valid for WIDE elements.
#[inline(always)]
pub(crate) unsafe fn wload<S: F32s>(p: *const f32) -> S::W {
    // SAFETY: per the function contract.
    unsafe {
        let mut w = S::wsplat(0.0);
        for (r, v) in w.as_mut().iter_mut().enumerate() {
            *v = S::load(p.add(r * S::LANES));
        }
        w
    }
}

/// Lane-wise a + b.
///
/// # Safety
/// `S` supported.
#[inline(always)]
pub(crate) unsafe fn wadd<S: F32s>(mut a: S::W, b: S::W) -> S::W {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        for (x, y) in a.as_mut().iter_mut().zip(b.as_ref()) {
            *x = S::add(*x, *y);
        }
    }
    a
}

/// Lane-wise max (a > b ? a : b).
///
/// # Safety
/// `S` supported.
#[inline(always)]
pub(crate) unsafe fn wmax<S: F32s>(mut a: S::W, b: S::W) -> S::W {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        for (x, y) in a.as_mut().iter_mut().zip(b.as_ref()) {
            *x = S::max(*x, *y);
        }
    }
    a
}

/// Lane-wise a·b + c with one rounding.
///
/// # Safety
/// `S` supported.
#[inline(always)]
pub(crate) unsafe fn wfma<S: F32s>(a: S::W, b: S::W, mut c: S::W) -> S::W {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        for ((z, x), y) in c.as_mut().iter_mut().zip(a.as_ref()).zip(b.as_ref()) {
            *z = S::fma(*x, *y, *z);
        }
    }
    c
}

/// Sum of the [`WIDE`] virtual lanes, always by the same tree: fold halves (lane i += lane
/// i + 8, then i + 4, i + 2, i + 1). Registers fold first (virtual lanes 8 apart sit at the same
/// lane of registers WIDE/LANES/2 apart), then [`F32s::hsum`] folds within the register.
///
/// # Safety
/// `S` supported.
#[inline(always)]
pub(crate) unsafe fn whsum<S: F32s>(mut w: S::W) -> f32 {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        let v = w.as_mut();
        let mut n = v.len();
        while n > 1 {
            n /= 2;
            for i in 0..n {
                v[i] = S::add(v[i], v[i + n]);
            }
        }
        S::hsum(v[0])
    }
}

/// Maximum of the [`WIDE`] virtual lanes (same tree as [`whsum`]).
///
/// # Safety
/// `S` supported.
#[inline(always)]
pub(crate) unsafe fn whmax<S: F32s>(mut w: S::W) -> f32 {
    // SAFETY: lane arithmetic on a supported S.
    unsafe {
        let v = w.as_mut();
        let mut n = v.len();
        while n > 1 {
            n /= 2;
            for i in 0..n {
                v[i] = S::max(v[i], v[i + n]);
            }
        }
        S::hmax(v[0])
    }
}

/// The portable 1-lane implementation.
#[derive(Clone, Copy)]
pub(crate) struct Scalar;

// SAFETY: plain Rust arithmetic; pointers are valid for 1 element per the trait contract.
unsafe impl F32s for Scalar {
    const LANES: usize = 1;
    const REGS: usize = 64;
    type V = f32;
    #[inline(always)]
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> f32 {
        // SAFETY: caller guarantees p is valid.
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: f32) {
        // SAFETY: caller guarantees p is valid.
        unsafe { *p = v }
    }
    #[inline(always)]
    unsafe fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    unsafe fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    unsafe fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    unsafe fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    unsafe fn fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    unsafe fn max(a: f32, b: f32) -> f32 {
        // Same NaN-free semantics as maxps: b if either is NaN... inputs here are never NaN.
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn min(a: f32, b: f32) -> f32 {
        if a < b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn round_even(v: f32) -> f32 {
        v.round_ties_even()
    }
    #[inline(always)]
    unsafe fn exp2i(n: f32) -> f32 {
        f32::from_bits(((n as i32 + 127) << 23) as u32)
    }
    #[inline(always)]
    unsafe fn hsum(v: f32) -> f32 {
        v
    }
    #[inline(always)]
    unsafe fn hmax(v: f32) -> f32 {
        v
    }
    #[inline(always)]
    unsafe fn bf16_odd(v: f32) -> f32 {
        f32::from_bits(v.to_bits() & 0xffff_0000)
    }
    #[inline(always)]
    unsafe fn bf16_even(v: f32) -> f32 {
        f32::from_bits(v.to_bits() << 16)
    }
    type W = [f32; WIDE];
    #[inline(always)]
    unsafe fn wsplat(x: f32) -> [f32; WIDE] {
        [x; WIDE]
    }
}

/// Run `f` with the target features of `isa` enabled (so generic `F32s` code inside inlines
/// to that instruction set). `isa` must be supported; callers pass `isa.or_supported()`.
/// The closure must be `#[inline(always)]`, or the SIMD code inside is not inlined into the
/// `#[target_feature]` function and every intrinsic becomes a call.
#[inline(always)]
pub(crate) fn on<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    debug_assert!(isa.is_supported());
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the path (callers resolve it with `or_supported`).
        Isa::Avx512 => unsafe { x86::with_avx512(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512Bf16 => unsafe { x86::with_avx512_bf16(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2Vnni => unsafe { x86::with_avx2_vnni(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::with_avx2(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: FMA support was just checked (the detection result is cached by std).
        Isa::Scalar if std::arch::is_x86_feature_detected!("fma") => unsafe { x86::with_fma(f) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::NeonI8mm => unsafe { neon::with_i8mm(f) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::NeonDotprod => unsafe { neon::with_dotprod(f) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::Neon => unsafe { neon::with_neon(f) },
        _ => f(),
    }
}

/// `[e(0), e(1), ..., e(N-1)]` without closures: `std::array::from_fn` is not always inlined,
/// and a closure that is not inlined compiles SIMD intrinsics inside it as calls (it lacks the
/// caller's target features). `$n` must be at least 1.
macro_rules! array {
    ($n:expr, |$i:ident| $e:expr) => {{
        let mut a = [{
            let $i = 0usize;
            $e
        }; $n];
        let mut $i = 1usize;
        while $i < $n {
            a[$i] = $e;
            $i += 1;
        }
        a
    }};
}
pub(crate) use array;

/// Call the generic kernel `$f::<S>(args)` with `S` = the f32 SIMD type of `$isa` (resolved to a
/// supported path), inside that path's `#[target_feature]` trampoline.
macro_rules! dispatch_f32 {
    ($isa:expr, $f:ident($($arg:expr),* $(,)?)) => {{
        let isa = $crate::Isa::or_supported($isa);
        $crate::simd::on(isa, #[inline(always)] || match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `on` enabled AVX-512, which the CPU supports.
            $crate::Isa::Avx512 | $crate::Isa::Avx512Bf16 => unsafe { $f::<$crate::simd::Avx512>($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `on` enabled AVX2+FMA, which the CPU supports.
            $crate::Isa::Avx2 | $crate::Isa::Avx2Vnni => unsafe { $f::<$crate::simd::Avx2>($($arg),*) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: `on` enabled NEON, which every aarch64 CPU has.
            $crate::Isa::Neon | $crate::Isa::NeonDotprod | $crate::Isa::NeonI8mm => unsafe { $f::<$crate::simd::Neon>($($arg),*) },
            // SAFETY: the scalar type needs no CPU features.
            _ => unsafe { $f::<$crate::simd::Scalar>($($arg),*) },
        })
    }};
}
pub(crate) use dispatch_f32;

/// Generic-over-lanes exp(x) (Cephes-style: range reduction by ln 2, degree-6 polynomial),
/// ~1 ulp. Inputs are clamped to [-87, 88]: exp(-87) ≈ 1.6e-38 stands in for smaller results.
#[inline(always)]
pub(crate) unsafe fn exp<S: F32s>(x: S::V) -> S::V {
    // SAFETY: only lane arithmetic; S is supported per the trait contract.
    unsafe {
        let x = S::min(S::max(x, S::splat(-87.0)), S::splat(88.0));
        let n = S::round_even(S::mul(x, S::splat(std::f32::consts::LOG2_E)));
        let r = S::fma(n, S::splat(-0.693_359_4), x);
        let r = S::fma(n, S::splat(2.121_944_4e-4), r);
        let mut p = S::splat(1.987_569_1e-4);
        p = S::fma(p, r, S::splat(1.398_199_9e-3));
        p = S::fma(p, r, S::splat(8.333_452e-3));
        p = S::fma(p, r, S::splat(4.166_579_6e-2));
        p = S::fma(p, r, S::splat(1.666_666_5e-1));
        p = S::fma(p, r, S::splat(0.5));
        let r2 = S::mul(r, r);
        p = S::fma(p, r2, S::add(r, S::splat(1.0)));
        S::mul(p, S::exp2i(n))
    }
}

/// Hint the CPU to fetch the cache line holding `p` into L1 (`prefetcht0` / `prfm pldl1keep`). Never faults,
/// even for addresses past the end of an allocation.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint and never faults; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is a hint: it never faults and changes no register, flag or memory.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Hint the CPU to fetch the cache line holding `p` into L2 (`prefetcht1` / `prfm pldl2keep`). Never faults.
#[inline(always)]
pub(crate) fn prefetch_l2<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint and never faults; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p.cast())
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is a hint: it never faults and changes no register, flag or memory.
    unsafe {
        std::arch::asm!("prfm pldl2keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Length of the prefix of `n` elements covered by whole `S` vectors; kernels process the rest
/// with [`Scalar`] (bit-identical for element-wise work, since both run the same IEEE ops).
#[inline(always)]
pub(crate) fn vec_len<S: F32s>(n: usize) -> usize {
    n - n % S::LANES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp_all<S: F32s>(xs: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; xs.len()];
        let nv = vec_len::<S>(xs.len());
        for i in (0..nv).step_by(S::LANES) {
            // SAFETY: i + LANES <= len.
            unsafe {
                S::store(
                    out.as_mut_ptr().add(i),
                    exp::<S>(S::load(xs.as_ptr().add(i))),
                )
            }
        }
        for i in nv..xs.len() {
            // SAFETY: scalar lane arithmetic.
            out[i] = unsafe { exp::<Scalar>(xs[i]) };
        }
        out
    }

    #[test]
    fn exp_is_accurate_and_identical_on_all_paths() {
        let xs: Vec<f32> = (0..20_011).map(|i| -90.0 + i as f32 * 0.009).collect();
        let want = exp_all::<Scalar>(&xs);
        let mut max_rel = 0f64;
        for (x, y) in xs.iter().zip(&want) {
            let e = (*x as f64).clamp(-87.0, 88.0).exp();
            max_rel = max_rel.max(((*y as f64 - e) / e).abs());
        }
        assert!(max_rel < 3e-7, "exp max relative error {max_rel}");
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let got = on(
                isa,
                #[inline(always)]
                || match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 | Isa::Avx512Bf16 => exp_all::<Avx512>(&xs),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 | Isa::Avx2Vnni => exp_all::<Avx2>(&xs),
                    #[cfg(target_arch = "aarch64")]
                    Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => exp_all::<Neon>(&xs),
                    _ => exp_all::<Scalar>(&xs),
                },
            );
            assert!(crate::same_bits(&got, &want), "{isa}");
        }
    }
}
