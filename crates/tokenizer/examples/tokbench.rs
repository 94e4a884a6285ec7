//! Tokenizer benchmark: load time from an open GGUF, and single-threaded encode throughput on the
//! parity corpus (`tests/data/tokenizer_parity.jsonl`).
//!
//! `cargo run --release -p tokenizer --example tokbench -- [MODEL.gguf | vocab.txt] [SECONDS]`
//! (model defaults to `$GGUFEMBED_MODEL`). A `.txt` file is read as a Hugging Face WordPiece
//! `vocab.txt` (e.g. `tests/data/minilm/vocab.txt`; `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`
//! are its control tokens), for the WordPiece tokenizer without a GGUF.

use std::time::{Duration, Instant};

/// This thread's CPU time (Linux `/proc/thread-self/schedstat`), so the figure stays meaningful
/// on a machine shared with other jobs; `None` elsewhere.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// One pass over the corpus (a separate function so profilers can isolate it, e.g.
/// `valgrind --tool=cachegrind --toggle-collect='*encode_pass*'`).
#[inline(never)]
fn encode_pass(tok: &tokenizer::Tokenizer, texts: &[String], ids: &mut Vec<u32>) -> usize {
    let mut n = 0;
    for t in texts {
        tok.encode_into(t, ids);
        n += ids.len();
    }
    n
}

/// The tokenizer of a GGUF file, with load timings.
fn gguf_tokenizer(model: &str) -> tokenizer::Tokenizer {
    let t0 = Instant::now();
    let file = gguf::GgufFile::open(model.as_ref()).expect("open gguf");
    let open = t0.elapsed();
    // Best of several builds, so page-cache and allocator warm-up do not dominate.
    let mut build = Duration::MAX;
    let mut tok = None;
    for _ in 0..5 {
        let t = Instant::now();
        let k = tokenizer::Tokenizer::from_gguf(&file).expect("tokenizer");
        build = build.min(t.elapsed());
        tok = Some(k);
    }
    let tok = tok.expect("built");
    println!(
        "gguf open: {:.1} ms   tokenizer build from open file: {:.1} ms (best of 5), {:?}, vocab {}",
        open.as_secs_f64() * 1e3,
        build.as_secs_f64() * 1e3,
        tok.model(),
        tok.vocab_size()
    );
    tok
}

/// A WordPiece tokenizer from a Hugging Face `vocab.txt` (GGUF pieces via `hf_to_gguf_piece`).
fn wordpiece_from_vocab_txt(path: &str) -> tokenizer::Tokenizer {
    const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
    let text = std::fs::read_to_string(path).expect("read vocab.txt");
    let (mut tokens, mut types) = (Vec::new(), Vec::new());
    for hf in text.lines() {
        let control = SPECIALS.contains(&hf);
        tokens.push(tokenizer::hf_to_gguf_piece(hf, control).into_owned());
        types.push(if control { 3 } else { 1 });
    }
    let t = Instant::now();
    let tok = tokenizer::Tokenizer::from_wordpiece(&tokenizer::WordPieceVocab {
        tokens: &tokens,
        token_types: &types,
        cls_id: None,
        sep_id: None,
        unk_id: None,
        pad_id: None,
        mask_id: None,
        lowercase: None,
        strip_accents: None,
    })
    .expect("tokenizer");
    println!(
        "tokenizer build from vocab.txt: {:.1} ms, {:?}, vocab {}, lowercase {}",
        t.elapsed().as_secs_f64() * 1e3,
        tok.model(),
        tok.vocab_size(),
        tok.lowercase()
    );
    tok
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var("GGUFEMBED_MODEL").ok())
        .expect("usage: tokbench MODEL.gguf|vocab.txt [SECONDS] (or set GGUFEMBED_MODEL)");
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);

    let tok = if model.ends_with(".txt") {
        wordpiece_from_vocab_txt(&model)
    } else {
        gguf_tokenizer(&model)
    };

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/tokenizer_parity.jsonl"
    );
    let texts: Vec<String> = std::fs::read_to_string(path)
        .expect("read parity corpus")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["text"].as_str().expect("text").to_string()
        })
        .collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();

    let mut ids = Vec::new();
    // First pass on this tokenizer: its per-thread caches start empty.
    let (c0, t0) = (thread_cpu(), Instant::now());
    encode_pass(&tok, &texts, &mut ids);
    let (c1, t1) = (thread_cpu(), t0.elapsed().as_secs_f64());
    match (c0, c1) {
        (Some(a), Some(b)) => println!(
            "first pass (cold caches): {:.1} MB/s wall, {:.1} MB/s per CPU-second",
            bytes as f64 / 1e6 / t1,
            bytes as f64 / 1e6 / (b - a).as_secs_f64()
        ),
        _ => println!(
            "first pass (cold caches): {:.1} MB/s wall",
            bytes as f64 / 1e6 / t1
        ),
    }

    let mut n_tokens = 0usize;
    let mut passes = 0usize;
    let cpu0 = thread_cpu();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds || passes == 0 {
        n_tokens += encode_pass(&tok, &texts, &mut ids);
        passes += 1;
    }
    let dt = start.elapsed().as_secs_f64();
    println!(
        "encode: {} lines, {:.2} MB per pass, {passes} passes in {dt:.2} s wall: {:.1} MB/s, {:.2} M tokens/s (1 thread)",
        texts.len(),
        bytes as f64 / 1e6,
        (bytes * passes) as f64 / 1e6 / dt,
        n_tokens as f64 / 1e6 / dt
    );
    if let (Some(a), Some(b)) = (cpu0, thread_cpu()) {
        let cpu = (b - a).as_secs_f64();
        println!(
            "encode per CPU-second of this thread: {:.1} MB/s ({:.0}% of wall time on a CPU)",
            (bytes * passes) as f64 / 1e6 / cpu,
            100.0 * cpu / dt
        );
    }

    let start = Instant::now();
    let mut out_bytes = 0usize;
    let all: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t)).collect();
    for ids in &all {
        out_bytes += tok.decode(ids).expect("decode").len();
    }
    let dt = start.elapsed().as_secs_f64();
    println!(
        "encode+decode one pass: {:.1} MB/s of text",
        out_bytes as f64 / 1e6 / dt
    );
}
