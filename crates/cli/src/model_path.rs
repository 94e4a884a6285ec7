//! Which model file a command uses: `--model PATH` when given, else the pulled default model
//! (fetched into the cache on first use, with progress on stderr).

use crate::error::CliError;
use std::path::PathBuf;

/// `--model PATH` if given (it must be an existing file), else the cached default model,
/// pulling it first if it is not there yet.
#[allow(dead_code)] // called by the model-loading subcommands
pub fn resolve_model(arg: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = arg {
        if !p.is_file() {
            return Err(CliError::Usage(format!(
                "--model {}: no such file (omit --model to use the default model, fetched by `ggufembed pull`)",
                p.display()
            )));
        }
        return Ok(p);
    }
    let cache = pull::default_cache_dir();
    if let Some(p) = pull::cached_model(&cache) {
        return Ok(p);
    }
    eprintln!(
        "ggufembed: the default model is not in {} yet; fetching it once (like `ggufembed pull`)",
        cache.display()
    );
    let path = pull::ensure_model(
        &pull::PullOptions::new(cache),
        &convert::StderrProgress::new(),
    )?;
    eprintln!("ggufembed: using {}", path.display());
    Ok(path)
}
