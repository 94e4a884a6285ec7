//! x86 implementations of [`Int8Isa`]: AVX-512 VNNI (zmm), AVX-VNNI (ymm), and AVX2 without
//! VNNI (`vpmaddubsw` with the sign trick).

use super::int8::{block_scale, Int8Isa};
use crate::quant::QK;
use std::arch::x86_64::*;

/// `vpdpbusd` on zmm: 16 columns per vector.
pub(crate) struct Avx512Vnni;

// SAFETY: used only inside `with_avx512` (AVX-512 F/BW/VL/VNNI present); weight pointers are
// 64-byte aligned (panel blocks are multiples of 64 bytes in an aligned buffer).
unsafe impl Int8Isa for Avx512Vnni {
    const VL: usize = 16;
    type I = __m512i;
    type F = __m512;
    type W = __m512i;
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> __m512i {
        unsafe { _mm512_load_si512(p.cast()) }
    }
    #[inline(always)]
    unsafe fn seed(xsum: i32) -> __m512i {
        unsafe { _mm512_set1_epi32(-128 * xsum) }
    }
    #[inline(always)]
    unsafe fn dot4(acc: __m512i, w: __m512i, x4: *const i8) -> __m512i {
        unsafe { _mm512_dpbusd_epi32(acc, w, _mm512_set1_epi32(x4.cast::<i32>().read_unaligned())) }
    }
    #[inline(always)]
    unsafe fn add_i(a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn fzero() -> __m512 {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn epilogue(acc: __m512, isum: __m512i, dx: f32, dw: *const f32) -> __m512 {
        unsafe {
            let t = _mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dx));
            _mm512_fmadd_ps(t, _mm512_load_ps(dw), acc)
        }
    }
    #[inline(always)]
    unsafe fn store_f(p: *mut f32, v: __m512) {
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, q: *mut i8) -> (f32, i32) {
        unsafe {
            let v0 = _mm512_loadu_ps(x);
            let v1 = _mm512_loadu_ps(x.add(16));
            let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            let (d, id) = block_scale(amax);
            let vid = _mm512_set1_ps(id);
            let i0 = _mm512_cvtps_epi32(round_away512(_mm512_mul_ps(v0, vid)));
            let i1 = _mm512_cvtps_epi32(round_away512(_mm512_mul_ps(v1, vid)));
            // |i| <= 127, so the saturating packs are exact. Per 128-bit lane L they leave
            // i0[4L..4L+4] in dword 4L and i1[4L..4L+4] in dword 4L+1; one dword permute puts
            // the 32 bytes in order for a single store. (The store form of `vpmovdb`, two per
            // block, measured as the quantizer's bottleneck on Zen 4.)
            let p = _mm512_packs_epi16(_mm512_packs_epi32(i0, i1), _mm512_setzero_si512());
            let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
            let p = _mm512_permutexvar_epi32(idx, p);
            _mm256_storeu_si256(q.cast(), _mm512_castsi512_si256(p));
            (d, _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1)))
        }
    }
}

/// Round half away from zero (C `roundf`), exactly.
#[inline(always)]
unsafe fn round_away512(v: __m512) -> __m512 {
    unsafe {
        let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
        let frac = _mm512_abs_ps(_mm512_sub_ps(v, t)); // exact
        let half = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(frac, _mm512_set1_ps(0.5));
        let sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(i32::MIN));
        let one = _mm512_castsi512_ps(_mm512_or_si512(
            sign,
            _mm512_castps_si512(_mm512_set1_ps(1.0)),
        ));
        _mm512_mask_add_ps(t, half, t, one)
    }
}

/// Round half away from zero (C `roundf`), exactly.
#[inline(always)]
unsafe fn round_away256(v: __m256) -> __m256 {
    unsafe {
        let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
        let signbit = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
        let frac = _mm256_andnot_ps(signbit, _mm256_sub_ps(v, t)); // |v - t|, exact
        let half = _mm256_cmp_ps::<_CMP_GE_OQ>(frac, _mm256_set1_ps(0.5));
        let one = _mm256_or_ps(_mm256_and_ps(v, signbit), _mm256_set1_ps(1.0));
        _mm256_add_ps(t, _mm256_and_ps(half, one))
    }
}

/// AVX2 quantizer shared by both ymm paths.
#[inline(always)]
unsafe fn quantize_block_avx2(x: *const f32, q: *mut i8) -> (f32, i32) {
    unsafe {
        let v: [__m256; 4] = crate::simd::array!(4, |i| _mm256_loadu_ps(x.add(8 * i)));
        let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        let m = _mm256_max_ps(
            _mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
            _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)),
        );
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        let (d, id) = block_scale(amax);
        let vid = _mm256_set1_ps(id);
        let i: [__m256i; 4] = crate::simd::array!(4, |k| _mm256_cvtps_epi32(round_away256(
            _mm256_mul_ps(v[k], vid)
        )));
        // |i| <= 127: the saturating packs are exact; fix the lane interleave afterwards.
        let a = _mm256_packs_epi32(i[0], i[1]);
        let b = _mm256_packs_epi32(i[2], i[3]);
        let c = _mm256_packs_epi16(a, b);
        let c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(q.cast(), c);
        let s = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
        let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        (d, _mm_cvtsi128_si32(s))
    }
}

/// `vpdpbusd` on ymm (AVX-VNNI): 8 columns per vector.
pub(crate) struct AvxVnni;

// SAFETY: used only inside `with_avx2_vnni` (AVX2+FMA+F16C+AVX-VNNI present); weight pointers
// are 32-byte aligned.
unsafe impl Int8Isa for AvxVnni {
    const VL: usize = 8;
    type I = __m256i;
    type F = __m256;
    type W = __m256i;
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> __m256i {
        unsafe { _mm256_load_si256(p.cast()) }
    }
    #[inline(always)]
    unsafe fn seed(xsum: i32) -> __m256i {
        unsafe { _mm256_set1_epi32(-128 * xsum) }
    }
    #[inline(always)]
    unsafe fn dot4(acc: __m256i, w: __m256i, x4: *const i8) -> __m256i {
        unsafe {
            _mm256_dpbusd_avx_epi32(acc, w, _mm256_set1_epi32(x4.cast::<i32>().read_unaligned()))
        }
    }
    #[inline(always)]
    unsafe fn add_i(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn fzero() -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn epilogue(acc: __m256, isum: __m256i, dx: f32, dw: *const f32) -> __m256 {
        unsafe {
            let t = _mm256_mul_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dx));
            _mm256_fmadd_ps(t, _mm256_load_ps(dw), acc)
        }
    }
    #[inline(always)]
    unsafe fn store_f(p: *mut f32, v: __m256) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, q: *mut i8) -> (f32, i32) {
        unsafe { quantize_block_avx2(x, q) }
    }
}

/// AVX2 without VNNI: `vpmaddubsw(|w|, sign(x, w))` then `vpmaddwd` with ones. Pair sums are at
/// most 2·128·127 < 2^15, so nothing saturates (activations are in [-127, 127]).
pub(crate) struct Avx2Maddubs;

// SAFETY: used only inside `with_avx2` (AVX2+FMA+F16C present); weight pointers 32-byte aligned.
unsafe impl Int8Isa for Avx2Maddubs {
    const VL: usize = 8;
    type I = __m256i;
    type F = __m256;
    /// (|w| as u8, w as i8)
    type W = (__m256i, __m256i);
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> (__m256i, __m256i) {
        unsafe {
            let w = _mm256_xor_si256(_mm256_load_si256(p.cast()), _mm256_set1_epi8(i8::MIN));
            (_mm256_abs_epi8(w), w)
        }
    }
    #[inline(always)]
    unsafe fn seed(_xsum: i32) -> __m256i {
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    unsafe fn dot4(acc: __m256i, w: (__m256i, __m256i), x4: *const i8) -> __m256i {
        unsafe {
            let x = _mm256_set1_epi32(x4.cast::<i32>().read_unaligned());
            let p16 = _mm256_maddubs_epi16(w.0, _mm256_sign_epi8(x, w.1));
            _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
        }
    }
    #[inline(always)]
    unsafe fn add_i(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn fzero() -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn epilogue(acc: __m256, isum: __m256i, dx: f32, dw: *const f32) -> __m256 {
        unsafe { AvxVnni::epilogue(acc, isum, dx, dw) }
    }
    #[inline(always)]
    unsafe fn store_f(p: *mut f32, v: __m256) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, q: *mut i8) -> (f32, i32) {
        unsafe { quantize_block_avx2(x, q) }
    }
}

const _: () = assert!(QK == 32);
