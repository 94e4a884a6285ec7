//! Int8 (Q8_0) GEMM microbenchmark at EmbeddingGemma-300M shapes.
//!
//! `cargo run --release -p kernels --example gemm_bench [-- --isa avx512|avx2-vnni|avx2-novnni|scalar]
//! [--f32] [--threads 1,2] [--ntok 1,18,60,424]`
//!
//! Reports G MAC/s of `matmul` (activation quantization included) and the fraction of the
//! int8 VNNI peak (~370 G MAC/s per core for zmm `vpdpbusd`; f32 FMA peak ~175 G FLOP/s/core
//! = ~88 G MAC/s... per zmm FMA port pair, shown for --f32).

use kernels::{matmul, Isa, MatmulScratch, PackedMatrix, ThreadPool, WeightRef, WeightType};
use std::time::Instant;

const SHAPES: [(&str, usize, usize); 4] = [
    ("qkv 768->1280", 1280, 768),
    ("gate+up 768->2304", 2304, 768),
    ("down 1152->768", 768, 1152),
    ("out 768->768", 768, 768),
];

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

fn f32_weights(rows: usize, cols: usize) -> Vec<u8> {
    bytes(rows * cols, 7)
        .iter()
        .flat_map(|b| ((*b as f32 - 128.0) / 256.0).to_le_bytes())
        .collect()
}

fn main() {
    let isa = match arg("--isa").as_deref() {
        None => kernels::active_isa(),
        Some("scalar") => Isa::Scalar,
        Some("avx2-novnni") => Isa::Avx2,
        Some("avx2-vnni") | Some("avx2") => Isa::Avx2Vnni,
        Some("avx512") => Isa::Avx512,
        Some(o) => panic!("unknown --isa {o}"),
    }
    .or_supported();
    let float = std::env::args().any(|a| a == "--f32");
    let threads = list("--threads", &[1, 2]);
    let ntoks = list("--ntok", &[1, 18, 60, 424]);
    let min_secs: f64 = arg("--secs").map_or(0.3, |s| s.parse().unwrap());
    let peak_per_core = if float { 88.0 } else { 370.0 };
    println!(
        "isa={isa} weights={} (peak assumed {peak_per_core} G MAC/s/core)",
        if float { "F32" } else { "Q8_0" }
    );
    println!(
        "{:<20} {:>5} {:>3} {:>10} {:>9} {:>7}",
        "shape", "n_tok", "thr", "us/call", "G MAC/s", "% peak"
    );
    for (name, rows, cols) in SHAPES {
        let data = if float {
            f32_weights(rows, cols)
        } else {
            q8_weights(rows, cols)
        };
        let wtype = if float {
            WeightType::F32
        } else {
            WeightType::Q8_0
        };
        let w = PackedMatrix::pack_for(
            isa,
            &[WeightRef {
                wtype,
                data: &data,
                rows,
                cols,
            }],
        )
        .unwrap();
        for &n_tok in &ntoks {
            let x: Vec<f32> = bytes(n_tok * cols, 9)
                .iter()
                .map(|b| (*b as f32 - 128.0) / 64.0)
                .collect();
            let mut y = vec![0f32; n_tok * rows];
            let mut scratch = MatmulScratch::new(n_tok, cols);
            for &nt in &threads {
                let pool = ThreadPool::new(nt);
                matmul(&w, &x, n_tok, &mut y, &mut scratch, &pool);
                // calls per timed batch ≈ 20 ms
                let t = Instant::now();
                matmul(&w, &x, n_tok, &mut y, &mut scratch, &pool);
                let once = t.elapsed().as_secs_f64().max(1e-7);
                let reps = ((0.02 / once) as usize).max(1);
                let mut best = f64::INFINITY;
                let start = Instant::now();
                while start.elapsed().as_secs_f64() < min_secs {
                    let t = Instant::now();
                    for _ in 0..reps {
                        matmul(&w, &x, n_tok, &mut y, &mut scratch, &pool);
                    }
                    best = best.min(t.elapsed().as_secs_f64() / reps as f64);
                }
                let gmacs = (rows * cols * n_tok) as f64 / best / 1e9;
                println!(
                    "{:<20} {:>5} {:>3} {:>10.1} {:>9.1} {:>6.1}%",
                    name,
                    n_tok,
                    nt,
                    best * 1e6,
                    gmacs,
                    100.0 * gmacs / (peak_per_core * nt as f64)
                );
            }
        }
    }
}
