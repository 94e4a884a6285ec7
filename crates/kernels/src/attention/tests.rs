use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rand_vec(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// x rounded to bf16 as the scores round q and k (`bf16::to_bf16`), widened to f64.
fn bf(x: f32) -> f64 {
    f32::from_bits((super::bf16::to_bf16(x) as u32) << 16) as f64
}

/// Straightforward f64 softmax attention, with the kernels' bf16 roundings if `s.bf16`: of q,
/// k and v, and of each exp(s - max) (divided by the exact Σ). Returns the outputs and, per output, a
/// tolerance for two probabilities that the kernel's f32 exp rounds to the neighbouring bf16:
/// 2^-7 · (2 · max_j p_j·|v_j|).
fn reference(q: &[f32], k: &[f32], v: &[f32], s: &AttnShape) -> (Vec<f64>, Vec<f64>) {
    let bf = |x: f32| if s.bf16 { bf(x) } else { x as f64 };
    let hd = s.head_dim;
    let mut out = vec![0f64; q.len()];
    let mut tol = vec![0f64; q.len()];
    for i in 0..s.n_tok {
        for h in 0..s.n_head {
            let kvh = h / (s.n_head / s.n_head_kv);
            let vis: Vec<usize> = (0..s.n_tok)
                .filter(|&j| s.window.is_none_or(|w| i.abs_diff(j) <= w))
                .collect();
            let sc: Vec<f64> = vis
                .iter()
                .map(|&j| {
                    (0..hd)
                        .map(|d| {
                            bf(q[(i * s.n_head + h) * hd + d])
                                * bf(k[(j * s.n_head_kv + kvh) * hd + d])
                        })
                        .sum::<f64>()
                        * s.scale as f64
                })
                .collect();
            let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for d in 0..hd {
                let terms = vis.iter().zip(&e).map(|(&j, &p)| {
                    let vj = bf(v[(j * s.n_head_kv + kvh) * hd + d]);
                    let pr = if s.bf16 { bf(p as f32) } else { p };
                    (pr / z * vj, if s.bf16 { p / z * vj.abs() } else { 0.0 })
                });
                let o = (i * s.n_head + h) * hd + d;
                for (t, size) in terms {
                    out[o] += t;
                    tol[o] = tol[o].max(2.0 * size / 128.0);
                }
            }
        }
    }
    (out, tol)
}

#[test]
fn matches_f64_reference_all_paths() {
    for bf16 in [false, true] {
        matches_f64_reference_all_paths_in(bf16);
    }
}

fn matches_f64_reference_all_paths_in(bf16: bool) {
    let mut rng = StdRng::seed_from_u64(7);
    for &(n_tok, n_head, n_head_kv, head_dim, window) in &[
        (1, 3, 1, 256, None),
        (9, 3, 1, 32, Some(2)),
        (23, 4, 2, 48, None),
        (40, 3, 1, 256, Some(7)),
        (29, 12, 12, 32, None),
        (17, 6, 3, 40, None),
        (13, 3, 1, 33, None),
        (11, 4, 2, 7, Some(3)),
    ] {
        let shape = AttnShape {
            n_tok,
            n_head,
            n_head_kv,
            head_dim,
            window,
            scale: 1.0 / 16.0,
            bf16,
        };
        let q = rand_vec(n_tok * n_head * head_dim, &mut rng);
        let k = rand_vec(n_tok * n_head_kv * head_dim, &mut rng);
        let v = rand_vec(n_tok * n_head_kv * head_dim, &mut rng);
        let (want, tol) = reference(&q, &k, &v, &shape);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            for threads in [1, 2, 3] {
                let pool = ThreadPool::new(threads);
                let mut s = AttnScratch::new(n_tok, threads);
                let mut out = vec![f32::NAN; q.len()];
                attention_with(isa, &q, &k, &v, &mut out, &shape, &mut s, &pool);
                for ((a, b), t) in out.iter().zip(&want).zip(&tol) {
                    assert!(
                        (*a as f64 - b).abs() < 2e-6 + t,
                        "{isa} {shape:?}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

/// A window covering the whole sequence runs with different tiling than global attention
/// (with at most two query heads per K/V head, global attention uses row tiles instead of token
/// pairs) but must give the same bits; every path gives the scalar path's bits.
#[test]
fn tiling_invariance_and_scalar_twin() {
    for bf16 in [false, true] {
        tiling_invariance_and_scalar_twin_in(bf16);
    }
}

fn tiling_invariance_and_scalar_twin_in(bf16: bool) {
    let mut rng = StdRng::seed_from_u64(9);
    for &(n_tok, hd, n_head, n_head_kv) in &[
        (1, 64, 3, 1),
        (2, 256, 3, 1),
        (7, 40, 3, 1),
        (33, 256, 3, 1),
        (70, 24, 3, 1),
        (1, 32, 12, 12),
        (11, 32, 12, 12),
        (61, 32, 5, 5),
        (19, 40, 4, 2),
        (23, 72, 2, 2),
        (9, 33, 3, 1),
        (17, 5, 2, 2),
    ] {
        let q = rand_vec(n_tok * n_head * hd, &mut rng);
        let k = rand_vec(n_tok * n_head_kv * hd, &mut rng);
        let v = rand_vec(n_tok * n_head_kv * hd, &mut rng);
        let mut want = vec![0f32; q.len()];
        let global = AttnShape {
            n_tok,
            n_head,
            n_head_kv,
            head_dim: hd,
            window: None,
            scale: 0.0625,
            bf16,
        };
        let pool = ThreadPool::new(2);
        attention_with(
            Isa::Scalar,
            &q,
            &k,
            &v,
            &mut want,
            &global,
            &mut AttnScratch::new(n_tok, 2),
            &pool,
        );
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let mut base = vec![0f32; q.len()];
            attention_with(
                isa,
                &q,
                &k,
                &v,
                &mut base,
                &global,
                &mut AttnScratch::with_heads(n_tok, 2, n_head, n_head_kv, hd),
                &pool,
            );
            assert!(
                crate::same_bits(&base, &want),
                "{isa} n_tok={n_tok} hd={hd} heads {n_head}/{n_head_kv} differs from the scalar path"
            );
            for window in [n_tok.saturating_sub(1), n_tok + 5] {
                let shape = AttnShape {
                    window: Some(window),
                    ..global
                };
                let mut out = vec![0f32; q.len()];
                attention_with(
                    isa,
                    &q,
                    &k,
                    &v,
                    &mut out,
                    &shape,
                    &mut AttnScratch::new(1, 1),
                    &pool,
                );
                assert!(
                    crate::same_bits(&out, &base),
                    "{isa} window={window} heads {n_head}/{n_head_kv}"
                );
            }
        }
    }
}

/// A windowed row depends only on its query, the keys in its window and the parity of the
/// window's first key (bf16 pairs are keys (2m, 2m + 1) of the sequence): embedding the same
/// window in a longer sequence at an even offset (other tokens before/after, so different
/// blocks, token pairs and chunk alignments) and using other thread counts must give the same
/// bits.
#[test]
fn windowed_row_invariant_to_surrounding_tokens() {
    for bf16 in [false, true] {
        windowed_row_invariant_to_surrounding_tokens_in(bf16);
    }
}

fn windowed_row_invariant_to_surrounding_tokens_in(bf16: bool) {
    let mut rng = StdRng::seed_from_u64(10);
    let (n, w, hd, pre, post) = (40, 5, 80, 14, 30);
    let m = pre + n + post;
    let (q, k, v) = (
        rand_vec(m * 3 * hd, &mut rng),
        rand_vec(m * hd, &mut rng),
        rand_vec(m * hd, &mut rng),
    );
    let base = |x: &[f32], width: usize| x[pre * width..(pre + n) * width].to_vec();
    let (qb, kb, vb) = (base(&q, 3 * hd), base(&k, hd), base(&v, hd));
    for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
        let small = AttnShape {
            n_tok: n,
            n_head: 3,
            n_head_kv: 1,
            head_dim: hd,
            window: Some(w),
            scale: 0.1,
            bf16,
        };
        let mut o_small = vec![0f32; qb.len()];
        attention_with(
            isa,
            &qb,
            &kb,
            &vb,
            &mut o_small,
            &small,
            &mut AttnScratch::new(n, 1),
            &ThreadPool::new(1),
        );
        for threads in [1, 2, 3] {
            let big = AttnShape { n_tok: m, ..small };
            let mut o_big = vec![0f32; q.len()];
            attention_with(
                isa,
                &q,
                &k,
                &v,
                &mut o_big,
                &big,
                &mut AttnScratch::new(m, threads),
                &ThreadPool::new(threads),
            );
            for i in w..n - w {
                let a = &o_small[i * 3 * hd..(i + 1) * 3 * hd];
                let b = &o_big[(pre + i) * 3 * hd..(pre + i + 1) * 3 * hd];
                assert!(crate::same_bits(a, b), "{isa} threads={threads} row {i}");
            }
        }
    }
}

#[test]
fn row_invariant_to_thread_count_and_scratch() {
    for bf16 in [false, true] {
        row_invariant_to_thread_count_and_scratch_in(bf16);
    }
}

fn row_invariant_to_thread_count_and_scratch_in(bf16: bool) {
    let mut rng = StdRng::seed_from_u64(8);
    let shape = AttnShape {
        n_tok: 31,
        n_head: 3,
        n_head_kv: 1,
        head_dim: 64,
        window: Some(5),
        scale: 0.125,
        bf16,
    };
    let q = rand_vec(31 * 3 * 64, &mut rng);
    let k = rand_vec(31 * 64, &mut rng);
    let v = rand_vec(31 * 64, &mut rng);
    for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
        let mut base = vec![0f32; q.len()];
        attention_with(
            isa,
            &q,
            &k,
            &v,
            &mut base,
            &shape,
            &mut AttnScratch::new(31, 1),
            &ThreadPool::new(1),
        );
        for threads in [2, 3] {
            let mut out = vec![0f32; q.len()];
            // undersized scratch must grow, not fail
            attention_with(
                isa,
                &q,
                &k,
                &v,
                &mut out,
                &shape,
                &mut AttnScratch::new(4, 1),
                &ThreadPool::new(threads),
            );
            assert!(crate::same_bits(&out, &base), "{isa} threads={threads}");
        }
    }
}

/// A ragged batch gives every sequence exactly what it gets alone, whichever way it is run
/// (short sequences one per thread, long ones — and short ones holding most of the batch's
/// work, like the 200-token one — split by tiles), at any thread count.
#[test]
fn batch_of_sequences_matches_each_alone() {
    let long = [
        5,
        1,
        SEQ_PARALLEL_MAX_TOKENS + 9,
        33,
        SEQ_PARALLEL_MAX_TOKENS,
        2,
        70,
    ];
    check_batch_of_sequences(&long);
    check_batch_of_sequences(&[200, 3]);
    check_batch_of_sequences(&[200]);
}

fn check_batch_of_sequences(lens: &[usize]) {
    for bf16 in [false, true] {
        check_batch_of_sequences_in(lens, bf16);
    }
}

fn check_batch_of_sequences_in(lens: &[usize], bf16: bool) {
    let mut rng = StdRng::seed_from_u64(11);
    let mut seqs = Vec::new();
    let mut n_tok = 0;
    for &l in lens {
        seqs.push(n_tok..n_tok + l);
        n_tok += l;
    }
    for window in [None, Some(6)] {
        let shape = AttnShape {
            n_tok,
            n_head: 3,
            n_head_kv: 1,
            head_dim: 64,
            window,
            scale: 0.125,
            bf16,
        };
        let (wq, wkv) = (3 * 64, 64);
        let q = rand_vec(n_tok * wq, &mut rng);
        let k = rand_vec(n_tok * wkv, &mut rng);
        let v = rand_vec(n_tok * wkv, &mut rng);
        let one = ThreadPool::new(1);
        let mut alone = vec![0f32; q.len()];
        for r in &seqs {
            let mut sc = AttnScratch::new(r.len(), 1);
            attention(
                &q[r.start * wq..r.end * wq],
                &k[r.start * wkv..r.end * wkv],
                &v[r.start * wkv..r.end * wkv],
                &mut alone[r.start * wq..r.end * wq],
                &AttnShape {
                    n_tok: r.len(),
                    ..shape
                },
                &mut sc,
                &one,
            );
        }
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            let mut sc = AttnScratch::new(16, 1); // grows on demand
            let mut out = vec![f32::NAN; q.len()];
            attention_seqs(&q, &k, &v, &mut out, &seqs, &shape, &mut sc, &pool);
            assert!(
                crate::same_bits(&out, &alone),
                "lens {lens:?}, window {window:?}, {threads} threads"
            );
        }
    }
}

#[test]
#[should_panic(expected = "ascending, disjoint")]
fn overlapping_sequences_are_rejected() {
    let shape = AttnShape {
        n_tok: 4,
        n_head: 1,
        n_head_kv: 1,
        head_dim: 8,
        window: None,
        scale: 1.0,
        bf16: false,
    };
    let x = vec![0f32; 4 * 8];
    let mut out = x.clone();
    let mut sc = AttnScratch::new(4, 1);
    let pool = ThreadPool::new(2);
    attention_seqs(&x, &x, &x, &mut out, &[0..3, 2..4], &shape, &mut sc, &pool);
}
