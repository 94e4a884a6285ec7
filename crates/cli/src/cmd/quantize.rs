//! `ggufembed quantize IN.gguf OUT.gguf TYPE [--threads N]`: re-encodes an F32/F16/BF16 GGUF
//! with llama-quantize's type mixes (`q4_k_m`, `q6_k`, `q4_0`, …), byte-identical to
//! llama-quantize's output tensors (see `convert::quantize`).

use crate::error::CliError;
use convert::quantize::{known_names, quantize, FileType};
use convert::StderrProgress;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Input GGUF with F32, F16 or BF16 weights (e.g. `ggufembed convert --outtype f32`).
    pub input: PathBuf,
    /// Output GGUF file (written to OUT.partial, then renamed).
    pub output: PathBuf,
    /// llama-quantize's type name: q8_0, q6_k, q5_k_m, q5_k_s, q5_1, q5_0, q4_k_m, q4_k_s,
    /// q4_1, q4_0, q3_k_l, q3_k_m, q3_k_s, q2_k, f16, bf16, f32 (case-insensitive).
    #[arg(value_parser = parse_type, value_name = "TYPE")]
    pub qtype: FileType,
    /// Threads (0 = all cores). The output does not depend on it.
    #[arg(long, short, default_value_t = 0)]
    pub threads: usize,
}

pub fn parse_type(s: &str) -> Result<FileType, String> {
    FileType::parse(s).map_err(|_| format!("unknown type `{s}`; known types: {}", known_names()))
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let s = quantize(
        &args.input,
        &args.output,
        args.qtype,
        args.threads,
        &StderrProgress::new(),
    )?;
    let mix: Vec<String> = s
        .type_counts
        .iter()
        .map(|(t, n)| format!("{t}×{n}"))
        .collect();
    eprintln!(
        "wrote {} tensors as {} ({}) to {}: {:.1} MB -> {:.1} MB",
        s.n_tensors,
        args.qtype.name,
        mix.join(", "),
        args.output.display(),
        s.in_bytes as f64 / 1e6,
        s.out_bytes as f64 / 1e6
    );
    println!("{}", args.output.display());
    Ok(ExitCode::SUCCESS)
}
