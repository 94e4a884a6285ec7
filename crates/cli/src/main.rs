//! The `ggufembed` binary: one subcommand per job, each in `cmd/`.

mod cmd;
mod error;
mod input;
mod model_path;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Text embeddings on the CPU, straight from GGUF model files (EmbeddingGemma-300M).
#[derive(Parser)]
#[command(name = "ggufembed", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts (arguments, stdin lines, or a .txt/.jsonl file).
    Embed(cmd::embed::Args),
    /// Tokenize texts and print token ids and pieces as JSON lines.
    Tokenize(cmd::tokenize::Args),
    /// Serve the OpenAI and text-embeddings-inference HTTP APIs.
    Serve(cmd::serve::Args),
    /// Measure latency, throughput, load time and memory.
    Bench(cmd::bench::Args),
    /// Show a GGUF file's metadata and tensors.
    Inspect(cmd::inspect::Args),
    /// Convert a Hugging Face EmbeddingGemma directory to GGUF.
    Convert(cmd::convert::Args),
    /// Quantize an F32/F16/BF16 GGUF to a llama-quantize type (q4_k_m, q6_k, q4_0, ...).
    Quantize(cmd::quantize::Args),
    /// Make sure the default model is in the cache and print its path.
    Pull(cmd::pull::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Embed(a) => cmd::embed::run(a),
        Command::Tokenize(a) => cmd::tokenize::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Quantize(a) => cmd::quantize::run(a),
        Command::Pull(a) => cmd::pull::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ggufembed: error: {e}");
            ExitCode::FAILURE
        }
    }
}
