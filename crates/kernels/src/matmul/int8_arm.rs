//! ARM64 implementations of [`Int8Isa`]: NEON widening multiplies (every ARMv8), SDOT
//! (`dotprod`, ARMv8.2) and SMMLA (`i8mm`, ARMv8.6).
//!
//! All three multiply signed weights by signed activations, so panels are stored unbiased
//! ([`Layout::Signed4`](super::int8::Layout), or `Pairs8` for SMMLA) and blocks start from 0.
//! Each block's int32 sums are the same integers as on every other path, and the f32 epilogue
//! is the same `acc = fma(f32(isum)·d_x, d_w, acc)` per element, so results are bit-identical to
//! the scalar reference and to x86.
//!
//! SDOT and SMMLA are written as inline assembly: their `std::arch` intrinsics (`vdotq_s32`,
//! `vmmlaq_s32`) are still unstable (`stdarch_neon_dotprod`, `stdarch_neon_i8mm`) on Rust 1.95.
//! Each `asm!` enables its extension for the assembler (`.arch_extension`): one dispatch closure
//! holds every ARM path's code, so the SDOT/SMMLA instructions are also *assembled* inside the
//! plain-NEON trampoline, where they are never executed.

use super::int8::{block_scale, prefetch_block, Int8Isa, IntPanels};
use crate::quant::QK;
use crate::simd::array;
use std::arch::aarch64::*;
use std::arch::asm;

/// `sdot acc.4s, w.16b, x.16b`: acc[l] += Σ_{j<4} w[4l+j]·x[4l+j] (signed bytes).
///
/// # Safety
/// The CPU must support `dotprod` (call only inside `with_dotprod`/`with_i8mm`).
#[inline(always)]
unsafe fn sdot(mut acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    // SAFETY: SDOT (FEAT_DotProd) reads the two source registers and updates `acc` only; the
    // caller guarantees the CPU has it. No memory, stack or flags are touched.
    unsafe {
        asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.16b",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// `smmla acc.4s, a.16b, b.16b`: acc[2i+j] += Σ_{k<8} a[8i+k]·b[8j+k] (signed bytes): a 2×8
/// by 8×2 int8 product into a 2×2 int32 tile.
///
/// # Safety
/// The CPU must support `i8mm` (call only inside `with_i8mm`).
#[inline(always)]
unsafe fn smmla(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: SMMLA (FEAT_I8MM) reads the two source registers and updates `acc` only; the
    // caller guarantees the CPU has it. No memory, stack or flags are touched.
    unsafe {
        asm!(
            ".arch_extension i8mm",
            "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// 4 activation bytes broadcast to every 32-bit lane.
#[inline(always)]
unsafe fn bcast4(x4: *const i8) -> int8x16_t {
    // SAFETY: the caller guarantees 4 readable bytes.
    unsafe { vreinterpretq_s8_s32(vdupq_n_s32(x4.cast::<i32>().read_unaligned())) }
}

/// NEON without the dot product: `smull`/`smull2` (8×8→16 bits), `addp` (adjacent pairs, at
/// most 2·128·127 < 2^15: exact) and `sadalp` (pairs widened into the int32 lanes).
pub(crate) struct NeonWide;

// SAFETY: NEON is part of every aarch64 CPU; weight pointers are valid for 16 bytes (panel
// blocks hold nr·32 bytes in 16-byte steps).
unsafe impl Int8Isa for NeonWide {
    const VL: usize = 4;
    type I = int32x4_t;
    type F = float32x4_t;
    type W = int8x16_t;
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> int8x16_t {
        unsafe { vld1q_s8(p.cast()) }
    }
    #[inline(always)]
    unsafe fn seed(_xsum: i32) -> int32x4_t {
        unsafe { vdupq_n_s32(0) }
    }
    #[inline(always)]
    unsafe fn dot4(acc: int32x4_t, w: int8x16_t, x4: *const i8) -> int32x4_t {
        unsafe {
            let x = bcast4(x4);
            let lo = vmull_s8(vget_low_s8(w), vget_low_s8(x));
            let hi = vmull_high_s8(w, x);
            vpadalq_s16(acc, vpaddq_s16(lo, hi))
        }
    }
    #[inline(always)]
    unsafe fn add_i(a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vaddq_s32(a, b) }
    }
    #[inline(always)]
    unsafe fn fzero() -> float32x4_t {
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    unsafe fn epilogue(acc: float32x4_t, isum: int32x4_t, dx: f32, dw: *const f32) -> float32x4_t {
        unsafe { epilogue(acc, isum, vdupq_n_f32(dx), vld1q_f32(dw)) }
    }
    #[inline(always)]
    unsafe fn store_f(p: *mut f32, v: float32x4_t) {
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, q: *mut i8) -> (f32, i32) {
        unsafe {
            let v: [float32x4_t; 8] = array!(8, |i| vld1q_f32(x.add(4 * i)));
            let mut m = vabsq_f32(v[0]);
            for vi in &v[1..] {
                m = vmaxq_f32(m, vabsq_f32(*vi));
            }
            let (d, id) = block_scale(vmaxvq_f32(m));
            let vid = vdupq_n_f32(id);
            // FCVTAS: round to nearest, ties away from zero = C `roundf`, exactly.
            let i: [int32x4_t; 8] = array!(8, |k| vcvtaq_s32_f32(vmulq_f32(v[k], vid)));
            // |i| <= 127: the narrowing moves are exact.
            for h in 0..2 {
                let n: [int16x8_t; 2] = array!(2, |j| vcombine_s16(
                    vmovn_s32(i[4 * h + 2 * j]),
                    vmovn_s32(i[4 * h + 2 * j + 1])
                ));
                vst1q_s8(q.add(16 * h), vcombine_s8(vmovn_s16(n[0]), vmovn_s16(n[1])));
            }
            let s = vaddq_s32(
                vaddq_s32(vaddq_s32(i[0], i[1]), vaddq_s32(i[2], i[3])),
                vaddq_s32(vaddq_s32(i[4], i[5]), vaddq_s32(i[6], i[7])),
            );
            (d, vaddvq_s32(s))
        }
    }
}

/// fma(f32(isum)·dx, dw, acc) per lane (SCVTF rounds to nearest even, like `as f32`).
#[inline(always)]
unsafe fn epilogue(
    acc: float32x4_t,
    isum: int32x4_t,
    dx: float32x4_t,
    dw: float32x4_t,
) -> float32x4_t {
    unsafe { vfmaq_f32(acc, vmulq_f32(vcvtq_f32_s32(isum), dx), dw) }
}

/// SDOT: 4 columns × 4 k-bytes per instruction, activations broadcast 32 bits at a time.
pub(crate) struct NeonSdot;

// SAFETY: used only inside `with_dotprod`/`with_i8mm` (the CPU has FEAT_DotProd); pointers as
// for `NeonWide`.
unsafe impl Int8Isa for NeonSdot {
    const VL: usize = 4;
    type I = int32x4_t;
    type F = float32x4_t;
    type W = int8x16_t;
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> int8x16_t {
        unsafe { NeonWide::load_w(p) }
    }
    #[inline(always)]
    unsafe fn seed(xsum: i32) -> int32x4_t {
        unsafe { NeonWide::seed(xsum) }
    }
    #[inline(always)]
    unsafe fn dot4(acc: int32x4_t, w: int8x16_t, x4: *const i8) -> int32x4_t {
        unsafe { sdot(acc, w, bcast4(x4)) }
    }
    #[inline(always)]
    unsafe fn add_i(a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vaddq_s32(a, b) }
    }
    #[inline(always)]
    unsafe fn fzero() -> float32x4_t {
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    unsafe fn epilogue(acc: float32x4_t, isum: int32x4_t, dx: f32, dw: *const f32) -> float32x4_t {
        unsafe { NeonWide::epilogue(acc, isum, dx, dw) }
    }
    #[inline(always)]
    unsafe fn store_f(p: *mut f32, v: float32x4_t) {
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, q: *mut i8) -> (f32, i32) {
        unsafe { NeonWide::quantize_block(x, q) }
    }
}

/// SMMLA on `Pairs8` panels of 8 columns (NV = 2 vectors of 4): each instruction multiplies
/// two tokens' 8 k-bytes by two columns' 8 k-bytes (32 MACs, twice SDOT's 16). The tile is
/// its own (token pairs × column pairs of 2×2 int32 blocks); the element-wise trait methods are
/// SDOT's, used by nothing but the shared quantizer and epilogue.
pub(crate) struct NeonSmmla;

/// Columns per SMMLA panel.
const MMLA_NR: usize = 8;

// SAFETY: used only inside `with_i8mm` (the CPU has FEAT_I8MM and FEAT_DotProd); pointers as
// for `NeonWide`.
unsafe impl Int8Isa for NeonSmmla {
    const VL: usize = 4;
    type I = int32x4_t;
    type F = float32x4_t;
    type W = int8x16_t;
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> int8x16_t {
        unsafe { NeonSdot::load_w(p) }
    }
    #[inline(always)]
    unsafe fn seed(xsum: i32) -> int32x4_t {
        unsafe { NeonSdot::seed(xsum) }
    }
    #[inline(always)]
    unsafe fn dot4(acc: int32x4_t, w: int8x16_t, x4: *const i8) -> int32x4_t {
        unsafe { NeonSdot::dot4(acc, w, x4) }
    }
    #[inline(always)]
    unsafe fn add_i(a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vaddq_s32(a, b) }
    }
    #[inline(always)]
    unsafe fn fzero() -> float32x4_t {
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    unsafe fn epilogue(acc: float32x4_t, isum: int32x4_t, dx: f32, dw: *const f32) -> float32x4_t {
        unsafe { NeonWide::epilogue(acc, isum, dx, dw) }
    }
    #[inline(always)]
    unsafe fn store_f(p: *mut f32, v: float32x4_t) {
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, q: *mut i8) -> (f32, i32) {
        unsafe { NeonWide::quantize_block(x, q) }
    }

    #[inline(always)]
    unsafe fn tile<const MR: usize, const NV: usize>(
        w: *const u8,
        nb: usize,
        xq: *const i8,
        xd: *const f32,
        _xs: *const i32,
        y: *mut f32,
        ldy: usize,
        ncols: usize,
        stream: bool,
        pf: (*const u8, usize),
    ) {
        assert!(NV * Self::VL == MMLA_NR && (1..=8).contains(&MR));
        macro_rules! go {
            ($tp:literal) => {
                mmla_tile::<$tp>(w, nb, xq, xd, y, ldy, ncols, stream, pf, MR)
            };
        }
        // SAFETY: per the trait method's contract.
        unsafe {
            match MR.div_ceil(2) {
                1 => go!(1),
                2 => go!(2),
                3 => go!(3),
                _ => go!(4),
            }
        }
    }
}

/// An `mr`-token (TP = ⌈mr/2⌉ pairs) × 8-column SMMLA tile over all blocks. Accumulator
/// [p][c] holds the 2×2 block (tokens 2p, 2p+1) × (columns 2c, 2c+1) as lanes
/// [t0c0, t0c1, t1c0, t1c1]; an odd last pair repeats its token and discards the copy.
///
/// # Safety
/// As [`super::int8::tile`], with `w` a `Pairs8` panel of 8 columns and mr in 2·TP-1..=2·TP.
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn mmla_tile<const TP: usize>(
    w: *const u8,
    nb: usize,
    xq: *const i8,
    xd: *const f32,
    y: *mut f32,
    ldy: usize,
    ncols: usize,
    stream: bool,
    pf: (*const u8, usize),
    mr: usize,
) {
    const CP: usize = MMLA_NR / 2;
    let bb = IntPanels::block_bytes(MMLA_NR);
    let pf_per_block = pf.1.div_ceil(nb);
    // Token of each pair slot (the odd last pair repeats its first token).
    let tok: [[usize; 2]; TP] = array!(TP, |p| [2 * p, (2 * p + 1).min(mr - 1)]);
    // SAFETY: per the function contract; all offsets stay inside the panel / tile.
    unsafe {
        let mut accf = [[vdupq_n_f32(0.0); CP]; TP];
        for b in 0..nb {
            let wb = w.add(b * bb);
            prefetch_block(wb, bb, b, stream, pf, pf_per_block);
            let mut acci = [[vdupq_n_s32(0); CP]; TP];
            for s in 0..QK / 8 {
                let wv: [int8x16_t; CP] =
                    array!(CP, |c| vld1q_s8(wb.add(s * MMLA_NR * 8 + c * 16).cast()));
                for p in 0..TP {
                    let x = |t: usize| vld1_s8(xq.add(tok[p][t] * nb * QK + b * QK + s * 8));
                    let a = vcombine_s8(x(0), x(1));
                    for c in 0..CP {
                        acci[p][c] = smmla(acci[p][c], a, wv[c]);
                    }
                }
            }
            let dw = wb.add(MMLA_NR * QK).cast::<f32>();
            for p in 0..TP {
                let dx = vcombine_f32(
                    vdup_n_f32(*xd.add(tok[p][0] * nb + b)),
                    vdup_n_f32(*xd.add(tok[p][1] * nb + b)),
                );
                for c in 0..CP {
                    let d2 = vld1_f32(dw.add(2 * c));
                    accf[p][c] = epilogue(accf[p][c], acci[p][c], dx, vcombine_f32(d2, d2));
                }
            }
        }
        for p in 0..TP {
            let mut rows = [[0f32; MMLA_NR]; 2];
            for c in 0..CP {
                vst1_f32(rows[0].as_mut_ptr().add(2 * c), vget_low_f32(accf[p][c]));
                vst1_f32(rows[1].as_mut_ptr().add(2 * c), vget_high_f32(accf[p][c]));
            }
            for (i, row) in rows.iter().enumerate() {
                let t = 2 * p + i;
                if t < mr {
                    std::ptr::copy_nonoverlapping(row.as_ptr(), y.add(t * ldy), ncols);
                }
            }
        }
    }
}
