//! Int8 GEMM on weights repacked into VNNI panels.
//!
//! Panel layout (one panel = `nr` consecutive output rows, `nr = VL × NV`): for every 32-block
//! of the input dimension, 8 k-steps × `nr` columns × 4 consecutive k-bytes (one 32-bit lane per
//! column and k-step), followed by the `nr` f32 block scales. Panels are contiguous along k, so a
//! panel streams once, front to back. Weight bytes are stored biased (`w ^ 0x80` = w + 128, u8)
//! so `vpdpbusd` can take them as its unsigned operand and the *signed* activations as an
//! embedded 32-bit broadcast; the bias is removed by seeding each block's int32 accumulator with
//! `-128·Σx_block` (computed when the activations are quantized).
//!
//! ARM64 uses the same panels unbiased (SDOT and the NEON widening multiplies are
//! signed × signed, so no seed is needed), or, with i8mm, 8 k-bytes per column *pair* for
//! SMMLA's 2×8 · 8×2 tiles ([`Layout`]).
//!
//! The microkernel keeps MR tokens × NV vectors of int32 accumulators for one block and
//! accumulates the block into f32 with `acc = fma(isum·d_x, d_w, acc)`, the same per-element
//! operation sequence as the scalar reference, so results are bit-identical to it.

use super::aligned::AlignedBytes;
use super::float::FloatPanels;
use super::{offsets, MatmulScratch};
use crate::quant::QK;
use crate::simd::F32s;

/// Quantized activations per token block of [`run_panels`], at most: well inside L2.
const X_BLOCK_BYTES: usize = 256 << 10;

/// How many blocks ahead the first tile of a panel prefetches its weights.
const PREFETCH_BLOCKS: usize = 4;

/// 4-byte k-steps per 32-block.
pub(crate) const KSTEPS: usize = QK / 4;

/// Byte order of a panel block's weights.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Layout {
    /// k-step s (4 k-bytes) × column c: byte `s·nr·4 + c·4 + k%4`, stored as `w ^ 0x80` (VNNI).
    Biased4,
    /// As `Biased4` but the signed bytes themselves (SDOT, NEON widening multiplies).
    Signed4,
    /// 8-byte k-step s × column pair c/2 × column c%2: byte `s·nr·8 + (c/2)·16 + (c%2)·8 + k%8`,
    /// signed (SMMLA's 2×8 right operand).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    Pairs8,
}

impl Layout {
    /// Consecutive k-bytes of one column in a run (4, or 8 for `Pairs8`).
    #[inline]
    pub(super) fn run(self) -> usize {
        match self {
            Layout::Biased4 | Layout::Signed4 => 4,
            Layout::Pairs8 => 8,
        }
    }

    /// Offset of weight byte (column c, k) inside a block of a panel of nr columns.
    #[inline]
    pub(super) fn offset(self, nr: usize, c: usize, k: usize) -> usize {
        match self {
            Layout::Biased4 | Layout::Signed4 => (k / 4) * nr * 4 + c * 4 + k % 4,
            Layout::Pairs8 => (k / 8) * nr * 8 + (c / 2) * 16 + (c % 2) * 8 + k % 8,
        }
    }
}

/// Scale of an activation block with max |x| = amax, as ggml's `quantize_row_q8_0_ref`:
/// (f16-rounded d, 1/d unrounded).
#[inline(always)]
pub(crate) fn block_scale(amax: f32) -> (f32, f32) {
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (half::f16::from_f32(d).to_f32(), id)
}

/// Int8 operations the generic microkernel needs, implemented per instruction set.
///
/// # Safety
/// Implementations use CPU features: only call inside the matching `#[target_feature]`
/// trampoline. Pointers must be valid for the documented sizes.
pub(crate) unsafe trait Int8Isa {
    /// i32 lanes (= output columns) per vector.
    const VL: usize;
    type I: Copy;
    type F: Copy;
    type W: Copy;
    /// Load one weight vector (VL×4 bytes, 64-byte aligned for zmm / 32 for ymm).
    unsafe fn load_w(p: *const u8) -> Self::W;
    /// Initial int32 accumulator of a block whose activations sum to `xsum`.
    unsafe fn seed(xsum: i32) -> Self::I;
    /// acc[l] += Σ_{j<4} w[l][j] · x[j] (true signed weights), x = 4 signed bytes.
    unsafe fn dot4(acc: Self::I, w: Self::W, x4: *const i8) -> Self::I;
    /// Lane-wise int32 a + b.
    unsafe fn add_i(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn fzero() -> Self::F;
    /// fma(f32(isum) · dx, dw, acc), dw = VL f32 scales.
    unsafe fn epilogue(acc: Self::F, isum: Self::I, dx: f32, dw: *const f32) -> Self::F;
    unsafe fn store_f(p: *mut f32, v: Self::F);
    /// Quantize 32 floats exactly like [`crate::quant::quantize_block_q8_0`].
    unsafe fn quantize_block(x: *const f32, q: *mut i8) -> (f32, i32);

    /// Quantize `n` consecutive 32-blocks (x: n·32 floats, q: n·32 bytes, d and sum: n
    /// each), every block exactly as [`quantize_block`](Self::quantize_block): that, block by
    /// block, unless the instruction set batches blocks.
    #[inline(always)]
    unsafe fn quantize_blocks(x: *const f32, q: *mut i8, d: *mut f32, sum: *mut i32, n: usize)
    where
        Self: Sized,
    {
        // SAFETY: per the function contract.
        unsafe { quantize_each::<Self>(x, q, d, sum, n) }
    }

    /// One MR×(NV·VL) output tile over all blocks: the generic [`tile`] unless the instruction
    /// set has its own register tile (SMMLA's 2×2 blocks). Contract as [`tile`].
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const MR: usize, const NV: usize>(
        w: *const u8,
        nb: usize,
        xq: *const i8,
        xd: *const f32,
        xs: *const i32,
        y: *mut f32,
        ldy: usize,
        ncols: usize,
        stream: bool,
        pf: (*const u8, usize),
    ) where
        Self: Sized,
    {
        // SAFETY: same contract.
        unsafe { tile::<Self, MR, NV>(w, nb, xq, xd, xs, y, ldy, ncols, stream, pf) }
    }
}

/// Weights repacked into VNNI panels.
pub(crate) struct IntPanels {
    buf: AlignedBytes,
    /// Columns (output rows) per panel.
    pub(crate) nr: usize,
    /// 32-blocks along k.
    pub(crate) nb: usize,
    pub(crate) n_panels: usize,
}

impl IntPanels {
    /// Bytes of one block of one panel: weights then scales.
    pub(crate) fn block_bytes(nr: usize) -> usize {
        nr * (QK + 4)
    }

    /// Panels already filled (`matmul::pack`): `buf` holds n_panels × nb blocks of
    /// [`block_bytes`](Self::block_bytes)`(nr)`.
    pub(crate) fn from_buf(buf: AlignedBytes, nr: usize, nb: usize, n_panels: usize) -> Self {
        debug_assert_eq!(buf.len(), n_panels * nb * Self::block_bytes(nr));
        IntPanels {
            buf,
            nr,
            nb,
            n_panels,
        }
    }

    /// The panel bytes (tests compare packings).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.as_bytes()
    }

    /// Repack row-major int8 weights `q` [rows, cols] and scales `d` [rows, cols/32], byte by
    /// byte: the reference the load-time packing (`matmul::pack`) is tested against.
    #[cfg(test)]
    pub(crate) fn pack(
        q: &[i8],
        d: &[f32],
        rows: usize,
        cols: usize,
        nr: usize,
        layout: Layout,
    ) -> Self {
        let bias = if layout == Layout::Biased4 { 0x80 } else { 0 };
        let nb = cols / QK;
        let n_panels = rows.div_ceil(nr);
        let bb = Self::block_bytes(nr);
        let mut buf = AlignedBytes::zeroed(n_panels * nb * bb);
        let out = buf.as_bytes_mut();
        for p in 0..n_panels {
            for b in 0..nb {
                let blk = &mut out[(p * nb + b) * bb..][..bb];
                for c in 0..nr {
                    let r = p * nr + c;
                    for k in 0..QK {
                        let w = if r < rows {
                            q[r * cols + b * QK + k]
                        } else {
                            0
                        };
                        blk[layout.offset(nr, c, k)] = (w as u8) ^ bias;
                    }
                    let s = if r < rows { d[r * nb + b] } else { 0.0 };
                    blk[nr * QK + c * 4..][..4].copy_from_slice(&s.to_ne_bytes());
                }
            }
        }
        IntPanels {
            buf,
            nr,
            nb,
            n_panels,
        }
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn panel_ptr(&self, p: usize) -> *const u8 {
        self.buf.as_bytes()[p * self.nb * Self::block_bytes(self.nr)..].as_ptr()
    }
}

/// [`Int8Isa::quantize_blocks`] block by block with `K::quantize_block` (the default, and the
/// tail of a batching instruction set).
///
/// # Safety
/// As [`Int8Isa::quantize_blocks`].
#[inline(always)]
pub(crate) unsafe fn quantize_each<K: Int8Isa>(
    x: *const f32,
    q: *mut i8,
    d: *mut f32,
    sum: *mut i32,
    n: usize,
) {
    for b in 0..n {
        // SAFETY: per the function contract.
        unsafe {
            let (db, sb) = K::quantize_block(x.add(b * QK), q.add(b * QK));
            *d.add(b) = db;
            *sum.add(b) = sb;
        }
    }
}

/// Quantize rows t0..t1 of x ([n_tok, cols]) into the scratch with `K`'s SIMD quantizer.
///
/// # Safety
/// `K` supported by the CPU; the scratch holds at least t1 rows of `cols`; x valid for
/// t1×cols; rows t0..t1 of the scratch are not accessed concurrently.
#[inline(always)]
pub(crate) unsafe fn quantize_rows<K: Int8Isa>(
    x: &[f32],
    cols: usize,
    s: &QuantPtrs,
    t0: usize,
    t1: usize,
) {
    // Rows t0..t1 are contiguous in x (cols = nb·32 floats each) and in the scratch (nb blocks
    // each): one run of blocks.
    let nb = cols / QK;
    let (i0, n) = (t0 * nb, (t1 - t0) * nb);
    // SAFETY: per the function contract (blocks i0..i0+n = rows t0..t1).
    unsafe {
        K::quantize_blocks(
            x.as_ptr().add(i0 * QK),
            s.xq.add(i0 * QK),
            s.xd.add(i0),
            s.xsum.add(i0),
            n,
        )
    }
}

/// Raw views of the quantized-activation scratch ([`MatmulScratch`]): tasks write disjoint
/// token rows of it and read the rows they (or, after the pool's barrier, others) wrote.
#[derive(Clone, Copy)]
pub(crate) struct QuantPtrs {
    /// [max_tokens, nb·32]
    pub(crate) xq: *mut i8,
    /// [max_tokens, nb]
    pub(crate) xd: *mut f32,
    /// [max_tokens, nb]
    pub(crate) xsum: *mut i32,
    /// [max_tokens, nb]
    pub(crate) xdsum: *mut f32,
}
// SAFETY: tasks write disjoint token rows (see `quantize_rows`, `fill_xdsum`) and read rows
// only after they were written (same task, or an earlier pool round).
unsafe impl Send for QuantPtrs {}
// SAFETY: as above.
unsafe impl Sync for QuantPtrs {}

impl QuantPtrs {
    pub(crate) fn new(s: &mut MatmulScratch) -> Self {
        QuantPtrs {
            xq: s.xq.as_mut_ptr(),
            xd: s.xd.as_mut_ptr(),
            xsum: s.xsum.as_mut_ptr(),
            xdsum: s.xdsum.as_mut_ptr(),
        }
    }

    /// `xdsum = xd·xsum` (an f32 product) for the blocks of rows t0..t1 (nb blocks per row):
    /// the activation side of the offset term.
    ///
    /// # Safety
    /// The scratch holds at least t1 rows of nb blocks, quantized; rows t0..t1 are not
    /// accessed by another task meanwhile.
    pub(crate) unsafe fn fill_xdsum(&self, nb: usize, t0: usize, t1: usize) {
        for i in t0 * nb..t1 * nb {
            // SAFETY: per the function contract.
            unsafe { *self.xdsum.add(i) = *self.xd.add(i) * *self.xsum.add(i) as f32 };
        }
    }
}

/// Prefetches of a tile at block b (weights wb, bb bytes per block): if `stream` (first tile of
/// a panel, weights from DRAM) the block PREFETCH_BLOCKS ahead into L1, and this block's share
/// (`pf_per_block` lines) of the next panel `pf` into L2.
#[inline(always)]
pub(crate) fn prefetch_block(
    wb: *const u8,
    bb: usize,
    b: usize,
    stream: bool,
    pf: (*const u8, usize),
    pf_per_block: usize,
) {
    // Prefetches never fault, so the addresses may run past the panel.
    if stream {
        let ahead = wb.wrapping_add(PREFETCH_BLOCKS * bb);
        for line in (0..bb).step_by(64) {
            crate::simd::prefetch(ahead.wrapping_add(line));
        }
    }
    let l0 = b * pf_per_block;
    for line in l0..(l0 + pf_per_block).min(pf.1) {
        crate::simd::prefetch_l2(pf.0.wrapping_add(line * 64));
    }
}

/// One MR×(NV·VL) output tile over all blocks.
///
/// # Safety
/// `K` supported; `w` = panel start (nb blocks); xq/xd/xs point at the tile's first token
/// (row strides nb·32 / nb / nb) for MR tokens; y valid for MR rows of stride ldy and `ncols`
/// columns (`ncols <= NV·VL`).
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub(crate) unsafe fn tile<K: Int8Isa, const MR: usize, const NV: usize>(
    w: *const u8,
    nb: usize,
    xq: *const i8,
    xd: *const f32,
    xs: *const i32,
    y: *mut f32,
    ldy: usize,
    ncols: usize,
    stream: bool,
    pf: (*const u8, usize),
) {
    let nr = NV * K::VL;
    let bb = IntPanels::block_bytes(nr);
    let pf_per_block = pf.1.div_ceil(nb);
    // SAFETY: per the function contract; all offsets stay inside the panel / tile.
    unsafe {
        let mut accf = [[K::fzero(); NV]; MR];
        for b in 0..nb {
            let wb = w.add(b * bb);
            let mut acci: [[K::I; NV]; MR] = [[K::seed(0); NV]; MR];
            for (t, row) in acci.iter_mut().enumerate() {
                let s = K::seed(*xs.add(t * nb + b));
                *row = [s; NV];
            }
            prefetch_block(wb, bb, b, stream, pf, pf_per_block);
            if MR <= 2 {
                // Few tokens: too few independent vpdpbusd chains to hide latency; run odd
                // k-steps into a second set of accumulators (int32 sums are exact, so the
                // result is unchanged).
                let mut acc2: [[K::I; NV]; MR] = [[K::seed(0); NV]; MR];
                for s in (0..KSTEPS).step_by(2) {
                    let w0: [K::W; NV] =
                        crate::simd::array!(NV, |v| K::load_w(wb.add((s * NV + v) * K::VL * 4)));
                    let w1: [K::W; NV] = crate::simd::array!(NV, |v| K::load_w(
                        wb.add(((s + 1) * NV + v) * K::VL * 4)
                    ));
                    for t in 0..MR {
                        let xp = xq.add(t * nb * QK + b * QK + s * 4);
                        for v in 0..NV {
                            acci[t][v] = K::dot4(acci[t][v], w0[v], xp);
                            acc2[t][v] = K::dot4(acc2[t][v], w1[v], xp.add(4));
                        }
                    }
                }
                for t in 0..MR {
                    for v in 0..NV {
                        acci[t][v] = K::add_i(acci[t][v], acc2[t][v]);
                    }
                }
            } else {
                for s in 0..KSTEPS {
                    let wv: [K::W; NV] =
                        crate::simd::array!(NV, |v| K::load_w(wb.add((s * NV + v) * K::VL * 4)));
                    for (t, row) in acci.iter_mut().enumerate() {
                        let xp = xq.add(t * nb * QK + b * QK + s * 4);
                        for (acc, w) in row.iter_mut().zip(&wv) {
                            *acc = K::dot4(*acc, *w, xp);
                        }
                    }
                }
            }
            let dw = wb.add(nr * QK).cast::<f32>();
            for t in 0..MR {
                let dx = *xd.add(t * nb + b);
                for v in 0..NV {
                    accf[t][v] = K::epilogue(accf[t][v], acci[t][v], dx, dw.add(v * K::VL));
                }
            }
        }
        for (t, row) in accf.iter().enumerate() {
            let yt = y.add(t * ldy);
            if ncols == nr {
                for (v, acc) in row.iter().enumerate() {
                    K::store_f(yt.add(v * K::VL), *acc);
                }
            } else {
                let mut tmp = [0f32; 128];
                for (v, acc) in row.iter().enumerate() {
                    K::store_f(tmp.as_mut_ptr().add(v * K::VL), *acc);
                }
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), yt, ncols);
            }
        }
    }
}

/// Compute panels p0..p1 for the tokens t0..t1: y[t, p·nr + c], minus the offset term
/// ([`offsets`]) if `m` holds the matrix's block offsets.
///
/// # Safety
/// `K` and `S` supported; the panels (and `m`) were packed with nr = NV·K::VL = NV·S::LANES;
/// the scratch `s` holds the quantized activations of tokens t0..t1 (and their `xdsum` if `m`
/// is given); y valid for [t1, rows] and no other task writes y[t0..t1, these panels' columns].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn run_panels<K: Int8Isa, S: F32s, const MR: usize, const NV: usize>(
    w: &IntPanels,
    m: Option<&FloatPanels>,
    s: &QuantPtrs,
    (t0, t1): (usize, usize),
    y: *mut f32,
    rows: usize,
    p0: usize,
    p1: usize,
) {
    debug_assert_eq!(w.nr, NV * K::VL);
    debug_assert!(m.is_none_or(|m| m.nr == NV * S::LANES && m.k == w.nb));
    let nb = w.nb;
    // Tokens are taken in blocks whose quantized activations stay in L2 while every panel of the
    // range passes over them (a long batch would otherwise stream all of them from L3, once per
    // panel); each panel's weights are then read once per block.
    let block = (X_BLOCK_BYTES / (nb * QK)).max(MR) / MR * MR;
    for b0 in (t0..t1).step_by(block) {
        let b1 = (b0 + block).min(t1);
        run_block::<K, S, MR, NV>(w, m, s, y, rows, p0, p1, b0, b1);
    }
}

/// [`run_panels`] for the tokens b0..b1.
///
/// # Safety
/// As [`run_panels`]; t0 <= b0 < b1 <= t1.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn run_block<K: Int8Isa, S: F32s, const MR: usize, const NV: usize>(
    w: &IntPanels,
    m: Option<&FloatPanels>,
    s: &QuantPtrs,
    y: *mut f32,
    rows: usize,
    p0: usize,
    p1: usize,
    b0: usize,
    b1: usize,
) {
    let nb = w.nb;
    let panel_lines = (nb * IntPanels::block_bytes(w.nr)).div_ceil(64);
    let n_tiles = (b1 - b0).div_ceil(MR);
    for p in p0..p1 {
        let wp = w.panel_ptr(p);
        let mp = m.map(|m| m.panel_ptr(p));
        // Later tiles of this panel read it from L1; meanwhile pull the next panel into L2.
        let next = if p + 1 < p1 && n_tiles > 1 {
            w.panel_ptr(p + 1)
        } else {
            std::ptr::null()
        };
        let mut tile_i = 0;
        let c0 = p * w.nr;
        let ncols = w.nr.min(rows - c0);
        let mut t0 = b0;
        while t0 < b1 {
            let mr = MR.min(b1 - t0);
            // SAFETY: per the function contract; t0 + mr <= b1 <= the scratch's quantized rows.
            unsafe {
                let xq = s.xq.cast_const().add(t0 * nb * QK);
                let xd = s.xd.cast_const().add(t0 * nb);
                let xs = s.xsum.cast_const().add(t0 * nb);
                let yt = y.add(t0 * rows + c0);
                let pf = if tile_i > 0 && !next.is_null() {
                    let (a, e) = (
                        (tile_i - 1) * panel_lines / (n_tiles - 1),
                        tile_i * panel_lines / (n_tiles - 1),
                    );
                    (next.add(a * 64), e - a)
                } else {
                    (std::ptr::null(), 0)
                };
                // The offset term of affine parts while the tile is still in L1.
                macro_rules! arm {
                    ($m:literal) => {{
                        K::tile::<$m, NV>(wp, nb, xq, xd, xs, yt, rows, ncols, t0 == b0, pf);
                        if let Some(mp) = mp {
                            let xds = s.xdsum.cast_const().add(t0 * nb);
                            offsets::tile::<S, $m, NV>(mp, nb, xds, yt, rows, ncols);
                        }
                    }};
                }
                by_tile_height!(mr, MR, arm)
            }
            t0 += mr;
            tile_i += 1;
        }
    }
}
