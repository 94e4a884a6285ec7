//! Prompt prefixes. The model's list (file prompts + built-ins), the name matching and the title
//! rule live in `tokenizer::prompts`, shared with the CLI's `tokenize` and `prompts`; this module
//! holds the list and maps its errors to `ModelError`.

use crate::error::ModelError;
use gguf::GgufFile;
use tokenizer::prompts::{prompt_prefix, prompts_from_gguf};
use tokenizer::TokenizerError;

pub struct Prompts {
    /// (name, text), as `tokenizer::prompts::prompts_from_gguf` lists them.
    list: Vec<(String, String)>,
}

impl Prompts {
    pub fn from_gguf(file: &GgufFile) -> Prompts {
        Prompts {
            list: prompts_from_gguf(file),
        }
    }

    pub fn list(&self) -> &[(String, String)] {
        &self.list
    }

    /// The text to put before the input: none without a prompt name or title; the named prompt
    /// otherwise (the document prompt for a title alone), its title slot filled
    /// (`title: {title} | text: `).
    pub fn prefix(&self, name: Option<&str>, title: Option<&str>) -> Result<String, ModelError> {
        prompt_prefix(&self.list, name, title).map_err(|e| match e {
            TokenizerError::UnknownPrompt { name, .. } => ModelError::UnknownPrompt {
                name,
                known: self.list.iter().map(|(n, _)| n.clone()).collect(),
            },
            TokenizerError::TitleWithoutDocumentPrompt { name, .. } => {
                ModelError::TitleWithPrompt { prompt_name: name }
            }
            other => ModelError::Tokenizer(other),
        })
    }
}
