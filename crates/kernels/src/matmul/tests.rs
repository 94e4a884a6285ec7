use super::*;
use crate::quant::{row_ints, Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES};
use crate::WeightType;
use half::{bf16, f16};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Random weights for each (type, rows) part, `cols` wide.
fn random_parts(types: &[(WeightType, usize)], cols: usize, rng: &mut StdRng) -> Vec<Vec<u8>> {
    types
        .iter()
        .map(|&(t, r)| random_weights(t, r, cols, rng))
        .collect()
}

/// The parts (type, rows) over their bytes `datas`, to pack stacked.
fn weight_refs<'a>(
    types: &[(WeightType, usize)],
    datas: &'a [Vec<u8>],
    cols: usize,
) -> Vec<WeightRef<'a>> {
    types
        .iter()
        .zip(datas)
        .map(|(&(wtype, rows), data)| WeightRef {
            wtype,
            data,
            rows,
            cols,
        })
        .collect()
}

/// Random ggml-layout weight bytes.
pub(crate) fn random_weights(
    wtype: WeightType,
    rows: usize,
    cols: usize,
    rng: &mut StdRng,
) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rows {
        match wtype {
            WeightType::F32 => {
                (0..cols).for_each(|_| out.extend(rng.gen_range(-1.0f32..1.0).to_le_bytes()))
            }
            WeightType::F16 => (0..cols)
                .for_each(|_| out.extend(f16::from_f32(rng.gen_range(-1.0f32..1.0)).to_le_bytes())),
            WeightType::BF16 => (0..cols).for_each(|_| {
                out.extend(bf16::from_f32(rng.gen_range(-1.0f32..1.0)).to_le_bytes())
            }),
            WeightType::Q8_0 => {
                for _ in 0..cols / QK {
                    out.extend(f16::from_f32(rng.gen_range(0.001f32..0.02)).to_le_bytes());
                    // full i8 range, including -128 (ggml never writes it, but files might)
                    (0..QK).for_each(|_| out.push(rng.gen::<u8>()));
                }
            }
            WeightType::Q4_0 => {
                for _ in 0..cols / QK {
                    out.extend(f16::from_f32(rng.gen_range(0.001f32..0.05)).to_le_bytes());
                    (0..QK / 2).for_each(|_| out.push(rng.gen::<u8>()));
                }
            }
            _ => {
                // random bytes, with small positive scales (K-quant sub-scales go up to 63)
                for _ in 0..cols / wtype.block_size() {
                    let start = out.len();
                    (0..wtype.block_bytes()).for_each(|_| out.push(rng.gen::<u8>()));
                    for &off in wtype.f16_fields() {
                        let d = f16::from_f32(rng.gen_range(0.0005f32..0.003));
                        out[start + off..start + off + 2].copy_from_slice(&d.to_le_bytes());
                    }
                }
            }
        }
    }
    assert_eq!(out.len(), rows * wtype.row_bytes(cols).unwrap());
    out
}

pub(crate) fn random_x(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let v: f32 = rng.gen_range(-2.0..2.0);
            // some outliers and exact zeros, like real activations
            if i % 97 == 3 {
                v * 40.0
            } else if i % 89 == 5 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

fn run(w: &PackedMatrix, x: &[f32], n_tok: usize, threads: usize) -> Vec<f32> {
    let pool = ThreadPool::new(threads);
    let mut s = MatmulScratch::new(n_tok, w.cols());
    let mut y = vec![f32::NAN; n_tok * w.rows()];
    matmul(w, x, n_tok, &mut y, &mut s, &pool);
    y
}

/// f64 reference: dequantized weights times (quantized, for int types) activations.
fn reference(
    wtype: WeightType,
    data: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    n_tok: usize,
) -> Vec<f64> {
    let rb = wtype.row_bytes(cols).unwrap();
    let mut wf = vec![0f32; cols];
    let mut xr = x.to_vec();
    let mut wq = vec![0i8; cols];
    let mut wd = vec![0f32; cols / QK];
    let mut wm = vec![0f32; cols / QK];
    if wtype.is_quantized() {
        let mut q = [0i8; QK];
        for blk in xr.chunks_exact_mut(QK) {
            let (d, _) = quantize_block_q8_0(blk, &mut q);
            for (v, q) in blk.iter_mut().zip(q) {
                *v = q as f32 * d;
            }
        }
    }
    let mut y = vec![0f64; n_tok * rows];
    for r in 0..rows {
        let row = &data[r * rb..(r + 1) * rb];
        if wtype.is_quantized() {
            // the int8 form the kernels run on (tested against dequantize_row below)
            row_ints(wtype, row, &mut wq, &mut wd, &mut wm, &mut wf);
            for (k, w) in wf.iter_mut().enumerate() {
                *w = wq[k] as f32 * wd[k / QK] - wm[k / QK];
            }
        } else {
            crate::dequantize_row(wtype, row, &mut wf).unwrap();
        }
        for t in 0..n_tok {
            y[t * rows + r] = (0..cols)
                .map(|k| wf[k] as f64 * xr[t * cols + k] as f64)
                .sum();
        }
    }
    y
}

const ALL_TYPES: [WeightType; 14] = WeightType::ALL;

/// A shape's column count made valid for `wtype` (a multiple of its block).
fn cols_for(wtype: WeightType, cols: usize) -> usize {
    cols.next_multiple_of(wtype.block_size())
}

/// The int8 form of every row: exact (q·d − m equals the file's value bit for bit) for Q8_0,
/// Q4_0, Q5_0, IQ4_NL and the affine Q4_1, Q5_1, Q4_K, Q5_K; within half a step (amax/254) of
/// the exact value for Q6_K, Q3_K and Q2_K.
#[test]
fn row_ints_are_exact_or_within_half_a_step() {
    let mut rng = StdRng::seed_from_u64(9);
    for wtype in ALL_TYPES.into_iter().filter(|t| t.is_quantized()) {
        let cols = cols_for(wtype, 512);
        let data = random_weights(wtype, 4, cols, &mut rng);
        let rb = wtype.row_bytes(cols).unwrap();
        let exact = !matches!(
            wtype,
            WeightType::Q6_K | WeightType::Q3_K | WeightType::Q2_K
        );
        let (mut q, mut d) = (vec![0i8; cols], vec![0f32; cols / QK]);
        let mut m = vec![0f32; cols / QK];
        let (mut tmp, mut want) = (vec![0f32; cols], vec![0f32; cols]);
        for row in data.chunks_exact(rb) {
            row_ints(wtype, row, &mut q, &mut d, &mut m, &mut tmp);
            if !wtype.is_affine() {
                assert!(m.iter().all(|&m| m == 0.0), "{wtype:?}: offsets");
            }
            crate::dequantize_row(wtype, row, &mut want).unwrap();
            for b in 0..cols / QK {
                let blk = &want[b * QK..(b + 1) * QK];
                let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (k, &w) in blk.iter().enumerate() {
                    let got = q[b * QK + k] as f32 * d[b] - m[b];
                    if exact {
                        assert_eq!(got.to_bits(), w.to_bits(), "{wtype:?} block {b}");
                    } else {
                        assert!(
                            (got - w).abs() <= amax / 254.0 * 1.0001,
                            "{wtype:?} block {b}: {got} vs {w} (amax {amax})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn scalar_matches_f64_reference() {
    let mut rng = StdRng::seed_from_u64(1);
    for wtype in ALL_TYPES {
        let (rows, cols, n_tok) = (
            37,
            if wtype.is_quantized() {
                cols_for(wtype, 96)
            } else {
                45
            },
            5,
        );
        let data = random_weights(wtype, rows, cols, &mut rng);
        let w = PackedMatrix::pack_for(
            Isa::Scalar,
            &[WeightRef {
                wtype,
                data: &data,
                rows,
                cols,
            }],
        )
        .unwrap();
        assert_eq!(w.is_int8(), wtype.is_quantized());
        let x = random_x(n_tok * cols, &mut rng);
        let y = run(&w, &x, n_tok, 1);
        let r = reference(wtype, &data, rows, cols, &x, n_tok);
        for (a, b) in y.iter().zip(&r) {
            assert!(
                (*a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{wtype:?}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn fused_parts_stack_rows() {
    let mut rng = StdRng::seed_from_u64(2);
    let cols = 256;
    // parts of different quantized types pack together (a Q4_K_M file's attn_q ‖ attn_k ‖
    // attn_v can be Q4_K, Q4_K, Q6_K)
    let types = [
        (WeightType::Q8_0, 5),
        (WeightType::Q4_0, 3),
        (WeightType::Q4_K, 2),
        (WeightType::Q6_K, 4),
    ];
    let datas = random_parts(&types, cols, &mut rng);
    let parts = weight_refs(&types, &datas, cols);
    let total: usize = types.iter().map(|t| t.1).sum();
    let x = random_x(3 * cols, &mut rng);
    for isa in Isa::ALL {
        let fused = PackedMatrix::pack_for(isa, &parts).unwrap();
        assert_eq!((fused.rows(), fused.cols()), (total, cols));
        assert!(fused.is_int8() && fused.size_bytes() > 0);
        let y = run(&fused, &x, 3, 2);
        let mut r0 = 0;
        for p in &parts {
            let yp = run(&PackedMatrix::pack_for(isa, &[*p]).unwrap(), &x, 3, 1);
            for t in 0..3 {
                assert!(crate::same_bits(
                    &y[t * total + r0..t * total + r0 + p.rows],
                    &yp[t * p.rows..(t + 1) * p.rows]
                ));
            }
            r0 += p.rows;
        }
    }
    let pa = parts[0];
    // mixed float + quantized parts: f32 math on dequantized weights
    let f = random_weights(WeightType::F16, 2, cols, &mut rng);
    let pf = WeightRef {
        wtype: WeightType::F16,
        data: &f,
        rows: 2,
        cols,
    };
    let mixed = PackedMatrix::pack(&[pa, pf]).unwrap();
    assert!(!mixed.is_int8());
    assert_eq!(mixed.rows(), 7);
}

#[test]
fn pack_rejects_bad_parts() {
    let d = vec![0u8; 2 * 34];
    let ok = WeightRef {
        wtype: WeightType::Q8_0,
        data: &d,
        rows: 2,
        cols: 32,
    };
    assert_eq!(PackedMatrix::pack(&[]).unwrap_err(), KernelError::NoParts);
    let other = WeightRef {
        cols: 64,
        rows: 1,
        ..ok
    };
    assert!(matches!(
        PackedMatrix::pack(&[ok, other]),
        Err(KernelError::ColsMismatch { part: 1, .. })
    ));
    let short = WeightRef {
        data: &d[..67],
        ..ok
    };
    let e = PackedMatrix::pack(&[short]).unwrap_err();
    assert!(
        e.to_string().contains("needs 68 bytes of data, got 67"),
        "{e}"
    );
    let unaligned = WeightRef {
        cols: 17,
        rows: 4,
        ..ok
    };
    assert!(matches!(
        PackedMatrix::pack(&[unaligned]),
        Err(KernelError::BadBlockAlignment { .. })
    ));
    let empty = WeightRef {
        rows: 0,
        data: &[],
        ..ok
    };
    assert!(matches!(
        PackedMatrix::pack(&[empty]),
        Err(KernelError::EmptyMatrix { .. })
    ));
    assert_eq!(Q8_0_BLOCK_BYTES, 34);
    assert_eq!(Q4_0_BLOCK_BYTES, 18);
}

/// Every path gives bit-identical results to the scalar reference, for odd shapes.
#[test]
fn simd_paths_match_scalar_bit_exactly() {
    let mut rng = StdRng::seed_from_u64(3);
    for wtype in ALL_TYPES {
        for &(rows, cols, n_tok) in &[
            (1, 32, 1),
            (17, 64, 7),
            (45, 96, 13),
            (70, 160, 3),
            (33, 288, 20),
            // int8: several token blocks (256 KiB of activations = 128 tokens of 2048), the
            // last one with a partial tile
            (40, 2048, 301),
        ] {
            let cols = if wtype.is_quantized() {
                cols_for(wtype, cols)
            } else {
                cols + 3
            };
            let data = random_weights(wtype, rows, cols, &mut rng);
            let part = [WeightRef {
                wtype,
                data: &data,
                rows,
                cols,
            }];
            let x = random_x(n_tok * cols, &mut rng);
            let want = run(
                &PackedMatrix::pack_for(Isa::Scalar, &part).unwrap(),
                &x,
                n_tok,
                1,
            );
            for isa in Isa::ALL {
                if !isa.is_supported() {
                    println!("skipping {isa}: not supported by this CPU");
                    continue;
                }
                let w = PackedMatrix::pack_for(isa, &part).unwrap();
                assert_eq!(w.isa(), isa);
                let got = run(&w, &x, n_tok, 2);
                assert!(
                    crate::same_bits(&got, &want),
                    "{isa} {wtype:?} {rows}x{cols} n_tok={n_tok} differs from scalar"
                );
            }
        }
    }
}

/// A row's output is bit-identical alone, at any position of batches of odd sizes, and for
/// 1/2/3 threads (the largest batch splits int8 matmuls by tokens at 2 and 3 threads, unevenly).
#[test]
fn batch_and_thread_invariance() {
    let mut rng = StdRng::seed_from_u64(4);
    for wtype in [
        WeightType::Q8_0,
        WeightType::Q4_0,
        WeightType::F32,
        WeightType::Q4_K,
        WeightType::Q5_1,
        WeightType::Q6_K,
    ] {
        let (rows, cols) = (83, cols_for(wtype, 192));
        let data = random_weights(wtype, rows, cols, &mut rng);
        let part = [WeightRef {
            wtype,
            data: &data,
            rows,
            cols,
        }];
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let w = PackedMatrix::pack_for(isa, &part).unwrap();
            let probe = random_x(cols, &mut rng);
            let alone = run(&w, &probe, 1, 1);
            for n_tok in [2, 5, 7, 13, 25, 3 * super::SPLIT_TOKENS_MIN + 17] {
                for pos in [0, n_tok / 2, n_tok - 1] {
                    let mut x = random_x(n_tok * cols, &mut rng);
                    x[pos * cols..(pos + 1) * cols].copy_from_slice(&probe);
                    for threads in [1, 2, 3] {
                        let y = run(&w, &x, n_tok, threads);
                        let row = &y[pos * rows..(pos + 1) * rows];
                        assert!(
                            crate::same_bits(row, &alone),
                            "{isa} {wtype:?}: n_tok={n_tok} pos={pos} threads={threads}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn scratch_grows_when_undersized_and_zero_tokens_is_noop() {
    let mut rng = StdRng::seed_from_u64(5);
    let data = random_weights(WeightType::Q8_0, 4, 64, &mut rng);
    let w = PackedMatrix::pack(&[WeightRef {
        wtype: WeightType::Q8_0,
        data: &data,
        rows: 4,
        cols: 64,
    }])
    .unwrap();
    let pool = ThreadPool::new(1);
    let mut s = MatmulScratch::new(1, 32);
    let x = random_x(3 * 64, &mut rng);
    let mut y = vec![0f32; 12];
    matmul(&w, &x, 3, &mut y, &mut s, &pool);
    assert_eq!(y, run(&w, &x, 3, 1));
    matmul(&w, &[], 0, &mut [], &mut s, &pool);
}

/// The SIMD Q8_0 activation quantizers equal the scalar `quantize_row_q8_0_ref` port exactly,
/// including round-half-away-from-zero ties, all-zero blocks and tiny/huge magnitudes.
#[test]
fn simd_activation_quantizer_is_bit_exact() {
    let mut rng = StdRng::seed_from_u64(6);
    let cols = 8 * QK;
    let n_tok = 9;
    let mut x = random_x(n_tok * cols, &mut rng);
    // block 0 of token 0: amax 127 -> d = 1, so x itself is x*id: exact ties
    let ties = [
        0.5f32,
        -0.5,
        1.5,
        -1.5,
        2.5,
        -2.5,
        126.5,
        -126.5,
        0.49999997,
        -0.49999997,
        3.4999998,
    ];
    x[..QK].fill(0.25);
    x[0] = 127.0;
    x[1..1 + ties.len()].copy_from_slice(&ties);
    x[QK..2 * QK].fill(0.0); // zero block
    for (i, v) in x[2 * QK..3 * QK].iter_mut().enumerate() {
        *v = (i as f32 - 16.0) * 1e-30; // tiny: d underflows in f16
    }
    for (i, v) in x[3 * QK..4 * QK].iter_mut().enumerate() {
        *v = (i as f32 - 16.0) * 1e6; // large
    }
    let pool = ThreadPool::new(2);
    let mut want = MatmulScratch::new(n_tok, cols);
    quantize_activations(Isa::Scalar, &x, n_tok, cols, &mut want, &pool);
    assert_eq!(
        &want.xq[1..1 + ties.len()],
        &[1, -1, 2, -2, 3, -3, 127, -127, 0, 0, 3]
    );
    for isa in Isa::ALL.into_iter().filter(|i| *i != Isa::Scalar) {
        if !isa.is_supported() {
            println!("skipping {isa}: not supported by this CPU");
            continue;
        }
        let mut got = MatmulScratch::new(n_tok, cols);
        quantize_activations(isa, &x, n_tok, cols, &mut got, &pool);
        assert_eq!(got.xq, want.xq, "{isa} quantized values");
        assert_eq!(got.xsum, want.xsum, "{isa} block sums");
        assert!(crate::same_bits(&got.xd, &want.xd), "{isa} scales");
    }
}

/// Affine weights (per-block offset term): every path bit-identical to the scalar twin and
/// close to the f64 product of the exact file values, at odd output counts, 1/3/17 tokens, and
/// inputs that are not a multiple of 256 where the type allows it; fused with a non-affine part
/// (zero offsets) the rows are unchanged.
#[test]
fn affine_offset_term_matches_scalar_and_reference() {
    let mut rng = StdRng::seed_from_u64(7);
    let types = [
        WeightType::Q4_1,
        WeightType::Q5_1,
        WeightType::Q4_K,
        WeightType::Q5_K,
    ];
    for wtype in types {
        for &(rows, cols) in &[(1, 96), (19, 160), (45, 768), (33, 1152)] {
            let cols = cols_for(wtype, cols);
            let data = random_weights(wtype, rows, cols, &mut rng);
            let part = [WeightRef {
                wtype,
                data: &data,
                rows,
                cols,
            }];
            for n_tok in [1, 3, 17] {
                let x = random_x(n_tok * cols, &mut rng);
                let scalar = PackedMatrix::pack_for(Isa::Scalar, &part).unwrap();
                let want = run(&scalar, &x, n_tok, 1);
                let r = reference(wtype, &data, rows, cols, &x, n_tok);
                for (a, b) in want.iter().zip(&r) {
                    assert!(
                        (*a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "{wtype:?} {rows}x{cols} n_tok={n_tok}: {a} vs {b}"
                    );
                }
                for isa in Isa::ALL {
                    if !isa.is_supported() {
                        println!("skipping {isa}: not supported by this CPU");
                        continue;
                    }
                    let w = PackedMatrix::pack_for(isa, &part).unwrap();
                    let got = run(&w, &x, n_tok, 2);
                    assert!(
                        crate::same_bits(&got, &want),
                        "{isa} {wtype:?} {rows}x{cols} n_tok={n_tok} differs from scalar"
                    );
                }
            }
        }
    }
    // a non-affine part fused with an affine one (zero offsets) keeps its rows bit for bit
    let cols = 256;
    let k4 = random_weights(WeightType::Q4_K, 3, cols, &mut rng);
    let q8 = random_weights(WeightType::Q8_0, 5, cols, &mut rng);
    let parts = [
        WeightRef {
            wtype: WeightType::Q8_0,
            data: &q8,
            rows: 5,
            cols,
        },
        WeightRef {
            wtype: WeightType::Q4_K,
            data: &k4,
            rows: 3,
            cols,
        },
    ];
    let x = random_x(3 * cols, &mut rng);
    for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
        let fused = run(&PackedMatrix::pack_for(isa, &parts).unwrap(), &x, 3, 2);
        let alone = run(&PackedMatrix::pack_for(isa, &parts[..1]).unwrap(), &x, 3, 1);
        for t in 0..3 {
            assert!(
                crate::same_bits(&fused[t * 8..t * 8 + 5], &alone[t * 5..t * 5 + 5]),
                "{isa}"
            );
        }
        assert!(PackedMatrix::pack_for(isa, &parts).unwrap().size_bytes() > 0);
    }
}

/// The serial row-major packing the load-time packing (`pack.rs`) must reproduce byte for
/// byte: every row through `row_ints` (int8) or `dequantize_row` (f32), then the reference
/// panel repacking of `IntPanels::pack` / `FloatPanels::pack`.
fn reference_packing(isa: Isa, parts: &[WeightRef<'_>], f32_only: bool) -> Packed {
    let cols = parts[0].cols;
    let rows: usize = parts.iter().map(|p| p.rows).sum();
    let nb = cols / QK;
    let all_rows = || {
        parts.iter().flat_map(|p| {
            let rb = p.wtype.row_bytes(cols).unwrap();
            p.data.chunks_exact(rb).map(move |r| (p.wtype, r))
        })
    };
    if !f32_only && parts.iter().all(|p| p.wtype.is_quantized()) {
        let (mut q, mut d, mut m) = (
            vec![0i8; rows * cols],
            vec![0f32; rows * nb],
            vec![0f32; rows * nb],
        );
        let mut tmp = vec![0f32; cols];
        for (r, (wtype, row)) in all_rows().enumerate() {
            row_ints(
                wtype,
                row,
                &mut q[r * cols..(r + 1) * cols],
                &mut d[r * nb..(r + 1) * nb],
                &mut m[r * nb..(r + 1) * nb],
                &mut tmp,
            );
        }
        let m = parts.iter().any(|p| p.wtype.is_affine()).then_some(m);
        if isa == Isa::Scalar {
            return Packed::Int { q, d, m };
        }
        let (nr, _, layout) = panel_rows(isa);
        let panels = IntPanels::pack(&q, &d, rows, cols, nr, layout);
        Packed::IntPanels(panels, m.map(|m| FloatPanels::pack(&m, rows, nb, nr)))
    } else {
        let mut w = vec![0f32; rows * cols];
        for (r, (wtype, row)) in all_rows().enumerate() {
            crate::dequantize_row(wtype, row, &mut w[r * cols..(r + 1) * cols]).unwrap();
        }
        if isa == Isa::Scalar {
            return Packed::Float { w };
        }
        Packed::FloatPanels(FloatPanels::pack(&w, rows, cols, panel_rows(isa).1))
    }
}

fn same_packing(a: &Packed, b: &Packed) -> bool {
    let f = |x: &[f32], y: &[f32]| crate::same_bits(x, y);
    let fp = |x: &FloatPanels, y: &FloatPanels| {
        (x.nr, x.k, x.n_panels) == (y.nr, y.k, y.n_panels) && f(x.values(), y.values())
    };
    match (a, b) {
        (Packed::Float { w: x }, Packed::Float { w: y }) => f(x, y),
        (
            Packed::Int { q, d, m },
            Packed::Int {
                q: q2,
                d: d2,
                m: m2,
            },
        ) => {
            q == q2
                && f(d, d2)
                && match (m, m2) {
                    (None, None) => true,
                    (Some(x), Some(y)) => f(x, y),
                    _ => false,
                }
        }
        (Packed::FloatPanels(x), Packed::FloatPanels(y)) => fp(x, y),
        (Packed::IntPanels(x, m), Packed::IntPanels(y, m2)) => {
            (x.nr, x.nb, x.n_panels) == (y.nr, y.nb, y.n_panels)
                && x.bytes() == y.bytes()
                && match (m, m2) {
                    (None, None) => true,
                    (Some(x), Some(y)) => fp(x, y),
                    _ => false,
                }
        }
        _ => false,
    }
}

/// Packing on 1, 2 or 3 threads gives exactly the serial reference's bytes, for every type and
/// path, odd row counts (partial last panels) and fused parts of mixed types.
#[test]
fn parallel_packing_matches_the_serial_reference() {
    let mut rng = StdRng::seed_from_u64(21);
    let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
    let mut cases: Vec<Vec<(WeightType, usize)>> = ALL_TYPES
        .into_iter()
        .flat_map(|t| [vec![(t, 1)], vec![(t, 37)], vec![(t, 70)]])
        .collect();
    cases.push(vec![
        (WeightType::Q4_K, 19),
        (WeightType::Q6_K, 7),
        (WeightType::Q8_0, 40),
    ]);
    cases.push(vec![(WeightType::Q5_0, 3), (WeightType::BF16, 9)]);
    for case in cases {
        let cols = case
            .iter()
            .map(|&(t, _)| t.block_size())
            .max()
            .unwrap()
            .max(QK)
            * 3;
        let datas = random_parts(&case, cols, &mut rng);
        let parts = weight_refs(&case, &datas, cols);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let want = reference_packing(isa, &parts, false);
            for pool in &pools {
                let got = PackedMatrix::pack_for_on(isa, &parts, pool).unwrap();
                assert!(
                    same_packing(&got.data, &want),
                    "{case:?} on {isa:?}, {} threads",
                    pool.n_threads()
                );
            }
        }
        // quantized parts forced to f32 (the dense head), on the active path
        let want = reference_packing(crate::active_isa(), &parts, true);
        let got = PackedMatrix::pack_f32_on(&parts, &pools[2]).unwrap();
        assert!(
            !got.is_int8() && same_packing(&got.data, &want),
            "{case:?} as f32"
        );
    }
}
