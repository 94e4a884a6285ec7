//! Row-wise norms over token rows, run on the pool, each fused with the residual add around it.
//! Gemma is pre-norm with RMSNorm; BERT and nomic-bert are post-norm with LayerNorm.

use kernels::{par_rows, Rows, RowsMut, ThreadPool};

/// Rows per pool task of a norm, at least: below this a task costs more to hand out than it
/// saves (measured: ~0.1 µs per row).
const NORM_MIN_ROWS: usize = 24;

/// A LayerNorm's weight and bias, [n_embd] each.
pub struct LayerNorm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// out[t] = rms_norm(x[t]) · weight for the first n_tok token rows.
pub fn rms_norm_rows(
    pool: &ThreadPool,
    x: &[f32],
    weight: &[f32],
    eps: f32,
    out: &mut [f32],
    n_tok: usize,
) {
    let n = weight.len();
    let bufs = (Rows::new(x, n), RowsMut::new(out, n));
    par_rows(pool, n_tok, NORM_MIN_ROWS, bufs, |_, (x, out)| {
        for (xr, or) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            kernels::rms_norm(xr, weight, eps, or);
        }
    });
}

/// Pre-norm residual (Gemma): the residual add after a sub-block, fused with the norm in front
/// of the next one, per token row: y = rms_norm(y) · w_post;  x += y;  y = rms_norm(x) · w_next.
pub fn residual_rms_norm(
    pool: &ThreadPool,
    (x, y): (&mut [f32], &mut [f32]),
    (w_post, w_next): (&[f32], &[f32]),
    eps: f32,
    n_tok: usize,
) {
    let n = w_post.len();
    let bufs = (RowsMut::new(x, n), RowsMut::new(y, n));
    par_rows(pool, n_tok, NORM_MIN_ROWS, bufs, |_, (x, y)| {
        kernels::residual_rms_norm(x, y, w_post, w_next, eps)
    });
}

/// Post-norm residual (BERT), per token row: x = layer_norm(x + (y + bias));  y = x.
/// `y` is a sub-block's output without its last bias (`bias`, if the layer has one), so the
/// bias add costs no extra pass; `y` becomes the next sub-block's input.
pub fn residual_layer_norm(
    pool: &ThreadPool,
    (x, y): (&mut [f32], &mut [f32]),
    bias: Option<&[f32]>,
    norm: &LayerNorm,
    eps: f32,
    n_tok: usize,
) {
    let n = norm.weight.len();
    let bufs = (RowsMut::new(x, n), RowsMut::new(y, n));
    par_rows(pool, n_tok, NORM_MIN_ROWS, bufs, |_, (x, y)| {
        for (xr, yr) in x.chunks_exact_mut(n).zip(y.chunks_exact_mut(n)) {
            if let Some(b) = bias {
                kernels::add_inplace(yr, b);
            }
            kernels::add_inplace(xr, yr);
            kernels::layer_norm_inplace(xr, &norm.weight, &norm.bias, eps);
            yr.copy_from_slice(xr);
        }
    });
}

/// Per token row: x = layer_norm(x);  y = x (the embedding norm of BERT-style encoders).
pub fn layer_norm_rows(
    pool: &ThreadPool,
    (x, y): (&mut [f32], &mut [f32]),
    norm: &LayerNorm,
    eps: f32,
    n_tok: usize,
) {
    let n = norm.weight.len();
    let bufs = (RowsMut::new(x, n), RowsMut::new(y, n));
    par_rows(pool, n_tok, NORM_MIN_ROWS, bufs, |_, (x, y)| {
        for (xr, yr) in x.chunks_exact_mut(n).zip(y.chunks_exact_mut(n)) {
            kernels::layer_norm_inplace(xr, &norm.weight, &norm.bias, eps);
            yr.copy_from_slice(xr);
        }
    });
}
