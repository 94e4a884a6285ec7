//! Wire types of the two APIs (OpenAI `/v1/embeddings`, TEI `/embed`, `/tokenize`, `/detokenize`) and
//! their conversion into one `EmbedCall`. Handlers stay thin: parse, convert, `service::embed`, render.

use crate::backend::Embedding;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One input as sent: text, or token ids used as-is (BOS/EOS included by the caller).
#[derive(Debug, Clone, PartialEq)]
pub enum RawInput {
    Text(String),
    Tokens(Vec<u32>),
}

/// An embedding request, whichever API it came from.
#[derive(Debug, Clone)]
pub struct EmbedCall {
    pub inputs: Vec<RawInput>,
    pub prompt_name: Option<String>,
    pub title: Option<String>,
    pub dims: Option<usize>,
    /// `None`: the server's default.
    pub truncate: Option<bool>,
    pub normalize: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    #[default]
    Float,
    Base64,
}

/// POST /v1/embeddings
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiRequest {
    pub input: Value,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub encoding_format: Option<EncodingFormat>,
    #[serde(default)]
    pub dimensions: Option<usize>,
    #[serde(default)]
    pub user: Option<String>,
    // Extensions.
    #[serde(default)]
    pub prompt_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub truncate: Option<bool>,
}

impl OpenAiRequest {
    pub fn to_call(&self) -> Result<EmbedCall, ApiError> {
        Ok(EmbedCall {
            inputs: parse_inputs(&self.input, "input")?,
            prompt_name: self.prompt_name.clone(),
            title: self.title.clone(),
            dims: self.dimensions,
            truncate: self.truncate,
            normalize: true,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TruncationDirection {
    #[serde(alias = "left", alias = "LEFT")]
    Left,
    #[serde(alias = "right", alias = "RIGHT")]
    Right,
}

/// POST /embed (text-embeddings-inference)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeiEmbedRequest {
    pub inputs: Value,
    #[serde(default)]
    pub normalize: Option<bool>,
    #[serde(default)]
    pub truncate: Option<bool>,
    #[serde(default)]
    pub truncation_direction: Option<TruncationDirection>,
    #[serde(default)]
    pub prompt_name: Option<String>,
    #[serde(default)]
    pub dimensions: Option<usize>,
}

impl TeiEmbedRequest {
    pub fn to_call(&self) -> Result<EmbedCall, ApiError> {
        if self.truncation_direction == Some(TruncationDirection::Left) {
            return Err(ApiError::invalid(
                "truncation_direction \"Left\" is not supported: the model is truncated like sentence-transformers \
                 (keep the start); send \"Right\" or leave it out",
            ));
        }
        Ok(EmbedCall {
            inputs: parse_inputs(&self.inputs, "inputs")?,
            prompt_name: self.prompt_name.clone(),
            title: None,
            dims: self.dimensions,
            truncate: self.truncate,
            normalize: self.normalize.unwrap_or(true),
        })
    }
}

/// POST /tokenize (TEI)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeRequest {
    pub inputs: Value,
    #[serde(default = "yes")]
    pub add_special_tokens: bool,
    #[serde(default)]
    pub prompt_name: Option<String>,
}

/// One token as TEI's /tokenize reports it. Byte offsets are not tracked, so `start`/`stop` are null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleToken {
    pub id: u32,
    pub text: String,
    pub special: bool,
    pub start: Option<usize>,
    pub stop: Option<usize>,
}

/// POST /detokenize (TEI)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetokenizeRequest {
    pub ids: Value,
    #[serde(default = "yes")]
    pub skip_special_tokens: bool,
}

fn yes() -> bool {
    true
}

/// The texts of a /tokenize request (token arrays make no sense there).
pub fn parse_texts(v: &Value, field: &str) -> Result<Vec<String>, ApiError> {
    parse_inputs(v, field)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            RawInput::Text(t) => Ok(t),
            RawInput::Tokens(_) => Err(ApiError::invalid(format!(
                "`{field}` must be a string or an array of strings; element {i} is not a string"
            ))),
        })
        .collect()
}

/// The id lists of a /detokenize request: an array of ids, or an array of arrays of ids.
pub fn parse_id_lists(v: &Value, field: &str) -> Result<Vec<Vec<u32>>, ApiError> {
    parse_inputs(v, field)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            RawInput::Tokens(ids) => Ok(ids),
            RawInput::Text(_) => Err(ApiError::invalid(format!(
                "`{field}` must be an array of token ids or an array of arrays of token ids; element {i} is a string"
            ))),
        })
        .collect()
}

/// Accepts a string, an array of strings, an array of token ids, or an array whose elements are
/// strings or arrays of token ids. An empty string is a text like any other (embedded as BOS+EOS,
/// as sentence-transformers and the library do). Rejects empty arrays and non-ids with the
/// element's position.
pub fn parse_inputs(v: &Value, field: &str) -> Result<Vec<RawInput>, ApiError> {
    const SHAPES: &str =
        "a string, an array of strings, an array of token ids, or an array of token-id arrays";
    match v {
        Value::String(s) => Ok(vec![RawInput::Text(s.clone())]),
        Value::Array(items) if items.is_empty() => Err(ApiError::invalid(format!(
            "`{field}` is an empty array; send at least one input"
        ))),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            Ok(vec![RawInput::Tokens(token_ids(items, field)?)])
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{field}[{i}]");
                match item {
                    Value::String(s) => Ok(RawInput::Text(s.clone())),
                    Value::Array(ids) if ids.is_empty() => Err(ApiError::invalid(format!(
                        "`{at}` is an empty token array; send at least one token id"
                    ))),
                    Value::Array(ids) => Ok(RawInput::Tokens(token_ids(ids, &at)?)),
                    other => Err(ApiError::invalid(format!(
                        "`{at}` is {}; each element must be a string or an array of token ids",
                        type_name(other)
                    ))),
                }
            })
            .collect(),
        other => Err(ApiError::invalid(format!(
            "`{field}` is {}; it must be {SHAPES}",
            type_name(other)
        ))),
    }
}

fn token_ids(items: &[Value], at: &str) -> Result<Vec<u32>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(j, x)| {
            x.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "`{at}[{j}]` = {x} is not a token id (a non-negative integer)"
                    ))
                })
        })
        .collect()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Response of /v1/embeddings.
#[derive(Debug, Serialize)]
pub struct OpenAiResponse {
    pub object: &'static str,
    pub data: Vec<OpenAiEmbedding>,
    pub model: String,
    pub usage: Usage,
}

#[derive(Debug, Serialize)]
pub struct OpenAiEmbedding {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingData,
}

/// A vector as JSON numbers, or base64 of its little-endian f32 bytes.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EmbeddingData {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub total_tokens: usize,
}

impl OpenAiResponse {
    pub fn new(embeddings: Vec<Embedding>, format: EncodingFormat, model: String) -> Self {
        let tokens = embeddings.iter().map(|e| e.n_tokens).sum();
        let data = embeddings
            .into_iter()
            .enumerate()
            .map(|(index, e)| OpenAiEmbedding {
                object: "embedding",
                index,
                embedding: match format {
                    EncodingFormat::Float => EmbeddingData::Float(e.vector),
                    EncodingFormat::Base64 => EmbeddingData::Base64(f32_base64(&e.vector)),
                },
            })
            .collect();
        OpenAiResponse {
            object: "list",
            data,
            model,
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        }
    }
}

/// base64 (standard alphabet, padded) of the vector's little-endian f32 bytes, as OpenAI sends it.
pub fn f32_base64(v: &[f32]) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Inverse of `f32_base64` (for clients and tests). `None` if not base64 or not a whole number of f32s.
pub fn base64_f32(s: &str) -> Option<Vec<f32>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    (bytes.len() % 4 == 0).then(|| {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_shapes() {
        let t = |s: &str| RawInput::Text(s.into());
        assert_eq!(parse_inputs(&json!("a"), "input").unwrap(), vec![t("a")]);
        assert_eq!(
            parse_inputs(&json!(["a", "b"]), "input").unwrap(),
            vec![t("a"), t("b")]
        );
        assert_eq!(
            parse_inputs(&json!([2, 5, 1]), "input").unwrap(),
            vec![RawInput::Tokens(vec![2, 5, 1])]
        );
        assert_eq!(
            parse_inputs(&json!([[2, 1], "x"]), "input").unwrap(),
            vec![RawInput::Tokens(vec![2, 1]), t("x")]
        );
        // The empty string is a text (embedded, as by the library and the CLI).
        assert_eq!(parse_inputs(&json!(""), "input").unwrap(), vec![t("")]);
        assert_eq!(
            parse_inputs(&json!(["a", ""]), "input").unwrap(),
            vec![t("a"), t("")]
        );
    }

    #[test]
    fn input_errors_name_the_element() {
        let msg = |v: Value| parse_inputs(&v, "input").unwrap_err().message;
        assert!(msg(json!([])).contains("empty array"));
        assert!(msg(json!([[2, -1]])).contains("`input[0][1]` = -1"));
        assert!(msg(json!([1.5])).contains("`input[0]` = 1.5"));
        assert!(msg(json!([[1], 3, "a"])).contains("`input[1]` is a number"));
        assert!(msg(json!({"a": 1})).contains("is an object"));
        assert!(msg(json!([4294967296u64])).contains("not a token id"));
        assert!(msg(json!(null)).contains("is null"));
    }

    #[test]
    fn base64_round_trips_bits() {
        let v = vec![1.0f32, -0.0, f32::MIN_POSITIVE, 0.1, -3.5e-7];
        let b = f32_base64(&v);
        let back = base64_f32(&b).unwrap();
        assert_eq!(
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // 1.0f32 little-endian is 00 00 80 3f.
        assert!(b.starts_with("AACAPw"));
        assert!(base64_f32("AAA").is_none());
    }
}
