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
    Gguf(#[from] gguf::GgufError),
    #[error("{0}")]
    Tokenizer(#[from] tokenizer::TokenizerError),
    /// A bad input record: `input` is a path, "stdin" or "argument"; `line` is 1-based.
    #[error("{input}:{line}: {reason}")]
    Input {
        input: String,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Convert(#[from] convert::ConvertError),
    #[error("{0}")]
    Pull(#[from] pull::PullError),
    #[error("{0}")]
    Serve(#[from] server::ServerError),
    #[error("{0}")]
    Model(#[from] model::ModelError),
    /// A file (model or input) that cannot be used: `path` names it, `reason` says what is
    /// wrong (built by `model_path::file_error`, the same wording in every command).
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}
