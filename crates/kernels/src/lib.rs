//! Compute kernels for ggufembed: the only crate with SIMD and `unsafe`.
//!
//! Every kernel has a portable scalar reference; x86-64 builds add AVX2 and AVX-512 paths
//! chosen at run time ([`active_isa`]). Kernels never allocate on the hot path: callers
//! create [`MatmulScratch`] / [`AttnScratch`] once and reuse them.
//!
//! All kernels are *batch invariant*: the result for one token row is bit-identical whatever
//! the number of rows processed together, the other rows, and the thread count.

mod attention;
mod error;
mod isa;
mod matmul;
mod ops;
mod pool;
mod quant;
mod simd;

pub use attention::{attention, attention_with, AttnScratch, AttnShape};
pub use error::KernelError;
pub use isa::{active_isa, Isa};
pub use matmul::{matmul, MatmulScratch, PackedMatrix};
pub use ops::{
    dot, dot_with, gelu_tanh_mul, gelu_tanh_mul_with, l2_normalize, l2_normalize_with, rms_norm,
    rms_norm_inplace, rms_norm_with, rope_neox, rope_neox_with,
};
pub use pool::ThreadPool;
pub use quant::{dequantize_row, WeightRef, WeightType};
