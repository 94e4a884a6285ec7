//! x86 implementations of [`Int8Isa`]: AVX-512 VNNI (zmm), AVX-VNNI (ymm), and AVX2 without
//! VNNI (`vpmaddubsw` with the sign trick).

use super::int8::{block_scale, quantize_each, Int8Isa};
use crate::quant::QK;
use std::arch::x86_64::*;

/// `vpdpbusd` on zmm: 16 columns per vector.
pub(crate) struct Avx512Vnni;

// SAFETY: used only inside `with_avx512`/`with_avx512_bf16` (AVX-512 F/BW/VL/VNNI present); weight pointers are
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
            let i0 = round_away512(_mm512_mul_ps(v0, vid));
            let i1 = round_away512(_mm512_mul_ps(v1, vid));
            store_block512(i0, i1, q);
            (d, _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1)))
        }
    }
    #[inline(always)]
    unsafe fn quantize_blocks(x: *const f32, q: *mut i8, d: *mut f32, sum: *mut i32, n: usize) {
        let n16 = n - n % 16;
        // SAFETY: per the trait contract (n blocks at x, q, d, sum).
        unsafe {
            for b in (0..n16).step_by(16) {
                quantize_16_blocks(x.add(b * QK), q.add(b * QK), d.add(b), sum.add(b));
            }
            quantize_each::<Self>(
                x.add(n16 * QK),
                q.add(n16 * QK),
                d.add(n16),
                sum.add(n16),
                n - n16,
            );
        }
    }
}

/// 0.5 − 2⁻²⁵, the largest f32 below one half.
const BELOW_HALF: f32 = 0.499_999_97;

/// After [`reduce16`]'s shuffles, lane 4j + m holds vector 4m + j's value (a 4×4 transpose,
/// its own inverse): the permute that puts vector k's value in lane k.
const REDUCE16_ORDER: [i32; 16] = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];

/// Reduce each of 16 vectors to one value with the lane-wise operation `op` (exact and
/// order-free: max of |x|, or integer add), returned as one vector whose lane k is vector k's.
/// Four levels of pairwise shuffles (256-bit halves, 128-bit quarters, then pairs and single
/// lanes within quarters), 15 `op`s and 30 shuffles for 16 vectors, instead of 4 of each per
/// vector reduced alone; one final permute puts the blocks in order.
#[inline(always)]
unsafe fn reduce16(v: [__m512; 16], op: impl Fn(__m512, __m512) -> __m512) -> __m512 {
    unsafe {
        let l1: [__m512; 8] = crate::simd::array!(8, |i| {
            let (a, b) = (v[2 * i], v[2 * i + 1]);
            // [a.q0 a.q1 b.q0 b.q1] op [a.q2 a.q3 b.q2 b.q3]
            op(
                _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b),
                _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b),
            )
        });
        let l2: [__m512; 4] = crate::simd::array!(4, |i| {
            let (a, b) = (l1[2 * i], l1[2 * i + 1]);
            // [a.q0 a.q2 b.q0 b.q2] op [a.q1 a.q3 b.q1 b.q3]
            op(
                _mm512_shuffle_f32x4::<0b10_00_10_00>(a, b),
                _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b),
            )
        });
        let l3: [__m512; 2] = crate::simd::array!(2, |i| {
            let (a, b) = (l2[2 * i], l2[2 * i + 1]);
            // per quarter: [a0 a1 b0 b1] op [a2 a3 b2 b3]
            op(
                _mm512_shuffle_ps::<0b01_00_01_00>(a, b),
                _mm512_shuffle_ps::<0b11_10_11_10>(a, b),
            )
        });
        // per quarter: [a0 a2 b0 b2] op [a1 a3 b1 b3]
        let r = op(
            _mm512_shuffle_ps::<0b10_00_10_00>(l3[0], l3[1]),
            _mm512_shuffle_ps::<0b11_01_11_01>(l3[0], l3[1]),
        );
        _mm512_permutexvar_ps(_mm512_loadu_si512(REDUCE16_ORDER.as_ptr().cast()), r)
    }
}

/// 16 consecutive blocks at once, each exactly as [`Avx512Vnni::quantize_block`]: the two
/// per-block reductions (max |x| and Σq) run on all 16 blocks together ([`reduce16`]), and the
/// scales in one vector (`block_scale` lane-wise; the f16 rounding by `vcvtps2ph`, round to
/// nearest even as `half::f16::from_f32`).
///
/// # Safety
/// AVX-512 F/BW available; x valid for 16·32 floats, q for 16·32 bytes, d and sum for 16.
#[inline(always)]
unsafe fn quantize_16_blocks(x: *const f32, q: *mut i8, d: *mut f32, sum: *mut i32) {
    unsafe {
        let absmax: [__m512; 16] = crate::simd::array!(16, |k| {
            let v0 = _mm512_loadu_ps(x.add(k * QK));
            let v1 = _mm512_loadu_ps(x.add(k * QK + 16));
            _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1))
        });
        let amax = reduce16(absmax, |a, b| _mm512_max_ps(a, b));
        let dv = _mm512_div_ps(amax, _mm512_set1_ps(127.0));
        let nz = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(dv, _mm512_setzero_ps());
        let idv = _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0), dv);
        let d16 = _mm512_cvtph_ps(_mm512_cvtps_ph::<
            { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
        >(dv));
        _mm512_storeu_ps(d, d16);
        let mut ids = [0f32; 16];
        _mm512_storeu_ps(ids.as_mut_ptr(), idv);
        let sums: [__m512; 16] = crate::simd::array!(16, |k| {
            let vid = _mm512_set1_ps(ids[k]);
            let i0 = round_away512(_mm512_mul_ps(_mm512_loadu_ps(x.add(k * QK)), vid));
            let i1 = round_away512(_mm512_mul_ps(_mm512_loadu_ps(x.add(k * QK + 16)), vid));
            store_block512(i0, i1, q.add(k * QK));
            _mm512_castsi512_ps(_mm512_add_epi32(i0, i1))
        });
        let s = reduce16(sums, |a, b| {
            _mm512_castsi512_ps(_mm512_add_epi32(
                _mm512_castps_si512(a),
                _mm512_castps_si512(b),
            ))
        });
        _mm512_storeu_si512(sum.cast(), _mm512_castps_si512(s));
    }
}

/// Store the 32 int8 values i0 ‖ i1 (|i| ≤ 127, so the saturating packs are exact). Per
/// 128-bit lane L the packs leave i0[4L..4L+4] in dword 4L and i1[4L..4L+4] in dword 4L+1;
/// one dword permute puts the 32 bytes in order for a single store. (The store form of
/// `vpmovdb`, two per block, measured as the quantizer's bottleneck on Zen 4.)
#[inline(always)]
unsafe fn store_block512(i0: __m512i, i1: __m512i, q: *mut i8) {
    unsafe {
        let p = _mm512_packs_epi16(_mm512_packs_epi32(i0, i1), _mm512_setzero_si512());
        let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
        let p = _mm512_permutexvar_epi32(idx, p);
        _mm256_storeu_si256(q.cast(), _mm512_castsi512_si256(p));
    }
}

/// Round half away from zero (C `roundf`) to i32, exactly: trunc(v + copysign(0.5 − 2⁻²⁵, v)).
/// Adding just under a half rounds (to nearest even) to an integer boundary exactly when v's
/// fraction is at least one half; checked against `f32::round` for every f32 of magnitude at most
/// 128, the quantizer's range (|x·id| ≤ 127). Three instructions (sign select, add, truncating
/// convert) instead of seven with `vrndscaleps`.
#[inline(always)]
unsafe fn round_away512(v: __m512) -> __m512i {
    unsafe {
        let sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(i32::MIN));
        let h = _mm512_or_si512(sign, _mm512_set1_epi32(BELOW_HALF.to_bits() as i32));
        _mm512_cvttps_epi32(_mm512_add_ps(v, _mm512_castsi512_ps(h)))
    }
}

/// [`round_away512`] on ymm.
#[inline(always)]
unsafe fn round_away256(v: __m256) -> __m256i {
    unsafe {
        let sign = _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(i32::MIN));
        let h = _mm256_or_si256(sign, _mm256_set1_epi32(BELOW_HALF.to_bits() as i32));
        _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_castsi256_ps(h)))
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
        let i: [__m256i; 4] = crate::simd::array!(4, |k| round_away256(_mm256_mul_ps(v[k], vid)));
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
