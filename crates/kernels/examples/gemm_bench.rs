//! Int8 (Q8_0) GEMM microbenchmark at EmbeddingGemma-300M shapes.
//!
//! `cargo run --release -p kernels --example gemm_bench [-- --isa avx512|avx2-vnni|avx2-novnni|scalar]
//! [--f32 | --q4k | --attn [--lens 12,30,..] | --ops | --pool | --peak] [--cold] [--threads 1,2] [--ntok 1,18,60,424] [--secs 0.3]`
//!
//! Reports G MAC/s of `matmul` (activation quantization included) and the fraction of this CPU's
//! peak, measured first on x86-64 with AVX-512 VNNI (`--peak` alone prints it): the rate of
//! independent register-only zmm `vpdpbusd` (64 int8 MACs each) and, for `--f32`, zmm FMA
//! (16 MACs each), per core and on all `--threads` at once. Elsewhere the peak is assumed
//! (370 G int8 MAC/s, 88 G f32 MAC/s per core: a Sapphire Rapids-class core). `--peak` also
//! measures the ceiling of the int8 microkernel's instruction mix: per accumulator and 32-block,
//! 8 `vpdpbusd` then the block's f32 scaling (cvt + mul + fma), and with the affine types'
//! offset fma. Any kernel that keeps both operands' per-block scales (ours, ggml's) issues at
//! least that mix. `--attn` measures attention instead.

use kernels::{matmul, Isa, MatmulScratch, PackedMatrix, ThreadPool, WeightRef, WeightType};
use std::time::Instant;

const SHAPES: [(&str, usize, usize); 4] = [
    ("qkv 768->1280", 1280, 768),
    ("gate+up 768->2304", 2304, 768),
    ("down 1152->768", 768, 1152),
    ("out 768->768", 768, 768),
];

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`), if available. On a shared,
/// oversubscribed machine wall time includes preemption; CPU time does not.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Best wall-clock seconds per call of `f`, and mean on-CPU seconds (calling thread) per call
/// (schedstat is updated at scheduler events, so only the total over many calls is precise).
fn measure(min_secs: f64, mut f: impl FnMut()) -> (f64, Option<f64>) {
    f();
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-7);
    let reps = ((0.02 / once) as usize).max(1);
    let mut wall = f64::INFINITY;
    let (mut cpu_ns, mut calls) = (0u64, 0usize);
    let c_start = thread_cpu_ns();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < min_secs || wall == f64::INFINITY {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        wall = wall.min(t.elapsed().as_secs_f64() / reps as f64);
        calls += reps;
    }
    if let (Some(c0), Some(c1)) = (c_start, thread_cpu_ns()) {
        cpu_ns = c1 - c0;
    }
    (
        wall,
        (cpu_ns > 0).then(|| cpu_ns as f64 * 1e-9 / calls as f64),
    )
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn list(name: &str, default: &[usize]) -> Vec<usize> {
    arg(name).map_or(default.to_vec(), |s| {
        s.split(',')
            .map(|v| v.parse().expect("number list"))
            .collect()
    })
}

/// Packed weights `--cold` cycles through: well above the last-level cache.
const COLD_BYTES: usize = 256 << 20;

/// Deterministic pseudo-random bytes (xorshift).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

fn q8_weights(rows: usize, cols: usize) -> Vec<u8> {
    let mut data = bytes(rows * cols / 32 * 34, 42);
    for blk in data.chunks_exact_mut(34) {
        blk[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
        for b in &mut blk[2..] {
            *b = (*b as i8).clamp(-127, 127) as u8;
        }
    }
    data
}

/// Q4_K weights (affine: int8 product plus the per-block offset term); cols % 256 == 0.
fn q4k_weights(rows: usize, cols: usize) -> Vec<u8> {
    let bb = WeightType::Q4_K.block_bytes();
    let mut data = bytes(rows * cols / 256 * bb, 43);
    for blk in data.chunks_exact_mut(bb) {
        for &off in WeightType::Q4_K.f16_fields() {
            blk[off..off + 2].copy_from_slice(&half::f16::from_f32(0.001).to_le_bytes());
        }
    }
    data
}

fn f32_weights(rows: usize, cols: usize) -> Vec<u8> {
    bytes(rows * cols, 7)
        .iter()
        .flat_map(|b| ((*b as f32 - 128.0) / 256.0).to_le_bytes())
        .collect()
}

/// EmbeddingGemma's attention shape (3 query heads, 1 KV head, head_dim 256) for n_tok tokens,
/// and pseudo-random q [n_tok, 768], k and v [n_tok, 256].
fn gemma_attention(
    n_tok: usize,
    window: Option<usize>,
) -> (kernels::AttnShape, Vec<f32>, Vec<f32>, Vec<f32>) {
    let shape = kernels::AttnShape {
        n_tok,
        n_head: 3,
        n_head_kv: 1,
        head_dim: 256,
        window,
        scale: 1.0 / 16.0,
        bf16: std::env::var("ATTN_F32").is_err(),
    };
    let rnd = |n: usize, seed| {
        bytes(n, seed)
            .iter()
            .map(|b| (*b as f32 - 128.0) / 128.0)
            .collect::<Vec<f32>>()
    };
    (
        shape,
        rnd(n_tok * 768, 1),
        rnd(n_tok * 256, 2),
        rnd(n_tok * 256, 3),
    )
}

/// Attention throughput at EmbeddingGemma's shape (3 query heads, 1 KV head, head_dim 256).
fn attn_bench(isa: Isa, threads: &[usize], ntoks: &[usize], min_secs: f64) {
    use kernels::{attention_with, AttnScratch};
    println!("attention isa={isa} (MACs = 2 · n_head · Σ_i keys(i) · head_dim)");
    println!(
        "{:<10} {:>5} {:>3} {:>10} {:>9} {:>12}",
        "window", "n_tok", "thr", "us/call", "G MAC/s", "cpu G MAC/s"
    );
    let windows: Vec<Option<usize>> = match arg("--window").as_deref() {
        Some("global") => vec![None],
        Some(w) => vec![Some(w.parse().expect("--window N|global"))],
        None => vec![Some(256), None],
    };
    for window in windows {
        for &n_tok in ntoks {
            let (shape, q, k, v) = gemma_attention(n_tok, window);
            let mut out = vec![0f32; q.len()];
            let keys: usize = (0..n_tok)
                .map(|i| window.map_or(n_tok, |w| (i + w + 1).min(n_tok) - i.saturating_sub(w)))
                .sum();
            let macs = (2 * 3 * keys * 256) as f64;
            for &nt in threads {
                let pool = ThreadPool::new(nt);
                let mut s = AttnScratch::with_heads(n_tok, nt, 3, 1, 256);
                let (best, cpu) = measure(min_secs, || {
                    attention_with(isa, &q, &k, &v, &mut out, &shape, &mut s, &pool)
                });
                let cpu_col = cpu
                    .filter(|_| nt == 1)
                    .map_or("-".to_string(), |c| format!("{:.1}", macs / c / 1e9));
                let w = window.map_or("global".to_string(), |w| format!("±{w}"));
                println!(
                    "{:<10} {:>5} {:>3} {:>10.1} {:>9.1} {:>12}",
                    w,
                    n_tok,
                    nt,
                    best * 1e6,
                    macs / best / 1e9,
                    cpu_col
                );
            }
        }
    }
}

/// Attention over one ragged batch of sequences of the given lengths (`attention_seqs`, as a
/// forward pass runs it), EmbeddingGemma's shape, global attention.
fn attn_seqs_bench(threads: &[usize], lens: &[usize], min_secs: f64) {
    use kernels::{attention_seqs, AttnScratch};
    let n_tok: usize = lens.iter().sum();
    let mut seqs = Vec::new();
    let mut at = 0;
    for &l in lens {
        seqs.push(at..at + l);
        at += l;
    }
    let (shape, q, k, v) = gemma_attention(n_tok, None);
    let mut out = vec![0f32; q.len()];
    let macs = (2 * 3 * 256 * lens.iter().map(|l| l * l).sum::<usize>()) as f64;
    println!("attention_seqs: {} sequences, {n_tok} tokens", lens.len());
    for &nt in threads {
        let pool = ThreadPool::new(nt);
        let mut s = AttnScratch::with_heads(n_tok, nt, 3, 1, 256);
        let (best, _) = measure(min_secs, || {
            attention_seqs(&q, &k, &v, &mut out, &seqs, &shape, &mut s, &pool)
        });
        println!(
            "{nt} thread(s): {:.1} us, {:.1} G MAC/s ({:.1} per thread)",
            best * 1e6,
            macs / best / 1e9,
            macs / best / 1e9 / nt as f64
        );
    }
}

/// Element-wise kernels at the model's row sizes, ns per element.
fn ops_bench(isa: Isa, min_secs: f64) {
    use kernels::{add_gelu_erf_inplace_with, gelu_tanh_mul_with, rms_norm_with, rope_neox_with};
    let n = 1152 * 64;
    let rnd = |n: usize, seed| {
        bytes(n, seed)
            .iter()
            .map(|b| (*b as f32 - 128.0) / 32.0)
            .collect::<Vec<f32>>()
    };
    let (g, u) = (rnd(n, 1), rnd(n, 2));
    let mut out = vec![0f32; n];
    let (wall, _) = measure(min_secs, || gelu_tanh_mul_with(isa, &g, &u, &mut out));
    println!(
        "gelu_tanh_mul isa={isa}: {:.3} ns/element",
        wall * 1e9 / n as f64
    );
    // the exact GELU (BERT) with its bias, in place: a fresh copy each call (the copy is timed
    // on its own and subtracted)
    let (copy, _) = measure(min_secs, || out.copy_from_slice(&g));
    let bias = rnd(1536, 4);
    let (wall, _) = measure(min_secs, || {
        out.copy_from_slice(&g);
        for row in out.chunks_exact_mut(1536) {
            add_gelu_erf_inplace_with(isa, row, &bias);
        }
    });
    println!(
        "add_gelu_erf_inplace(1536) isa={isa}: {:.3} ns/element",
        (wall - copy) * 1e9 / n as f64
    );
    let w = rnd(768, 3);
    let (wall, _) = measure(min_secs, || {
        for (x, o) in g.chunks_exact(768).zip(out.chunks_exact_mut(768)) {
            rms_norm_with(isa, x, &w, 1e-6, o);
        }
    });
    println!(
        "rms_norm(768) isa={isa}: {:.1} ns/row",
        wall * 1e9 / (n / 768) as f64
    );
    let (c, sn) = (rnd(128, 4), rnd(128, 5));
    let (wall, _) = measure(min_secs, || {
        for x in out.chunks_exact_mut(256) {
            rope_neox_with(isa, x, &c, &sn);
        }
    });
    println!(
        "rope_neox(256) isa={isa}: {:.1} ns/head",
        wall * 1e9 / (n / 256) as f64
    );
}

/// Round-trip cost of `ThreadPool::run` with trivial tasks.
fn pool_bench(threads: &[usize], min_secs: f64) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    for &nt in threads {
        let pool = ThreadPool::new(nt);
        let hits = AtomicUsize::new(0);
        for n_tasks in [1, nt, 4 * nt] {
            let (wall, _) = measure(min_secs, || {
                pool.run(n_tasks, &|_| {
                    hits.fetch_add(1, Ordering::Relaxed);
                })
            });
            println!(
                "pool threads={nt} tasks={n_tasks}: {:.2} us per run",
                wall * 1e6
            );
        }
    }
}

fn main() {
    let isa = match arg("--isa").as_deref() {
        None => kernels::active_isa(),
        Some(o) => Isa::from_name(o).unwrap_or_else(|| panic!("unknown --isa {o}")),
    }
    .or_supported();
    let float = std::env::args().any(|a| a == "--f32");
    let q4k = std::env::args().any(|a| a == "--q4k");
    let cold = std::env::args().any(|a| a == "--cold");
    let threads = list("--threads", &[1, 2]);
    let min_secs: f64 = arg("--secs").map_or(0.3, |s| s.parse().unwrap());
    if std::env::args().any(|a| a == "--ops") {
        return ops_bench(isa, min_secs);
    }
    if std::env::args().any(|a| a == "--pool") {
        return pool_bench(&threads, min_secs);
    }
    if std::env::args().any(|a| a == "--attn") && arg("--lens").is_some() {
        return attn_seqs_bench(&threads, &list("--lens", &[]), min_secs);
    }
    if std::env::args().any(|a| a == "--attn") {
        return attn_bench(
            isa,
            &threads,
            &list("--ntok", &[18, 60, 424, 2048]),
            min_secs,
        );
    }
    if std::env::args().any(|a| a == "--peak") {
        for &nt in &threads {
            match peak::measure(nt) {
                Some((i8, f)) => println!(
                    "measured peak, {nt} thread(s) at once: zmm vpdpbusd {i8:.1} G int8 MAC/s per core, \
                     zmm vfmadd {f:.1} G f32 MAC/s per core"
                ),
                None => println!("--peak needs x86-64 with AVX-512 VNNI"),
            }
            if let Some((b, o)) = peak::block_mix(nt) {
                println!(
                    "  with each 32-block's f32 scaling (8 vpdpbusd + cvt + mul + fma per \
                     accumulator, the Q8_0 x Q8_0 microkernel's mix): {b:.1} G int8 MAC/s per core; \
                     with the affine types' offset fma too (Q4_K, Q5_K, Q4_1, Q5_1): {o:.1}"
                );
            }
        }
        return;
    }
    let ntoks = list("--ntok", &[1, 18, 60, 424]);
    let (peak_per_core, peak_src) = match peak::measure(1) {
        Some((i8, f)) => (if float { f } else { i8 }, "measured"),
        None => (if float { 88.0 } else { 370.0 }, "assumed"),
    };
    println!(
        "isa={isa} weights={}{} (peak {peak_src}: {peak_per_core:.1} G MAC/s/core)",
        if float {
            "F32"
        } else if q4k {
            "Q4_K"
        } else {
            "Q8_0"
        },
        if cold {
            ", cold (streamed from DRAM)"
        } else {
            ", cache-resident"
        }
    );
    println!(
        "{:<20} {:>5} {:>3} {:>10} {:>9} {:>7}",
        "shape", "n_tok", "thr", "us/call", "G MAC/s", "% peak"
    );
    for (name, rows, cols) in SHAPES {
        let (data, wtype) = if float {
            (f32_weights(rows, cols), WeightType::F32)
        } else if q4k && cols % 256 == 0 {
            (q4k_weights(rows, cols), WeightType::Q4_K)
        } else if q4k {
            continue; // Q4_K needs whole 256-blocks (llama-quantize uses Q5_0 there)
        } else {
            (q8_weights(rows, cols), WeightType::Q8_0)
        };
        let pack = || {
            PackedMatrix::pack_for(
                isa,
                &[WeightRef {
                    wtype,
                    data: &data,
                    rows,
                    cols,
                }],
            )
            .unwrap()
        };
        // --cold: enough copies (>= COLD_BYTES together) that each call streams its weights
        // from DRAM, as in a forward pass over all layers; calls cycle through the copies.
        let first = pack();
        let n_copies = if cold {
            COLD_BYTES.div_ceil(first.size_bytes())
        } else {
            1
        };
        let ws: Vec<PackedMatrix> = std::iter::once(first)
            .chain((1..n_copies).map(|_| pack()))
            .collect();
        for &n_tok in &ntoks {
            let x: Vec<f32> = bytes(n_tok * cols, 9)
                .iter()
                .map(|b| (*b as f32 - 128.0) / 64.0)
                .collect();
            let mut y = vec![0f32; n_tok * rows];
            let mut scratch = MatmulScratch::new(n_tok, cols);
            for &nt in &threads {
                let pool = ThreadPool::new(nt);
                let mut next = 0;
                let (best, cpu) = measure(min_secs, || {
                    next = (next + 1) % ws.len();
                    matmul(&ws[next], &x, n_tok, &mut y, &mut scratch, &pool)
                });
                let gmacs = (rows * cols * n_tok) as f64 / best / 1e9;
                // per on-CPU second of the calling thread: meaningful for 1 thread only
                let cpu_gmacs = cpu
                    .filter(|_| nt == 1)
                    .map(|c| (rows * cols * n_tok) as f64 / c / 1e9);
                let cpu_col = cpu_gmacs.map_or("-".to_string(), |g| {
                    format!("{g:.1} ({:.0}%)", 100.0 * g / peak_per_core)
                });
                println!(
                    "{:<20} {:>5} {:>3} {:>10.1} {:>9.1} {:>6.1}% {:>16}",
                    name,
                    n_tok,
                    nt,
                    best * 1e6,
                    gmacs,
                    100.0 * gmacs / (peak_per_core * nt as f64),
                    cpu_col
                );
            }
        }
    }
}

/// This CPU's arithmetic peak, measured: chains of independent register-only instructions, long
/// enough that latency is hidden (12 accumulators), so the rate is the issue/port limit.
mod peak {
    /// (int8 MACs/s via zmm `vpdpbusd`, f32 MACs/s via zmm `vfmadd231ps`) per core, in G, with
    /// `threads` threads running at once; `None` without AVX-512 VNNI.
    pub fn measure(threads: usize) -> Option<(f64, f64)> {
        #[cfg(target_arch = "x86_64")]
        if has_vnni() {
            return Some((
                run(threads, x86::vnni, ITERS, 12.0 * 64.0),
                run(threads, x86::fma, ITERS, 12.0 * 16.0),
            ));
        }
        let _ = threads;
        None
    }

    /// The int8 rate of the Q8_0 × Q8_0 microkernel's instruction mix, register-only: per
    /// accumulator and 32-block, 8 zmm `vpdpbusd` into an int32 accumulator, then
    /// `acc = fma(f32(isum) · d_x, d_w, acc)` (cvt + mul + fma), 12 accumulators. The ceiling of
    /// any kernel that keeps both operands' per-block scales (ours, ggml's) on this CPU, in G int8
    /// MAC/s per core; second, the same with one more fma per accumulator and block (the
    /// offset term of affine weights, `matmul::offsets`). `None` without AVX-512 VNNI.
    pub fn block_mix(threads: usize) -> Option<(f64, f64)> {
        #[cfg(target_arch = "x86_64")]
        if has_vnni() {
            let macs = 12.0 * 8.0 * 64.0;
            return Some((
                run(threads, x86::block_mix::<false>, ITERS / 8, macs),
                run(threads, x86::block_mix::<true>, ITERS / 8, macs),
            ));
        }
        let _ = threads;
        None
    }

    /// AVX-512 F and VNNI, which every loop here needs.
    #[cfg(target_arch = "x86_64")]
    fn has_vnni() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }

    /// Iterations of the 12-accumulator loops.
    #[cfg(target_arch = "x86_64")]
    const ITERS: u64 = 20_000_000;

    /// G MACs/s per core of `f(iters)` (`macs_per_iter` each) on `threads` threads at once.
    #[cfg(target_arch = "x86_64")]
    fn run(threads: usize, f: fn(u64) -> f64, iters: u64, macs_per_iter: f64) -> f64 {
        let per_thread: Vec<f64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(move || {
                        f(iters / 20); // warm up (clock ramp)
                        let t = std::time::Instant::now();
                        let sink = f(iters);
                        std::hint::black_box(sink);
                        iters as f64 * macs_per_iter / t.elapsed().as_secs_f64()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        per_thread.iter().sum::<f64>() / threads as f64 / 1e9
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        macro_rules! chains {
            ($name:ident, $feat:literal, $init:expr, $op:ident, $lane0:expr) => {
                pub fn $name(iters: u64) -> f64 {
                    #[target_feature(enable = $feat)]
                    unsafe fn body(iters: u64) -> f64 {
                        let a = std::hint::black_box($init);
                        let b = std::hint::black_box($init);
                        // 12 accumulators, 12 independent chains; the intrinsic is called
                        // here, not through a closure (which would lose the target feature and
                        // not inline), so LLVM unrolls the inner loop and keeps them in registers
                        let mut acc = [$init; 12];
                        for _ in 0..iters {
                            for r in acc.iter_mut() {
                                *r = $op(*r, a, b);
                            }
                        }
                        acc.into_iter().map(|r| $lane0(r) as f64).sum()
                    }
                    // SAFETY: callers checked avx512f + avx512vnni (`has_vnni`).
                    unsafe { body(iters) }
                }
            };
        }
        chains!(
            vnni,
            "avx512f,avx512vnni",
            _mm512_set1_epi8(1),
            _mm512_dpbusd_epi32,
            |r| _mm_cvtsi128_si32(_mm512_castsi512_si128(r))
        );
        chains!(fma, "avx512f", _mm512_set1_ps(1.0), _mm512_fmadd_ps, |r| {
            _mm_cvtss_f32(_mm512_castps512_ps128(r))
        });

        pub fn block_mix<const OFFSET: bool>(iters: u64) -> f64 {
            #[target_feature(enable = "avx512f,avx512vnni")]
            unsafe fn body<const OFFSET: bool>(iters: u64) -> f64 {
                let a = std::hint::black_box(_mm512_set1_epi8(1));
                let b = std::hint::black_box(_mm512_set1_epi8(1));
                let dx = std::hint::black_box(_mm512_set1_ps(1e-9));
                let dw = std::hint::black_box(_mm512_set1_ps(1.0));
                let m = std::hint::black_box(_mm512_set1_ps(1e-9));
                // distinct, opaque starting values: no two chains can be merged, and the int32
                // chains run on from block to block (the kernel re-seeds each block with a
                // broadcast instead, off the arithmetic ports), so nothing is loop-invariant
                let mut accf: [__m512; 12] =
                    std::hint::black_box(std::array::from_fn(|r| _mm512_set1_ps(r as f32)));
                let mut acci: [__m512i; 12] =
                    std::hint::black_box(std::array::from_fn(|r| _mm512_set1_epi32(r as i32)));
                for _ in 0..iters {
                    for _ in 0..8 {
                        for r in acci.iter_mut() {
                            *r = _mm512_dpbusd_epi32(*r, a, b);
                        }
                    }
                    for (f, i) in accf.iter_mut().zip(acci) {
                        *f = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i), dx), dw, *f);
                        if OFFSET {
                            *f = _mm512_fmadd_ps(m, dx, *f);
                        }
                    }
                }
                accf.into_iter()
                    .map(|r| _mm_cvtss_f32(_mm512_castps512_ps128(r)) as f64)
                    .sum()
            }
            // SAFETY: callers checked avx512f + avx512vnni (`has_vnni`).
            unsafe { body::<OFFSET>(iters) }
        }
    }
}
