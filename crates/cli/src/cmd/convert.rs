//! `ggufembed convert HF_DIR -o OUT.gguf [--outtype f32|f16|bf16|q8_0|q4_k_m|…]`: a Hugging
//! Face sentence-transformers directory (EmbeddingGemma or BERT) to GGUF, as llama.cpp's
//! converter makes it. The llama-quantize types (q6_k, q4_k_m, q4_0, …) are made as llama.cpp
//! users make them: convert to F32 (a temporary `OUT.f32.partial`), then `quantize`.

use crate::error::CliError;
use convert::quantize::{known_names, FileType};
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
    /// Type of the weight matrices; norms, biases and other 1-D tensors (and BERT's
    /// position and token-type embeddings) always stay F32. f32, f16, bf16
    /// and q8_0 are written directly (like llama.cpp's converter); the llama-quantize types
    /// (q6_k, q5_k_m, q5_k_s, q5_1, q5_0, q4_k_m, q4_k_s, q4_1, q4_0, q3_k_l, q3_k_m, q3_k_s,
    /// q2_k) go through an F32 conversion and `ggufembed quantize`.
    #[arg(long, default_value = "q8_0", value_parser = parse_outtype, value_name = "TYPE")]
    pub outtype: Target,
    /// Value of general.name (default: config.json's `_name_or_path`, else the directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// What `--outtype` asks for.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Written by the converter itself.
    Direct(OutType),
    /// F32 conversion, then llama-quantize's mix.
    Quantized(FileType),
}

fn parse_outtype(s: &str) -> Result<Target, String> {
    if let Ok(t) = s.parse::<OutType>() {
        return Ok(Target::Direct(t));
    }
    FileType::parse(s)
        .map(Target::Quantized)
        .map_err(|_| format!("unknown type `{s}`; known types: {}", known_names()))
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let ft = match args.outtype {
        Target::Direct(out_type) => return write(&args, out_type, &args.output),
        Target::Quantized(ft) => ft,
    };
    let mut tmp = args.output.clone().into_os_string();
    tmp.push(".f32.partial");
    let tmp = std::path::PathBuf::from(tmp);
    let result = write(&args, OutType::F32, &tmp).and_then(|_| {
        let s = convert::quantize::quantize(&tmp, &args.output, ft, 0, &StderrProgress::new())?;
        eprintln!(
            "quantized to {} ({:.1} MB)",
            ft.name,
            s.out_bytes as f64 / 1e6
        );
        Ok(ExitCode::SUCCESS)
    });
    let _ = std::fs::remove_file(&tmp);
    if result.is_ok() {
        println!("{}", args.output.display());
    }
    result
}

/// Converts to `out` as `out_type`.
fn write(args: &Args, out_type: OutType, out: &std::path::Path) -> Result<ExitCode, CliError> {
    let opts = ConvertOptions {
        out_type,
        name: args.name.clone(),
    };
    let summary = convert::convert(&args.hf_dir, out, &opts, &StderrProgress::new())?;
    eprintln!(
        "wrote {} tensors ({} parameters, {}) to {} ({:.1} MB)",
        summary.n_tensors,
        summary.n_params,
        out_type.name().to_uppercase(),
        summary.path.display(),
        summary.file_size as f64 / 1e6
    );
    if out == args.output {
        println!("{}", summary.path.display());
    }
    Ok(ExitCode::SUCCESS)
}
