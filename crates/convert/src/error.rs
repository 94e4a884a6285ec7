//! The converter's one error type. Every variant names the file (and key / tensor / offset)
//! that failed and, where it helps, what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{}: not found: {what}. Expected a sentence-transformers model directory (EmbeddingGemma or BERT layout); `ggufembed pull --source-dir [NAME]` fetches one", path.display())]
    MissingFile { path: PathBuf, what: &'static str },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{}: key `{key}`: {problem}", path.display())]
    BadConfig {
        path: PathBuf,
        key: String,
        problem: String,
    },

    #[error("{}: architecture {found} is not supported; supported: {supported}", path.display())]
    UnsupportedArchitecture {
        path: PathBuf,
        found: String,
        /// The supported `architectures` values, with their family names.
        supported: String,
    },

    #[error("{}: corrupt safetensors file: {problem}", path.display())]
    Safetensors { path: PathBuf, problem: String },

    #[error("{}: unexpected tensor `{name}` (not part of a `{arch}` model)", path.display())]
    UnknownTensor {
        path: PathBuf,
        name: String,
        arch: &'static str,
    },

    #[error("{}: tensor `{name}` is missing", path.display())]
    MissingTensor { path: PathBuf, name: String },

    #[error("{}: tensor `{name}` has shape {found:?}, expected {expected:?} (from config.json)", path.display())]
    BadShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("{}: tensor `{name}` has dtype {dtype}; only F32, F16 and BF16 are supported", path.display())]
    BadDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },

    #[error("{}: invalid tokenizer: {problem}", path.display())]
    Tokenizer { path: PathBuf, problem: String },

    #[error("writing {}: {source}", path.display())]
    Gguf {
        path: PathBuf,
        #[source]
        source: gguf::GgufError,
    },

    #[error("unknown output type `{0}`: use f32, f16, bf16 or q8_0")]
    BadOutType(String),

    #[error("unknown quantization type `{name}`; known types: {known}")]
    UnknownQuantType { name: String, known: String },

    #[error("{}: tensor `{tensor}` is already {ggml_type}; {target} needs F32, F16 or BF16 input \
             (re-quantizing quantized weights loses accuracy; quantize from the F32 conversion)", path.display())]
    AlreadyQuantized {
        path: PathBuf,
        tensor: String,
        ggml_type: &'static str,
        target: &'static str,
    },
}

impl From<gguf::GgufError> for ConvertError {
    /// The output path is filled in by [`ConvertError::at_output`] once the write returns.
    fn from(source: gguf::GgufError) -> Self {
        ConvertError::Gguf {
            path: PathBuf::new(),
            source,
        }
    }
}

impl ConvertError {
    /// Names the output file in a GGUF write error.
    pub(crate) fn at_output(self, out: &std::path::Path) -> ConvertError {
        match self {
            ConvertError::Gguf { source, .. } => ConvertError::Gguf {
                path: out.to_path_buf(),
                source,
            },
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ConvertError {
        let path = path.into();
        move |source| ConvertError::Io { path, source }
    }

    pub(crate) fn unsupported(path: impl Into<PathBuf>, found: &str) -> ConvertError {
        ConvertError::UnsupportedArchitecture {
            path: path.into(),
            found: found.to_string(),
            supported: crate::family::supported_list(),
        }
    }

    pub(crate) fn unknown_tensor(
        path: impl Into<PathBuf>,
        name: &str,
        arch: &'static str,
    ) -> ConvertError {
        ConvertError::UnknownTensor {
            path: path.into(),
            name: name.to_string(),
            arch,
        }
    }

    pub(crate) fn bad_config(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        problem: impl Into<String>,
    ) -> ConvertError {
        ConvertError::BadConfig {
            path: path.into(),
            key: key.into(),
            problem: problem.into(),
        }
    }
}
