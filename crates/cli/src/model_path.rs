//! Which model file a command uses: `--model PATH` or `--model NAME` (a name from
//! `ggufembed models`) when given, else the pulled default model (a model not pulled yet is
//! fetched into the cache on first use, with progress on stderr), and the one check every
//! command runs on a model file before using it, so every file error reads the same way:
//! `PATH: no such file`, `PATH: is a directory, not a GGUF file`, `PATH: not a GGUF file (...)`,
//! `PATH: cannot read it (...)`.

use crate::error::CliError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// `--model PATH` if given (it must pass [`check_model_file`]) or `--model NAME` (a known model,
/// pulled if needed), else the cached default model, pulling it first if it is not there yet.
pub fn resolve_model(arg: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = arg {
        if let Some(known) = model_name(&p)? {
            return cached_or_pulled(known, false);
        }
        check_model_file(&p)?;
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

/// Checks that `path` is a readable regular file starting with the GGUF magic. The error names
/// the path and what is wrong with it.
pub fn check_model_file(path: &Path) -> Result<(), CliError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => file_error(path, "no such file"),
        _ => file_error(path, format!("cannot read it ({e})")),
    })?;
    if meta.is_dir() {
        return Err(file_error(path, "is a directory, not a GGUF file"));
    }
    if !meta.is_file() {
        return Err(file_error(path, "not a regular file"));
    }
    let mut magic = Vec::with_capacity(4);
    std::fs::File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut magic))
        .map_err(|e| file_error(path, format!("cannot read it ({e})")))?;
    if magic != b"GGUF" {
        let what = if magic.is_empty() {
            "not a GGUF file (it is empty)".to_string()
        } else {
            format!(
                "not a GGUF file (it starts with \"{}\", expected \"GGUF\")",
                String::from_utf8_lossy(&magic).escape_debug()
            )
        };
        return Err(file_error(path, what));
    }
    Ok(())
}

/// Opens a GGUF (metadata and tensor table) after [`check_model_file`]; a later error (a
/// corrupt header, ...) names the path too.
pub fn open_gguf(path: &Path) -> Result<gguf::GgufFile, CliError> {
    check_model_file(path)?;
    gguf::GgufFile::open(path).map_err(|e| file_error(path, e))
}

/// Loads the model for embedding; errors name the path, warnings (a missing head, a capped
/// thread count, ...) go to stderr.
pub fn open_embedder(
    path: &Path,
    opts: &model::EmbedderOptions,
) -> Result<model::Embedder, CliError> {
    check_model_file(path)?;
    let embedder = model::Embedder::open(path, opts).map_err(|e| file_error(path, e))?;
    for w in &embedder.info().warnings {
        eprintln!("ggufembed: warning: {w}");
    }
    Ok(embedder)
}

/// `PATH: what`, for any error about a model file (a leading `PATH: ` in `what` is not doubled).
pub fn file_error(path: &Path, what: impl std::fmt::Display) -> CliError {
    let path = path.display().to_string();
    let what = what.to_string();
    let reason = match what.strip_prefix(&format!("{path}: ")) {
        Some(rest) => rest.to_string(),
        None => what,
    };
    CliError::File { path, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(path: &Path) -> String {
        check_model_file(path).unwrap_err().to_string()
    }

    #[test]
    fn every_file_error_names_the_path_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let missing = d.join("missing.gguf");
        assert_eq!(
            err(&missing),
            format!("{}: no such file", missing.display())
        );
        assert_eq!(
            err(d),
            format!("{}: is a directory, not a GGUF file", d.display())
        );
        let text = d.join("README.md");
        std::fs::write(&text, "# hello").unwrap();
        assert_eq!(
            err(&text),
            format!(
                "{}: not a GGUF file (it starts with \"# he\", expected \"GGUF\")",
                text.display()
            )
        );
        let empty = d.join("empty.gguf");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(
            err(&empty),
            format!("{}: not a GGUF file (it is empty)", empty.display())
        );
        // A valid magic but a truncated header: the parser's error, with the path.
        let short = d.join("short.gguf");
        std::fs::write(&short, b"GGUF\x03\x00").unwrap();
        let e = open_gguf(&short).err().unwrap().to_string();
        assert!(e.starts_with(&format!("{}: ", short.display())), "{e}");
        assert!(e.contains("truncated"), "{e}");
        // resolve_model applies the same check to --model.
        let e = resolve_model(Some(d.to_path_buf()))
            .unwrap_err()
            .to_string();
        assert_eq!(e, err(d));
    }

    #[test]
    fn a_path_already_in_the_message_is_not_doubled() {
        let e = file_error(Path::new("/x/m.gguf"), "/x/m.gguf: Permission denied");
        assert_eq!(e.to_string(), "/x/m.gguf: Permission denied");
    }

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
