//! What every sentence-transformers directory has in common, whatever the model family:
//! required files, config.json and its `architectures` entry, the module list (modules.json)
//! and pooling, the model card and generation config that feed `general.*`, and gguf-py's
//! reading of `_name_or_path` into `general.name` / `general.organization`.

use crate::json::{read_json, read_json_opt, read_text, OrderedStrMap};
use crate::model_card::ModelCard;
use crate::ConvertError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The parts of a model directory that every family reads the same way.
#[derive(Debug, Clone)]
pub struct SourceDir {
    pub root: PathBuf,
    /// `<root>/config.json` and its parsed contents.
    pub config_path: PathBuf,
    pub config: Value,
    /// config.json's `architectures[0]`, e.g. `BertModel`.
    pub hf_arch: String,
    /// generation_config.json, if present and valid.
    pub generation: Option<Value>,
    pub card: ModelCard,
}

impl SourceDir {
    /// Checks that `root` is a directory, reads config.json (which must name an architecture),
    /// the optional generation config and the model card (README.md front matter).
    pub fn open(root: &Path) -> Result<SourceDir, ConvertError> {
        if !root.is_dir() {
            return Err(ConvertError::MissingFile {
                path: root.to_path_buf(),
                what: "the model directory",
            });
        }
        let config_path = root.join("config.json");
        let config: Value = read_json(&config_path, "the model config")?;
        let hf_arch = match config
            .get("architectures")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
        {
            Some(a) => a.to_string(),
            None => {
                return Err(ConvertError::unsupported(
                    &config_path,
                    "(no `architectures` entry)",
                ))
            }
        };
        // Optional files. generation_config.json is ignored when invalid, as llama.cpp does.
        let generation = read_json_opt::<Value>(&root.join("generation_config.json"))
            .ok()
            .flatten();
        let readme = root.join("README.md");
        let card = if readme.is_file() {
            ModelCard::parse(&read_text(&readme, "the model card")?)
        } else {
            ModelCard::default()
        };
        Ok(SourceDir {
            root: root.to_path_buf(),
            config_path,
            config,
            hf_arch,
            generation,
            card,
        })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Fails with `MissingFile` on the first of `files` (relative path, what it is) absent.
    pub fn require(&self, files: &[(&str, &'static str)]) -> Result<(), ConvertError> {
        for (rel, what) in files {
            let p = self.path(rel);
            if !p.is_file() {
                return Err(ConvertError::MissingFile { path: p, what });
            }
        }
        Ok(())
    }

    /// `general.name` and `general.organization` as gguf-py's metadata heuristics derive them:
    /// from config.json's `_name_or_path` when it looks like a Hub id (`org/name`, at most one
    /// `/`), title-cased (`nreimers/MiniLM-L6-H384-uncased` -> "MiniLM L6 H384 Uncased",
    /// "Nreimers"); else the directory's name. gguf-py also guesses basename, version and
    /// fine-tune labels from these names; we do not (they are informational only).
    pub fn name_and_org(&self) -> (String, Option<String>) {
        let hub_id = self
            .config
            .get("_name_or_path")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.matches('/').count() <= 1);
        if let Some(id) = hub_id {
            if id.contains(' ') {
                return (id_to_title(id), None);
            }
            let (org, name) = match id.split_once('/') {
                Some((o, n)) => (Some(o).filter(|o| !o.is_empty() && !o.starts_with('.')), n),
                None => (None, id),
            };
            if !name.is_empty() {
                return (id_to_title(name), org.map(id_to_title));
            }
        }
        let dir_name = self
            .root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| self.hf_arch.clone());
        (dir_name, None)
    }
}

/// gguf-py's `Metadata.id_to_title`: `-` becomes a space and all-lowercase words are
/// title-cased, except version-like words (`v1.5`) and words starting with a digit.
pub fn id_to_title(id: &str) -> String {
    let words: Vec<String> = id
        .trim()
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            let has_cased = w.chars().any(|c| c.is_lowercase() || c.is_uppercase());
            let is_lower = has_cased && !w.chars().any(char::is_uppercase);
            let versionish = w.starts_with(|c: char| c.is_ascii_digit())
                || (w.starts_with('v')
                    && w.len() > 1
                    && w[1..]
                        .split('.')
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
            if is_lower && !versionish {
                title_case(w)
            } else {
                w.to_string()
            }
        })
        .collect();
    words.join(" ")
}

/// Python's `str.title()`: upper-case the first letter of each run of letters, lower the rest.
fn title_case(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let mut prev_letter = false;
    for c in w.chars() {
        if c.is_alphabetic() {
            if prev_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_letter = true;
        } else {
            out.push(c);
            prev_letter = false;
        }
    }
    out
}

/// One entry of modules.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// e.g. `sentence_transformers.models.Pooling`.
    pub ty: String,
    /// Folder relative to the model directory (empty for the Transformer module).
    pub dir: String,
}

/// Reads modules.json (`what` says why it is needed, for the missing-file error).
pub fn read_modules(path: &Path, what: &'static str) -> Result<Vec<Module>, ConvertError> {
    let modules: Value = read_json(path, what)?;
    let list = modules.as_array().ok_or_else(|| {
        ConvertError::bad_config(path, "(top level)", "expected a list of modules")
    })?;
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let key = format!("[{i}]");
        let ty = m.get("type").and_then(Value::as_str).ok_or_else(|| {
            ConvertError::bad_config(path, format!("{key}.type"), "missing or not a string")
        })?;
        let dir = m.get("path").and_then(Value::as_str).ok_or_else(|| {
            ConvertError::bad_config(path, format!("{key}.path"), "missing or not a string")
        })?;
        out.push(Module {
            ty: ty.to_string(),
            dir: dir.to_string(),
        });
    }
    Ok(out)
}

/// GGUF pooling type (1 = mean, 2 = cls, 3 = last) of the first Pooling module, if any
/// (llama.cpp's `_try_set_pooling_type`).
pub fn pooling_type(root: &Path, modules: &[Module]) -> Result<Option<u32>, ConvertError> {
    match modules.iter().find(|m| m.ty.ends_with("Pooling")) {
        Some(m) => read_pooling(&root.join(&m.dir).join("config.json")).map(Some),
        None => Ok(None),
    }
}

fn read_pooling(path: &Path) -> Result<u32, ConvertError> {
    let cfg: Value = read_json(path, "the Pooling module's config")?;
    let flag = |k: &str| cfg.get(k).and_then(Value::as_bool) == Some(true);
    if flag("pooling_mode_mean_tokens") {
        Ok(1)
    } else if flag("pooling_mode_cls_token") {
        Ok(2)
    } else if flag("pooling_mode_lasttoken") {
        Ok(3)
    } else {
        match cfg.get("pooling_mode").and_then(Value::as_str) {
            Some("mean") => Ok(1),
            Some("cls") => Ok(2),
            Some("lasttoken") => Ok(3),
            _ => Err(ConvertError::bad_config(
                path,
                "pooling_mode",
                "only mean, cls and last-token pooling are supported",
            )),
        }
    }
}

/// sentence-transformers prompts (name, text) in file order, from
/// config_sentence_transformers.json (`required`: whether a missing file is an error).
pub fn read_prompts(root: &Path, required: bool) -> Result<Vec<(String, String)>, ConvertError> {
    let path = root.join("config_sentence_transformers.json");
    if !required && !path.exists() {
        return Ok(Vec::new());
    }
    let st: Value = read_json(&path, "the sentence-transformers config (prompts)")?;
    match st.get("prompts").filter(|v| !v.is_null()) {
        None => Ok(Vec::new()),
        Some(v) => {
            let map: OrderedStrMap = serde_json::from_value(v.clone()).map_err(|e| {
                ConvertError::bad_config(
                    &path,
                    "prompts",
                    format!("expected an object of strings: {e}"),
                )
            })?;
            Ok(map.0)
        }
    }
}

/// sentence-transformers' `max_seq_length` from sentence_bert_config.json, if the file exists
/// and sets it (a present but invalid value is an error).
pub fn read_max_seq_length(root: &Path) -> Result<Option<u32>, ConvertError> {
    let path = root.join("sentence_bert_config.json");
    let Some(v) = read_json_opt::<Value>(&path)? else {
        return Ok(None);
    };
    let c = crate::json::Obj::new(&path, &v)?;
    match c.get("max_seq_length") {
        None => Ok(None),
        Some(_) => c.dim("max_seq_length", None).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_gguf_py() {
        assert_eq!(
            id_to_title("MiniLM-L6-H384-uncased"),
            "MiniLM L6 H384 Uncased"
        );
        assert_eq!(id_to_title("nreimers"), "Nreimers");
        assert_eq!(id_to_title("model_download"), "Model_Download");
        assert_eq!(id_to_title("bge-small-en-v1.5"), "Bge Small En v1.5");
        assert_eq!(id_to_title("BAAI"), "BAAI");
    }
}
