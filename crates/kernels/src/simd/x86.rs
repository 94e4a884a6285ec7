//! AVX2 and AVX-512 implementations of [`F32s`], and the `#[target_feature]` trampolines.

use super::F32s;
use std::arch::x86_64::*;

/// Runs `f` in a function compiled with the AVX2 features.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` in a function compiled with scalar FMA (so `f32::mul_add` in the scalar reference
/// is one instruction instead of a libm call; results are identical either way).
///
/// # Safety
/// The CPU must support FMA.
#[target_feature(enable = "fma")]
pub(crate) unsafe fn with_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` in a function compiled with the AVX2 features plus AVX-VNNI.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI.
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub(crate) unsafe fn with_avx2_vnni<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` in a function compiled with the AVX-512 features.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` in a function compiled with the AVX-512 features plus AVX512_BF16.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI/BF16, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c")]
pub(crate) unsafe fn with_avx512_bf16<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// 8 f32 lanes in a ymm register.
#[derive(Clone, Copy)]
pub(crate) struct Avx2;

// SAFETY: only used inside `with_avx2`/`with_avx512` (the CPU has AVX2+FMA); pointers valid
// for 8 lanes per the trait contract.
unsafe impl F32s for Avx2 {
    const LANES: usize = 8;
    const REGS: usize = 16;
    type V = __m256;
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn round_even(v: __m256) -> __m256 {
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v) }
    }
    #[inline(always)]
    unsafe fn exp2i(n: __m256) -> __m256 {
        unsafe {
            let i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(i))
        }
    }
    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        unsafe {
            hsum128(_mm_add_ps(
                _mm256_castps256_ps128(v),
                _mm256_extractf128_ps::<1>(v),
            ))
        }
    }
    #[inline(always)]
    unsafe fn hmax(v: __m256) -> f32 {
        unsafe {
            hmax128(_mm_max_ps(
                _mm256_castps256_ps128(v),
                _mm256_extractf128_ps::<1>(v),
            ))
        }
    }
    #[inline(always)]
    unsafe fn bf16_odd(v: __m256) -> __m256 {
        unsafe { _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(-65536))) }
    }
    #[inline(always)]
    unsafe fn bf16_even(v: __m256) -> __m256 {
        unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_castps_si256(v))) }
    }
    type W = [__m256; 2];
    #[inline(always)]
    unsafe fn wsplat(x: f32) -> [__m256; 2] {
        unsafe { [_mm256_set1_ps(x); 2] }
    }
}

#[inline(always)]
unsafe fn hsum128(v: __m128) -> f32 {
    unsafe {
        let s = _mm_add_ps(v, _mm_movehl_ps(v, v));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

#[inline(always)]
unsafe fn hmax128(v: __m128) -> f32 {
    unsafe {
        let s = _mm_max_ps(v, _mm_movehl_ps(v, v));
        _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)))
    }
}

/// 16 f32 lanes in a zmm register.
#[derive(Clone, Copy)]
pub(crate) struct Avx512;

// SAFETY: only used inside `with_avx512`/`with_avx512_bf16` (the CPU has AVX-512F); pointers valid for 16 lanes
// per the trait contract.
unsafe impl F32s for Avx512 {
    const LANES: usize = 16;
    const REGS: usize = 32;
    type V = __m512;
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn round_even(v: __m512) -> __m512 {
        unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v) }
    }
    #[inline(always)]
    unsafe fn exp2i(n: __m512) -> __m512 {
        unsafe {
            let i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(i))
        }
    }
    #[inline(always)]
    unsafe fn hsum(v: __m512) -> f32 {
        unsafe {
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            Avx2::hsum(_mm256_add_ps(lo, hi))
        }
    }
    #[inline(always)]
    unsafe fn hmax(v: __m512) -> f32 {
        unsafe {
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            Avx2::hmax(_mm256_max_ps(lo, hi))
        }
    }
    #[inline(always)]
    unsafe fn bf16_odd(v: __m512) -> __m512 {
        unsafe {
            _mm512_castsi512_ps(_mm512_and_si512(
                _mm512_castps_si512(v),
                _mm512_set1_epi32(-65536),
            ))
        }
    }
    #[inline(always)]
    unsafe fn bf16_even(v: __m512) -> __m512 {
        unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_castps_si512(v))) }
    }
    type W = [__m512; 1];
    #[inline(always)]
    unsafe fn wsplat(x: f32) -> [__m512; 1] {
        unsafe { [_mm512_set1_ps(x)] }
    }
}
