//! Dequantization of one ggml block, for every weight type beyond Q8_0/Q4_0.
//!
//! Each function follows ggml's `dequantize_row_*` (ggml-quants.c) and gguf-py's
//! `gguf.quants.*.dequantize_blocks` operation for operation: the f16 super-scales are widened
//! to f32, sub-block scales are formed as `d · sc` (one f32 product), and each value is
//! `(d·sc)·q − (dmin·m)` / `d·q + m` without fused multiply-adds, so results are bit-identical
//! to gguf-py (checked by `tests/dequant_python.rs` on random blocks).
//!
//! Block layouts (bytes, in order; `d`, `m`, `dmin` are f16):
//! * Q4_1 (32 values, 20 B): d, m, qs[16] — value `d·q + m`, q = nibble (low nibbles are
//!   elements 0..16, high nibbles 16..32).
//! * Q5_0 (32, 22 B): d, qh[4], qs[16] — `d·(q − 16)`, q = nibble | bit j of qh (LE u32) << 4.
//! * Q5_1 (32, 24 B): d, m, qh[4], qs[16] — `d·q + m`.
//! * IQ4_NL (32, 18 B): d, qs[16] — `d · kvalues[nibble]`.
//! * Q2_K (256, 84 B): scales[16] (low nibble scale, high nibble min), qs[64], d, dmin —
//!   16 sub-blocks of 16, `(d·sc)·q − (dmin·m)`, q 2-bit.
//! * Q3_K (256, 110 B): hmask[32], qs[64], scales[12] (16 × 6 bit, −32), d — 16 sub-blocks of
//!   16, `(d·(sc−32))·(q − 4·!hbit)`.
//! * Q4_K (256, 144 B): d, dmin, scales[12] (8 × 6-bit scale and min), qs[128] — 8
//!   sub-blocks of 32, `(d·sc)·q − (dmin·m)`.
//! * Q5_K (256, 176 B): d, dmin, scales[12], qh[32], qs[128] — as Q4_K with a 5th bit.
//! * Q6_K (256, 210 B): ql[128], qh[64], scales[16] (i8), d — 16 sub-blocks of 16,
//!   `(d·sc)·(q − 32)`.

use crate::quant::f16_at;
use crate::WeightType;

/// IQ4_NL's non-linear 4-bit grid (ggml's `kvalues_iq4nl`).
pub(crate) const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Q4_K/Q5_K: scale and min of sub-block `j` (0..8) from the 12 packed bytes
/// (ggml's `get_scale_min_k4`).
#[inline]
pub(crate) fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Q3_K: the 16 6-bit scales (before the −32) from the 12 packed bytes.
#[inline]
pub(crate) fn q3k_scales(s: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let low = if j < 8 { s[j] & 0x0f } else { s[j - 8] >> 4 };
        let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        *o = low | (high << 4);
    }
    out
}

/// The affine types (Q4_1, Q5_1, Q4_K, Q5_K): 32-value block `j` of the ggml block `blk`
/// (`j` = 0 for Q4_1/Q5_1, the sub-block 0..8 for Q4_K/Q5_K) as integers `q` (0..16, or 0..32
/// with a 5th bit) and `(a, b)` such that each value is `a·q − b` — exactly ggml's
/// `dequantize_row_*` operations (`a` = `d` or `d·sc`, `b` = `−m` or `dmin·m`; `x − (−m)` is
/// `x + m` bit for bit). `a` and `b` are exact in f32 (an f16 times a 6-bit integer).
#[inline(always)]
pub(crate) fn affine_block(
    wtype: WeightType,
    blk: &[u8],
    j: usize,
    q: &mut [i8; 32],
) -> (f32, f32) {
    match wtype {
        WeightType::Q4_1 | WeightType::Q5_1 => {
            let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
            let (qh, qs) = if wtype == WeightType::Q5_1 {
                (
                    u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]),
                    &blk[8..24],
                )
            } else {
                (0, &blk[4..20])
            };
            for (l, &b) in qs.iter().enumerate() {
                q[l] = ((b & 0x0f) as u32 | (((qh >> l) & 1) << 4)) as i8;
                q[l + 16] = ((b >> 4) as u32 | (((qh >> (l + 16)) & 1) << 4)) as i8;
            }
            (d, -m)
        }
        WeightType::Q4_K | WeightType::Q5_K => {
            let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
            let (sc, m) = scale_min_k4(j, &blk[4..16]);
            let (qh, qs) = if wtype == WeightType::Q5_K {
                (Some(&blk[16..48]), &blk[48..176])
            } else {
                (None, &blk[16..144])
            };
            // Sub-block j: nibble (j%2) of qs[32·(j/2)..], 5th bit = bit j of qh.
            let qs = &qs[32 * (j / 2)..][..32];
            for (l, o) in q.iter_mut().enumerate() {
                let mut v = if j.is_multiple_of(2) {
                    qs[l] & 0x0f
                } else {
                    qs[l] >> 4
                };
                if let Some(qh) = qh {
                    v |= ((qh[l] >> j) & 1) << 4;
                }
                *o = v as i8;
            }
            (d * sc as f32, dmin * m as f32)
        }
        _ => unreachable!("affine_block called on {wtype:?}"),
    }
}

/// The four 32-value quarters of a 128-value half of a K-quant block.
#[inline(always)]
fn quarters(y: &mut [f32]) -> [&mut [f32]; 4] {
    let (y0, rest) = y.split_at_mut(32);
    let (y1, rest) = rest.split_at_mut(32);
    let (y2, y3) = rest.split_at_mut(32);
    [y0, y1, y2, &mut y3[..32]]
}

/// Dequantize one block `blk` (`wtype.block_bytes()` bytes) into `y` (`wtype.block_size()`
/// values). Only for the types listed in the module docs. Always inlined (see
/// `quant::row_ints`).
#[inline(always)]
pub(crate) fn dequantize_block(wtype: WeightType, blk: &[u8], y: &mut [f32]) {
    match wtype {
        WeightType::Q4_1 | WeightType::Q5_1 | WeightType::Q4_K | WeightType::Q5_K => {
            let mut q = [0i8; 32];
            for (j, ys) in y.chunks_exact_mut(32).enumerate() {
                let (a, b) = affine_block(wtype, blk, j, &mut q);
                for (o, &v) in ys.iter_mut().zip(&q) {
                    *o = a * v as f32 - b;
                }
            }
        }
        WeightType::Q5_0 => {
            let d = f16_at(blk, 0);
            let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
            for (j, &b) in blk[6..22].iter().enumerate() {
                let q0 = (b & 0x0f) as i32 | (((qh >> j) & 1) << 4) as i32;
                let q1 = (b >> 4) as i32 | (((qh >> (j + 16)) & 1) << 4) as i32;
                y[j] = d * (q0 - 16) as f32;
                y[j + 16] = d * (q1 - 16) as f32;
            }
        }
        WeightType::IQ4_NL => {
            let d = f16_at(blk, 0);
            for (j, &b) in blk[2..18].iter().enumerate() {
                y[j] = d * KVALUES_IQ4NL[(b & 0x0f) as usize] as f32;
                y[j + 16] = d * KVALUES_IQ4NL[(b >> 4) as usize] as f32;
            }
        }
        WeightType::Q2_K => {
            let (scales, qs) = (&blk[0..16], &blk[16..80]);
            let (d, dmin) = (f16_at(blk, 80), f16_at(blk, 82));
            // As ggml's `dequantize_row_q2_K`: half h (128 values) uses qs[32h..], scales[8h..];
            // value l + 32j of a half (j = 0..4, l = 0..32) is bits 2j of qs[32h + l], with
            // scale and minimum from scales[8h + 2j + l/16]. Constant shifts over 16 values of
            // one scale, so it vectorizes (see Q6_K).
            for (h, yh) in y.chunks_exact_mut(128).enumerate() {
                let q = &qs[32 * h..][..32];
                let sc = &scales[8 * h..][..8];
                let [y0, y1, y2, y3] = quarters(yh);
                for half in 0..2 {
                    let l0 = 16 * half;
                    let dm = |j: usize| {
                        let s = sc[2 * j + half];
                        (d * (s & 0x0f) as f32, dmin * (s >> 4) as f32)
                    };
                    let ((d0, m0), (d1, m1), (d2, m2), (d3, m3)) = (dm(0), dm(1), dm(2), dm(3));
                    for l in l0..l0 + 16 {
                        let b = q[l];
                        y0[l] = d0 * (b & 3) as f32 - m0;
                        y1[l] = d1 * ((b >> 2) & 3) as f32 - m1;
                        y2[l] = d2 * ((b >> 4) & 3) as f32 - m2;
                        y3[l] = d3 * (b >> 6) as f32 - m3;
                    }
                }
            }
        }
        WeightType::Q3_K => {
            let (hmask, qs) = (&blk[0..32], &blk[32..96]);
            let sc = q3k_scales(&blk[96..108]);
            let d = f16_at(blk, 108);
            // As ggml's `dequantize_row_q3_K`: half h (128 values) uses qs[32h..], sc[8h..];
            // value l + 32j of a half (j = 0..4, l = 0..32) is bits 2j of qs[32h + l], minus 4
            // unless bit 4h + j of hmask[l] is set, scaled by sc[8h + 2j + l/16] − 32.
            // Constant shifts over 16 values of one scale, so it vectorizes (see Q6_K).
            for (h, yh) in y.chunks_exact_mut(128).enumerate() {
                let q = &qs[32 * h..][..32];
                let [y0, y1, y2, y3] = quarters(yh);
                for half in 0..2 {
                    let l0 = 16 * half;
                    let dl = |j: usize| d * (sc[8 * h + 2 * j + half] as i32 - 32) as f32;
                    let (d0, d1, d2, d3) = (dl(0), dl(1), dl(2), dl(3));
                    for l in l0..l0 + 16 {
                        let b = q[l] as i32;
                        // the high bits of this half in the low nibble (a shift by 0 or 4)
                        let hb = if h == 0 { hmask[l] } else { hmask[l] >> 4 } as i32;
                        let v = |shift: i32, bit: i32| {
                            ((b >> shift) & 3) - if (hb >> bit) & 1 == 1 { 0 } else { 4 }
                        };
                        y0[l] = d0 * v(0, 0) as f32;
                        y1[l] = d1 * v(2, 1) as f32;
                        y2[l] = d2 * v(4, 2) as f32;
                        y3[l] = d3 * v(6, 3) as f32;
                    }
                }
            }
        }
        WeightType::Q6_K => {
            let d = f16_at(blk, 208);
            // As ggml's `dequantize_row_q6_K`: half h (128 values) uses ql[64h..], qh[32h..],
            // sc[8h..]; value l + 32k of a half (k = 0..4, l = 0..32) is nibble k/2 of
            // ql[64h + 32(k%2) + l] with bits 2k of qh[32h + l], scaled by sc[8h + 2k + l/16].
            // Written with constant shifts over 16 values of one scale, so it vectorizes (x86
            // has no per-lane byte shifts; with a shift count varying per quarter it stayed
            // scalar).
            for (h, yh) in y.chunks_exact_mut(128).enumerate() {
                let ql = &blk[64 * h..][..64];
                let qh = &blk[128 + 32 * h..][..32];
                let sc = &blk[192 + 8 * h..][..8];
                let [y0, y1, y2, y3] = quarters(yh);
                for half in 0..2 {
                    let l0 = 16 * half;
                    let ds = |k: usize| d * sc[2 * k + half] as i8 as f32;
                    let (d0, d1, d2, d3) = (ds(0), ds(1), ds(2), ds(3));
                    for l in l0..l0 + 16 {
                        let (a, b, hb) = (ql[l], ql[l + 32], qh[l]);
                        let q0 = ((a & 0x0f) | ((hb & 3) << 4)) as i32 - 32;
                        let q1 = ((b & 0x0f) | (((hb >> 2) & 3) << 4)) as i32 - 32;
                        let q2 = ((a >> 4) | (((hb >> 4) & 3) << 4)) as i32 - 32;
                        let q3 = ((b >> 4) | ((hb >> 6) << 4)) as i32 - 32;
                        y0[l] = d0 * q0 as f32;
                        y1[l] = d1 * q1 as f32;
                        y2[l] = d2 * q2 as f32;
                        y3[l] = d3 * q3 as f32;
                    }
                }
            }
        }
        WeightType::F32
        | WeightType::F16
        | WeightType::BF16
        | WeightType::Q8_0
        | WeightType::Q4_0 => unreachable!("dequantize_block called on {wtype:?}"),
    }
}
