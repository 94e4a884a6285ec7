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
    #[command(after_help = input::INPUT_HELP)]
    Embed(cmd::embed::Args),
    /// Tokenize texts and print token ids and pieces as JSON lines.
    #[command(after_help = input::INPUT_HELP)]
    Tokenize(cmd::tokenize::Args),
    /// List the prompt names a model accepts and the text each one prepends.
    Prompts(cmd::prompts::Args),
    /// Serve the OpenAI and text-embeddings-inference HTTP APIs.
    Serve(cmd::serve::Args),
    /// Measure latency, throughput, load time and memory.
    Bench(cmd::bench::Args),
    /// Show a GGUF file's metadata and tensors (default: the pulled default model).
    Inspect(cmd::inspect::Args),
    /// Convert a Hugging Face sentence-transformers directory (EmbeddingGemma, BERT) to GGUF.
    Convert(cmd::convert::Args),
    /// Quantize an F32/F16/BF16 GGUF to a llama-quantize type (q4_k_m, q6_k, q4_0, ...).
    Quantize(cmd::quantize::Args),
    /// Make sure a known model (default: EmbeddingGemma-300M) is in the cache and print its path.
    Pull(cmd::pull::Args),
    /// List the models `pull NAME` and `--model NAME` know, and which are cached.
    Models(cmd::models::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Embed(a) => cmd::embed::run(a),
        Command::Tokenize(a) => cmd::tokenize::run(a),
        Command::Prompts(a) => cmd::prompts::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Quantize(a) => cmd::quantize::run(a),
        Command::Pull(a) => cmd::pull::run(a),
        Command::Models(a) => cmd::models::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ggufembed: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every option spelt the same way in every command has the same short form.
    #[test]
    fn same_short_options_everywhere() {
        let expected = [
            ("model", Some('m')),
            ("threads", Some('t')),
            ("input", Some('i')),
            ("output", Some('o')),
        ];
        let cli = Cli::command();
        let mut seen = std::collections::HashMap::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if let Some((_, short)) = expected.iter().find(|(l, _)| *l == long) {
                    assert_eq!(arg.get_short(), *short, "{} --{long}", sub.get_name());
                    *seen.entry(long).or_insert(0) += 1;
                }
            }
        }
        // --model: embed, tokenize, prompts, serve, bench, inspect.
        assert_eq!(seen["model"], 6, "{seen:?}");
        assert_eq!(seen["threads"], 4, "{seen:?}");
        Cli::command().debug_assert();
    }
}
