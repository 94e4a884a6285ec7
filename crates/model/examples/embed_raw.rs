//! Embeds JSON lines (`text`, optional `prompt_name`) with the library alone and writes the
//! vectors as raw little-endian f32, row after row: the bytes after the 128-byte preamble of
//! `ggufembed embed --format npy` on the same input.
//!
//! `cargo run -p model --example embed_raw -- MODEL.gguf TEXTS.jsonl OUT.f32 [THREADS]`
//!
//! scripts/arm64.sh cross-builds it for aarch64 (it needs only the model crate's dependencies,
//! not the CLI's server and network stack) and compares its output under qemu with the x86-64
//! CLI's, bit for bit.

use model::{Embedder, EmbedderOptions, Input};
use std::path::Path;
use std::process::ExitCode;

fn run(args: &[String]) -> Result<(), String> {
    let [model, texts, out, rest @ ..] = args else {
        return Err("usage: embed_raw MODEL.gguf TEXTS.jsonl OUT.f32 [THREADS]".into());
    };
    let threads = match rest.first() {
        Some(t) => t
            .parse()
            .map_err(|_| format!("THREADS: not a number: {t}"))?,
        None => 0,
    };
    let jsonl = std::fs::read_to_string(texts).map_err(|e| format!("{texts}: {e}"))?;
    let mut inputs = Vec::new();
    for (i, line) in jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{texts}:{}: {e}", i + 1))?;
        let text = v["text"]
            .as_str()
            .ok_or_else(|| format!("{texts}:{}: no \"text\" string", i + 1))?;
        let mut input = Input::new(text);
        if let Some(p) = v["prompt_name"].as_str() {
            input = input.with_prompt(p);
        }
        inputs.push(input);
    }
    let opts = EmbedderOptions {
        threads,
        ..EmbedderOptions::default()
    };
    let mut embedder = Embedder::open(Path::new(model), &opts).map_err(|e| e.to_string())?;
    for w in &embedder.info().warnings {
        eprintln!("warning: {w}");
    }
    let vectors = embedder.embed(&inputs).map_err(|e| e.to_string())?;
    let bytes: Vec<u8> = vectors
        .iter()
        .flat_map(|e| e.vector.iter().flat_map(|x| x.to_le_bytes()))
        .collect();
    std::fs::write(out, bytes).map_err(|e| format!("{out}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
