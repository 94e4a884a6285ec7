//! Prompt prefixes. The name matching and the title rule live in `tokenizer::prompts`; this
//! module holds the model's list (the file's own prompts, else its architecture's built-ins)
//! and maps its errors to `ModelError`.

use crate::error::ModelError;
use gguf::GgufFile;
use tokenizer::prompts::{resolve_prompt, GGUF_PROMPT_PREFIX};
use tokenizer::TokenizerError;

/// With a title but no prompt name, the document prompt applies.
const DOCUMENT: &str = "document";

pub struct Prompts {
    /// (name, text): the file's `ggufembed.prompt.*` keys (file order), then every built-in
    /// prompt of the architecture whose name the file lacks (so EmbeddingGemma's `query` and
    /// `document`, or nomic-embed-text's `search_query`, always resolve).
    list: Vec<(String, String)>,
}

impl Prompts {
    pub fn from_gguf(file: &GgufFile, builtin: &[(String, String)]) -> Prompts {
        let mut list: Vec<(String, String)> = file
            .metadata()
            .iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix(GGUF_PROMPT_PREFIX)?;
                match value {
                    gguf::Value::String(text) if !name.is_empty() => {
                        Some((name.to_string(), text.clone()))
                    }
                    _ => None,
                }
            })
            .collect();
        for (name, text) in builtin {
            // (resolve_prompt treats an empty list as EmbeddingGemma's built-ins)
            if list.is_empty() || resolve_prompt(&list, name, None).is_err() {
                list.push((name.clone(), text.clone()));
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
        if self.list.is_empty() {
            // This model has no prompts (resolve_prompt would fall back to EmbeddingGemma's).
            return Err(ModelError::UnknownPrompt {
                name: name.to_string(),
                known: Vec::new(),
            });
        }
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
