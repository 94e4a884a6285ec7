//! `ggufembed bench`: latency per workload, batch throughput, model load time and peak memory.
//!
//! The workloads are fixed so runs compare across machines and against llama.cpp's
//! `llama-bench -p <the token counts bench reports>` (see `bench/compare-llama-cpp.sh`): on
//! EmbeddingGemma 18, 60 and 424 tokens. Every workload fits the model: `xl` repeats the
//! paragraph as often as fits its token limit (at most 8 times; 4 times, 214 tokens, on
//! all-MiniLM-L6-v2's 256), and prompt names the model lacks are dropped (raw text), so the same
//! command runs on every family.

use crate::error::CliError;
use crate::model_path::resolve_model;
use model::{Embedder, EmbedderOptions, Input};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// GGUF model file, or a model name from `ggufembed models` (pulled on first use)
    /// [default: the pulled EmbeddingGemma-300M Q8_0].
    #[arg(long, short)]
    model: Option<PathBuf>,
    /// Compute threads (0 = all cores; more than the cores is capped, with a warning).
    #[arg(long, short, default_value_t = 0)]
    threads: usize,
    /// Timed runs per latency workload, after warm-up (at least 20).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(20..=100_000))]
    runs: u32,
    /// Documents per batch in the throughput run.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch: u32,
    /// Print one JSON object instead of a table (with --server: the report, then one JSON line of
    /// its figures).
    #[arg(long)]
    json: bool,
    /// Also print where the time goes, op by op, for each workload and for one throughput batch
    /// (mean of 10 runs each).
    #[arg(long)]
    profile: bool,
    /// `--server URL` and its options: load-test a running server (cmd/bench_server.rs).
    #[command(flatten)]
    pub(crate) server: super::bench_server::LoadArgs,
}

/// The 49-word paragraph of the `long` and `xl` workloads.
const PARAGRAPH: &str = "Machine learning has revolutionized artificial intelligence by enabling computers to learn from data without explicit programming. Modern neural networks can process vast amounts of information and identify complex patterns that would be impossible for humans to detect manually. This technology powers applications from image recognition to natural language processing.";

/// Real texts of mixed lengths for the throughput run (see `crates/cli/data/README.md`).
pub(crate) const BENCH_CORPUS: &str = include_str!("../../data/bench_corpus.jsonl");

/// Most repeats of [`PARAGRAPH`] in the `xl` workload (424 tokens on EmbeddingGemma).
const XL_PARAGRAPHS: usize = 8;

/// One latency workload: a name and its input.
struct Workload {
    name: &'static str,
    input: Input,
}

/// The latency workloads for this model: `short` (a query), `long` (one paragraph, a document)
/// and `xl` (the paragraph repeated as often as fits the model's token limit, at most
/// [`XL_PARAGRAPHS`] times). Prompt names the model lacks are dropped ([`input`]).
fn workloads(embedder: &Embedder) -> Result<Vec<Workload>, CliError> {
    let mut xl = input(embedder, "document", PARAGRAPH);
    for n in (1..=XL_PARAGRAPHS).rev() {
        xl.text = [PARAGRAPH; XL_PARAGRAPHS][..n].join(" ");
        if !embedder.prepare(&xl)?.truncated {
            break;
        }
    }
    Ok(vec![
        Workload {
            name: "short",
            input: input(
                embedder,
                "query",
                "The quick brown fox jumps over the lazy dog",
            ),
        },
        Workload {
            name: "long",
            input: input(embedder, "document", PARAGRAPH),
        },
        Workload {
            name: "xl",
            input: xl,
        },
    ])
}

/// `text` with the prompt `prompt` if the model has a prompt of that name, else raw text (BERT
/// models have none).
fn input(embedder: &Embedder, prompt: &str, text: &str) -> Input {
    Input {
        text: text.to_string(),
        prompt_name: known_prompt(embedder, Some(prompt)),
        ..Input::default()
    }
}

/// `name` if the model knows that prompt name, else `None`.
fn known_prompt(embedder: &Embedder, name: Option<&str>) -> Option<String> {
    let name = name?;
    embedder
        .info()
        .prompts
        .iter()
        .any(|(n, _)| n == name)
        .then(|| name.to_string())
}

#[derive(Serialize)]
struct WorkloadResult {
    name: &'static str,
    tokens: usize,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
}

#[derive(Serialize)]
struct Throughput {
    docs: usize,
    tokens: usize,
    tokens_per_s: f64,
    docs_per_s: f64,
}

#[derive(Serialize)]
struct Report {
    /// `general.architecture` and the file's weight mix (`ModelInfo::weight_mix`).
    arch: String,
    weight_mix: String,
    threads: usize,
    /// The kernels' instruction-set path (`GGUFEMBED_KERNEL` names).
    kernel: String,
    workloads: Vec<WorkloadResult>,
    throughput: Throughput,
    load_ms: f64,
    peak_rss_mb: f64,
}

/// Nearest-rank percentile of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`); 0 where unknown.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The throughput corpus, with the prompt names the model lacks dropped (see [`input`]).
fn bench_corpus(embedder: &Embedder) -> Result<Vec<Input>, CliError> {
    #[derive(serde::Deserialize)]
    struct Row {
        text: String,
        prompt_name: Option<String>,
    }
    BENCH_CORPUS
        .lines()
        .map(|l| {
            let row: Row = serde_json::from_str(l)
                .map_err(|e| CliError::Usage(format!("built-in bench corpus: {e}")))?;
            Ok(Input {
                text: row.text,
                prompt_name: known_prompt(embedder, row.prompt_name.as_deref()),
                ..Input::default()
            })
        })
        .collect()
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.server.server.is_some() {
        return super::bench_server::run(args.server, args.model, args.json);
    }
    let path = resolve_model(args.model)?;
    let opts = EmbedderOptions {
        threads: args.threads,
        ..EmbedderOptions::default()
    };
    let t0 = Instant::now();
    let mut embedder = crate::model_path::open_embedder(&path, &opts)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let threads = embedder.info().threads;

    let mut results = Vec::new();
    let workloads = workloads(&embedder)?;
    for w in &workloads {
        let batch = std::slice::from_ref(&w.input);
        let tokens = embedder.embed(batch)?[0].n_tokens;
        for _ in 0..3 {
            embedder.embed(batch)?; // warm-up
        }
        let mut times: Vec<Duration> = (0..args.runs)
            .map(|_| {
                let t = Instant::now();
                embedder.embed(batch).map(|_| t.elapsed())
            })
            .collect::<Result<_, _>>()?;
        times.sort();
        results.push(WorkloadResult {
            name: w.name,
            tokens,
            p50_ms: percentile_ms(&times, 50.0),
            p95_ms: percentile_ms(&times, 95.0),
            p99_ms: percentile_ms(&times, 99.0),
        });
    }

    // Throughput: the median of THROUGHPUT_PASSES passes over the corpus (one pass takes a few
    // seconds; the median shrugs off a burst of noise from elsewhere on the machine).
    let corpus = bench_corpus(&embedder)?;
    let mut passes = Vec::with_capacity(THROUGHPUT_PASSES);
    let mut tokens = 0;
    for _ in 0..THROUGHPUT_PASSES {
        let t = Instant::now();
        tokens = 0;
        for chunk in corpus.chunks(args.batch as usize) {
            tokens += embedder
                .embed(chunk)?
                .iter()
                .map(|e| e.n_tokens)
                .sum::<usize>();
        }
        passes.push(t.elapsed().as_secs_f64());
    }
    passes.sort_by(f64::total_cmp);
    let secs = passes[THROUGHPUT_PASSES / 2];
    let throughput = Throughput {
        docs: corpus.len(),
        tokens,
        tokens_per_s: tokens as f64 / secs,
        docs_per_s: corpus.len() as f64 / secs,
    };

    let profiles = if args.profile {
        let mut batches: Vec<Vec<Input>> =
            workloads.iter().map(|w| vec![w.input.clone()]).collect();
        batches.push(corpus[..corpus.len().min(args.batch as usize)].to_vec());
        batches
            .iter()
            .map(|b| mean_profile(&mut embedder, b))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };

    let report = Report {
        arch: embedder.info().arch.clone(),
        weight_mix: embedder.info().weight_mix.clone(),
        threads,
        kernel: embedder.info().kernel.clone(),
        workloads: results,
        throughput,
        load_ms,
        peak_rss_mb: peak_rss_mb(),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serializes")
        );
    } else {
        print_table(&report);
    }
    if !profiles.is_empty() {
        print_profiles(&profiles);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &Report) {
    println!(
        "{} ({}), threads: {}, kernel: {}",
        r.arch, r.weight_mix, r.threads, r.kernel
    );
    println!(
        "{:<8} {:>7} {:>10} {:>10} {:>10}",
        "workload", "tokens", "p50 ms", "p95 ms", "p99 ms"
    );
    for w in &r.workloads {
        println!(
            "{:<8} {:>7} {:>10.2} {:>10.2} {:>10.2}",
            w.name, w.tokens, w.p50_ms, w.p95_ms, w.p99_ms
        );
    }
    let t = &r.throughput;
    println!(
        "throughput: {} docs, {} tokens: {:.0} tokens/s, {:.1} docs/s",
        t.docs, t.tokens, t.tokens_per_s, t.docs_per_s
    );
    println!(
        "load: {:.0} ms   peak RSS: {:.0} MiB",
        r.load_ms, r.peak_rss_mb
    );
}

/// Passes over the corpus in the throughput run (the median is reported).
const THROUGHPUT_PASSES: usize = 3;

/// Forward passes averaged per workload by `--profile`.
const PROFILE_PASSES: u32 = 10;

/// Op times of embedding `inputs`, averaged over [`PROFILE_PASSES`] runs.
fn mean_profile(embedder: &mut Embedder, inputs: &[Input]) -> Result<model::Profile, CliError> {
    let mut sum = embedder.profile(inputs)?;
    for _ in 1..PROFILE_PASSES {
        let p = embedder.profile(inputs)?;
        for ((_, total), (_, d)) in sum.ops.iter_mut().zip(&p.ops) {
            *total += *d;
        }
    }
    for (_, total) in &mut sum.ops {
        *total /= PROFILE_PASSES;
    }
    Ok(sum)
}

/// One column of ms per workload (and the throughput batch), plus the share of op time in the
/// largest single-input workload.
fn print_profiles(ps: &[model::Profile]) {
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let totals: Vec<f64> = ps
        .iter()
        .map(|p| p.ops.iter().map(|(_, d)| ms(d)).sum())
        .collect();
    println!("\nprofile: ms per run (mean of {PROFILE_PASSES}), summed over layers");
    print!("{:<32}", "op");
    for p in ps {
        let col = if p.n_inputs == 1 {
            format!("{} tok", p.n_tokens)
        } else {
            format!("{} docs", p.n_inputs)
        };
        print!(" {col:>9}");
    }
    println!(" {:>7}", "share");
    let last = ps.iter().rposition(|p| p.n_inputs == 1).unwrap_or(0);
    for (i, (name, _)) in ps[last].ops.iter().enumerate() {
        print!("{name:<32}");
        for p in ps {
            print!(" {:>9.3}", p.ops.get(i).map_or(0.0, |(_, d)| ms(d)));
        }
        println!(" {:>6.1}%", 100.0 * ms(&ps[last].ops[i].1) / totals[last]);
    }
    print!("{:<32}", "total");
    for t in &totals {
        print!(" {t:>9.3}");
    }
    println!();
    for p in ps.iter().filter(|p| p.n_inputs > 1) {
        println!(
            "({} docs: the first corpus texts, {} tokens, one throughput batch)",
            p.n_inputs, p.n_tokens
        );
    }
}
