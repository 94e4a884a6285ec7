//! Prompt prefixes. The name matching, the built-in EmbeddingGemma set and the title rule live in
//! `tokenizer::prompts`; this module holds the model's list and maps its errors to `ModelError`.

use crate::error::ModelError;
use gguf::GgufFile;
use tokenizer::prompts::{builtin_prompts, prompts_from_gguf, resolve_prompt};
use tokenizer::TokenizerError;

/// With a title but no prompt name, the document prompt applies.
const DOCUMENT: &str = "document";

pub struct Prompts {
    /// (name, text): the file's `ggufembed.prompt.*` keys, then every built-in name the file
    /// lacks (so `query`, `document`, `question answering`, `fact checking` always resolve).
    list: Vec<(String, String)>,
}

impl Prompts {
    pub fn from_gguf(file: &GgufFile) -> Prompts {
        let mut list = prompts_from_gguf(file);
        for (name, text) in builtin_prompts() {
            if resolve_prompt(&list, name, None).is_err() {
                list.push((name.to_string(), text.to_string()));
            }
        }
        Prompts { list }
    }

    pub fn list(&self) -> &[(String, String)] {
        &self.list
    }

    /// The text to put before the input: none without a prompt name or title; the named prompt
    /// otherwise, its title slot filled (`title: {title} | text: `).
    pub fn prefix(&self, name: Option<&str>, title: Option<&str>) -> Result<String, ModelError> {
        let name = match (name, title) {
            (None, None) => return Ok(String::new()),
            (None, Some(_)) => DOCUMENT,
            (Some(n), _) => n,
        };
        resolve_prompt(&self.list, name, title).map_err(|e| match e {
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
