//! Tokenizers built from GGUF `tokenizer.ggml.*` metadata alone, behind one [`Tokenizer`]:
//! SentencePiece BPE for `tokenizer.ggml.model = "llama"` and WordPiece for `"bert"`
//! ([`TokenizerModel`]). Both reproduce the Hugging Face tokenizer that sentence-transformers
//! uses, token for token.
//!
//! **SentencePiece** (Gemma 3 / EmbeddingGemma's `tokenizer.json` pipeline):
//!
//! 1. **Added tokens.** Control, user-defined and unknown pieces spelled in the raw text
//!    (`<eos>`, `<start_of_turn>`, `\n\n`, `<table>`, a literal `▁▁` ...) are matched first,
//!    leftmost-longest, and become those tokens (module `special`).
//! 2. **Normalization.** In the text between them every space becomes `▁` (no dummy prefix unless
//!    `add_space_prefix`).
//! 3. **BPE.** Each stretch starts as one symbol per character (unknown characters fall back to
//!    `<0xNN>` byte tokens) and adjacent symbols merge in Hugging Face's merge-rank order, which is
//!    derived from the piece scores (module `bpe`).
//! 4. `BOS` / `EOS` are added per `add_bos_token` / `add_eos_token`.
//!
//! **WordPiece** (BERT's `BertTokenizerFast`: all-MiniLM, bge, ...): control tokens spelled in
//! the raw text (`[CLS]`, `[MASK]` ...) are matched first as above; the text between them gets
//! BERT's clean-up, CJK splitting, lower-casing and accent stripping (for uncased
//! vocabularies), whitespace and punctuation splitting, and greedy longest-match WordPiece
//! (module `wordpiece`); `[CLS]` comes first and `[SEP]` last. [`Tokenizer::bos_id`] is `[CLS]` and
//! [`Tokenizer::eos_id`] is `[SEP]`, so BOS/EOS-based code (e.g. [`truncate`]) serves both.
//!
//! [`Tokenizer::decode`] inverts either, [`truncate`] applies the sentence-transformers
//! truncation rule, and [`prompts`] resolves the model's named prompts.

mod bpe;
mod cache;
mod decode;
mod error;
mod load;
pub mod prompts;
mod special;
mod vocab;
mod wordpiece;

pub use error::TokenizerError;
pub use load::{SpmVocab, WordPieceVocab};
pub use wordpiece::{hf_to_gguf_piece, MAX_WORD_CHARS};

use std::cell::RefCell;

/// GGUF / llama.cpp token types (`tokenizer.ggml.token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TokenType {
    /// 0 in some files (undefined); treated like `Normal`.
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    pub fn from_i32(v: i32) -> Option<TokenType> {
        Some(match v {
            0 => TokenType::Undefined,
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }

    /// Whether Hugging Face treats pieces of this type as "added tokens": matched verbatim in the
    /// raw text before normalization and BPE.
    pub fn is_added(self) -> bool {
        matches!(
            self,
            TokenType::Control | TokenType::UserDefined | TokenType::Unknown
        )
    }
}

/// The tokenization algorithm, from `tokenizer.ggml.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerModel {
    /// `"llama"`: SentencePiece BPE with byte fallback.
    SentencePiece,
    /// `"bert"`: BERT's WordPiece.
    WordPiece,
}

impl TokenizerModel {
    /// The `tokenizer.ggml.model` value.
    pub fn gguf_name(self) -> &'static str {
        match self {
            TokenizerModel::SentencePiece => "llama",
            TokenizerModel::WordPiece => "bert",
        }
    }
}

/// The algorithm-specific part of a [`Tokenizer`].
enum Algo {
    Spm(bpe::BpeModel),
    WordPiece(Box<wordpiece::WordPiece>),
}

/// A SentencePiece (GGUF model "llama") or WordPiece ("bert") tokenizer. Immutable after load;
/// `Sync`, so one instance can serve many threads (each thread keeps its own scratch buffers).
pub struct Tokenizer {
    /// Distinct per instance: tags the per-thread caches.
    uid: u64,
    vocab: vocab::Vocab,
    added: special::AddedTokens,
    algo: Algo,
    /// BOS, or `[CLS]` for WordPiece.
    bos_id: u32,
    /// EOS, or `[SEP]` for WordPiece.
    eos_id: u32,
    unk_id: Option<u32>,
    pad_id: Option<u32>,
    mask_id: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("model", &self.model())
            .field("vocab_size", &self.vocab_size())
            .field("bos_id", &self.bos_id)
            .field("eos_id", &self.eos_id)
            .field("unk_id", &self.unk_id)
            .field("pad_id", &self.pad_id)
            .field("add_bos", &self.add_bos)
            .field("add_eos", &self.add_eos)
            .field("add_space_prefix", &self.add_space_prefix)
            .field("lowercase", &self.lowercase())
            .finish_non_exhaustive()
    }
}

thread_local! {
    static SCRATCH: RefCell<bpe::Scratch> = RefCell::new(bpe::Scratch::default());
    static WP_SCRATCH: RefCell<wordpiece::Scratch> = RefCell::new(wordpiece::Scratch::default());
}

impl Tokenizer {
    /// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata; the algorithm comes
    /// from `tokenizer.ggml.model` ("llama" or "bert"; anything else is
    /// [`TokenizerError::UnsupportedModel`]).
    pub fn from_gguf(file: &gguf::GgufFile) -> Result<Tokenizer, TokenizerError> {
        load::from_gguf(file)
    }

    /// Builds a SentencePiece tokenizer from plain vectors (what `from_gguf` reads).
    pub fn from_vocab(v: &SpmVocab<'_>) -> Result<Tokenizer, TokenizerError> {
        load::from_vocab(v)
    }

    /// Builds a WordPiece tokenizer from plain vectors (what `from_gguf` reads for "bert").
    pub fn from_wordpiece(v: &WordPieceVocab<'_>) -> Result<Tokenizer, TokenizerError> {
        load::from_wordpiece(v)
    }

    /// The algorithm.
    pub fn model(&self) -> TokenizerModel {
        match self.algo {
            Algo::Spm(_) => TokenizerModel::SentencePiece,
            Algo::WordPiece(_) => TokenizerModel::WordPiece,
        }
    }

    /// Token ids for `text`, with BOS/EOS per the metadata flags (SentencePiece) or `[CLS]` …
    /// `[SEP]` (WordPiece, always, as Hugging Face's and llama.cpp's BERT tokenizers do).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out);
        out
    }

    /// Clears `out`, then fills it as [`Tokenizer::encode`] would. Reuses per-thread buffers.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        out.clear();
        if self.add_bos {
            out.push(self.bos_id);
        }
        self.encode_content(text, out);
        if self.add_eos {
            out.push(self.eos_id);
        }
    }

    /// The ids of `text` without BOS/EOS.
    pub fn encode_content_vec(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_content(text, &mut out);
        out
    }

    /// Appends the ids of `text` to `out` without BOS/EOS.
    pub fn encode_content(&self, text: &str, out: &mut Vec<u32>) {
        match &self.algo {
            Algo::Spm(bpe) => SCRATCH.with(|s| match s.try_borrow_mut() {
                Ok(mut scratch) => self.encode_spm(bpe, text, out, &mut scratch),
                // Only reachable if encoding re-entered itself on this thread; use fresh buffers.
                Err(_) => self.encode_spm(bpe, text, out, &mut bpe::Scratch::default()),
            }),
            Algo::WordPiece(wp) => WP_SCRATCH.with(|s| match s.try_borrow_mut() {
                Ok(mut scratch) => self.encode_wordpiece(wp, text, out, &mut scratch),
                Err(_) => self.encode_wordpiece(wp, text, out, &mut Default::default()),
            }),
        }
    }

    fn encode_spm(
        &self,
        bpe: &bpe::BpeModel,
        text: &str,
        out: &mut Vec<u32>,
        scratch: &mut bpe::Scratch,
    ) {
        scratch.claim(self.uid);
        let mut at_start = true;
        self.added.split(text, |piece| {
            match piece {
                special::Piece::Added(id) => out.push(id),
                special::Piece::Text(seg) => {
                    let prefix = self.add_space_prefix && at_start;
                    bpe.encode_segment(&self.vocab, seg, prefix, self.unk_id, scratch, out);
                }
            }
            at_start = false;
        });
        scratch.trim();
    }

    fn encode_wordpiece(
        &self,
        wp: &wordpiece::WordPiece,
        text: &str,
        out: &mut Vec<u32>,
        scratch: &mut wordpiece::Scratch,
    ) {
        scratch.claim(self.uid);
        self.added.split(text, |piece| match piece {
            special::Piece::Added(id) => out.push(id),
            special::Piece::Text(seg) => wp.encode_segment(&self.vocab, seg, scratch, out),
        });
        scratch.trim();
    }

    /// Text for `ids`, as the Hugging Face decoder with `skip_special_tokens=True`.
    ///
    /// SentencePiece: `▁` → space, byte tokens → UTF-8 (invalid runs → U+FFFD per byte),
    /// skipping BOS, EOS, PAD and UNK. Other control tokens are written as their text (Hugging
    /// Face also drops a few of them, e.g. `<start_of_turn>`, which GGUF metadata does not
    /// distinguish from `<unused0>`).
    ///
    /// WordPiece: pieces joined by spaces, continuations glued on, with the `WordPiece`
    /// decoder's clean-up (` .` → `.`, ` 's` → `'s` ...), skipping control tokens (`[CLS]`,
    /// `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`). Lower-casing and accent stripping are not undone.
    ///
    /// Errors: [`TokenizerError::IdOutOfRange`].
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        decode::decode(self, ids, true)
    }

    /// [`Tokenizer::decode`] with the choice to keep BOS/EOS/PAD/UNK (SentencePiece) or all
    /// control tokens (WordPiece) as text (`<bos>`, `[CLS]` ...), like
    /// `skip_special_tokens=False`.
    pub fn decode_with(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        decode::decode(self, ids, skip_special)
    }

    /// The piece for `id` as the GGUF stores it: for SentencePiece as Hugging Face spells it
    /// (`▁hello`, `<0x0A>`, `<eos>`); for WordPiece with llama.cpp's phantom space (`▁hello` for
    /// Hugging Face's `hello`, `lo` for `##lo`, `[CLS]`).
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.vocab.piece(id)
    }

    /// The id of a piece spelled exactly as [`Tokenizer::piece`] returns it.
    pub fn piece_id(&self, piece: &str) -> Option<u32> {
        self.vocab.lookup(piece.as_bytes())
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.vocab.token_type(id)
    }

    /// BOS; for WordPiece `[CLS]` (`tokenizer.ggml.bos_token_id`), the first id of every
    /// encoded sequence.
    pub fn bos_id(&self) -> u32 {
        self.bos_id
    }
    /// EOS; for WordPiece `[SEP]` (`tokenizer.ggml.seperator_token_id`), the last id of every
    /// encoded sequence.
    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }
    /// `[CLS]` for WordPiece (same as [`Tokenizer::bos_id`]); `None` for SentencePiece.
    pub fn cls_id(&self) -> Option<u32> {
        matches!(self.algo, Algo::WordPiece(_)).then_some(self.bos_id)
    }
    /// `[SEP]` for WordPiece (same as [`Tokenizer::eos_id`]); `None` for SentencePiece.
    pub fn sep_id(&self) -> Option<u32> {
        matches!(self.algo, Algo::WordPiece(_)).then_some(self.eos_id)
    }
    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }
    pub fn pad_id(&self) -> Option<u32> {
        self.pad_id
    }
    /// `[MASK]` (`tokenizer.ggml.mask_token_id`), if the vocabulary has one.
    pub fn mask_id(&self) -> Option<u32> {
        self.mask_id
    }
    /// Whether text is lower-cased before WordPiece (an uncased vocabulary such as
    /// all-MiniLM's); always false for SentencePiece.
    pub fn lowercase(&self) -> bool {
        match &self.algo {
            Algo::WordPiece(wp) => wp.lowercase(),
            Algo::Spm(_) => false,
        }
    }
    /// Whether accents (nonspacing marks after NFD) are stripped before WordPiece; always false
    /// for SentencePiece.
    pub fn strip_accents(&self) -> bool {
        match &self.algo {
            Algo::WordPiece(wp) => wp.strip_accents(),
            Algo::Spm(_) => false,
        }
    }
    /// [`truncate`] with this tokenizer's EOS / `[SEP]`: keeps BOS/`[CLS]`, the first
    /// `max_tokens - 2` content tokens and EOS/`[SEP]`. Returns true if it cut.
    pub fn truncate(&self, ids: &mut Vec<u32>, max_tokens: usize) -> bool {
        truncate(ids, max_tokens, self.eos_id)
    }
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }
}

/// sentence-transformers truncation: keep BOS + the first `max_tokens - 2` content tokens + EOS
/// (for WordPiece: `[CLS]`, the first pieces, `[SEP]`, with `eos_id` = `[SEP]`).
/// Returns true if it cut.
///
/// `ids` is an encoded sequence. If it ends with `eos_id` the EOS is kept at the end of the cut
/// sequence; otherwise (a tokenizer without add_eos) the sequence is simply cut to `max_tokens`.
/// The result never has more than `max_tokens` ids.
pub fn truncate(ids: &mut Vec<u32>, max_tokens: usize, eos_id: u32) -> bool {
    if ids.len() <= max_tokens {
        return false;
    }
    let ends_with_eos = ids.last() == Some(&eos_id);
    if ends_with_eos && max_tokens >= 1 {
        ids.truncate(max_tokens - 1);
        ids.push(eos_id);
    } else {
        ids.truncate(max_tokens);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Tokenizer>();
    }

    #[test]
    fn truncate_keeps_bos_and_eos() {
        let mut ids = vec![2, 10, 11, 12, 13, 1];
        assert!(truncate(&mut ids, 4, 1));
        assert_eq!(ids, vec![2, 10, 11, 1]);
        let mut ids = vec![2, 10, 1];
        assert!(!truncate(&mut ids, 3, 1));
        assert_eq!(ids, vec![2, 10, 1]);
        let mut ids = vec![2, 10, 11, 1];
        assert!(truncate(&mut ids, 2, 1));
        assert_eq!(ids, vec![2, 1]);
        let mut ids = vec![2, 10, 11];
        assert!(truncate(&mut ids, 2, 1));
        assert_eq!(ids, vec![2, 10]);
        let mut ids = vec![2, 10, 1];
        assert!(truncate(&mut ids, 0, 1));
        assert!(ids.is_empty());
    }
}
