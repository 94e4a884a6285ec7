//! Compute kernels for ggufembed: the only crate with SIMD and `unsafe`.
//!
//! # Paths
//! Every kernel exists for each [`Isa`]: `Scalar` (portable reference), `Avx2` (AVX2+FMA,
//! int8 via `vpmaddubsw`), `Avx2Vnni` (AVX-VNNI `vpdpbusd` on ymm) and `Avx512` (AVX-512
//! F/BW/VL/VNNI, `vpdpbusd` on zmm). [`active_isa`] picks the best the CPU supports at run time;
//! `GGUFEMBED_KERNEL=scalar|avx2|avx2-novnni|avx2-vnni|avx512` forces one (falling back, with one
//! warning on stderr, if the CPU lacks it). Kernels are written once, generic over a small SIMD
//! trait, and instantiated inside thin `#[target_feature]` trampolines. The `*_with` functions
//! and [`PackedMatrix::pack_for`] take an explicit path (tests run every supported path).
//!
//! # Numerics
//! * [`matmul`] with Q8_0/Q4_0 weights is llama.cpp's Q8_0×Q8_0: activations are quantized per
//!   32-block exactly like ggml's `quantize_row_q8_0_ref` (d = amax/127 stored as f16,
//!   q = roundf(x/d)), each block's dot product is an exact int32 sum, and blocks accumulate in
//!   order as `acc = fma(isum·d_x, d_w, acc)`. Float weights (F32/F16/BF16, widened to f32 at
//!   pack time) accumulate `acc = fma(x[k], w[k], acc)` in k order. Every path runs exactly this
//!   per-element sequence, so all paths give **bit-identical** results to the scalar reference.
//! * Other quantized weights (Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL; any mix per fused matrix)
//!   run on the same int8 panels. At pack time each row is dequantized exactly as ggml's
//!   `dequantize_row_*` defines it ([`dequantize_row`], bit-identical to gguf-py) and each
//!   32-block is re-quantized to int8 with an f32 scale `amax/127` — exact for Q5_0 and IQ4_NL
//!   (already integers × one scale per 32), off by at most amax/254 per weight for the types
//!   with a per-block minimum or 16-value sub-blocks. **Trade:** one kernel, Q8_0 speed and
//!   memory for every type, and Q8_0/Q4_0 unchanged bit for bit, against a small extra rounding
//!   (1/16 to 1/4 of the 4-6 bit types' own step) and no memory saving below Q8_0 for the
//!   packed layers (the token embedding, read from the file per lookup, keeps its file size).
//!   The alternative (4/5/6-bit panels with a per-sub-block minimum term against the
//!   activations' block sums) would be exact to the file and smaller but needs a second kernel
//!   body per instruction set.
//! * Element-wise kernels (GELU, RoPE, exp) are bit-identical on every path; reductions (dot,
//!   RMS, L2 norm, softmax sums) differ between paths only in the last bits.
//! * [`attention`] is an exact two-pass softmax in f32 over each query's own key window.
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
//! # Measuring
//! `cargo run --release -p kernels --example gemm_bench -- [--attn|--ops|--pool|--f32] [--cold]
//! [--isa …] [--threads 1,2] [--ntok …]` reports G MAC/s at the model's shapes (wall clock,
//! plus per on-CPU second for one thread, which stays meaningful on a shared machine).

mod attention;
mod dequant;
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
pub use error::KernelError;
pub use isa::{active_isa, Isa};
pub use matmul::{matmul, MatmulScratch, PackedMatrix};
pub use ops::{
    dot, dot_with, gelu_tanh_mul, gelu_tanh_mul_with, l2_normalize, l2_normalize_with, rms_norm,
    rms_norm_inplace, rms_norm_with, rope_neox, rope_neox_with,
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
