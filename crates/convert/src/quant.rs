//! Encoding f32 rows into the output tensor types, bit-exact with gguf-py (`gguf/quants.py`),
//! which llama.cpp's converter uses: F16 (numpy `astype`, round-to-nearest-even), BF16
//! (ggml's `fp32_to_bf16`: quiet NaNs, round-to-nearest-even) and Q8_0 (per 32-block
//! `d = amax / 127` stored as f16, `q = round_half_away(x * (1/d))`).

use gguf::GgmlType;
use half::f16;

/// Elements per Q8_0 block.
pub const QK8_0: usize = 32;
/// Bytes per Q8_0 block: f16 scale + 32 int8.
pub const Q8_0_BLOCK_BYTES: usize = 2 + QK8_0;

/// Bytes that `n` elements take in `ty` (`n` must be a multiple of the block size).
pub fn encoded_len(ty: GgmlType, n: usize) -> usize {
    match ty {
        GgmlType::F32 => 4 * n,
        GgmlType::F16 | GgmlType::BF16 => 2 * n,
        GgmlType::Q8_0 => n / QK8_0 * Q8_0_BLOCK_BYTES,
        other => unreachable!("the converter never writes {}", other.name()),
    }
}

/// Appends `src` encoded as `ty` to `out`. For Q8_0, `src.len()` must be a multiple of 32
/// (callers only pick Q8_0 for rows whose length is).
pub fn encode(ty: GgmlType, src: &[f32], out: &mut Vec<u8>) {
    match ty {
        GgmlType::F32 => {
            for x in src {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for x in src {
                out.extend_from_slice(&f16::from_f32(*x).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for x in src {
                out.extend_from_slice(&f32_to_bf16_bits(*x).to_le_bytes());
            }
        }
        GgmlType::Q8_0 => {
            debug_assert_eq!(src.len() % QK8_0, 0);
            for block in src.chunks_exact(QK8_0) {
                quantize_block_q8_0(block, out);
            }
        }
        other => unreachable!("the converter never writes {}", other.name()),
    }
}

/// ggml's `ggml_compute_fp32_to_bf16` as gguf-py writes it: NaNs are forced quiet, everything
/// else is rounded to nearest even (in u64, so no overflow for large magnitudes).
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let mut n = x.to_bits();
    if n & 0x7fff_ffff > 0x7f80_0000 {
        n = (n & 0xffff_0000) | (64 << 16);
    }
    ((n as u64 + (0x7fff + ((n as u64 >> 16) & 1))) >> 16) as u16
}

/// numpy's `np_roundf` from gguf-py: round half away from zero, computed as
/// `sign(x) * (floor(|x|) + floor(2 * (|x| - floor(|x|))))` in f32.
fn roundf_half_away(x: f32) -> f32 {
    let a = x.abs();
    let floored = a.floor();
    let b = floored + (2.0 * (a - floored)).floor();
    // np.sign(0) == 0, so a zero input gives +0 (the sign is irrelevant once cast to i8).
    if x > 0.0 {
        b
    } else if x < 0.0 {
        -b
    } else {
        0.0
    }
}

/// One Q8_0 block exactly as gguf-py's `Q8_0.quantize_blocks`:
/// `d = max|x| / 127` (f32), `id = d == 0 ? 0 : 1 / d` (f32), `q = roundf(x * id)`,
/// then `d` stored as f16 (round-to-nearest-even) followed by the 32 int8 values.
fn quantize_block_q8_0(block: &[f32], out: &mut Vec<u8>) {
    let amax = block.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let d = amax / 127.0;
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    for x in block {
        // `as i8` saturates; |x * id| <= 127 (+ rounding) by construction.
        out.push(roundf_half_away(x * id) as i8 as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        for (x, want) in [
            (0.5f32, 1.0f32),
            (1.5, 2.0),
            (2.5, 3.0),
            (-0.5, -1.0),
            (-2.5, -3.0),
            (0.49999997, 0.0),
            (126.6, 127.0),
            (-0.0, 0.0),
        ] {
            assert_eq!(roundf_half_away(x), want, "round({x})");
        }
    }

    #[test]
    fn q8_0_block_layout_and_values() {
        let mut block = [0.0f32; 32];
        block[0] = 1.27;
        block[1] = -1.27;
        block[2] = 0.005; // 0.005 * 100 = 0.5 -> rounds away from zero to 1
        block[3] = 0.6;
        let mut out = Vec::new();
        encode(GgmlType::Q8_0, &block, &mut out);
        assert_eq!(out.len(), Q8_0_BLOCK_BYTES);
        let d = f16::from_le_bytes([out[0], out[1]]);
        assert_eq!(d, f16::from_f32(1.27f32 / 127.0));
        let q: Vec<i8> = out[2..].iter().map(|b| *b as i8).collect();
        assert_eq!(&q[..4], &[127, -127, 1, 60]);
        assert!(q[4..].iter().all(|v| *v == 0));
    }

    #[test]
    fn q8_0_zero_block_has_zero_scale() {
        let mut out = Vec::new();
        encode(GgmlType::Q8_0, &[0.0; 32], &mut out);
        assert_eq!(out, vec![0u8; 34]);
    }

    #[test]
    fn bf16_rounds_to_nearest_even_and_quiets_nan() {
        assert_eq!(f32_to_bf16_bits(1.0), 0x3f80);
        // 1 + 2^-8 is exactly half way between two bf16 values: ties to even (down).
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f80_8000)), 0x3f80);
        // ... and up when the kept part is odd.
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f81_8000)), 0x3f82);
        let nan = f32::from_bits(0x7f80_0001); // signalling NaN
        assert_eq!(f32_to_bf16_bits(nan), 0x7fc0);
        assert_eq!(f32_to_bf16_bits(f32::INFINITY), 0x7f80);
    }

    #[test]
    fn f16_encoding_is_little_endian_rne() {
        let mut out = Vec::new();
        encode(GgmlType::F16, &[1.0, 65520.0], &mut out);
        assert_eq!(out, vec![0x00, 0x3c, 0x00, 0x7c]); // 65520 rounds to +inf like numpy
    }
}
