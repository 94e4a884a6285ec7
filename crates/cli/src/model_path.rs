//! Which model file a command uses: `--model PATH` or `--model NAME` (a name from
//! `ggufembed models`) when given, else the pulled default model. A model not pulled yet is
//! fetched into the cache on first use, with progress on stderr.

use crate::error::CliError;
use std::path::{Path, PathBuf};

/// `--model PATH` if given (it must be an existing file) or `--model NAME` (a known model,
/// pulled if needed), else the cached default model, pulling it first if it is not there yet.
#[allow(dead_code)] // called by the model-loading subcommands
pub fn resolve_model(arg: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = arg {
        if let Some(known) = model_name(&p)? {
            return cached_or_pulled(known, false);
        }
        if !p.is_file() {
            return Err(CliError::Usage(format!(
                "--model {}: no such file (omit --model to use the default model, fetched by `ggufembed pull`)",
                p.display()
            )));
        }
        return Ok(p);
    }
    cached_or_pulled(pull::registry::default_model(), true)
}

/// `Some(model)` when `arg` is not an existing path but names a known model. A bare word that
/// is neither (no `/`, no `.gguf`) is an error listing the known names.
fn model_name(arg: &Path) -> Result<Option<&'static pull::Known>, CliError> {
    if arg.exists() {
        return Ok(None);
    }
    let Some(name) = arg.to_str() else {
        return Ok(None);
    };
    if name.contains(['/', '\\']) || name.ends_with(".gguf") {
        return Ok(None);
    }
    match pull::lookup(name) {
        Ok(known) => Ok(Some(known)),
        Err(e) => Err(CliError::Usage(format!(
            "--model {name}: no such file, and {e}"
        ))),
    }
}

/// The cached, verified file of `model`, pulling it first (with progress) if needed.
fn cached_or_pulled(model: &'static pull::Known, is_default: bool) -> Result<PathBuf, CliError> {
    let cache = pull::default_cache_dir();
    if let Some(p) = pull::cached(&cache, model) {
        return Ok(p);
    }
    let what = if is_default {
        "the default model".to_string()
    } else {
        format!("the model {}", model.name)
    };
    eprintln!(
        "ggufembed: {what} is not in {} yet; fetching it once (like `ggufembed pull{}`)",
        cache.display(),
        if is_default {
            String::new()
        } else {
            format!(" {}", model.name)
        }
    );
    let path = pull::ensure_model(
        &pull::PullOptions::for_model(cache, model),
        &convert::StderrProgress::new(),
    )?;
    eprintln!("ggufembed: using {}", path.display());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_unknown_words() {
        assert_eq!(
            model_name(Path::new("all-minilm-l6-v2"))
                .unwrap()
                .map(|k| k.name),
            Some("all-minilm-l6-v2")
        );
        // Paths (existing or not) are left to the file check.
        assert!(model_name(Path::new("Cargo.toml")).unwrap().is_none());
        assert!(model_name(Path::new("missing.gguf")).unwrap().is_none());
        assert!(model_name(Path::new("dir/all-minilm-l6-v2"))
            .unwrap()
            .is_none());
        // A bare unknown word: the error names it and lists the known models.
        let msg = model_name(Path::new("minilm")).unwrap_err().to_string();
        assert!(
            msg.contains("--model minilm") && msg.contains("no such file"),
            "{msg}"
        );
        assert!(
            msg.contains("all-minilm-l6-v2") && msg.contains("embeddinggemma-300m"),
            "{msg}"
        );
    }
}
