//! The CLI's one error type: wraps each library crate's typed error.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    NotImplemented(&'static str),
    #[error("{0}")]
    Gguf(#[from] gguf::GgufError),
    #[error("{0}")]
    Convert(#[from] convert::ConvertError),
    #[error("{0}")]
    Pull(#[from] pull::PullError),
}
