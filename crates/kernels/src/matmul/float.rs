//! f32 GEMM on weights repacked into column panels: `nr` consecutive output rows interleaved
//! along k ([panel][k][nr]), so one k-step loads NV contiguous vectors.
//!
//! Per output element the kernel runs `acc = fma(x[k], w[k], acc)` for k in order: the same
//! sequence as the scalar reference, hence bit-identical to it.

use super::aligned::AlignedBytes;
use crate::simd::F32s;

/// Weights repacked into f32 panels.
pub(crate) struct FloatPanels {
    buf: AlignedBytes,
    pub(crate) nr: usize,
    pub(crate) k: usize,
    pub(crate) n_panels: usize,
}

impl FloatPanels {
    /// Panels already filled (`matmul::pack`): `buf` holds n_panels × [k][nr] f32.
    pub(crate) fn from_buf(buf: AlignedBytes, nr: usize, k: usize, n_panels: usize) -> Self {
        debug_assert_eq!(buf.len(), n_panels * k * nr * 4);
        FloatPanels {
            buf,
            nr,
            k,
            n_panels,
        }
    }

    /// The panel values (tests compare packings).
    #[cfg(test)]
    pub(crate) fn values(&self) -> &[f32] {
        self.buf.as_f32()
    }

    /// Repack row-major `w` [rows, cols]; padding columns are zero. The reference the
    /// load-time packing (`matmul::pack`) is tested against.
    #[cfg(test)]
    pub(crate) fn pack(w: &[f32], rows: usize, cols: usize, nr: usize) -> Self {
        let n_panels = rows.div_ceil(nr);
        let mut buf = AlignedBytes::zeroed(n_panels * cols * nr * 4);
        let out = buf.as_f32_mut();
        for r in 0..rows {
            let (p, c) = (r / nr, r % nr);
            for k in 0..cols {
                out[(p * cols + k) * nr + c] = w[r * cols + k];
            }
        }
        FloatPanels {
            buf,
            nr,
            k: cols,
            n_panels,
        }
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Start of panel `p` ([k][nr] f32); `p < n_panels`.
    pub(crate) fn panel_ptr(&self, p: usize) -> *const f32 {
        self.buf.as_f32()[p * self.k * self.nr..].as_ptr()
    }
}

/// One MR×(NV·LANES) tile.
///
/// # Safety
/// `S` supported; wp = panel start ([k][nr], nr = NV·LANES); x = first token row (stride ldx)
/// valid for MR rows of k; y valid for MR rows (stride ldy) of `ncols <= nr` columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<S: F32s, const MR: usize, const NV: usize>(
    wp: *const f32,
    k: usize,
    x: *const f32,
    ldx: usize,
    y: *mut f32,
    ldy: usize,
    ncols: usize,
) {
    let nr = NV * S::LANES;
    // SAFETY: per the function contract.
    unsafe {
        let mut acc = [[S::splat(0.0); NV]; MR];
        for kk in 0..k {
            let w: [S::V; NV] =
                crate::simd::array!(NV, |v| S::load(wp.add(kk * nr + v * S::LANES)));
            for (t, row) in acc.iter_mut().enumerate() {
                let xb = S::splat(*x.add(t * ldx + kk));
                for (a, w) in row.iter_mut().zip(&w) {
                    *a = S::fma(xb, *w, *a);
                }
            }
        }
        for (t, row) in acc.iter().enumerate() {
            let yt = y.add(t * ldy);
            if ncols == nr {
                for (v, a) in row.iter().enumerate() {
                    S::store(yt.add(v * S::LANES), *a);
                }
            } else {
                let mut tmp = [0f32; 128];
                for (v, a) in row.iter().enumerate() {
                    S::store(tmp.as_mut_ptr().add(v * S::LANES), *a);
                }
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), yt, ncols);
            }
        }
    }
}

/// Compute panels p0..p1 for the tokens t_lo..t_hi.
///
/// # Safety
/// `S` supported; panels packed with nr = NV·S::LANES; x is [n_tok, k] with t_hi <= n_tok; y
/// valid for [t_hi, rows]; no other task writes y[t_lo..t_hi, these panels' columns].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn run_panels<S: F32s, const MR: usize, const NV: usize>(
    w: &FloatPanels,
    x: &[f32],
    (t_lo, t_hi): (usize, usize),
    y: *mut f32,
    rows: usize,
    p0: usize,
    p1: usize,
) {
    debug_assert_eq!(w.nr, NV * S::LANES);
    let k = w.k;
    let base = w.buf.as_f32().as_ptr();
    for p in p0..p1 {
        // SAFETY: p < n_panels, so the panel lies inside the buffer.
        let wp = unsafe { base.add(p * k * w.nr) };
        let c0 = p * w.nr;
        let ncols = w.nr.min(rows - c0);
        let mut t0 = t_lo;
        while t0 < t_hi {
            let mr = MR.min(t_hi - t0);
            // SAFETY: per the function contract; t0 + mr <= t_hi.
            unsafe {
                let xt = x.as_ptr().add(t0 * k);
                let yt = y.add(t0 * rows + c0);
                macro_rules! arm {
                    ($m:literal) => {
                        tile::<S, $m, NV>(wp, k, xt, k, yt, rows, ncols)
                    };
                }
                by_tile_height!(mr, MR, arm)
            }
            t0 += mr;
        }
    }
}
