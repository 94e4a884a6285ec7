//! Model families: the one place that maps config.json's `architectures[0]` to a converter.
//! Each family is one file (`gemma.rs`, `bert.rs`) that reads its hyper-parameters, maps its
//! tensor names and writes its metadata, over the shared helpers (`hfdir`, `tensors`,
//! `metadata`, `vocab`, `quant`, `st`). A new family is a new file plus one line in
//! [`FAMILIES`].

pub mod bert;
pub mod gemma;

use crate::hfdir::SourceDir;
use crate::metadata::Kv;
use crate::tensors::Plan;
use crate::{ConvertError, ConvertOptions};

/// What a family's `prepare` returns: the tensor plan and all metadata.
pub type Converted = Result<(Plan, Kv), ConvertError>;

/// A converter for one model family.
pub struct Family {
    /// Human name, e.g. "EmbeddingGemma".
    pub name: &'static str,
    /// GGUF `general.architecture` written.
    pub gguf_arch: &'static str,
    /// config.json `architectures[0]` values this family converts.
    pub hf_archs: &'static [&'static str],
    /// Reads the directory (beyond config.json) and builds the tensor plan and metadata.
    pub prepare: fn(SourceDir, &ConvertOptions) -> Converted,
}

/// Every supported family.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "EmbeddingGemma",
        gguf_arch: gemma::ARCH,
        hf_archs: &[gemma::HF_ARCH],
        prepare: gemma::prepare,
    },
    Family {
        name: "BERT",
        gguf_arch: bert::ARCH,
        hf_archs: bert::HF_ARCHS,
        prepare: bert::prepare,
    },
];

/// The family converting `hf_arch`, if any.
pub fn for_hf_arch(hf_arch: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.hf_archs.contains(&hf_arch))
}

/// "`Gemma3TextModel` (EmbeddingGemma), `BertModel` (BERT)": for error messages and --help.
pub fn supported_list() -> String {
    FAMILIES
        .iter()
        .flat_map(|f| {
            f.hf_archs
                .iter()
                .map(move |a| format!("`{a}` ({})", f.name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
