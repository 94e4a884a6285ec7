//! `ggufembed models [--dir DIR]`: the models `ggufembed pull NAME` and `--model NAME` know,
//! with family, approximate size, how a download is verified, and whether it is cached.

use crate::error::CliError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Cache directory [default: $GGUFEMBED_HOME, else ~/.cache/ggufembed].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    print(&args.dir.unwrap_or_else(pull::default_cache_dir))
}

/// Prints one line per known model (the default first), then where they are cached. A closed
/// stdout (e.g. `| head`) ends the listing quietly.
pub fn print(cache: &Path) -> Result<ExitCode, CliError> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:<16} {:>8}  {:<7} {:<42} about",
        "name", "family", "size", "cached", "source (verification)"
    );
    for row in pull::list(cache) {
        let m = row.model;
        let source = match m.kind {
            pull::Kind::Pinned {
                hf_url: Some(_), ..
            } => "HF GGUF or PyPI mirror (pinned hashes)",
            pull::Kind::Pinned { hf_url: None, .. } => "PyPI mirror + convert (pinned hashes)",
            pull::Kind::HfGguf { .. } => "HF GGUF (parse + architecture only)",
        };
        let _ = writeln!(
            out,
            "{:<26} {:<16} {:>5} MB  {:<7} {:<42} {}",
            m.name,
            m.family,
            m.approx_bytes / 1_000_000,
            if row.cached.is_some() { "yes" } else { "no" },
            source,
            m.about
        );
    }
    let _ = writeln!(
        out,
        "cache: {} (default model: {})",
        cache.display(),
        pull::registry::DEFAULT
    );
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Io {
            path: "stdout".into(),
            source: e,
        }),
        _ => Ok(ExitCode::SUCCESS),
    }
}
