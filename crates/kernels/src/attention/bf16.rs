//! Attention's bf16 pair products ([`AttnShape::bf16`](super::AttnShape::bf16)): q, k, v and
//! the probabilities rounded to bf16 ([`to_bf16`]), multiplied in pairs as x86's `vdpbf16ps`
//! does, on every path.
//!
//! A score's chain over the head dimension d = 0..hd runs, per pair p (elements 2p and 2p + 1;
//! an odd hd pads the last pair with 0):
//! `acc = fma(q[2p+1], k[2p+1], acc); acc = fma(q[2p], k[2p], acc)`: the odd element first,
//! each product exact (bf16 × bf16 fits in f32) and each sum rounded to f32, nearest-even.
//! P·V's chain over the keys pairs keys (2m, 2m + 1) of the sequence the same way (a key
//! outside the row's window, or past the end, has probability 0 and adds exactly nothing).
//! That is `vdpbf16ps`'s definition (Intel SDM; checked bit for bit on Zen 4), so the
//! [`Avx512Bf16`](crate::Isa::Avx512Bf16) path runs one instruction per pair and 32 products per
//! zmm, twice the f32 FMA rate, and every other path runs the same two FMAs ([`Fma`]).
//! `vdpbf16ps` treats denormal inputs and results as zero; [`to_bf16`] flushes every
//! |x| < 2^-30 to zero, so no input is denormal and no partial sum can be (every nonzero
//! product and sum is a multiple of 2^-74), and the FMA paths need no flushing to agree.
//! [`Exact`] is the f32 attention in the same slot form (one element per slot).

use crate::simd::{F32s, Scalar};

/// Magnitudes below 2^-30 (bits of the f32) round to +0.
const FLUSH_BELOW: u32 = (127 - 30) << 23;

/// x as bf16 bits: the nearest bf16, ties to even (as `vcvtneps2bf16`); |x| < 2^-30 gives +0
/// (see the module docs); NaN stays NaN.
#[inline(always)]
pub(crate) fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    let mag = b & 0x7fff_ffff;
    if mag < FLUSH_BELOW {
        0
    } else if mag > 0x7f80_0000 {
        ((b >> 16) | 0x40) as u16
    } else {
        (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
    }
}

/// The pair (even, odd) as one 32-bit lane of `vdpbf16ps`: the odd element's bf16 in the high
/// half, the even one's in the low half.
#[inline(always)]
pub(crate) fn pair(even: f32, odd: f32) -> u32 {
    ((to_bf16(odd) as u32) << 16) | to_bf16(even) as u32
}

/// `acc + a·b` over bf16 pairs in the order of the module docs: a vector of pairs of K^T
/// (one pair per lane) against one broadcast pair of q.
///
/// # Safety
/// `S` supported on the CPU; pointers valid for `S::LANES` lanes.
pub(super) unsafe trait PairDot<S: F32s> {
    /// Elements per 32-bit slot: 2 (a bf16 pair) or 1 (an f32, [`Exact`]).
    const E: usize;
    /// Steps per slot: 2 (odd elements, then even ones, as f32 FMAs) or 1.
    const STEPS: usize;
    /// 32-bit words per query / probability slot as [`PairDot::pack`] stores it: 1, or 2 for
    /// [`Fma`] (its two elements as bf16-rounded f32, broadcast straight from memory).
    const QW: usize;
    /// The same arithmetic on one lane (for the columns left over from whole vectors).
    type One: PairDot<Scalar>;
    /// Keys prepared for one step.
    type K: Copy;
    /// A broadcast query pair prepared for one step.
    type Q: Copy;
    unsafe fn load_k(p: *const u32, step: usize) -> Self::K;
    /// The slot at `p` (QW words) broadcast for `step`.
    unsafe fn splat_q(p: *const u32, step: usize) -> Self::Q;
    /// Store the elements (x0, x1) (x1 ignored if E = 1) as one query / probability slot of QW
    /// words at `dst`.
    unsafe fn pack(dst: *mut u32, x0: f32, x1: f32);
    unsafe fn dot(acc: S::V, q: Self::Q, k: Self::K) -> S::V;
}

/// Whether a register tile of `acc` accumulators over `nv` key (or V) vectors fits `S`'s
/// registers with `D`'s prepared keys (STEPS·nv) and a broadcast: spilled accumulators would
/// chain their FMAs through memory.
#[inline(always)]
pub(super) fn fits<S: F32s, D: PairDot<S>>(acc: usize, nv: usize) -> bool {
    acc + D::STEPS * nv < S::REGS
}

/// Two f32 FMAs per pair: the odd elements (step 0), then the even ones (step 1).
pub(super) struct Fma;

// SAFETY: lane arithmetic of `S` only; loads `S::LANES` lanes.
unsafe impl<S: F32s> PairDot<S> for Fma {
    const E: usize = 2;
    const STEPS: usize = 2;
    const QW: usize = 2;
    type One = Fma;
    type K = S::V;
    type Q = S::V;
    #[inline(always)]
    unsafe fn load_k(p: *const u32, step: usize) -> S::V {
        // SAFETY: per the trait contract (the bits are only reinterpreted).
        unsafe {
            let v = S::load(p.cast::<f32>());
            if step == 0 {
                S::bf16_odd(v)
            } else {
                S::bf16_even(v)
            }
        }
    }
    #[inline(always)]
    unsafe fn splat_q(p: *const u32, step: usize) -> S::V {
        // SAFETY: per the trait contract (the slot is 2 words: even element, then odd).
        unsafe { S::splat(*p.cast::<f32>().add(1 - step)) }
    }
    #[inline(always)]
    unsafe fn pack(dst: *mut u32, x0: f32, x1: f32) {
        // SAFETY: per the trait contract.
        unsafe {
            *dst = (to_bf16(x0) as u32) << 16;
            *dst.add(1) = (to_bf16(x1) as u32) << 16;
        }
    }
    #[inline(always)]
    unsafe fn dot(acc: S::V, q: S::V, k: S::V) -> S::V {
        // SAFETY: per the trait contract.
        unsafe { S::fma(q, k, acc) }
    }
}

/// [`Fma`]'s arithmetic on [`Dpbf16`]'s query / probability slots (one packed pair per word):
/// the columns of a V panel left over from whole vectors on the `vdpbf16ps` path.
#[cfg(target_arch = "x86_64")]
pub(super) struct FmaOnPairs;

#[cfg(target_arch = "x86_64")]
// SAFETY: lane arithmetic of `S` only; loads `S::LANES` lanes.
unsafe impl<S: F32s> PairDot<S> for FmaOnPairs {
    const E: usize = 2;
    const STEPS: usize = 2;
    const QW: usize = 1;
    type One = FmaOnPairs;
    type K = S::V;
    type Q = S::V;
    #[inline(always)]
    unsafe fn load_k(p: *const u32, step: usize) -> S::V {
        // SAFETY: per the trait contract.
        unsafe { <Fma as PairDot<S>>::load_k(p, step) }
    }
    #[inline(always)]
    unsafe fn splat_q(p: *const u32, step: usize) -> S::V {
        // SAFETY: per the trait contract.
        let w = unsafe { *p };
        let bits = if step == 0 { w & 0xffff_0000 } else { w << 16 };
        // SAFETY: per the trait contract.
        unsafe { S::splat(f32::from_bits(bits)) }
    }
    #[inline(always)]
    unsafe fn pack(dst: *mut u32, x0: f32, x1: f32) {
        // SAFETY: per the trait contract.
        unsafe { *dst = pair(x0, x1) }
    }
    #[inline(always)]
    unsafe fn dot(acc: S::V, q: S::V, k: S::V) -> S::V {
        // SAFETY: per the trait contract.
        unsafe { S::fma(q, k, acc) }
    }
}

/// f32 elements, one FMA each: the exact attention (`AttnShape::bf16` false).
pub(super) struct Exact;

// SAFETY: lane arithmetic of `S` only; loads `S::LANES` lanes.
unsafe impl<S: F32s> PairDot<S> for Exact {
    const E: usize = 1;
    const STEPS: usize = 1;
    const QW: usize = 1;
    type One = Exact;
    type K = S::V;
    type Q = S::V;
    #[inline(always)]
    unsafe fn load_k(p: *const u32, _: usize) -> S::V {
        // SAFETY: per the trait contract.
        unsafe { S::load(p.cast::<f32>()) }
    }
    #[inline(always)]
    unsafe fn splat_q(p: *const u32, _: usize) -> S::V {
        // SAFETY: per the trait contract.
        unsafe { S::splat(*p.cast::<f32>()) }
    }
    #[inline(always)]
    unsafe fn pack(dst: *mut u32, x0: f32, _: f32) {
        // SAFETY: per the trait contract.
        unsafe { *dst = x0.to_bits() }
    }
    #[inline(always)]
    unsafe fn dot(acc: S::V, q: S::V, k: S::V) -> S::V {
        // SAFETY: per the trait contract.
        unsafe { S::fma(q, k, acc) }
    }
}

/// Elements per 32-bit slot for `shape`: 2 (bf16 pairs) if `shape.bf16`, else 1 (f32).
#[inline(always)]
pub(super) fn slot_elems(shape: &super::AttnShape) -> usize {
    if shape.bf16 {
        2
    } else {
        1
    }
}

/// The first `e` elements of `xs` as one slot: the bf16 [`pair`] (xs[0], xs[1]) if e = 2 (a
/// missing xs[1] counts as 0), else xs[0]'s bits.
#[inline(always)]
pub(super) fn slot(e: usize, xs: &[f32]) -> u32 {
    if e == 2 {
        pair(xs[0], xs.get(1).copied().unwrap_or(0.0))
    } else {
        xs[0].to_bits()
    }
}

/// One `vdpbf16ps` per pair (AVX512_BF16).
#[cfg(target_arch = "x86_64")]
pub(super) struct Dpbf16;

#[cfg(target_arch = "x86_64")]
// SAFETY: used only inside `with_avx512_bf16` (the Avx512Bf16 path: the CPU has AVX512_BF16);
// loads 16 lanes.
unsafe impl PairDot<crate::simd::Avx512> for Dpbf16 {
    const E: usize = 2;
    const STEPS: usize = 1;
    const QW: usize = 1;
    type One = FmaOnPairs;
    type K = std::arch::x86_64::__m512bh;
    type Q = std::arch::x86_64::__m512bh;
    #[inline(always)]
    unsafe fn load_k(p: *const u32, _: usize) -> Self::K {
        use std::arch::x86_64::*;
        // SAFETY: p is valid for 16 u32 (trait contract); __m512i and __m512bh are both 64
        // bytes of plain lanes, so the transmute only relabels them.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast())) }
    }
    #[inline(always)]
    unsafe fn splat_q(p: *const u32, _: usize) -> Self::Q {
        use std::arch::x86_64::*;
        // SAFETY: p is valid for one word (trait contract); a relabelling of 64 bytes as above.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*p as i32)) }
    }
    #[inline(always)]
    unsafe fn pack(dst: *mut u32, x0: f32, x1: f32) {
        // SAFETY: per the trait contract.
        unsafe { *dst = pair(x0, x1) }
    }
    #[inline(always)]
    unsafe fn dot(
        acc: std::arch::x86_64::__m512,
        q: Self::Q,
        k: Self::K,
    ) -> std::arch::x86_64::__m512 {
        // SAFETY: the CPU has AVX512_BF16 (trait contract).
        unsafe { std::arch::x86_64::_mm512_dpbf16_ps(acc, k, q) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_bf16_rounds_to_nearest_even_and_flushes_tiny_values() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(to_bf16(-2.0), 0xc000);
        // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: to even (1.0); 1 + 3·2^-8 goes up.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0 + 1.0 / 65536.0), 0x3f81);
        assert_eq!(to_bf16(2f32.powi(-30)), 0x3080);
        assert_eq!(to_bf16(2f32.powi(-31)), 0);
        assert_eq!(to_bf16(-1e-20), 0);
        assert_eq!(to_bf16(f32::MIN_POSITIVE / 2.0), 0);
        assert!(f32::from_bits((to_bf16(f32::NAN) as u32) << 16).is_nan());
        assert_eq!(to_bf16(f32::INFINITY), 0x7f80);
        assert_eq!(pair(1.0, -2.0), 0xc000_3f80);
    }

    /// The FMA emulation equals `vdpbf16ps` bit for bit on random pairs (where the CPU has it).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fma_pairs_equal_vdpbf16ps() {
        use crate::simd::{Avx512, Scalar};
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        if !crate::Isa::Avx512Bf16.is_supported() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20_000 {
            let val = |rng: &mut StdRng| {
                let e = rng.gen_range(-40..12);
                rng.gen_range(-1.0f32..1.0) * 2f32.powi(e)
            };
            let acc: [f32; 16] = std::array::from_fn(|_| val(&mut rng));
            let k: [u32; 16] = std::array::from_fn(|_| pair(val(&mut rng), val(&mut rng)));
            let (q0, q1) = (val(&mut rng), val(&mut rng));
            let q = pair(q0, q1);
            let mut q_fma = [0u32; 2];
            // SAFETY: q_fma holds 2 words.
            unsafe { <Fma as PairDot<Scalar>>::pack(q_fma.as_mut_ptr(), q0, q1) };
            let mut got = [0f32; 16];
            crate::simd::on(
                crate::Isa::Avx512Bf16,
                #[inline(always)]
                || {
                    // SAFETY: `on` enabled AVX512_BF16 (supported, checked above); the arrays
                    // hold 16 lanes.
                    unsafe {
                        let r = <Dpbf16 as PairDot<Avx512>>::dot(
                            Avx512::load(acc.as_ptr()),
                            <Dpbf16 as PairDot<Avx512>>::splat_q(&q, 0),
                            <Dpbf16 as PairDot<Avx512>>::load_k(k.as_ptr(), 0),
                        );
                        Avx512::store(got.as_mut_ptr(), r);
                    }
                },
            );
            for i in 0..16 {
                let mut want = acc[i];
                for step in 0..2 {
                    // SAFETY: scalar arithmetic; the pointer is valid for one lane.
                    unsafe {
                        want = <Fma as PairDot<Scalar>>::dot(
                            want,
                            <Fma as PairDot<Scalar>>::splat_q(q_fma.as_ptr(), step),
                            <Fma as PairDot<Scalar>>::load_k(&k[i], step),
                        );
                    }
                }
                assert_eq!(
                    got[i].to_bits(),
                    want.to_bits(),
                    "lane {i}: {acc:?} {k:x?} {q:x}"
                );
            }
        }
    }
}
