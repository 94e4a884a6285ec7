//! The offset term of affine weights (Q4_1, Q5_1, Q4_K, Q5_K: value `a·q − m` per 32-block),
//! subtracted after the int8 product `Σ_b a[b]·d_x[b]·(q·q_x)[b]` has been stored:
//!
//! `y[t, n] −= Σ_b m[n, b] · (d_x[t, b] · Σq_x[t, b])`
//!
//! where `d_x` and `Σq_x` are the activations' per-block scale and sum of quantized values
//! (what ggml's Q8_K `bsums` serve for; `d_x·Σq_x` is one f32 product per token and block,
//! `MatmulScratch::xdsum`). Per output the blocks are summed in order from +0 as
//! `corr = fma(m[b], d_x·Σq_x[b], corr)` (one rounding per block: fused multiply-add is exactly
//! specified, `f32::mul_add` on the scalar path, `vfmadd`/`fmla` on the SIMD ones), and `corr`
//! is subtracted once. The scalar path (`scalar.rs`) and every SIMD path run exactly this
//! per-element sequence, vectorized across outputs only (a lane never sums across blocks or
//! other lanes), so the result is bit-identical on every path and instruction set.
//!
//! Cost: 1/32 of the int8 product's multiply-adds, as f32 FMAs (16 lanes per zmm FMA against
//! 64 MACs per `vpdpbusd`): measured 8-10% of a Q4_K matmul's time at EmbeddingGemma's shapes
//! on AVX-512 (`gemm_bench --q4k` vs Q8_0; 12-14% with a separate multiply and add).

use crate::simd::F32s;

/// The term `Σ_b m·(d_x·Σq_x)` for one output with offsets `m` [nb] and one token's
/// `d_x·Σq_x` [nb] (`MatmulScratch::xdsum`): the reference sequence every path follows.
#[inline(always)]
pub(crate) fn offset_term(m: &[f32], xdsum: &[f32]) -> f32 {
    let mut corr = 0f32;
    for (&m, &s) in m.iter().zip(xdsum) {
        corr = m.mul_add(s, corr);
    }
    corr
}

/// Subtract the term from an MR×(NV·LANES) tile of y: called by `int8::run_panels` right
/// after the int8 tile, while y's tile is in L1 (a separate pass over y afterwards read it back
/// from L2/L3: 1.3-2.4 MB per thread at 512 tokens).
///
/// # Safety
/// `S` supported; mp = offset panel start ([nb][nr], nr = NV·LANES); xs = the tile's first
/// token's `d_x·Σq_x` (row stride nb) for MR tokens; y valid for MR rows (stride ldy)
/// of `ncols <= nr` columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile<S: F32s, const MR: usize, const NV: usize>(
    mp: *const f32,
    nb: usize,
    xs: *const f32,
    y: *mut f32,
    ldy: usize,
    ncols: usize,
) {
    let nr = NV * S::LANES;
    debug_assert!(
        nr <= 128 && MR <= 8,
        "the partial-tile buffer holds 128 columns"
    );
    // SAFETY: per the function contract.
    unsafe {
        let mut acc = [[S::splat(0.0); NV]; MR];
        for b in 0..nb {
            let m: [S::V; NV] = crate::simd::array!(NV, |v| S::load(mp.add(b * nr + v * S::LANES)));
            for (t, row) in acc.iter_mut().enumerate() {
                let sx = S::splat(*xs.add(t * nb + b));
                for (a, m) in row.iter_mut().zip(&m) {
                    *a = S::fma(*m, sx, *a);
                }
            }
        }
        for (t, row) in acc.iter().enumerate() {
            let yt = y.add(t * ldy);
            if ncols == nr {
                for (v, a) in row.iter().enumerate() {
                    let p = yt.add(v * S::LANES);
                    S::store(p, S::sub(S::load(p), *a));
                }
            } else {
                let mut tmp = [0f32; 128];
                std::ptr::copy_nonoverlapping(yt, tmp.as_mut_ptr(), ncols);
                for (v, a) in row.iter().enumerate() {
                    let p = tmp.as_mut_ptr().add(v * S::LANES);
                    S::store(p, S::sub(S::load(p), *a));
                }
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), yt, ncols);
            }
        }
    }
}
