//! Weight formats (ggml layouts), dequantization, and the Q8_0 activation quantizer.

use crate::KernelError;
use half::{bf16, f16};

/// Block length of Q8_0 / Q4_0 (and of the activation quantization).
pub const QK: usize = 32;
/// Bytes of one Q8_0 block: f16 scale + 32 i8.
pub const Q8_0_BLOCK_BYTES: usize = 2 + QK;
/// Bytes of one Q4_0 block: f16 scale + 16 bytes of nibbles.
pub const Q4_0_BLOCK_BYTES: usize = 2 + QK / 2;

/// Super-block length of the k-quants.
pub const QK_K: usize = 256;

/// Element type of a weight matrix, in ggml's layout (see `dequant.rs` for the layouts of the
/// types beyond Q8_0/Q4_0).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightType {
    F32,
    F16,
    BF16,
    /// Blocks of 32: f16 `d` then 32 i8 `q`; value = q * d.
    Q8_0,
    /// Blocks of 32: f16 `d` then 16 bytes; value = (nibble - 8) * d. Low nibbles are
    /// elements 0..16 of the block, high nibbles elements 16..32.
    Q4_0,
    /// Blocks of 32: f16 `d`, f16 `m`, 16 bytes; value = d·q + m.
    Q4_1,
    /// Blocks of 32: f16 `d`, 32-bit high-bit mask, 16 bytes; value = d·(q − 16).
    Q5_0,
    /// Blocks of 32: f16 `d`, f16 `m`, 32-bit high-bit mask, 16 bytes; value = d·q + m.
    Q5_1,
    /// Super-blocks of 256: 16 sub-blocks of 16, 2-bit q, 4-bit scale and min.
    Q2_K,
    /// Super-blocks of 256: 16 sub-blocks of 16, 3-bit q, 6-bit scale.
    Q3_K,
    /// Super-blocks of 256: 8 sub-blocks of 32, 4-bit q, 6-bit scale and min.
    Q4_K,
    /// Super-blocks of 256: 8 sub-blocks of 32, 5-bit q, 6-bit scale and min.
    Q5_K,
    /// Super-blocks of 256: 16 sub-blocks of 16, 6-bit q, 8-bit scale.
    Q6_K,
    /// Blocks of 32: f16 `d`, 16 bytes of indices into a fixed non-linear 4-bit grid.
    IQ4_NL,
}

impl WeightType {
    /// Elements per block (1 for float types).
    pub fn block_size(self) -> usize {
        match self {
            WeightType::F32 | WeightType::F16 | WeightType::BF16 => 1,
            WeightType::Q8_0
            | WeightType::Q4_0
            | WeightType::Q4_1
            | WeightType::Q5_0
            | WeightType::Q5_1
            | WeightType::IQ4_NL => QK,
            WeightType::Q2_K
            | WeightType::Q3_K
            | WeightType::Q4_K
            | WeightType::Q5_K
            | WeightType::Q6_K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            WeightType::F32 => 4,
            WeightType::F16 | WeightType::BF16 => 2,
            WeightType::Q8_0 => Q8_0_BLOCK_BYTES,
            WeightType::Q4_0 | WeightType::IQ4_NL => Q4_0_BLOCK_BYTES,
            WeightType::Q4_1 => 20,
            WeightType::Q5_0 => 22,
            WeightType::Q5_1 => 24,
            WeightType::Q2_K => 84,
            WeightType::Q3_K => 110,
            WeightType::Q4_K => 144,
            WeightType::Q5_K => 176,
            WeightType::Q6_K => 210,
        }
    }

    /// Every type, in ggml id order.
    pub const ALL: [WeightType; 14] = [
        WeightType::F32,
        WeightType::F16,
        WeightType::Q4_0,
        WeightType::Q4_1,
        WeightType::Q5_0,
        WeightType::Q5_1,
        WeightType::Q8_0,
        WeightType::Q2_K,
        WeightType::Q3_K,
        WeightType::Q4_K,
        WeightType::Q5_K,
        WeightType::Q6_K,
        WeightType::IQ4_NL,
        WeightType::BF16,
    ];

    /// Byte offsets of the f16 scale fields (`d`, `m`, `dmin`) inside one block; empty for
    /// float types. (Tests use it to make random blocks with finite scales.)
    pub fn f16_fields(self) -> &'static [usize] {
        match self {
            WeightType::F32 | WeightType::F16 | WeightType::BF16 => &[],
            WeightType::Q4_0 | WeightType::Q5_0 | WeightType::Q8_0 | WeightType::IQ4_NL => &[0],
            WeightType::Q4_1 | WeightType::Q5_1 | WeightType::Q4_K | WeightType::Q5_K => &[0, 2],
            WeightType::Q2_K => &[80, 82],
            WeightType::Q3_K => &[108],
            WeightType::Q6_K => &[208],
        }
    }

    /// Whether the type is block-quantized (int8 dot products in [`crate::matmul`]).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Whether values are affine per 32-block, `a·q − b` with a per-block offset `b` (Q4_1,
    /// Q5_1, Q4_K, Q5_K): the int8 matmul then subtracts `b` times the activations' block sums.
    pub fn is_affine(self) -> bool {
        matches!(
            self,
            WeightType::Q4_1 | WeightType::Q5_1 | WeightType::Q4_K | WeightType::Q5_K
        )
    }

    /// Bytes of one row of `cols` elements, or `None` if `cols` is not a multiple of the block.
    pub fn row_bytes(self, cols: usize) -> Option<usize> {
        cols.is_multiple_of(self.block_size())
            .then(|| cols / self.block_size() * self.block_bytes())
    }
}

/// A weight matrix in ggml layout: `rows` rows (output features) of `cols` elements (input
/// features), i.e. GGUF shape `[cols, rows]`. `data` = rows * row_bytes(cols).
#[derive(Debug, Clone, Copy)]
pub struct WeightRef<'a> {
    pub wtype: WeightType,
    pub data: &'a [u8],
    pub rows: usize,
    pub cols: usize,
}

#[inline(always)]
pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantize one row of `out.len()` values stored as `wtype` in `data`.
pub fn dequantize_row(wtype: WeightType, data: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    let cols = out.len();
    let expected = wtype.row_bytes(cols);
    if expected != Some(data.len()) {
        return Err(KernelError::RowLength {
            wtype,
            cols,
            expected: expected.unwrap_or(0),
            got: data.len(),
        });
    }
    match wtype {
        WeightType::F32 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        WeightType::F16 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        WeightType::BF16 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        WeightType::Q8_0 | WeightType::Q4_0 => {
            let mut q = [0i8; QK];
            for (b, o) in out.chunks_exact_mut(QK).enumerate() {
                let d = block_ints(wtype, data, b, &mut q);
                for (o, &q) in o.iter_mut().zip(&q) {
                    *o = q as f32 * d;
                }
            }
        }
        _ => {
            let bb = wtype.block_bytes();
            for (blk, o) in data
                .chunks_exact(bb)
                .zip(out.chunks_exact_mut(wtype.block_size()))
            {
                crate::dequant::dequantize_block(wtype, blk, o);
            }
        }
    }
    Ok(())
}

/// One row of a quantized matrix as int8 values `q` [cols], f32 scales `d` [cols/32] and f32
/// block offsets `m` [cols/32] — weight `k` of block `b` is `d[b]·q[k] − m[b]` — the form the
/// int8 kernels run on; `tmp` [cols] is scratch.
///
/// * Q8_0, Q4_0, Q5_0 and IQ4_NL are integers times one scale per 32-block already: taken
///   exactly (value = q·d bit for bit), `m` = 0.
/// * Q4_1, Q5_1, Q4_K and Q5_K are affine per 32-block (`a·q − b`, q 0..31; see
///   [`crate::dequant::affine_block`]): taken exactly, `d` = a, `m` = b.
/// * Q6_K, Q3_K and Q2_K (16-value sub-blocks with different scales inside a 32-block) are
///   dequantized exactly (ggml's `dequantize_row_*`) and each 32-block is re-quantized
///   symmetrically to int8 with an f32 scale `d = amax/127`, `q = round(x/d)`, `m` = 0. This
///   adds at most d/2 = amax/254 per value: 1/4 of Q6_K's own step, less for Q3_K/Q2_K.
///
/// `row` must hold `q.len()` values of `wtype` (checked by the callers). Always inlined, so
/// that packing (`matmul::pack`) compiles it for the instruction set it packs for.
#[inline(always)]
pub(crate) fn row_ints(
    wtype: WeightType,
    row: &[u8],
    q: &mut [i8],
    d: &mut [f32],
    m: &mut [f32],
    tmp: &mut [f32],
) {
    let cols = q.len();
    let blocks = q.chunks_exact_mut(QK).zip(d.iter_mut().zip(m.iter_mut()));
    let mut blk = [0i8; QK];
    match wtype {
        WeightType::Q8_0 | WeightType::Q4_0 | WeightType::Q5_0 | WeightType::IQ4_NL => {
            for (b, (qb, (db, mb))) in blocks.enumerate() {
                *db = block_ints(wtype, row, b, &mut blk);
                *mb = 0.0;
                qb.copy_from_slice(&blk);
            }
        }
        _ if wtype.is_affine() => {
            let (bytes, per) = (wtype.block_bytes(), wtype.block_size() / QK);
            for (b, (qb, (db, mb))) in blocks.enumerate() {
                let gb = &row[(b / per) * bytes..][..bytes];
                (*db, *mb) = crate::dequant::affine_block(wtype, gb, b % per, &mut blk);
                qb.copy_from_slice(&blk);
            }
        }
        _ => {
            let tmp = &mut tmp[..cols];
            let (bytes, size) = (wtype.block_bytes(), wtype.block_size());
            for (blk, x) in row.chunks_exact(bytes).zip(tmp.chunks_exact_mut(size)) {
                crate::dequant::dequantize_block(wtype, blk, x);
            }
            for (x, (qb, (db, mb))) in tmp.chunks_exact(QK).zip(blocks) {
                *db = requantize_block(x, qb);
                *mb = 0.0;
            }
        }
    }
}

/// Symmetric int8 quantization of one 32-block of exact weight values: returns
/// `d = amax/127` (f32) and writes `q = round(x/d)` (ties away from zero) clamped to ±127
/// (0 if d = 0 or x/d is NaN).
///
/// Written to vectorize (the weights of a Q6_K file pass through here at load): the maximum
/// is taken on 8 lanes (max is exact and order-free), and the rounding is done on integers —
/// `x/d` clamped to ±128, truncated, plus or minus one when the dropped fraction is at least
/// one half — which gives exactly `(x/d).round().clamp(-127, 127)` (the fraction `v − trunc(v)`
/// is exact for |v| ≤ 128) without a call to `roundf`. Tested against that definition.
#[inline(always)]
fn requantize_block(x: &[f32], q: &mut [i8]) -> f32 {
    let mut lanes = [0f32; 8];
    for c in x.chunks_exact(8) {
        for (m, v) in lanes.iter_mut().zip(c) {
            *m = m.max(v.abs());
        }
    }
    let amax = lanes.iter().fold(0.0f32, |m, &v| m.max(v));
    let d = amax / 127.0;
    if d == 0.0 {
        q.fill(0);
        return d;
    }
    for (q, &x) in q.iter_mut().zip(x) {
        let v = x / d;
        // NaN (a NaN or infinite weight) gives 0, as `round` and `as i8` do.
        let v = if v.is_nan() {
            0.0
        } else {
            v.clamp(-128.0, 128.0)
        };
        // SAFETY: v is finite and within ±128, so it fits an i32 (a plain, vectorizable
        // conversion instead of `as`, whose saturation handling keeps this loop scalar).
        let t: i32 = unsafe { v.to_int_unchecked() };
        let frac = v - t as f32;
        let r = t + (frac >= 0.5) as i32 - (frac <= -0.5) as i32;
        *q = r.clamp(-127, 127) as i8;
    }
    d
}

/// Integer values and f32 scale of block `b` of a Q8_0/Q4_0/Q5_0/IQ4_NL row.
#[inline(always)]
pub(crate) fn block_ints(wtype: WeightType, row: &[u8], b: usize, q: &mut [i8; QK]) -> f32 {
    match wtype {
        WeightType::Q8_0 => {
            let blk = &row[b * Q8_0_BLOCK_BYTES..(b + 1) * Q8_0_BLOCK_BYTES];
            for (q, &v) in q.iter_mut().zip(&blk[2..]) {
                *q = v as i8;
            }
            f16_at(blk, 0)
        }
        WeightType::Q4_0 => {
            let blk = &row[b * Q4_0_BLOCK_BYTES..(b + 1) * Q4_0_BLOCK_BYTES];
            for (j, &v) in blk[2..].iter().enumerate() {
                q[j] = (v & 0x0f) as i8 - 8;
                q[j + QK / 2] = (v >> 4) as i8 - 8;
            }
            f16_at(blk, 0)
        }
        WeightType::Q5_0 => {
            let blk = &row[b * 22..(b + 1) * 22];
            let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
            for (j, &v) in blk[6..].iter().enumerate() {
                q[j] = ((v & 0x0f) | (((qh >> j) & 1) << 4) as u8) as i8 - 16;
                q[j + QK / 2] = ((v >> 4) | (((qh >> (j + 16)) & 1) << 4) as u8) as i8 - 16;
            }
            f16_at(blk, 0)
        }
        WeightType::IQ4_NL => {
            let blk = &row[b * Q4_0_BLOCK_BYTES..(b + 1) * Q4_0_BLOCK_BYTES];
            for (j, &v) in blk[2..].iter().enumerate() {
                q[j] = crate::dequant::KVALUES_IQ4NL[(v & 0x0f) as usize];
                q[j + QK / 2] = crate::dequant::KVALUES_IQ4NL[(v >> 4) as usize];
            }
            f16_at(blk, 0)
        }
        _ => unreachable!("block_ints called on {wtype:?}"),
    }
}

/// Quantize one 32-value block exactly like ggml's `quantize_row_q8_0_ref`:
/// `d = amax / 127`, `q = roundf(x * (1/d))` (ties away from zero); the scale is stored as f16,
/// so the returned scale is the f16-rounded `d`. Returns `(d, sum of q)`.
pub(crate) fn quantize_block_q8_0(x: &[f32], q: &mut [i8]) -> (f32, i32) {
    debug_assert_eq!(x.len(), QK);
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in q.iter_mut().zip(x) {
        let r = (v * id).round() as i32;
        *q = r as i8;
        sum += r;
    }
    (f16::from_f32(d).to_f32(), sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_bytes_and_errors() {
        assert_eq!(WeightType::Q8_0.row_bytes(64), Some(68));
        assert_eq!(WeightType::Q4_0.row_bytes(64), Some(36));
        assert_eq!(WeightType::F16.row_bytes(3), Some(6));
        assert_eq!(WeightType::Q8_0.row_bytes(33), None);
        let mut out = [0f32; 32];
        let e = dequantize_row(WeightType::Q8_0, &[0u8; 33], &mut out).unwrap_err();
        assert!(e.to_string().contains("needs 34 bytes, got 33"), "{e}");
        let mut out = [0f32; 33];
        assert!(dequantize_row(WeightType::Q4_0, &[0u8; 18], &mut out).is_err());
    }

    #[test]
    fn dequantize_known_blocks() {
        // Q8_0: d = 0.5, q = -16..16
        let mut blk = f16::from_f32(0.5).to_le_bytes().to_vec();
        blk.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut out = [0f32; 32];
        dequantize_row(WeightType::Q8_0, &blk, &mut out).unwrap();
        for (i, v) in out.iter().enumerate() {
            assert_eq!(*v, (i as f32 - 16.0) * 0.5);
        }
        // Q4_0: d = 2, byte j holds element j (low) and j+16 (high)
        let mut blk = f16::from_f32(2.0).to_le_bytes().to_vec();
        blk.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        dequantize_row(WeightType::Q4_0, &blk, &mut out).unwrap();
        for j in 0..16 {
            assert_eq!(out[j], (j as f32 - 8.0) * 2.0);
            assert_eq!(out[j + 16], ((15 - j) as f32 - 8.0) * 2.0);
        }
        // F16 / BF16 / F32
        let vals = [1.5f32, -2.25, 0.0, 65504.0];
        let b: Vec<u8> = vals
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        let mut out = [0f32; 4];
        dequantize_row(WeightType::F16, &b, &mut out).unwrap();
        assert_eq!(out, vals);
        let b: Vec<u8> = vals
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
            .collect();
        dequantize_row(WeightType::BF16, &b, &mut out).unwrap();
        assert_eq!(&out[..3], &vals[..3]);
        let b: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        dequantize_row(WeightType::F32, &b, &mut out).unwrap();
        assert_eq!(out, vals);
    }

    /// The definition `requantize_block` implements without `roundf`.
    fn requantize_reference(x: &[f32], q: &mut [i8]) -> f32 {
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        for (q, &v) in q.iter_mut().zip(x) {
            *q = if d == 0.0 {
                0
            } else {
                (v / d).round().clamp(-127.0, 127.0) as i8
            };
        }
        d
    }

    #[test]
    fn requantize_matches_its_definition() {
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut blocks: Vec<[f32; QK]> = Vec::new();
        for i in 0..20_000 {
            let scale = [1e-30f32, 1e-6, 0.01, 1.0, 3e5, 3e38][i % 6];
            let mut b = [0f32; QK];
            for v in b.iter_mut() {
                *v = ((next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale;
            }
            if i % 7 == 0 {
                // values on exact half steps of the scale (ties), and the extremes
                let amax = 127.0 * 0.03125;
                for (k, v) in b.iter_mut().enumerate() {
                    *v = (k as f32 - 16.0 + 0.5) * 0.03125 * ((next() % 9) as f32);
                }
                b[0] = amax;
                b[1] = -amax;
            }
            blocks.push(b);
        }
        let mut special = [0f32; QK];
        blocks.push(special);
        special[3] = -0.0;
        special[4] = f32::MIN_POSITIVE / 4.0;
        blocks.push(special);
        special[5] = f32::INFINITY;
        blocks.push(special);
        special[6] = f32::NAN;
        blocks.push(special);
        blocks.push([f32::NAN; QK]);
        special[5] = f32::MAX;
        special[6] = -f32::MAX;
        blocks.push(special);
        for b in &blocks {
            let (mut got, mut want) = ([0i8; QK], [0i8; QK]);
            let (d, dr) = (
                requantize_block(b, &mut got),
                requantize_reference(b, &mut want),
            );
            assert_eq!(d.to_bits(), dr.to_bits(), "{b:?}");
            assert_eq!(got, want, "{b:?}");
        }
    }

    #[test]
    fn quantize_matches_ggml_reference() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 10.3) * 0.37).collect();
        let mut q = [0i8; 32];
        let (d, s) = quantize_block_q8_0(&x, &mut q);
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_eq!(d, f16::from_f32(amax / 127.0).to_f32());
        assert_eq!(q.iter().map(|&v| v as i32).sum::<i32>(), s);
        assert_eq!(q.iter().map(|v| v.unsigned_abs()).max(), Some(127));
        // ties round away from zero: 0.5*d -> 1
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 0.5;
        x[2] = -0.5;
        x[3] = 1.5;
        quantize_block_q8_0(&x, &mut q);
        assert_eq!(&q[..4], &[127, 1, -1, 2]);
        let (d, s) = quantize_block_q8_0(&[0f32; 32], &mut q);
        assert_eq!((d, s), (0.0, 0));
        assert!(q.iter().all(|&v| v == 0));
    }
}
