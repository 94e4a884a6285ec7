//! The few model-card fields (README.md YAML front matter) that llama.cpp's converter copies
//! into `general.*`: license, tags (+ pipeline_tag) and languages. Only the flat subset of YAML
//! that Hugging Face model cards use is understood (`key: value`, `key: [a, b]`, `key:` followed
//! by `- item` lines); anything else is ignored, as it only feeds informational metadata.

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ModelCard {
    pub license: Option<String>,
    /// `tags` followed by `pipeline_tag`, as gguf-py's metadata heuristics append them.
    pub tags: Vec<String>,
    pub languages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Scalar(String),
    List(Vec<String>),
}

impl Yaml {
    fn into_list(self) -> Vec<String> {
        match self {
            Yaml::Scalar(s) => vec![s],
            Yaml::List(l) => l,
        }
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let quoted = s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')));
    if quoted {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// Top-level `key -> value` pairs of the front matter, in order.
fn front_matter(text: &str) -> Vec<(String, Yaml)> {
    let mut lines = text.lines();
    if lines.next() != Some("---") {
        return Vec::new();
    }
    let mut out: Vec<(String, Yaml)> = Vec::new();
    for line in lines {
        if line == "---" {
            break;
        }
        let trimmed = line.trim_start();
        if let Some(item) = trimmed.strip_prefix("- ") {
            // A list item belongs to the last key if that key had no inline value.
            if let Some((_, Yaml::List(items))) = out.last_mut() {
                items.push(unquote(item));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) || trimmed.starts_with('#') {
            continue; // continuation of a multi-line scalar, or a comment
        }
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let rest = rest.trim();
        let value = if rest.is_empty() {
            Yaml::List(Vec::new())
        } else if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Yaml::List(
                inner
                    .split(',')
                    .map(unquote)
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        } else {
            Yaml::Scalar(unquote(rest))
        };
        out.push((key.trim().to_string(), value));
    }
    out
}

impl ModelCard {
    pub fn parse(text: &str) -> ModelCard {
        let mut card = ModelCard::default();
        let mut pipeline_tag = Vec::new();
        for (key, value) in front_matter(text) {
            match key.as_str() {
                "license" => {
                    let l = value.into_list();
                    if !l.is_empty() {
                        card.license = Some(l.join(","));
                    }
                }
                "tags" => card.tags = value.into_list(),
                "pipeline_tag" => pipeline_tag = value.into_list(),
                "language" | "languages" => card.languages = value.into_list(),
                _ => {}
            }
        }
        card.tags.extend(pipeline_tag);
        card
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_embeddinggemma_card_fields() {
        let text = "---\nlicense: gemma\npipeline_tag: sentence-similarity\nlibrary_name: x\ntags:\n- a\n- \"b\"\nextra: To access\n  continued: here\nlanguage: [en, 'de']\n---\n# Title\nlicense: not-this\n";
        let c = ModelCard::parse(text);
        assert_eq!(c.license.as_deref(), Some("gemma"));
        assert_eq!(c.tags, vec!["a", "b", "sentence-similarity"]);
        assert_eq!(c.languages, vec!["en", "de"]);
    }

    #[test]
    fn no_front_matter_means_nothing() {
        assert_eq!(ModelCard::parse("# hello\n"), ModelCard::default());
    }
}
