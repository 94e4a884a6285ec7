//! NEON (AdvSIMD) implementation of [`F32s`], and the `#[target_feature]` trampolines of the
//! three ARM64 paths.
//!
//! NEON and FP are part of every ARMv8-A CPU (and of the `aarch64-*` targets' baseline), so the
//! f32 code needs no extra feature; the trampolines exist for the int8 instructions (SDOT with
//! `dotprod`, SMMLA with `i8mm`) that the int8 GEMM's inline assembly uses.

use super::F32s;
use std::arch::aarch64::*;

/// Runs `f` in a function compiled with NEON (the aarch64 baseline).
///
/// # Safety
/// The CPU must support NEON (every aarch64 CPU Rust targets does).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn with_neon<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` in a function compiled with NEON + the dot-product extension (SDOT).
///
/// # Safety
/// The CPU must support `dotprod` (FEAT_DotProd, ARMv8.2+).
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn with_dotprod<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` in a function compiled with NEON + dot product + int8 matrix multiply (SMMLA).
///
/// # Safety
/// The CPU must support `dotprod` and `i8mm` (FEAT_I8MM, ARMv8.6+).
#[target_feature(enable = "neon,dotprod,i8mm")]
pub(crate) unsafe fn with_i8mm<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// 4 f32 lanes in a 128-bit NEON register.
#[derive(Clone, Copy)]
pub(crate) struct Neon;

// SAFETY: NEON is present on every aarch64 CPU; pointers are valid for 4 lanes per the trait
// contract.
unsafe impl F32s for Neon {
    const LANES: usize = 4;
    const REGS: usize = 32;
    type V = float32x4_t;
    #[inline(always)]
    unsafe fn splat(x: f32) -> float32x4_t {
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: float32x4_t) {
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // FMLA: c + a·b with one rounding.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // a > b ? a : b, exactly like the scalar twin and x86 `maxps` (FMAX orders -0 < +0,
        // which would differ for signed zeros).
        unsafe { vbslq_f32(vcgtq_f32(a, b), a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // a < b ? a : b (see `max`).
        unsafe { vbslq_f32(vcltq_f32(a, b), a, b) }
    }
    #[inline(always)]
    unsafe fn round_even(v: float32x4_t) -> float32x4_t {
        unsafe { vrndnq_f32(v) }
    }
    #[inline(always)]
    unsafe fn exp2i(n: float32x4_t) -> float32x4_t {
        unsafe {
            let i = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
            vreinterpretq_f32_s32(vshlq_n_s32::<23>(i))
        }
    }
    #[inline(always)]
    unsafe fn hsum(v: float32x4_t) -> f32 {
        // (v0 + v2) + (v1 + v3): the same tree as the x86 128-bit reduction.
        unsafe {
            let s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
            vget_lane_f32::<0>(s) + vget_lane_f32::<1>(s)
        }
    }
    #[inline(always)]
    unsafe fn hmax(v: float32x4_t) -> f32 {
        unsafe {
            let m = Neon::max(v, vcombine_f32(vget_high_f32(v), vget_low_f32(v)));
            let (a, b) = (vgetq_lane_f32::<0>(m), vgetq_lane_f32::<1>(m));
            if a > b {
                a
            } else {
                b
            }
        }
    }
    #[inline(always)]
    unsafe fn bf16_odd(v: float32x4_t) -> float32x4_t {
        unsafe {
            vreinterpretq_f32_u32(vandq_u32(
                vreinterpretq_u32_f32(v),
                vdupq_n_u32(0xffff_0000),
            ))
        }
    }
    #[inline(always)]
    unsafe fn bf16_even(v: float32x4_t) -> float32x4_t {
        unsafe { vreinterpretq_f32_u32(vshlq_n_u32::<16>(vreinterpretq_u32_f32(v))) }
    }
    type W = [float32x4_t; 4];
    #[inline(always)]
    unsafe fn wsplat(x: f32) -> [float32x4_t; 4] {
        unsafe { [vdupq_n_f32(x); 4] }
    }
}
