//! Matrix multiplication y = x · Wᵀ against weights repacked once at load.
//!
//! * Integer weights (Q8_0, Q4_0) use llama.cpp's Q8_0×Q8_0 numerics: activations are quantized
//!   per 32-block like `quantize_row_q8_0_ref`, each block's int8 dot product is summed exactly in
//!   int32, and blocks are accumulated in order in f32: `acc = fma(isum·d_x, d_w, acc)`.
//! * Float weights (F32, F16, BF16 → f32 at pack time) use f32 FMAs in k order:
//!   `acc = fma(x[k], w[k], acc)`.
//!
//! Every path computes each output element with exactly this sequence of f32 operations, so a
//! row's result does not depend on the batch, the tile it lands in, or the thread split.

mod scalar;

use crate::pool::{SyncPtr, ThreadPool};
use crate::quant::{block_ints, quantize_block_q8_0, QK};
use crate::{Isa, KernelError, WeightRef};

/// A weight matrix (`rows` outputs × `cols` inputs) repacked for one instruction-set path.
pub struct PackedMatrix {
    isa: Isa,
    rows: usize,
    cols: usize,
    data: Packed,
}

pub(crate) enum Packed {
    /// Row-major f32 weights, [rows, cols].
    Float { w: Vec<f32> },
    /// Row-major int8 weights [rows, cols] and f32 block scales [rows, cols/32].
    Int { q: Vec<i8>, d: Vec<f32> },
}

impl PackedMatrix {
    /// Pack `parts` (stacked along rows, e.g. fused Q/K/V or gate/up; all with the same `cols`)
    /// for the [`active_isa`](crate::active_isa) path.
    ///
    /// If every part is Q8_0/Q4_0 the matrix uses int8 dot products; if every part is a float
    /// type it uses f32 math. Mixed float/quantized parts are all dequantized to f32.
    pub fn pack(parts: &[WeightRef<'_>]) -> Result<PackedMatrix, KernelError> {
        Self::pack_for(crate::active_isa(), parts)
    }

    /// [`pack`](Self::pack) for an explicit path (falls back to a supported one).
    pub fn pack_for(isa: Isa, parts: &[WeightRef<'_>]) -> Result<PackedMatrix, KernelError> {
        let isa = isa.or_supported();
        let first = parts.first().ok_or(KernelError::NoParts)?;
        let cols = first.cols;
        let mut rows = 0;
        for (i, p) in parts.iter().enumerate() {
            if p.cols != cols {
                return Err(KernelError::ColsMismatch {
                    part: i,
                    expected: cols,
                    got: p.cols,
                });
            }
            if p.rows == 0 || p.cols == 0 {
                return Err(KernelError::EmptyMatrix {
                    part: i,
                    rows: p.rows,
                    cols: p.cols,
                });
            }
            let Some(rb) = p.wtype.row_bytes(cols) else {
                return Err(KernelError::BadBlockAlignment {
                    part: i,
                    wtype: p.wtype,
                    block: p.wtype.block_size(),
                    cols,
                });
            };
            let expected = rb * p.rows;
            if p.data.len() != expected {
                return Err(KernelError::DataLength {
                    part: i,
                    wtype: p.wtype,
                    rows: p.rows,
                    cols,
                    expected,
                    got: p.data.len(),
                });
            }
            rows += p.rows;
        }
        let all_int = parts.iter().all(|p| p.wtype.is_quantized());
        let data = if all_int {
            let nb = cols / QK;
            let mut q = vec![0i8; rows * cols];
            let mut d = vec![0f32; rows * nb];
            let mut r = 0;
            let mut blk = [0i8; QK];
            for p in parts {
                let rb = p.wtype.row_bytes(cols).expect("checked above");
                for row in p.data.chunks_exact(rb) {
                    for b in 0..nb {
                        d[r * nb + b] = block_ints(p.wtype, row, b, &mut blk);
                        q[r * cols + b * QK..][..QK].copy_from_slice(&blk);
                    }
                    r += 1;
                }
            }
            Packed::Int { q, d }
        } else {
            let mut w = vec![0f32; rows * cols];
            let mut r = 0;
            for p in parts {
                let rb = p.wtype.row_bytes(cols).expect("checked above");
                for row in p.data.chunks_exact(rb) {
                    crate::dequantize_row(p.wtype, row, &mut w[r * cols..(r + 1) * cols])?;
                    r += 1;
                }
            }
            Packed::Float { w }
        };
        Ok(PackedMatrix {
            isa,
            rows,
            cols,
            data,
        })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes held by the packed weights.
    pub fn size_bytes(&self) -> usize {
        match &self.data {
            Packed::Float { w } => w.len() * 4,
            Packed::Int { q, d } => q.len() + d.len() * 4,
        }
    }

    /// The path this matrix was packed for (and that [`matmul`] will run).
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the matrix uses int8 dot products (quantized activations).
    pub fn is_int8(&self) -> bool {
        matches!(self.data, Packed::Int { .. })
    }
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedMatrix")
            .field("isa", &self.isa)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("int8", &self.is_int8())
            .finish()
    }
}

/// Scratch for [`matmul`]: the quantized activations. Allocate once with the largest batch and
/// row length, reuse for every call.
pub struct MatmulScratch {
    /// [max_tokens, max_cols] quantized activations.
    pub(crate) xq: Vec<i8>,
    /// [max_tokens, max_cols/32] activation block scales (f16-rounded).
    pub(crate) xd: Vec<f32>,
    /// [max_tokens, max_cols/32] Σq per activation block.
    pub(crate) xsum: Vec<i32>,
}

impl MatmulScratch {
    /// Scratch for up to `max_tokens` rows of up to `max_cols` inputs.
    pub fn new(max_tokens: usize, max_cols: usize) -> Self {
        let nb = max_cols.div_ceil(QK);
        MatmulScratch {
            xq: vec![0; max_tokens * nb * QK],
            xd: vec![0.0; max_tokens * nb],
            xsum: vec![0; max_tokens * nb],
        }
    }

    /// Grow (only if a caller under-sized it) to hold `n_tok` rows of `cols`.
    fn ensure(&mut self, n_tok: usize, cols: usize) {
        let nb = cols.div_ceil(QK);
        if self.xq.len() < n_tok * nb * QK {
            self.xq.resize(n_tok * nb * QK, 0);
        }
        if self.xd.len() < n_tok * nb {
            self.xd.resize(n_tok * nb, 0.0);
            self.xsum.resize(n_tok * nb, 0);
        }
    }
}

/// y[t, :] = W · x[t, :] for t in 0..n_tok.   x: [n_tok, w.cols()]   y: [n_tok, w.rows()]
/// (overwritten). Batch invariant: y[t] is bit-identical whatever n_tok, the other rows of x,
/// and the pool's thread count.
pub fn matmul(
    w: &PackedMatrix,
    x: &[f32],
    n_tok: usize,
    y: &mut [f32],
    scratch: &mut MatmulScratch,
    pool: &ThreadPool,
) {
    let (rows, cols) = (w.rows, w.cols);
    assert_eq!(x.len(), n_tok * cols, "matmul: x must be [n_tok, cols]");
    assert_eq!(y.len(), n_tok * rows, "matmul: y must be [n_tok, rows]");
    if n_tok == 0 {
        return;
    }
    if w.is_int8() {
        scratch.ensure(n_tok, cols);
        quantize_activations(x, n_tok, cols, scratch, pool);
    }
    let scratch = &*scratch;
    // Split output rows into chunks; every chunk computes all tokens of its rows.
    let chunk = rows.div_ceil(pool.n_threads() * 4).max(16);
    let n_chunks = rows.div_ceil(chunk);
    let yp = SyncPtr(y.as_mut_ptr());
    let task = |c: usize| {
        let r0 = c * chunk;
        let r1 = (r0 + chunk).min(rows);
        // SAFETY: chunks cover disjoint row ranges, so tasks write disjoint elements of y,
        // which outlives `pool.run`; y has n_tok*rows elements (asserted above).
        let y = unsafe { std::slice::from_raw_parts_mut(yp.get(), n_tok * rows) };
        scalar::matmul_rows(w, x, n_tok, scratch, r0, r1, y);
    };
    pool.run(n_chunks, &task);
}

/// Quantize every row of x ([n_tok, cols]) into the scratch.
fn quantize_activations(
    x: &[f32],
    n_tok: usize,
    cols: usize,
    s: &mut MatmulScratch,
    _pool: &ThreadPool,
) {
    let nb = cols / QK;
    for t in 0..n_tok {
        for b in 0..nb {
            let xi = &x[t * cols + b * QK..][..QK];
            let qo = &mut s.xq[(t * nb + b) * QK..][..QK];
            let (d, sum) = quantize_block_q8_0(xi, qo);
            s.xd[t * nb + b] = d;
            s.xsum[t * nb + b] = sum;
        }
    }
}

#[cfg(test)]
mod tests;
