//! ggml's reference quantizers (`quantize_row_*_ref` in ggml-quants.c, the code llama-quantize
//! runs without an importance matrix), ported operation for operation: the same f32 expression
//! order (no fused multiply-adds), `nearest_int`'s magic-number rounding, f16 scales rounded to
//! nearest even, and the same packed block layouts. Given the same f32 rows they produce the
//! same bytes as llama-quantize (checked against its output in `tests/quantize.rs`).
//!
//! Block layouts are listed in the kernels crate (`dequant.rs`), which decodes them.

use gguf::GgmlType;
use half::f16;

const QK: usize = 32;
const QK_K: usize = 256;
/// ggml's `GROUP_MAX_EPS`.
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: round half to even via the 1.5·2^23 trick (valid for |x| < 2^22).
#[inline]
fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

#[inline]
fn fp16(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

#[inline]
fn fp16_round(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// The types [`quantize_row`] writes.
pub fn can_quantize_to(t: GgmlType) -> bool {
    use GgmlType::*;
    matches!(
        t,
        F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q2_K | Q3_K | Q4_K | Q5_K | Q6_K
    )
}

/// Appends `x` (a multiple of `t`'s block size) encoded as `t` to `out`, exactly like ggml's
/// `ggml_quantize_chunk` without an importance matrix. Panics on a type
/// [`can_quantize_to`] rejects or a misaligned length (callers check both).
pub fn quantize_row(t: GgmlType, x: &[f32], out: &mut Vec<u8>) {
    use GgmlType::*;
    assert!(
        x.len().is_multiple_of(t.block_size() as usize),
        "row length"
    );
    match t {
        F32 => x.iter().for_each(|v| out.extend(v.to_le_bytes())),
        F16 => x.iter().for_each(|v| out.extend(fp16(*v))),
        BF16 => x
            .iter()
            .for_each(|v| out.extend(crate::quant::f32_to_bf16_bits(*v).to_le_bytes())),
        Q4_0 => x.chunks_exact(QK).for_each(|b| q4_0(b, out)),
        Q4_1 => x.chunks_exact(QK).for_each(|b| q4_1(b, out)),
        Q5_0 => x.chunks_exact(QK).for_each(|b| q5_0(b, out)),
        Q5_1 => x.chunks_exact(QK).for_each(|b| q5_1(b, out)),
        Q8_0 => x.chunks_exact(QK).for_each(|b| q8_0(b, out)),
        Q2_K => x.chunks_exact(QK_K).for_each(|b| q2_k(b, out)),
        Q3_K => x.chunks_exact(QK_K).for_each(|b| q3_k(b, out)),
        Q4_K => x.chunks_exact(QK_K).for_each(|b| q45_k(b, false, out)),
        Q5_K => x.chunks_exact(QK_K).for_each(|b| q45_k(b, true, out)),
        Q6_K => x.chunks_exact(QK_K).for_each(|b| q6_k(b, out)),
        other => panic!("quantize_row: {other} is not supported"),
    }
}

/// (amax, the signed value with the largest magnitude; first one on ties).
fn signed_max(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

fn q4_0(x: &[f32], out: &mut Vec<u8>) {
    let (_, max) = signed_max(x);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(fp16(d));
    for j in 0..QK / 2 {
        let x0 = x[j] * id;
        let x1 = x[QK / 2 + j] * id;
        let q0 = ((x0 + 8.5) as i8).min(15) as u8;
        let q1 = ((x1 + 8.5) as i8).min(15) as u8;
        out.push(q0 | (q1 << 4));
    }
}

fn q4_1(x: &[f32], out: &mut Vec<u8>) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(fp16(d));
    out.extend(fp16(min));
    for j in 0..QK / 2 {
        let x0 = (x[j] - min) * id;
        let x1 = (x[QK / 2 + j] - min) * id;
        let q0 = ((x0 + 0.5) as i8).min(15) as u8;
        let q1 = ((x1 + 0.5) as i8).min(15) as u8;
        out.push(q0 | (q1 << 4));
    }
}

/// Q5_0 (`with_min` false: d = max/−16, q = x/d + 16.5) or Q5_1 (d = (max−min)/31).
fn q5(x: &[f32], with_min: bool, out: &mut Vec<u8>) {
    let (d, min, offset) = if with_min {
        let (min, max) = min_max(x);
        ((max - min) / 31.0, min, 0.5f32)
    } else {
        let (_, max) = signed_max(x);
        (max / -16.0, 0.0, 16.5f32)
    };
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(fp16(d));
    if with_min {
        out.extend(fp16(min));
    }
    let mut qh = 0u32;
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        let (x0, x1) = if with_min {
            ((x[j] - min) * id, (x[QK / 2 + j] - min) * id)
        } else {
            (x[j] * id, x[QK / 2 + j] * id)
        };
        let (q0, q1) = if with_min {
            ((x0 + offset) as u8, (x1 + offset) as u8)
        } else {
            (
                ((x0 + offset) as i8).min(31) as u8,
                ((x1 + offset) as i8).min(31) as u8,
            )
        };
        qs[j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
        qh |= (((q0 & 0x10) >> 4) as u32) << j;
        qh |= (((q1 & 0x10) >> 4) as u32) << (j + QK / 2);
    }
    out.extend(qh.to_le_bytes());
    out.extend(qs);
}

fn q5_0(x: &[f32], out: &mut Vec<u8>) {
    q5(x, false, out)
}

fn q5_1(x: &[f32], out: &mut Vec<u8>) {
    q5(x, true, out)
}

fn q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(fp16(d));
    out.extend(x.iter().map(|v| (v * id).round() as i8 as u8));
}

/// ggml's `make_qx_quants` with `rmse_type` 1 and no importance weights (Q6_K): returns the
/// scale, writes `L` = level + nmax.
fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let (amax, max) = signed_max(x);
    if amax < GROUP_MAX_EPS {
        l_out.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let nmaxf = nmax as f32;
    let mut iscale = (-nmax) as f32 / max;
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for (l_o, &xi) in l_out.iter_mut().zip(x) {
        let l = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
        *l_o = (l + nmax) as i8;
        let w = xi * xi;
        sumlx += w * xi * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmaxf + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &xi in x {
            let l = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
            let w = xi * xi;
            sumlx += w * xi * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (l_o, &xi) in l_out.iter_mut().zip(x) {
                let l = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
                *l_o = (nmax + l) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// ggml's `make_q3_quants` with `do_rmse` (Q3_K): returns the scale, writes `L` = level + nmax.
fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let (amax, max) = signed_max(x);
    if amax < GROUP_MAX_EPS {
        l_out.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let iscale = (-nmax) as f32 / max;
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for (l_o, &xi) in l_out.iter_mut().zip(x) {
        let l = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
        *l_o = l as i8;
        let w = xi * xi;
        sumlx += w * xi * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..x.len() {
            let xi = x[i];
            let li = l_out[i] as f32;
            let w = xi * xi;
            let mut slx = sumlx - w * xi * li;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * li * li;
                let new_l = nearest_int(xi * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != l_out[i] as i32 {
                    slx += w * xi * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_out[i] = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for l in l_out.iter_mut() {
        *l += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// ggml's `make_qkx2_quants`: returns (scale, the_min), writes levels 0..=nmax into `l_out`.
#[allow(clippy::too_many_arguments)]
fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l_out: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out.iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let nmaxf = nmax as f32;
    let mut iscale = nmaxf / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min));
        l_out[i] = l.clamp(0, nmax) as u8;
        let mut diff = scale * l_out[i] as f32 + min - x[i];
        diff = if use_mad { diff.abs() } else { diff * diff };
        best_error += weights[i] * diff;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmaxf) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let w = weights[i];
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0f32;
            for i in 0..n {
                let mut diff = this_scale * laux[i] as f32 + this_min - x[i];
                diff = if use_mad { diff.abs() } else { diff * diff };
                cur_error += weights[i] * diff;
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Packs 2-bit levels L[256] into qs[64] (Q2_K / Q3_K layout).
fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8]) {
    for j in (0..QK_K).step_by(128) {
        for i in 0..32 {
            qs[j / 4 + i] =
                l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
        }
    }
}

fn q2_k(x: &[f32], out: &mut Vec<u8>) {
    let mut l = [0u8; QK_K];
    let mut weights = [0f32; 16];
    let mut mins = [0f32; 16];
    let mut scales = [0f32; 16];
    let q4scale = 15f32;
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = v.abs();
        }
        let (s, m) = make_qkx2_quants(
            3,
            xs,
            &weights,
            &mut l[16 * j..16 * j + 16],
            -0.5,
            0.1,
            15,
            true,
        );
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let mut sc = [0u8; 16];
    let d = if max_scale > 0.0 {
        let iscale = q4scale / max_scale;
        for j in 0..16 {
            sc[j] = nearest_int(iscale * scales[j]) as u8;
        }
        max_scale / q4scale
    } else {
        0.0
    };
    let dmin = if max_min > 0.0 {
        let iscale = q4scale / max_min;
        for j in 0..16 {
            let m = nearest_int(iscale * mins[j]);
            sc[j] |= (m << 4) as u8;
        }
        max_min / q4scale
    } else {
        0.0
    };
    let (d16, dmin16) = (fp16(d), fp16(dmin));
    let (df, dminf) = (fp16_round(d), fp16_round(dmin));
    for j in 0..16 {
        let dd = df * (sc[j] & 0x0f) as f32;
        if dd == 0.0 {
            continue;
        }
        let dm = dminf * (sc[j] >> 4) as f32;
        for ii in 0..16 {
            let q = nearest_int((x[16 * j + ii] + dm) / dd);
            l[16 * j + ii] = q.clamp(0, 3) as u8;
        }
    }
    let mut qs = [0u8; 64];
    pack_2bit(&l, &mut qs);
    out.extend(sc);
    out.extend(qs);
    out.extend(d16);
    out.extend(dmin16);
}

fn q3_k(x: &[f32], out: &mut Vec<u8>) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut amax) = (0f32, 0f32);
    for j in 0..16 {
        scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
        let s = scales[j].abs();
        if s > amax {
            amax = s;
            max_scale = scales[j];
        }
    }
    let mut sc = [0u8; 12];
    let d = if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for j in 0..16 {
            let v = nearest_int(iscale * scales[j]) as i8;
            let v = (v.clamp(-32, 31) + 32) as u8;
            if j < 8 {
                sc[j] = v & 0x0f;
            } else {
                sc[j - 8] |= (v & 0x0f) << 4;
            }
            sc[j % 4 + 8] |= (v >> 4) << (2 * (j / 4));
        }
        1.0 / iscale
    } else {
        0.0
    };
    let d16 = fp16(d);
    let df = fp16_round(d);
    for j in 0..16 {
        let low = if j < 8 { sc[j] & 0x0f } else { sc[j - 8] >> 4 };
        let s = (low | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i32 - 32;
        let dd = df * s as f32;
        if dd == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let q = nearest_int(x[16 * j + ii] / dd).clamp(-4, 3);
            l[16 * j + ii] = (q + 4) as i8;
        }
    }
    let mut hmask = [0u8; 32];
    let mut lu = [0u8; QK_K];
    let (mut m, mut hm) = (0usize, 1u8);
    for j in 0..QK_K {
        let mut v = l[j];
        if v > 3 {
            hmask[m] |= hm;
            v -= 4;
        }
        lu[j] = v as u8;
        m += 1;
        if m == QK_K / 8 {
            m = 0;
            hm = hm.wrapping_shl(1);
        }
    }
    let mut qs = [0u8; 64];
    pack_2bit(&lu, &mut qs);
    out.extend(hmask);
    out.extend(qs);
    out.extend(sc);
    out.extend(d16);
}

/// Q4_K (`five` false) or Q5_K.
fn q45_k(x: &[f32], five: bool, out: &mut Vec<u8>) {
    let nmax = if five { 31 } else { 15 };
    let (rmin, nstep) = if five { (-0.5f32, 15) } else { (-1.0f32, 20) };
    let mut l = [0u8; QK_K];
    let mut weights = [0f32; 32];
    let mut mins = [0f32; 8];
    let mut scales = [0f32; 8];
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0f32;
        for v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let (s, m) = make_qkx2_quants(
            nmax,
            xs,
            &weights,
            &mut l[32 * j..32 * j + 32],
            rmin,
            0.1,
            nstep,
            false,
        );
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut sc = [0u8; 12];
    for j in 0..8 {
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
            sc[j - 4] |= (ls >> 4) << 6;
            sc[j] |= (lm >> 4) << 6;
        }
    }
    let d = max_scale / 63.0;
    let dmin = max_min / 63.0;
    let (df, dminf) = (fp16_round(d), fp16_round(dmin));
    for j in 0..8 {
        let (s, m) = kernels_scale_min(j, &sc);
        let dd = df * s as f32;
        if dd == 0.0 {
            continue;
        }
        let dm = dminf * m as f32;
        for ii in 0..32 {
            let q = nearest_int((x[32 * j + ii] + dm) / dd);
            l[32 * j + ii] = q.clamp(0, nmax) as u8;
        }
    }
    out.extend(fp16(d));
    out.extend(fp16(dmin));
    out.extend(sc);
    if five {
        let mut qh = [0u8; 32];
        let mut ql = [0u8; 128];
        let (mut m1, mut m2) = (1u8, 2u8);
        for (k, n) in (0..QK_K).step_by(64).enumerate() {
            for j in 0..32 {
                let mut l1 = l[n + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = l[n + j + 32];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[32 * k + j] = l1 | (l2 << 4);
            }
            m1 = m1.wrapping_shl(2);
            m2 = m2.wrapping_shl(2);
        }
        out.extend(qh);
        out.extend(ql);
    } else {
        for n in (0..QK_K).step_by(64) {
            for j in 0..32 {
                out.push(l[n + j] | (l[n + j + 32] << 4));
            }
        }
    }
}

/// ggml's `get_scale_min_k4`.
fn kernels_scale_min(j: usize, s: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

fn q6_k(x: &[f32], out: &mut Vec<u8>) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
    for ib in 0..16 {
        let s = make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut l[16 * ib..16 * ib + 16]);
        scales[ib] = s;
        if s.abs() > max_abs_scale {
            max_abs_scale = s.abs();
            max_scale = s;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        out.extend([0u8; 210]);
        return;
    }
    let iscale = -128.0 / max_scale;
    let d = 1.0 / iscale;
    let df = fp16_round(d);
    let mut sc = [0i8; 16];
    for ib in 0..16 {
        sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
    }
    for j in 0..16 {
        let dd = df * sc[j] as f32;
        if dd == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let q = nearest_int(x[16 * j + ii] / dd).clamp(-32, 31);
            l[16 * j + ii] = (q + 32) as i8;
        }
    }
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for (h, j) in (0..QK_K).step_by(128).enumerate() {
        for i in 0..32 {
            let lv = |k: usize| l[j + i + k] as u8;
            ql[64 * h + i] = (lv(0) & 0x0f) | ((lv(64) & 0x0f) << 4);
            ql[64 * h + i + 32] = (lv(32) & 0x0f) | ((lv(96) & 0x0f) << 4);
            qh[32 * h + i] =
                (lv(0) >> 4) | ((lv(32) >> 4) << 2) | ((lv(64) >> 4) << 4) | ((lv(96) >> 4) << 6);
        }
    }
    out.extend(ql);
    out.extend(qh);
    out.extend(sc.map(|v| v as u8));
    out.extend(fp16(d));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(2.4999), 2);
        assert_eq!(nearest_int(-7.6), -8);
    }

    #[test]
    fn every_type_has_its_block_size() {
        let x: Vec<f32> = (0..512)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        for t in GgmlType::all().filter(|t| can_quantize_to(*t)) {
            let mut out = Vec::new();
            quantize_row(t, &x, &mut out);
            assert_eq!(out.len() as u64, t.row_bytes(512).unwrap(), "{t}");
        }
    }
}
