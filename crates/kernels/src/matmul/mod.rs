//! Matrix multiplication y = x · Wᵀ against weights repacked once at load.
//!
//! * Integer weights (Q8_0, Q4_0) use llama.cpp's Q8_0×Q8_0 numerics: activations are quantized
//!   per 32-block like `quantize_row_q8_0_ref`, each block's int8 dot product is summed exactly in
//!   int32, and blocks are accumulated in order in f32: `acc = fma(isum·d_x, d_w, acc)`.
//! * Float weights (F32, F16, BF16 → f32 at pack time) use f32 FMAs in k order:
//!   `acc = fma(x[k], w[k], acc)`.
//! * Affine weights (Q4_1, Q5_1, Q4_K, Q5_K: `a·q − b` per 32-block) run the same int8 product
//!   on their integers `q` with scales `a`, then subtract, per output, the offset term
//!   `corr = Σ_b m[b] · (d_x[b] · Σq_x[b])` (blocks in order from +0, one FMA per block,
//!   vectorized across outputs only; `offsets.rs`): `y = acc − corr`.
//!
//! Every path computes each output element with exactly this sequence of f32 operations, so a
//! row's result does not depend on the batch, the tile it lands in, or the thread split.

/// Calls `$tile!(m)` with the literal `m` equal to the tile height `$mr` (1..=8, at most `$max`,
/// the register tile's height): the const-generic tile bodies of `float`, `int8` and `offsets`
/// are chosen this way.
macro_rules! by_tile_height {
    ($mr:expr, $max:expr, $tile:ident) => {
        match $mr {
            1 => $tile!(1),
            2 => $tile!(2),
            3 => $tile!(3),
            4 => $tile!(4),
            5 if $max >= 5 => $tile!(5),
            6 if $max >= 6 => $tile!(6),
            7 if $max >= 7 => $tile!(7),
            8 if $max >= 8 => $tile!(8),
            mr => unreachable!("tile height {mr} > 8"),
        }
    };
}

mod aligned;
mod float;
mod int8;
#[cfg(target_arch = "aarch64")]
mod int8_arm;
#[cfg(target_arch = "x86_64")]
mod int8_x86;
mod offsets;
mod pack;
mod scalar;

use crate::pool::{SyncPtr, ThreadPool};
use crate::quant::{quantize_block_q8_0, QK};
use crate::{Isa, KernelError, WeightRef};
use float::FloatPanels;
use int8::{IntPanels, QuantPtrs};

/// Register tiles (tokens MR × vectors NV) per path, chosen by measurement (examples/gemm_bench).
/// (ARM64 ones chosen on paper: see the crate docs; no ARM host was available to measure.)
mod tiles {
    #[cfg(target_arch = "x86_64")]
    pub(super) const I512: (usize, usize) = (6, 2);
    #[cfg(target_arch = "x86_64")]
    pub(super) const I256_VNNI: (usize, usize) = (3, 2);
    #[cfg(target_arch = "x86_64")]
    pub(super) const I256: (usize, usize) = (2, 2);
    #[cfg(target_arch = "x86_64")]
    pub(super) const F512: (usize, usize) = (6, 2);
    #[cfg(target_arch = "x86_64")]
    pub(super) const F256: (usize, usize) = (4, 2);
    /// SMMLA: 6 tokens (3 pairs) × 2 "vectors" of 4 columns (4 column pairs).
    #[cfg(target_arch = "aarch64")]
    pub(super) const I_MMLA: (usize, usize) = (6, 2);
    /// SDOT: 6 tokens × 4 vectors of 4 columns (24 accumulators).
    #[cfg(target_arch = "aarch64")]
    pub(super) const I_SDOT: (usize, usize) = (6, 4);
    /// NEON widening multiplies: 4 tokens × 4 vectors.
    #[cfg(target_arch = "aarch64")]
    pub(super) const I_NEON: (usize, usize) = (4, 4);
    #[cfg(target_arch = "aarch64")]
    pub(super) const F_NEON: (usize, usize) = (6, 4);
}

/// Output rows per panel for `isa` (int8, f32) and the int8 weight layout.
fn panel_rows(isa: Isa) -> (usize, usize, int8::Layout) {
    use int8::Layout::*;
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Bf16 => (16 * tiles::I512.1, 16 * tiles::F512.1, Biased4),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Vnni => (8 * tiles::I256_VNNI.1, 8 * tiles::F256.1, Biased4),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => (8 * tiles::I256.1, 8 * tiles::F256.1, Biased4),
        #[cfg(target_arch = "aarch64")]
        Isa::NeonI8mm => (4 * tiles::I_MMLA.1, 4 * tiles::F_NEON.1, Pairs8),
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDotprod => (4 * tiles::I_SDOT.1, 4 * tiles::F_NEON.1, Signed4),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => (4 * tiles::I_NEON.1, 4 * tiles::F_NEON.1, Signed4),
        Isa::Scalar => (SCALAR_ROWS, SCALAR_ROWS, Signed4),
    }
}

/// Rows per work unit of the scalar path.
const SCALAR_ROWS: usize = 16;

/// A weight matrix (`rows` outputs × `cols` inputs) repacked for one instruction-set path.
pub struct PackedMatrix {
    isa: Isa,
    rows: usize,
    cols: usize,
    data: Packed,
}

pub(crate) enum Packed {
    /// Row-major f32 weights, [rows, cols] (scalar path).
    Float { w: Vec<f32> },
    /// Row-major int8 weights [rows, cols], f32 block scales [rows, cols/32] and, if any part
    /// is affine, f32 block offsets [rows, cols/32] (scalar path).
    Int {
        q: Vec<i8>,
        d: Vec<f32>,
        m: Option<Vec<f32>>,
    },
    /// f32 panels (SIMD paths).
    FloatPanels(FloatPanels),
    /// VNNI int8 panels and, if any part is affine, the block offsets as f32 panels
    /// ([panel][cols/32][nr], the int8 panels' width) (SIMD paths).
    IntPanels(IntPanels, Option<FloatPanels>),
}

impl PackedMatrix {
    /// Pack `parts` (stacked along rows, e.g. fused Q/K/V or gate/up; all with the same `cols`)
    /// for the [`active_isa`](crate::active_isa) path.
    ///
    /// If every part is quantized (any mix of [`WeightType`](crate::WeightType)s: fused parts
    /// may differ, e.g. a Q6_K `attn_v` beside Q4_K `attn_q`/`attn_k`) the matrix uses int8 dot
    /// products, each row converted as `quant::row_ints` describes (plus a per-block offset
    /// term for the affine types Q4_1/Q5_1/Q4_K/Q5_K); if every part is a float
    /// type it uses f32 math. Mixed float/quantized parts are all dequantized to f32.
    ///
    /// Runs on the calling thread; [`pack_on`](Self::pack_on) spreads the work over a pool.
    pub fn pack(parts: &[WeightRef<'_>]) -> Result<PackedMatrix, KernelError> {
        Self::pack_for(crate::active_isa(), parts)
    }

    /// [`pack`](Self::pack) with the conversion spread over `pool`'s threads (panels are
    /// converted independently: the result is the same for any thread count).
    pub fn pack_on(
        parts: &[WeightRef<'_>],
        pool: &ThreadPool,
    ) -> Result<PackedMatrix, KernelError> {
        Self::pack_for_on(crate::active_isa(), parts, pool)
    }

    /// [`pack`](Self::pack) for an explicit path (falls back to a supported one).
    pub fn pack_for(isa: Isa, parts: &[WeightRef<'_>]) -> Result<PackedMatrix, KernelError> {
        Self::pack_for_on(isa, parts, &ThreadPool::new(1))
    }

    /// [`pack_for`](Self::pack_for) spread over `pool`'s threads.
    pub fn pack_for_on(
        isa: Isa,
        parts: &[WeightRef<'_>],
        pool: &ThreadPool,
    ) -> Result<PackedMatrix, KernelError> {
        Self::pack_impl(isa, parts, pool, false)
    }

    /// [`pack_on`](Self::pack_on), but quantized parts are dequantized to f32 too
    /// ([`crate::dequantize_row`]), so the matmul runs in f32 without quantizing the
    /// activations.
    pub fn pack_f32_on(
        parts: &[WeightRef<'_>],
        pool: &ThreadPool,
    ) -> Result<PackedMatrix, KernelError> {
        Self::pack_impl(crate::active_isa(), parts, pool, true)
    }

    fn pack_impl(
        isa: Isa,
        parts: &[WeightRef<'_>],
        pool: &ThreadPool,
        f32_only: bool,
    ) -> Result<PackedMatrix, KernelError> {
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
        let data = if !f32_only && parts.iter().all(|p| p.wtype.is_quantized()) {
            pack::pack_int(isa, parts, rows, cols, pool)
        } else {
            pack::pack_float(isa, parts, rows, cols, pool)
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
            Packed::Int { q, d, m } => {
                q.len() + d.len() * 4 + m.as_ref().map_or(0, |m| m.len() * 4)
            }
            Packed::FloatPanels(p) => p.size_bytes(),
            Packed::IntPanels(p, m) => p.size_bytes() + m.as_ref().map_or(0, |m| m.size_bytes()),
        }
    }

    /// The path this matrix was packed for (and that [`matmul`] will run).
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the matrix uses int8 dot products (quantized activations).
    pub fn is_int8(&self) -> bool {
        matches!(self.data, Packed::Int { .. } | Packed::IntPanels(..))
    }

    /// Whether the matrix has affine parts (a block offset term after the int8 product).
    fn has_offsets(&self) -> bool {
        matches!(
            self.data,
            Packed::Int { m: Some(_), .. } | Packed::IntPanels(_, Some(_))
        )
    }

    /// Independent work units (panels, or row chunks on the scalar path).
    fn n_units(&self) -> usize {
        match &self.data {
            Packed::Float { .. } | Packed::Int { .. } => self.rows.div_ceil(SCALAR_ROWS),
            Packed::FloatPanels(p) => p.n_panels,
            Packed::IntPanels(p, _) => p.n_panels,
        }
    }

    /// Compute output columns of units u0..u1 for the tokens `toks` = (t0, t1).
    ///
    /// # Safety
    /// y is valid for [t1, rows]; no other thread writes y[t0..t1, these units' columns]; for
    /// int8 matrices the scratch `s` holds the quantized x of tokens t0..t1.
    #[allow(clippy::too_many_arguments)]
    unsafe fn compute_units(
        &self,
        x: &[f32],
        toks: (usize, usize),
        s: &QuantPtrs,
        y: *mut f32,
        u0: usize,
        u1: usize,
    ) {
        let rows = self.rows;
        match &self.data {
            Packed::Float { .. } | Packed::Int { .. } => {
                let (r0, r1) = (u0 * SCALAR_ROWS, (u1 * SCALAR_ROWS).min(rows));
                // SAFETY: per this function's contract (this task owns columns r0..r1 of y).
                crate::simd::on(
                    Isa::Scalar,
                    #[inline(always)]
                    || unsafe { scalar::matmul_rows(self, x, toks, s, r0, r1, y) },
                );
            }
            Packed::IntPanels(p, m) => {
                #[cfg(target_arch = "aarch64")]
                use crate::simd::Neon;
                #[cfg(target_arch = "x86_64")]
                use crate::simd::{Avx2, Avx512};
                #[cfg(target_arch = "aarch64")]
                use int8_arm::{NeonSdot, NeonSmmla, NeonWide};
                #[cfg(target_arch = "x86_64")]
                use int8_x86::{Avx2Maddubs, Avx512Vnni, AvxVnni};
                use tiles::*;
                let isa = self.isa;
                // SAFETY: the matrix was packed for `isa` (supported: pack_for resolves it) with
                // the panel width and layout of the same tiles; the rest per the function
                // contract.
                crate::simd::on(
                    isa,
                    #[inline(always)]
                    || unsafe {
                        // The offset term (affine parts) is subtracted tile by tile, right after
                        // each int8 tile, as f32 vectors of the panel's width (i32 and f32 lanes
                        // per vector are equal).
                        let m = m.as_ref();
                        macro_rules! run {
                            ($k:ty, $s:ty, $t:expr) => {
                                int8::run_panels::<$k, $s, { $t.0 }, { $t.1 }>(
                                    p, m, s, toks, y, rows, u0, u1,
                                )
                            };
                        }
                        match isa {
                            #[cfg(target_arch = "x86_64")]
                            Isa::Avx512 | Isa::Avx512Bf16 => run!(Avx512Vnni, Avx512, I512),
                            #[cfg(target_arch = "x86_64")]
                            Isa::Avx2Vnni => run!(AvxVnni, Avx2, I256_VNNI),
                            #[cfg(target_arch = "x86_64")]
                            Isa::Avx2 => run!(Avx2Maddubs, Avx2, I256),
                            #[cfg(target_arch = "aarch64")]
                            Isa::NeonI8mm => run!(NeonSmmla, Neon, I_MMLA),
                            #[cfg(target_arch = "aarch64")]
                            Isa::NeonDotprod => run!(NeonSdot, Neon, I_SDOT),
                            #[cfg(target_arch = "aarch64")]
                            Isa::Neon => run!(NeonWide, Neon, I_NEON),
                            Isa::Scalar => unreachable!("the scalar path packs no panels"),
                        }
                    },
                )
            }
            Packed::FloatPanels(p) => {
                #[cfg(target_arch = "aarch64")]
                use crate::simd::Neon;
                #[cfg(target_arch = "x86_64")]
                use crate::simd::{Avx2, Avx512};
                use tiles::*;
                let isa = self.isa;
                // SAFETY: as above.
                crate::simd::on(
                    isa,
                    #[inline(always)]
                    || unsafe {
                        macro_rules! run {
                            ($s:ty, $t:expr) => {
                                float::run_panels::<$s, { $t.0 }, { $t.1 }>(
                                    p, x, toks, y, rows, u0, u1,
                                )
                            };
                        }
                        match isa {
                            #[cfg(target_arch = "x86_64")]
                            Isa::Avx512 | Isa::Avx512Bf16 => run!(Avx512, F512),
                            #[cfg(target_arch = "x86_64")]
                            Isa::Avx2 | Isa::Avx2Vnni => run!(Avx2, F256),
                            #[cfg(target_arch = "aarch64")]
                            Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => run!(Neon, F_NEON),
                            Isa::Scalar => unreachable!("the scalar path packs no panels"),
                        }
                    },
                )
            }
        }
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
    /// [max_tokens, max_cols/32] d·Σq per activation block (f32 product; only filled for
    /// matrices with block offsets).
    pub(crate) xdsum: Vec<f32>,
}

impl MatmulScratch {
    /// Scratch for up to `max_tokens` rows of up to `max_cols` inputs.
    pub fn new(max_tokens: usize, max_cols: usize) -> Self {
        let nb = max_cols.div_ceil(QK);
        MatmulScratch {
            xq: vec![0; max_tokens * nb * QK],
            xd: vec![0.0; max_tokens * nb],
            xsum: vec![0; max_tokens * nb],
            xdsum: vec![0.0; max_tokens * nb],
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
            self.xdsum.resize(n_tok * nb, 0.0);
        }
    }
}

/// Tokens per thread from which [`matmul`] splits an int8 matmul by tokens instead of by output
/// columns. Below it the weights come from DRAM and dominate: a token split makes every thread
/// stream all of them (EmbeddingGemma Q4_K_M, 2 threads, Zen 4: 18-token inputs ran 13% slower
/// split at 9 tokens per thread). From here on each weight byte serves enough work that reading
/// it once per thread costs little, while the split saves the quantizer's separate pool round
/// and keeps each token's rows on one core (batch throughput +0.4-1%, `gemm_bench --q4k` at
/// 128-424 tokens +1-4%).
const SPLIT_TOKENS_MIN: usize = 128;

/// y[t, :] = W · x[t, :] for t in 0..n_tok.   x: [n_tok, w.cols()]   y: [n_tok, w.rows()]
/// (overwritten). Batch invariant: `y[t]` is bit-identical whatever n_tok, the other rows of x,
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
    let int8 = w.is_int8();
    if int8 {
        scratch.ensure(n_tok, cols);
    }
    let nb = cols / QK;
    let offsets = w.has_offsets();
    let units = w.n_units();
    let yp = SyncPtr(y.as_mut_ptr());
    let xp = QuantPtrs::new(scratch);
    let n_threads = pool.n_threads();
    if int8 && w.isa != Isa::Scalar && n_threads > 1 && n_tok >= SPLIT_TOKENS_MIN * n_threads {
        // Many tokens: each task takes a contiguous range of tokens through the whole
        // matrix, quantizing its own rows first. Its activations, quantized activations and
        // outputs then stay in its core's caches (a split by output columns makes every thread
        // read every token's activations and write part of every output row, so the next op
        // finds half of each row in the other core's cache), and quantizing costs no extra
        // round of the pool. Each task streams all the weights, which at this many tokens
        // per task come from L2/L3 at a small fraction of the compute time.
        let task = |i: usize| {
            let (t0, t1) = (i * n_tok / n_threads, (i + 1) * n_tok / n_threads);
            // SAFETY: the scratch holds n_tok rows of cols (ensure); tasks quantize, then
            // read, disjoint token rows; y is [n_tok, rows] (asserted above) and outlives
            // `pool.run`, and tasks write disjoint rows of it.
            unsafe {
                quantize_range(w.isa, x, cols, &xp, t0, t1);
                if offsets {
                    xp.fill_xdsum(nb, t0, t1);
                }
                w.compute_units(x, (t0, t1), &xp, yp.get(), 0, units);
            }
        };
        pool.run(n_threads, &task);
        return;
    }
    if int8 {
        quantize_activations(w.isa, x, n_tok, cols, scratch, pool);
        if offsets {
            // SAFETY: n_tok rows were quantized; no task runs.
            unsafe { xp.fill_xdsum(nb, 0, n_tok) };
        }
    }
    // One contiguous range of units (output panels) per thread: each thread streams its
    // weights front to back, prefetching the next panel while it computes the current one, and
    // only the first panel of a range starts cold. (Finer tasks balance better on a loaded
    // machine but measured 10-20% slower at 18-60 tokens, where the weights come from DRAM.)
    let n_tasks = units.min(n_threads);
    let task = |i: usize| {
        let u0 = i * units / n_tasks;
        let u1 = (i + 1) * units / n_tasks;
        // SAFETY: tasks cover disjoint unit ranges, hence disjoint columns of y, which is
        // [n_tok, rows] (asserted above) and outlives `pool.run`; the scratch holds all rows.
        unsafe { w.compute_units(x, (0, n_tok), &xp, yp.get(), u0, u1) };
    };
    pool.run(n_tasks, &task);
}

/// Quantize rows t0..t1 of x ([n_tok, cols]) into the scratch `s` on `isa`'s quantizer (the
/// scalar one is the reference, [`quantize_block_q8_0`]; all give the same bits).
///
/// # Safety
/// The scratch holds at least t1 rows of `cols`; x valid for t1×cols; rows t0..t1 of the
/// scratch are not accessed concurrently.
unsafe fn quantize_range(isa: Isa, x: &[f32], cols: usize, s: &QuantPtrs, t0: usize, t1: usize) {
    let nb = cols / QK;
    if isa == Isa::Scalar {
        for i in t0 * nb..t1 * nb {
            // SAFETY: per the function contract (block i of row i / nb).
            unsafe {
                let qo = std::slice::from_raw_parts_mut(s.xq.add(i * QK), QK);
                let (d, sum) = quantize_block_q8_0(&x[i * QK..(i + 1) * QK], qo);
                *s.xd.add(i) = d;
                *s.xsum.add(i) = sum;
            }
        }
        return;
    }
    // SAFETY: `isa` is supported (the caller's matrix was packed for it); the rest per the
    // function contract.
    crate::simd::on(
        isa,
        #[inline(always)]
        || unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 | Isa::Avx512Bf16 => {
                    int8::quantize_rows::<int8_x86::Avx512Vnni>(x, cols, s, t0, t1)
                }
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx2Vnni => {
                    int8::quantize_rows::<int8_x86::AvxVnni>(x, cols, s, t0, t1)
                }
                // One NEON quantizer serves all three ARM paths.
                #[cfg(target_arch = "aarch64")]
                Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => {
                    int8::quantize_rows::<int8_arm::NeonWide>(x, cols, s, t0, t1)
                }
                Isa::Scalar => unreachable!("handled above"),
            }
        },
    );
}

/// Quantize every row of x ([n_tok, cols]) into the scratch (Q8_0 reference numerics on every
/// path), splitting tokens across the pool when there are many.
fn quantize_activations(
    isa: Isa,
    x: &[f32],
    n_tok: usize,
    cols: usize,
    s: &mut MatmulScratch,
    pool: &ThreadPool,
) {
    let ptrs = QuantPtrs::new(s);
    let n_tasks = if isa != Isa::Scalar && n_tok * cols >= 16 * 1024 {
        pool.n_threads().min(n_tok)
    } else {
        1
    };
    let task = |i: usize| {
        let (t0, t1) = (i * n_tok / n_tasks, (i + 1) * n_tok / n_tasks);
        // SAFETY: the scratch was sized for n_tok rows of cols (ensure); tasks quantize
        // disjoint token rows.
        unsafe { quantize_range(isa, x, cols, &ptrs, t0, t1) };
    };
    pool.run(n_tasks, &task);
}

#[cfg(test)]
mod tests;
