//! The SIMD paths' copies of K and V, laid out so that the score and P·V tiles stream
//! contiguous memory.

use super::{bf16, AttnShape, KEY_CHUNK};
use crate::Isa;

/// K^T in key panels of slots ([`bf16::slot`], e = [`bf16::slot_elems`]):
/// kt[g][j / KEY_CHUNK][p][j % KEY_CHUNK] = (k[j][g][e·p], k[j][g][e·p + 1]) for
/// p < hs = hd.div_ceil(e) (an odd hd pads the last pair with 0), so a score chunk streams
/// contiguous memory. The padding keys
/// n_tok..n_tok.next_multiple_of(KEY_CHUNK) are zero.
pub(super) fn transpose_k(k: &[f32], shape: &AttnShape, kt: &mut [u32], ld: usize) {
    let (hd, n_tok, n_kv) = (shape.head_dim, shape.n_tok, shape.n_head_kv);
    let e = bf16::slot_elems(shape);
    let hs = hd.div_ceil(e);
    let n_keys = n_tok.next_multiple_of(KEY_CHUNK);
    for g in 0..n_kv {
        let ktg = &mut kt[g * hs * ld..(g + 1) * hs * ld];
        // Key by key, the padding keys of the last chunk as zeros (strided stores: a `fill` of
        // each row's padding compiled to a `memset` call per row).
        for j in 0..n_keys {
            let panel = &mut ktg[(j / KEY_CHUNK) * KEY_CHUNK * hs..][..KEY_CHUNK * hs];
            let col = &mut panel[j % KEY_CHUNK..];
            if j < n_tok {
                let kj = &k[(j * n_kv + g) * hd..][..hd];
                for p in 0..hs {
                    col[p * KEY_CHUNK] = bf16::slot(e, &kj[e * p..]);
                }
            } else {
                for p in 0..hs {
                    col[p * KEY_CHUNK] = 0;
                }
            }
        }
    }
}

/// Columns per V panel on `isa` (the P·V register tile width).
pub(super) fn v_panel_width(isa: Isa) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Bf16 => 64,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => 8,
        _ => 16,
    }
}

/// V in head-dim panels of slots of keys ([`bf16::slot`], e = [`bf16::slot_elems`]): the
/// panel of head g and columns d0..d0 + wd (wd = vd, the last panel of a head may be narrower:
/// hd - d0) starts at vt[(g·hd + d0)·ld] and holds [m][x] = (v[e·m][g][d0 + x],
/// v[e·m + 1][g][d0 + x]) for m < n_tok.div_ceil(e) (an odd n_tok pads the last pair with 0),
/// so P·V streams contiguous rows.
pub(super) fn panel_v(v: &[f32], shape: &AttnShape, vt: &mut [u32], ld: usize, vd: usize) {
    let (hd, n_kv, n_tok) = (shape.head_dim, shape.n_head_kv, shape.n_tok);
    let e = bf16::slot_elems(shape);
    for g in 0..n_kv {
        let mut d0 = 0;
        while d0 < hd {
            let wd = vd.min(hd - d0);
            let panel = &mut vt[(g * hd + d0) * ld..][..n_tok.div_ceil(e) * wd];
            for (m, row) in panel.chunks_exact_mut(wd).enumerate() {
                let x0 = &v[(e * m * n_kv + g) * hd + d0..][..wd];
                if e == 1 {
                    // In 16-float pieces of constant size, which compile to inline moves: a
                    // `memcpy` call per row cost ~3% of a short sequence's attention.
                    let (mut dst, mut src) = (row.chunks_exact_mut(16), x0.chunks_exact(16));
                    for (d16, s16) in (&mut dst).zip(&mut src) {
                        let d16 = <&mut [u32; 16]>::try_from(d16).expect("16 words");
                        for (o, &x) in d16.iter_mut().zip(s16) {
                            *o = x.to_bits();
                        }
                    }
                    for (o, &x) in dst.into_remainder().iter_mut().zip(src.remainder()) {
                        *o = x.to_bits();
                    }
                } else if 2 * m + 1 < n_tok {
                    let x1 = &v[((2 * m + 1) * n_kv + g) * hd + d0..][..wd];
                    for ((o, &a), &b) in row.iter_mut().zip(x0).zip(x1) {
                        *o = bf16::pair(a, b);
                    }
                } else {
                    // an odd n_tok's last pair: the missing key is 0
                    for (o, &a) in row.iter_mut().zip(x0) {
                        *o = bf16::pair(a, 0.0);
                    }
                }
            }
            d0 += wd;
        }
    }
}
