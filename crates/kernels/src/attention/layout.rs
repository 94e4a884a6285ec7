//! The SIMD paths' copies of K and V, laid out so that the score and P·V tiles stream
//! contiguous memory.

use super::{AttnShape, KEY_CHUNK};
use crate::Isa;

/// K^T in key panels: kt[g][j / KEY_CHUNK][d][j % KEY_CHUNK] = k[j][g][d], so a score chunk
/// streams contiguous memory. The padding keys n_tok..n_tok.next_multiple_of(KEY_CHUNK) are zero.
pub(super) fn transpose_k(k: &[f32], shape: &AttnShape, kt: &mut [f32], ld: usize) {
    let (hd, n_tok, n_kv) = (shape.head_dim, shape.n_tok, shape.n_head_kv);
    let n_keys = n_tok.next_multiple_of(KEY_CHUNK);
    for g in 0..n_kv {
        let ktg = &mut kt[g * hd * ld..(g + 1) * hd * ld];
        // Key by key, the padding keys of the last chunk as zeros (strided stores: a `fill` of
        // each row's padding compiled to a `memset` call per row).
        for j in 0..n_keys {
            let panel = &mut ktg[(j / KEY_CHUNK) * KEY_CHUNK * hd..][..KEY_CHUNK * hd];
            let col = &mut panel[j % KEY_CHUNK..];
            if j < n_tok {
                let kj = &k[(j * n_kv + g) * hd..][..hd];
                for (d, &x) in kj.iter().enumerate() {
                    col[d * KEY_CHUNK] = x;
                }
            } else {
                for d in 0..hd {
                    col[d * KEY_CHUNK] = 0.0;
                }
            }
        }
    }
}

/// Columns per V panel on `isa` (the P·V register tile width).
pub(super) fn v_panel_width(isa: Isa) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => 64,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => 8,
        _ => 16,
    }
}

/// V in head-dim panels: vt[g][panel p = d / vd][j][d % vd] (the last panel of a head may be
/// narrower: width hd - p·vd), so P·V streams contiguous rows.
pub(super) fn panel_v(v: &[f32], shape: &AttnShape, vt: &mut [f32], ld: usize, vd: usize) {
    let hd = shape.head_dim;
    for g in 0..shape.n_head_kv {
        let mut d0 = 0;
        while d0 < hd {
            let wd = vd.min(hd - d0);
            let panel = &mut vt[(g * hd + d0) * ld..][..shape.n_tok * wd];
            for (j, row) in panel.chunks_exact_mut(wd).enumerate() {
                let src = &v[(j * shape.n_head_kv + g) * hd + d0..][..wd];
                // In 16-float pieces of constant size, which compile to inline moves: a
                // `memcpy` call per row cost ~3% of a short sequence's attention.
                let (mut dst, mut src) = (row.chunks_exact_mut(16), src.chunks_exact(16));
                for (d16, s16) in (&mut dst).zip(&mut src) {
                    <&mut [f32; 16]>::try_from(d16)
                        .expect("16 floats")
                        .copy_from_slice(s16);
                }
                dst.into_remainder().copy_from_slice(src.remainder());
            }
            d0 += wd;
        }
    }
}
