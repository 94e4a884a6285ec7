//! Repacking weights at load, spread over a thread pool.
//!
//! The packed matrix is cut into work units — one panel of `nr` output rows on the SIMD paths,
//! [`SCALAR_ROWS`] rows of the row-major form on the scalar path — and each unit is converted
//! from the file's bytes straight into its place: row by row (`quant::row_ints` for int8,
//! [`crate::dequantize_row`] for f32), then scattered into the panel layout. Units are
//! disjoint, so the pool runs them in any order on any thread, and a row is converted the same
//! way whatever its unit or thread: the packed bytes never depend on the thread count (the
//! tests compare them with a serial row-major packing, byte for byte).

use super::aligned::AlignedBytes;
use super::float::FloatPanels;
use super::int8::{IntPanels, Layout};
use super::{panel_rows, Packed, SCALAR_ROWS};
use crate::pool::ThreadPool;
use crate::quant::{row_ints, QK};
use crate::{Isa, WeightRef, WeightType};
use std::sync::{Mutex, MutexGuard};

/// `parts` stacked along rows (all with `cols` columns, lengths already checked).
struct Stacked<'a> {
    parts: &'a [WeightRef<'a>],
    cols: usize,
}

impl Stacked<'_> {
    /// Type and bytes of row `r` of the stack.
    #[inline]
    fn row(&self, mut r: usize) -> (WeightType, &[u8]) {
        for p in self.parts {
            if r < p.rows {
                let rb = p.wtype.row_bytes(self.cols).expect("checked by pack_for");
                return (p.wtype, &p.data[r * rb..(r + 1) * rb]);
            }
            r -= p.rows;
        }
        unreachable!("row beyond the stacked parts")
    }
}

/// One thread's buffers for converting a row: int8 values [cols], scales and offsets
/// [cols/32], f32 values [cols].
struct RowBufs {
    q: Vec<i8>,
    d: Vec<f32>,
    m: Vec<f32>,
    tmp: Vec<f32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked; the pool re-raises that panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f(unit index, unit, row buffers)` for every unit on the pool, each thread with its
/// own buffers.
fn for_units<U: Send>(
    pool: &ThreadPool,
    cols: usize,
    units: Vec<U>,
    f: impl Fn(usize, &mut U, &mut RowBufs) + Sync,
) {
    let bufs: Vec<Mutex<RowBufs>> = (0..pool.n_threads())
        .map(|_| {
            Mutex::new(RowBufs {
                q: vec![0; cols],
                d: vec![0.0; cols / QK],
                m: vec![0.0; cols / QK],
                tmp: vec![0.0; cols],
            })
        })
        .collect();
    // Each unit is locked by the one task that fills it, each buffer set by the one thread
    // that owns it: the locks are never contended.
    let units: Vec<Mutex<U>> = units.into_iter().map(Mutex::new).collect();
    pool.run_on_threads(units.len(), &|i, th| {
        f(i, &mut lock(&units[i]), &mut lock(&bufs[th]));
    });
}

/// Writes one 32-block of weights `q` of panel column `c` into the panel block `blk` in
/// `layout`'s order, XORed with `bias` (0x80 for VNNI's unsigned operand, else 0).
#[inline(always)]
fn scatter_block(layout: Layout, nr: usize, c: usize, q: &[i8], bias: u8, blk: &mut [u8]) {
    let run = layout.run();
    for (j, qs) in q.chunks_exact(run).enumerate() {
        let dst = &mut blk[layout.offset(nr, c, j * run)..][..run];
        for (o, &v) in dst.iter_mut().zip(qs) {
            *o = v as u8 ^ bias;
        }
    }
}

/// The int8 form of quantized `parts` ([rows, cols] stacked) for `isa`: row-major int8 values,
/// scales and (if any part is affine) offsets on the scalar path, VNNI panels and offset
/// panels on the SIMD ones.
pub(super) fn pack_int(
    isa: Isa,
    parts: &[WeightRef<'_>],
    rows: usize,
    cols: usize,
    pool: &ThreadPool,
) -> Packed {
    let nb = cols / QK;
    let src = Stacked { parts, cols };
    let affine = parts.iter().any(|p| p.wtype.is_affine());
    if isa == Isa::Scalar {
        let mut q = vec![0i8; rows * cols];
        let mut d = vec![0f32; rows * nb];
        let mut m = affine.then(|| vec![0f32; rows * nb]);
        let n_units = rows.div_ceil(SCALAR_ROWS);
        let m_units: Vec<Option<&mut [f32]>> = match &mut m {
            Some(m) => m.chunks_mut(SCALAR_ROWS * nb).map(Some).collect(),
            None => (0..n_units).map(|_| None).collect(),
        };
        let units: Vec<_> = q
            .chunks_mut(SCALAR_ROWS * cols)
            .zip(d.chunks_mut(SCALAR_ROWS * nb))
            .zip(m_units)
            .collect();
        for_units(pool, cols, units, |u, ((q, d), m), s| {
            let row_chunks = q.chunks_exact_mut(cols).zip(d.chunks_exact_mut(nb));
            for (i, (q, d)) in row_chunks.enumerate() {
                let (wtype, row) = src.row(u * SCALAR_ROWS + i);
                let m = match m {
                    Some(m) => &mut m[i * nb..(i + 1) * nb],
                    None => &mut s.m[..],
                };
                row_ints(wtype, row, q, d, m, &mut s.tmp);
            }
        });
        return Packed::Int { q, d, m };
    }

    let (nr, _, layout) = panel_rows(isa);
    let bias = if layout == Layout::Biased4 { 0x80 } else { 0 };
    let n_panels = rows.div_ceil(nr);
    let bb = IntPanels::block_bytes(nr);
    let mut buf = AlignedBytes::zeroed(n_panels * nb * bb);
    // [panel][nb][nr] f32 offsets
    let mut mbuf = affine.then(|| AlignedBytes::zeroed(n_panels * nb * nr * 4));
    let m_units: Vec<Option<&mut [f32]>> = match &mut mbuf {
        Some(m) => m.as_f32_mut().chunks_mut(nb * nr).map(Some).collect(),
        None => (0..n_panels).map(|_| None).collect(),
    };
    let units: Vec<_> = buf
        .as_bytes_mut()
        .chunks_mut(nb * bb)
        .zip(m_units)
        .collect();
    let fill = PanelFill {
        src,
        rows,
        nr,
        bb,
        layout,
        bias,
    };
    for_units(pool, cols, units, |p, (panel, mp), s| {
        // The conversion (`row_ints`, always inlined) compiled for `isa`'s vectors: a Q6_K
        // file's weights are all dequantized and re-quantized here.
        crate::simd::on(
            isa,
            #[inline(always)]
            || fill.panel(p, panel, mp.as_deref_mut(), s),
        )
    });
    Packed::IntPanels(
        IntPanels::from_buf(buf, nr, nb, n_panels),
        mbuf.map(|m| FloatPanels::from_buf(m, nr, nb, n_panels)),
    )
}

/// Writes int8 panels: the source rows, the panel shape and the byte layout.
struct PanelFill<'a> {
    src: Stacked<'a>,
    /// Rows of the whole matrix.
    rows: usize,
    /// Columns per panel.
    nr: usize,
    /// Bytes per panel block.
    bb: usize,
    layout: Layout,
    bias: u8,
}

impl PanelFill<'_> {
    /// Panel `p` ([nb] blocks of `bb` bytes) and its offsets `mp` ([nb][nr]), if any.
    #[inline(always)]
    fn panel(&self, p: usize, panel: &mut [u8], mut mp: Option<&mut [f32]>, s: &mut RowBufs) {
        let (nr, bb) = (self.nr, self.bb);
        for c in 0..nr {
            let r = p * nr + c;
            if r >= self.rows {
                // padding columns: zero weights (biased), zero scales and offsets
                for blk in panel.chunks_exact_mut(bb) {
                    scatter_block(self.layout, nr, c, &[0; QK], self.bias, blk);
                }
                continue;
            }
            let (wtype, row) = self.src.row(r);
            row_ints(wtype, row, &mut s.q, &mut s.d, &mut s.m, &mut s.tmp);
            let blocks = panel.chunks_exact_mut(bb).zip(s.q.chunks_exact(QK));
            for (b, (blk, q)) in blocks.enumerate() {
                scatter_block(self.layout, nr, c, q, self.bias, blk);
                blk[nr * QK + c * 4..][..4].copy_from_slice(&s.d[b].to_ne_bytes());
            }
            if let Some(mp) = mp.as_deref_mut() {
                for (b, &m) in s.m.iter().enumerate() {
                    mp[b * nr + c] = m;
                }
            }
        }
    }
}

/// The f32 form of `parts` ([rows, cols] stacked, each row dequantized exactly) for `isa`:
/// row-major on the scalar path, f32 panels on the SIMD ones.
pub(super) fn pack_float(
    isa: Isa,
    parts: &[WeightRef<'_>],
    rows: usize,
    cols: usize,
    pool: &ThreadPool,
) -> Packed {
    let src = Stacked { parts, cols };
    let dequantize = |r: usize, out: &mut [f32]| {
        let (wtype, row) = src.row(r);
        crate::dequantize_row(wtype, row, out).expect("row length checked by pack_for");
    };
    if isa == Isa::Scalar {
        let mut w = vec![0f32; rows * cols];
        let units: Vec<_> = w.chunks_mut(SCALAR_ROWS * cols).collect();
        for_units(pool, cols, units, |u, w, _| {
            for (i, row) in w.chunks_exact_mut(cols).enumerate() {
                dequantize(u * SCALAR_ROWS + i, row);
            }
        });
        return Packed::Float { w };
    }
    let nr = panel_rows(isa).1;
    let n_panels = rows.div_ceil(nr);
    // [panel][cols][nr] f32; padding columns stay zero
    let mut buf = AlignedBytes::zeroed(n_panels * cols * nr * 4);
    let units: Vec<_> = buf.as_f32_mut().chunks_mut(cols * nr).collect();
    for_units(pool, cols, units, |p, panel, s| {
        for c in 0..nr.min(rows - p * nr) {
            dequantize(p * nr + c, &mut s.tmp);
            for (k, &v) in s.tmp.iter().enumerate() {
                panel[k * nr + c] = v;
            }
        }
    });
    Packed::FloatPanels(FloatPanels::from_buf(buf, nr, cols, n_panels))
}
