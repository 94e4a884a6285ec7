//! Compute kernels: the only place for SIMD and `unsafe`.
