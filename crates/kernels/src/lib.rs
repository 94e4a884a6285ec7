//! Compute kernels for ggufembed: the only crate with SIMD and `unsafe`.
//!
//! # Paths
//! Every kernel exists for each [`Isa`] of the target architecture: `Scalar` (portable
//! reference) everywhere; on x86-64 `Avx2` (AVX2+FMA, int8 via `vpmaddubsw`), `Avx2Vnni`
//! (AVX-VNNI `vpdpbusd` on ymm), `Avx512` (AVX-512 F/BW/VL/VNNI, `vpdpbusd` on zmm) and
//! `Avx512Bf16` (+ AVX512_BF16: attention's bf16 pairs as `vdpbf16ps`); on ARM64
//! `Neon` (f32 FMA, int8 via `smull`/`sadalp`), `NeonDotprod` (+ `sdot`) and `NeonI8mm`
//! (+ `smmla` 2×8·8×2 tiles). Each target compiles only its own paths. [`active_isa`] picks the
//! best the CPU supports at run time (`is_x86_feature_detected!` /
//! `is_aarch64_feature_detected!`); `GGUFEMBED_KERNEL=scalar|avx2|avx2-novnni|avx2-vnni|avx512|avx512-bf16`
//! or `scalar|neon|neon-dotprod|neon-i8mm` forces one (falling back, with one warning on stderr,
//! if the CPU lacks it). Kernels are written once, generic over a small SIMD trait, and
//! instantiated inside thin `#[target_feature]` trampolines. The `*_with` functions and
//! [`PackedMatrix::pack_for`] take an explicit path (tests run every supported path).
//!
//! # Numerics
//! * [`matmul`] with Q8_0/Q4_0 weights is llama.cpp's Q8_0×Q8_0: activations are quantized per
//!   32-block exactly like ggml's `quantize_row_q8_0_ref` (d = amax/127 stored as f16,
//!   q = roundf(x/d)), each block's dot product is an exact int32 sum, and blocks accumulate in
//!   order as `acc = fma(isum·d_x, d_w, acc)`. Float weights (F32/F16/BF16, widened to f32 at
//!   pack time) accumulate `acc = fma(x[k], w[k], acc)` in k order. Every path runs exactly this
//!   per-element sequence, so all paths give **bit-identical** results to the scalar reference.
//! * Other quantized weights run on the same int8 panels, each 32-block as integers `q`, a scale
//!   `a` and an offset `b` (value `a·q − b`), taken at pack time from ggml's block layouts
//!   ([`dequantize_row`] is bit-identical to gguf-py):
//!   - Q5_0 and IQ4_NL are integers × one scale per 32 already: exact (`b` = 0).
//!   - Q4_1, Q5_1, Q4_K and Q5_K are affine per 32-block (`d·q + m`, `(d·sc)·q − dmin·m`, q
//!     0..31): exact. The int8 product runs unchanged on `q` with scale `a`; then, per register
//!     tile while it is still in L1, each output subtracts `Σ_b b[n, b] · (d_x·Σq_x)[t, b]`
//!     (the activations' per-block scale times the sum of their quantized values, as ggml does
//!     with Q8_K's `bsums`), an f32 term summed per output in block order with one FMA per
//!     block and vectorized across outputs only, so it is bit-identical on every path. `b`
//!     costs 4 bytes per 32 weights (+11% over the panels' 36) and the term 1/32 of the
//!     multiply-adds as f32 FMAs: a Q4_K matmul measured 8-10% slower than Q8_0 at
//!     EmbeddingGemma's shapes on AVX-512 (`gemm_bench --q4k`).
//!   - Q6_K, Q3_K and Q2_K have 16-value sub-blocks with different scales inside a 32-block,
//!     whose products `sc·q` do not fit int8: each 32-block is dequantized exactly and
//!     re-quantized to int8 with an f32 scale `amax/127`, off by at most amax/254 per weight
//!     (1/4 of Q6_K's own step, less for Q3_K/Q2_K).
//!
//!   **Trade:** one int8 kernel body per instruction set and about Q8_0's speed and memory for
//!   every type (Q8_0/Q4_0 unchanged bit for bit; the affine types add the offset term and its
//!   table), against no memory saving below Q8_0 for the packed layers (the token embedding,
//!   read from the file per lookup, keeps its file size) and a small extra rounding for
//!   Q6_K/Q3_K/Q2_K. The alternative (4/5/6-bit panels) would be smaller and exact for Q6_K
//!   too but needs a second kernel body per instruction set.
//! * Element-wise kernels (GELU, RoPE, exp, SiLU) run the same IEEE operations (FMA where the
//!   definition says so, never an approximate reciprocal, `rsqrt`, `vscalef` or `vgetexp`; one
//!   exp polynomial shared by every path) and are bit-identical on every path.
//! * [`attention`] is an exact two-pass softmax in f32 over each query's own key window; every
//!   path, the scalar one included, runs the same generic body (scores and P·V are FMA chains in
//!   index order, so only the softmax sums are reductions). With [`AttnShape::bf16`], q, k, v
//!   and the probabilities are rounded to bf16 (nearest-even; |x| < 2^-30 to 0) and the chains
//!   run over pairs of elements as `vdpbf16ps` defines them: per pair the odd element's product,
//!   then the even one's, each an FMA (the products are exact). `Avx512Bf16` runs one
//!   `vdpbf16ps` per pair (twice the f32 FMA rate); the other paths the two FMAs, so they agree
//!   bit for bit. The model uses it when a layer's q/k/v weights have under 8 bits per weight,
//!   whose own rounding error is far larger.
//!
//! # Reduction order
//! Every f32 reduction (the dot products of [`dot`], [`rms_norm`] and [`l2_normalize`],
//! [`layer_norm`]'s sums, the softmax max and sum) runs in one canonical order on every path,
//! so **embeddings are bit-identical on every path** — scalar, AVX2, AVX2-VNNI, AVX-512, NEON,
//! NEON-dotprod, NEON-i8mm, on x86-64 and ARM64 alike:
//! 1. elements are accumulated on 16 *virtual lanes* (lane i takes elements i, i + 16, …):
//!    one zmm on AVX-512, two ymm on AVX2, four q registers on NEON, 16 scalars on the scalar
//!    path; [`dot`] keeps 4 such accumulators over chunks of 64 elements, then whole chunks of
//!    16 go to the first, and they combine as (0+1)+(2+3); products are FMAs everywhere;
//! 2. the 16 lanes are summed by one fixed tree, folding halves: lane i += lane i + 8, then
//!    i + 4, i + 2, i + 1 (register halves fold first, then the in-register halves);
//! 3. the last n % 16 elements are added to that sum one by one, in order (scalar FMA for dot
//!    products).
//!
//! This is exactly what the AVX-512 path computed before the order was made canonical, so its
//! results (and the README's accuracy figures, measured on AVX-512) did not change. AVX2 and
//! NEON hold 2 and 4 registers per accumulator instead of 1; the cost is a few extra
//! registers in reductions that are a small part of the run time. The matmuls need no such
//! rule: each output is one chain in k order (float weights) or a sum of exact int32 block
//! dot products accumulated in block order with the same FMA (int8 weights), whatever the
//! tile or path. The kernels' tests require every path to equal the scalar one bit for bit on
//! odd sizes; the CLI's `every_kernel_path_gives_the_same_bits` test and `scripts/arm64.sh`
//! (under `qemu-aarch64`) check whole embeddings of the real model, ARM64 against x86-64.
//!
//! # Batch invariance
//! A token row's output never depends on how many rows are processed together, which tile it
//! lands in, the other rows, or the thread count: tiles and threads only split independent
//! outputs, and tail tiles run the same per-element operations as full ones. The tests check
//! this bit for bit (odd batch sizes, every position, 1/2/3 threads, windowed attention rows
//! embedded in longer sequences).
//!
//! # Int8 layout
//! [`PackedMatrix::pack`] repacks quantized weights once into VNNI panels (16 output columns ×
//! 4 consecutive k-bytes per 32-bit lane, 2 vectors per panel on AVX-512, panels contiguous
//! along k, f32 block scales beside each block). The weights are stored *biased* (w + 128, as
//! u8) so that `vpdpbusd` takes them as its unsigned operand and the signed activations as a
//! 32-bit broadcast; each block's accumulator is seeded with −128·Σx_block (computed while
//! quantizing). Compared with biasing the activations (XOR 0x80, correction 128·Σw per column),
//! the seed is one broadcast load per token and block instead of a vector op, and no per-column
//! correction table is needed.
//!
//! On ARM64 the panels hold the signed bytes themselves (SDOT and the NEON widening multiplies
//! are signed × signed: no bias, no seed), in the same 4-k-byte lanes; the `neon-i8mm` path
//! stores 8 k-bytes per column *pair* (16 bytes = SMMLA's right operand) in panels of 8 columns.
//! The int32 block sums are the same integers as on x86 and the f32 epilogue runs the same
//! operations in the same order, so the ARM matmul is bit-identical to the scalar reference and
//! to x86 (the kernels' tests, run under `qemu-aarch64` by `scripts/arm64.sh`); with the
//! canonical reduction order above, so are whole embeddings. SDOT/SMMLA
//! are `asm!` (their intrinsics are unstable on Rust 1.95).
//!
//! # Performance on ARM64, on paper
//! No ARM64 host was available, so these are predictions from per-core throughput figures, not
//! measurements; `ggufembed bench` (which reports the kernel in use) runs unchanged on ARM64.
//!
//! *Sources.* Neoverse V1 (Graviton3, 2.6 GHz): Arm's *Neoverse V1 Software Optimization Guide*
//! as encoded in LLVM's `AArch64SchedNeoverseV1.td` — four 128-bit ASIMD pipes V0–V3; `SDOT`
//! and `SMMLA` each issue on any of them (latency 3), `FMLA` likewise (latency 4), `LD1R` costs
//! a load *and* a V-pipe µop, three load pipes. So per cycle: 4 SDOT = 64 int8 MACs, 4 SMMLA =
//! 128 MACs, 32 f32 FLOPs (AWS measured that 83 GFLOP/s f32 peak per core:
//! aws/aws-graviton-getting-started#218). Apple M2 (Avalanche P-core, 3.5 GHz): four 128-bit
//! SIMD pipes (Dougall Johnson's Firestorm measurements, dougallj.github.io/applecpu); rten
//! measured ~450 G int8 ops/s per core for its UDOT and its i8mm kernels alike on M3 Pro
//! (robertknight/rten#827), i.e. SMMLA brings no MACs/cycle over SDOT on Apple cores (64 per
//! cycle either way), while on Graviton3/4 llama.cpp and rten saw 1.5–1.7× from it
//! (ggml-org/llama.cpp#4966, rten#827).
//!
//! *Instruction mix of the microkernels* (per 32-block of one tile, V = ASIMD-pipe µops):
//!
//! | path (tile) | main loop | epilogue | V µops | MACs | MACs/V µop |
//! |---|---|---|---|---|---|
//! | `neon-dotprod` (6 tok × 16 col) | 8 k-steps × (4 `ldr q` + 6 `ld1r` + 24 `sdot`) | 24 × (`scvtf`, `fmul`, `fmla`) + 4 scale loads | 8·30 + 72 = 312 | 3072 | 9.8 |
//! | `neon-i8mm` (6 tok × 8 col) | 4 k8-steps × (4 `ldr q` + 3 × (`ldr d` + `ld1 {d}[1]`) + 12 `smmla`) | 12 × (`scvtf`, `fmul`, `fmla`) + 7 lane moves | 4·15 + 43 = 103 | 1536 | 14.9 |
//!
//! With four V pipes: Graviton3 `neon-dotprod` ≈ 312/4 = 78 cycles per 3072 MACs = 39
//! MACs/cycle = **61% of the SDOT peak** (~100 G MAC/s per core); `neon-i8mm` ≈ 26 cycles per
//! 1536 MACs = 59 MACs/cycle = **46% of the SMMLA peak** (~150 G MAC/s, 1.5× SDOT). On M2,
//! where SMMLA issues at half SDOT's rate, `neon-dotprod` ≈ 264/4 = 66 cycles (if `ld1r`
//! needs no SIMD pipe) = 47 MACs/cycle = **73% of peak** (~160 G MAC/s per P-core) and
//! `neon-i8mm` about the same (its 48 SMMLA need ≥ 24 cycles on two pipes); use
//! `GGUFEMBED_KERNEL=neon-dotprod` if `bench` shows i8mm slower there. The epilogue (one int→f32
//! conversion, multiply and FMA per accumulator per 32-block, which fixes the numerics) is
//! 23% of the SDOT kernel's µops and 42% of the SMMLA one's; `sdot` by element (one 16-byte
//! activation load per token per 4 k-steps instead of 4 `ld1r`) would take the SDOT kernel to
//! 264 µops (72%) on V1.
//!
//! *Expected tokens/s* (EmbeddingGemma-300M Q8_0, 106 M MACs per token in the linear layers).
//! On the Xeon the linear layers take ~2/3 of a medium-length batch's time on one core; scaling
//! the other third (attention, norms, f32 work) by f32 FMA throughput (175 → 83 GFLOP/s on
//! Graviton3, → ~110 on M2) gives, per core: Graviton3 ≈ 106 M / 150 G + 0.33 ms ≈ 1.0 ms per
//! token, **~950 tokens/s** with i8mm (~720 with SDOT only); M2 P-core ≈ 106 M / 160 G +
//! 0.25 ms ≈ 0.9 ms, **~1,100 tokens/s**. Short inputs (under ~30 tokens) stay bound by
//! streaming the ~110 MB of weights instead.
//!
//! # Measuring
//! `cargo run --release -p kernels --example gemm_bench -- [--attn|--ops|--pool|--f32] [--cold]
//! [--isa …] [--threads 1,2] [--ntok …]` reports G MAC/s at the model's shapes (wall clock,
//! plus per on-CPU second for one thread, which stays meaningful on a shared machine).

mod attention;
mod dequant;
mod encoder_ops;
mod error;
mod isa;
mod matmul;
mod ops;
mod pool;
mod quant;
mod rows;
mod simd;

pub use attention::{
    attention, attention_seqs, attention_with, AttnScratch, AttnShape, SEQ_PARALLEL_MAX_TOKENS,
};
pub use encoder_ops::{
    add, add_gelu_erf_inplace, add_gelu_erf_inplace_with, add_inplace, add_inplace_with, add_with,
    gelu_erf_inplace, gelu_erf_inplace_with, layer_norm, layer_norm_inplace, layer_norm_with,
    silu_mul, silu_mul_with,
};
pub use error::KernelError;
pub use isa::{active_isa, Isa};
pub use matmul::{matmul, MatmulScratch, PackedMatrix};
pub use ops::{
    dot, dot_with, gelu_tanh_mul, gelu_tanh_mul_with, heads_norm_rope, heads_norm_rope_inplace,
    heads_norm_rope_with, l2_normalize, l2_normalize_with, residual_rms_norm,
    residual_rms_norm_with, rms_norm, rms_norm_inplace, rms_norm_with, rope_neox, rope_neox_with,
};
pub use pool::ThreadPool;
pub use quant::{dequantize_row, WeightRef, WeightType};
pub use rows::{par_rows, Rows, RowsMut, SplitRows};

/// Tests: whether two slices hold the same f32 bit patterns (and have the same length).
#[cfg(test)]
pub(crate) fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[cfg(test)]
mod send_sync {
    fn check<T: Send + Sync>() {}

    /// The engine shares these across threads (server workers, the pool).
    #[test]
    fn public_types_are_send_and_sync() {
        check::<crate::PackedMatrix>();
        check::<crate::ThreadPool>();
        check::<crate::MatmulScratch>();
        check::<crate::AttnScratch>();
    }
}
