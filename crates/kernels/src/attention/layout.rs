//! The SIMD paths' copies of K and V, laid out so that the score and P·V tiles stream
//! contiguous memory.

use super::{AttnShape, KEY_CHUNK};
use crate::Isa;

/// K^T in key panels: kt[g][j / KEY_CHUNK][d][j % KEY_CHUNK] = k[j][g][d], so a score chunk
/// streams contiguous memory. The padding keys n_tok..n_tok.next_multiple_of(KEY_CHUNK) are zero.
pub(super) fn transpose_k(k: &[f32], shape: &AttnShape, kt: &mut [f32], ld: usize) {
    let hd = shape.head_dim;
    let n_chunks = shape.n_tok.div_ceil(KEY_CHUNK);
    for g in 0..shape.n_head_kv {
        let ktg = &mut kt[g * hd * ld..(g + 1) * hd * ld];
        // zero the padding keys n_tok..n_chunks·KEY_CHUNK of the last chunk (the rest is written)
        let pad = shape.n_tok % KEY_CHUNK;
        if pad > 0 {
            let last = &mut ktg[(n_chunks - 1) * KEY_CHUNK * hd..][..KEY_CHUNK * hd];
            for row in last.chunks_exact_mut(KEY_CHUNK) {
                row[pad..].fill(0.0);
            }
        }
        for j in 0..shape.n_tok {
            let kj = &k[(j * shape.n_head_kv + g) * hd..][..hd];
            let panel = &mut ktg[(j / KEY_CHUNK) * KEY_CHUNK * hd..][..KEY_CHUNK * hd];
            for (d, &x) in kj.iter().enumerate() {
                panel[d * KEY_CHUNK + j % KEY_CHUNK] = x;
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
                row.copy_from_slice(&v[(j * shape.n_head_kv + g) * hd + d0..][..wd]);
            }
            d0 += wd;
        }
    }
}
