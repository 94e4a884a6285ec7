//! What callers hand to the `Embedder` and what they get back.

/// One text to embed, with its options.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub text: String,
    /// A prompt name (`query`, `document`, `STS`, …; see `ModelInfo::prompts`). `None` = no prompt.
    pub prompt_name: Option<String>,
    /// A document title: the document prompt becomes `title: {title} | text: `.
    pub title: Option<String>,
    /// Matryoshka output size, one of `ModelInfo::dims` (e.g. 768, 512, 256, 128); `None` =
    /// full size.
    pub dims: Option<usize>,
    pub truncate: Truncate,
    /// L2-normalize the returned vector (default true). `false` returns the head's raw output
    /// (its first `dims` components), before the sentence-transformers Normalize step.
    pub normalize: bool,
}

impl Input {
    /// A plain text with default options (no prompt, full dims, truncate, normalize).
    pub fn new(text: impl Into<String>) -> Input {
        Input {
            text: text.into(),
            ..Input::default()
        }
    }

    pub fn with_prompt(mut self, name: impl Into<String>) -> Input {
        self.prompt_name = Some(name.into());
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Input {
        self.title = Some(title.into());
        self
    }

    pub fn with_dims(mut self, dims: usize) -> Input {
        self.dims = Some(dims);
        self
    }

    pub fn with_truncate(mut self, truncate: Truncate) -> Input {
        self.truncate = truncate;
        self
    }

    pub fn with_normalize(mut self, normalize: bool) -> Input {
        self.normalize = normalize;
        self
    }
}

impl Default for Input {
    fn default() -> Input {
        Input {
            text: String::new(),
            prompt_name: None,
            title: None,
            dims: None,
            truncate: Truncate::Truncate,
            normalize: true,
        }
    }
}

/// What to do with an input longer than the token limit (`ModelInfo::n_ctx` tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncate {
    /// sentence-transformers style: BOS + the first n_ctx-2 content tokens + EOS.
    #[default]
    Truncate,
    /// Refuse with `ModelError::TooLong` naming the token count.
    Error,
}

/// Token ids ready for the encoder (BOS/EOS included).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInput {
    pub ids: Vec<u32>,
    pub dims: Option<usize>,
    /// Whether `ids` were cut to fit (reported back in `Embedding::truncated`).
    pub truncated: bool,
    pub normalize: bool,
}

impl TokenInput {
    /// Ids with default options (full dims, normalized, not truncated).
    pub fn new(ids: Vec<u32>) -> TokenInput {
        TokenInput {
            ids,
            dims: None,
            truncated: false,
            normalize: true,
        }
    }
}

/// One output vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub vector: Vec<f32>,
    /// Tokens the encoder saw (after truncation, BOS/EOS and prompt included).
    pub n_tokens: usize,
    pub truncated: bool,
}
