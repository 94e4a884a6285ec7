//! Named prompts (sentence-transformers `prompts`): the text prepended before tokenization.
//!
//! A GGUF may carry its own set as string keys `ggufembed.prompt.<name>`; the built-ins of its
//! architecture ([`builtin_prompts_for`]: EmbeddingGemma's, nomic-embed-text's task prefixes, none
//! for BERT) are added for every name the file does not define. Names match case-insensitively, with spaces, underscores and
//! hyphens equivalent (`Retrieval-query` = `retrieval_query` = `retrieval query`).

use crate::TokenizerError;

/// Key prefix of prompts stored in a GGUF file.
pub const GGUF_PROMPT_PREFIX: &str = "ggufembed.prompt.";

/// The document prompt's fixed start; a title replaces `none`.
const DOCUMENT_PREFIX: &str = "title: none | text: ";

/// EmbeddingGemma's prompts (its `config_sentence_transformers.json`, plus the two task prompts
/// from the model card).
pub fn builtin_prompts() -> &'static [(&'static str, &'static str)] {
    &[
        ("query", "task: search result | query: "),
        ("document", "title: none | text: "),
        ("BitextMining", "task: search result | query: "),
        ("Clustering", "task: clustering | query: "),
        ("Classification", "task: classification | query: "),
        ("InstructionRetrieval", "task: code retrieval | query: "),
        ("MultilabelClassification", "task: classification | query: "),
        ("PairClassification", "task: sentence similarity | query: "),
        ("Reranking", "task: search result | query: "),
        ("Retrieval", "task: search result | query: "),
        ("Retrieval-query", "task: search result | query: "),
        ("Retrieval-document", "title: none | text: "),
        ("STS", "task: sentence similarity | query: "),
        ("Summarization", "task: summarization | query: "),
        ("question answering", "task: question answering | query: "),
        ("fact checking", "task: fact checking | query: "),
    ]
}

/// nomic-embed-text's task prefixes (its model card).
const NOMIC_PROMPTS: [(&str, &str); 4] = [
    ("search_query", "search_query: "),
    ("search_document", "search_document: "),
    ("clustering", "clustering: "),
    ("classification", "classification: "),
];

/// The built-in prompts of a `general.architecture`: EmbeddingGemma's for `gemma-embedding`,
/// the task prefixes for `nomic-bert`, none for anything else (plain BERT models have no prompts).
pub fn builtin_prompts_for(arch: &str) -> &'static [(&'static str, &'static str)] {
    match arch {
        "gemma-embedding" => builtin_prompts(),
        "nomic-bert" => &NOMIC_PROMPTS,
        _ => &[],
    }
}

/// A model's prompts, the one list every command and API uses (`embed`, `tokenize`, `prompts`,
/// the server's `/info`, `model::ModelInfo::prompts`): the `ggufembed.prompt.<name>` strings
/// stored in `file` (file order), then every built-in of its architecture ([`builtin_prompts_for`])
/// whose name the file does not define (so EmbeddingGemma's `query`, `document`,
/// `question answering` and `fact checking` always resolve).
pub fn prompts_from_gguf(file: &gguf::GgufFile) -> Vec<(String, String)> {
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
    let arch = file.get_str("general.architecture").unwrap_or("");
    with_builtins(&mut list, builtin_prompts_for(arch));
    list
}

/// Appends every prompt of `builtins` whose name `list` does not define.
fn with_builtins(list: &mut Vec<(String, String)>, builtins: &[(&str, &str)]) {
    for (name, text) in builtins {
        if !list.iter().any(|(n, _)| same_name(n, name)) {
            list.push((name.to_string(), text.to_string()));
        }
    }
}

/// The text to put before an input: none without a prompt name or title; else the named prompt
/// (the document prompt when only a title is given), its title slot filled
/// (`title: {title} | text: `). Errors as [`resolve_prompt`].
pub fn prompt_prefix(
    prompts: &[(String, String)],
    name: Option<&str>,
    title: Option<&str>,
) -> Result<String, TokenizerError> {
    match (name, title) {
        (None, None) => Ok(String::new()),
        // A model without prompts (resolve_prompt would fall back to EmbeddingGemma's).
        (name, _) if prompts.is_empty() => Err(TokenizerError::UnknownPrompt {
            name: name.unwrap_or(DOCUMENT).to_string(),
            known: "none (this model has no prompts)".to_string(),
        }),
        (None, Some(title)) => resolve_prompt(prompts, DOCUMENT, Some(title)),
        (Some(name), title) => resolve_prompt(prompts, name, title),
    }
}

/// The prompt a title alone selects.
const DOCUMENT: &str = "document";

/// Canonical form of a prompt name for matching.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |c: char| match c {
        ' ' | '-' | '_' => '_',
        c => c,
    };
    let mut a = a.trim().chars().flat_map(char::to_lowercase).map(norm);
    let mut b = b.trim().chars().flat_map(char::to_lowercase).map(norm);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (x, y) if x == y => continue,
            _ => return false,
        }
    }
}

/// The prompt text for `name` from `file_prompts` (as [`prompts_from_gguf`] returns them; the
/// built-ins if empty). With a `title`, the document prompt becomes `title: {title} | text: `;
/// a title with any other prompt is an error.
pub fn resolve_prompt(
    file_prompts: &[(String, String)],
    name: &str,
    title: Option<&str>,
) -> Result<String, TokenizerError> {
    let found: Option<&str> = if file_prompts.is_empty() {
        builtin_prompts()
            .iter()
            .find(|(n, _)| same_name(n, name))
            .map(|(_, t)| *t)
    } else {
        file_prompts
            .iter()
            .find(|(n, _)| same_name(n, name))
            .map(|(_, t)| t.as_str())
    };
    let Some(text) = found else {
        let known: Vec<&str> = if file_prompts.is_empty() {
            builtin_prompts().iter().map(|(n, _)| *n).collect()
        } else {
            file_prompts.iter().map(|(n, _)| n.as_str()).collect()
        };
        return Err(TokenizerError::UnknownPrompt {
            name: name.to_string(),
            known: known.join(", "),
        });
    };
    match title {
        None => Ok(text.to_string()),
        Some(title) => match text.strip_prefix(DOCUMENT_PREFIX) {
            Some(rest) => Ok(format!("title: {title} | text: {rest}")),
            None => Err(TokenizerError::TitleWithoutDocumentPrompt {
                name: name.to_string(),
                text: text.to_string(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_loosely() {
        let q = resolve_prompt(&[], "QUERY", None).unwrap();
        assert_eq!(q, "task: search result | query: ");
        for n in ["retrieval query", "Retrieval_Query", "retrieval-query"] {
            assert_eq!(resolve_prompt(&[], n, None).unwrap(), q, "{n}");
        }
        assert_eq!(
            resolve_prompt(&[], "Question-Answering", None).unwrap(),
            "task: question answering | query: "
        );
        assert_eq!(
            resolve_prompt(&[], "fact_checking", None).unwrap(),
            "task: fact checking | query: "
        );
        assert!(resolve_prompt(&[], "retrievalquery", None).is_err());
    }

    #[test]
    fn title_only_with_document_prompts() {
        assert_eq!(
            resolve_prompt(&[], "document", Some("My Doc")).unwrap(),
            "title: My Doc | text: "
        );
        assert_eq!(
            resolve_prompt(&[], "Retrieval-document", Some("x")).unwrap(),
            "title: x | text: "
        );
        assert_eq!(
            resolve_prompt(&[], "document", None).unwrap(),
            "title: none | text: "
        );
        let e = resolve_prompt(&[], "query", Some("x")).unwrap_err();
        assert!(e.to_string().contains("title"), "{e}");
    }

    #[test]
    fn a_file_list_keeps_every_builtin_it_does_not_define() {
        let mut list = vec![
            ("Query".to_string(), "mine: ".to_string()),
            ("extra".to_string(), "x: ".to_string()),
        ];
        with_builtins(&mut list, builtin_prompts());
        // The file's own text wins; no duplicate `query`; the task prompts are there.
        assert_eq!(resolve_prompt(&list, "query", None).unwrap(), "mine: ");
        assert_eq!(
            list.iter().filter(|(n, _)| same_name(n, "query")).count(),
            1
        );
        for n in ["question answering", "fact checking", "extra", "STS"] {
            assert!(resolve_prompt(&list, n, None).is_ok(), "{n}");
        }
        assert_eq!(list.len(), 2 + builtin_prompts().len() - 1);
    }

    #[test]
    fn a_title_alone_selects_the_document_prompt() {
        let gemma: Vec<(String, String)> = builtin_prompts()
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(prompt_prefix(&gemma, None, None).unwrap(), "");
        assert_eq!(
            prompt_prefix(&gemma, None, Some("T")).unwrap(),
            "title: T | text: "
        );
        assert_eq!(
            prompt_prefix(&gemma, Some("STS"), None).unwrap(),
            "task: sentence similarity | query: "
        );
        assert!(prompt_prefix(&gemma, Some("query"), Some("T")).is_err());
    }

    #[test]
    fn a_model_without_prompts_refuses_every_prompt_name() {
        assert_eq!(prompt_prefix(&[], None, None).unwrap(), "");
        for (name, title) in [(Some("query"), None), (None, Some("T"))] {
            let e = prompt_prefix(&[], name, title).unwrap_err().to_string();
            assert!(e.contains("this model has no prompts"), "{e}");
        }
        assert_eq!(builtin_prompts_for("bert"), &[] as &[(&str, &str)]);
        assert_eq!(builtin_prompts_for("nomic-bert")[0].0, "search_query");
        assert_eq!(builtin_prompts_for("gemma-embedding"), builtin_prompts());
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let e = resolve_prompt(&[], "nope", None).unwrap_err().to_string();
        assert!(
            e.contains("nope") && e.contains("query") && e.contains("fact checking"),
            "{e}"
        );
        let file = vec![("mine".to_string(), "task: mine | query: ".to_string())];
        assert_eq!(
            resolve_prompt(&file, "MINE", None).unwrap(),
            "task: mine | query: "
        );
        let e = resolve_prompt(&file, "query", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mine") && !e.contains("fact checking"), "{e}");
    }
}
