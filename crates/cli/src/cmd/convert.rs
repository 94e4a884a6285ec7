//! `ggufembed convert HF_DIR -o OUT.gguf [--outtype f32|f16|bf16|q8_0]`: a Hugging Face
//! sentence-transformers directory (EmbeddingGemma or BERT) to GGUF, as llama.cpp's converter
//! makes it.

use crate::error::CliError;
use convert::{ConvertOptions, OutType, StderrProgress};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The sentence-transformers model directory, e.g. from `ggufembed pull --source-dir [NAME]`.
    /// config.json's `architectures` picks the family: `Gemma3TextModel` (EmbeddingGemma:
    /// model.safetensors, tokenizer.model, modules.json, 2_Dense/, 3_Dense/,
    /// config_sentence_transformers.json) or `BertModel` (BERT, e.g. all-MiniLM-L6-v2, bge:
    /// model.safetensors, tokenizer.json; modules.json and sentence_bert_config.json if present).
    pub hf_dir: PathBuf,
    /// Output GGUF file (written to OUT.partial, then renamed).
    #[arg(short, long, value_name = "OUT.gguf")]
    pub output: PathBuf,
    /// Type of the weight matrices; norms, biases and other 1-D tensors (and BERT's position and
    /// token-type embeddings) always stay F32.
    #[arg(long, default_value = "q8_0", value_parser = parse_outtype, value_name = "f32|f16|bf16|q8_0")]
    pub outtype: OutType,
    /// Value of general.name (default: config.json's `_name_or_path`, else the directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

fn parse_outtype(s: &str) -> Result<OutType, String> {
    s.parse().map_err(|e: convert::ConvertError| e.to_string())
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let opts = ConvertOptions {
        out_type: args.outtype,
        name: args.name,
    };
    let summary = convert::convert(&args.hf_dir, &args.output, &opts, &StderrProgress::new())?;
    eprintln!(
        "wrote {} tensors ({} parameters, {}) to {} ({:.1} MB)",
        summary.n_tensors,
        summary.n_params,
        args.outtype.name().to_uppercase(),
        summary.path.display(),
        summary.file_size as f64 / 1e6
    );
    println!("{}", summary.path.display());
    Ok(ExitCode::SUCCESS)
}
