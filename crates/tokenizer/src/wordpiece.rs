//! WordPiece (GGUF model "bert"), as Hugging Face's `BertTokenizerFast` (the `tokenizers`
//! pipeline `BertNormalizer` → `BertPreTokenizer` → `WordPiece`) that sentence-transformers uses.
//!
//! The vocabulary follows llama.cpp's converter (`BertModel.set_vocab`): a word-start piece
//! `hello` is stored as `▁hello`, a continuation `##lo` as `lo`, control tokens (`[CLS]`,
//! `[SEP]`, `[UNK]`, `[PAD]`, `[MASK]`) unchanged ([`hf_to_gguf_piece`]).
//!
//! Per stretch of text between special tokens:
//! 1. **Clean-up** (on the raw chars): NUL, U+FFFD and `Cc`/`Cf`/`Co` chars other than `\t`
//!    `\n` `\r` are dropped; whitespace (`char::is_whitespace`, plus `\t\n\r`) becomes a space.
//!    General categories are Unicode 8.0's, as in Hugging Face's `tokenizers` (same crate).
//! 2. **CJK**: a space before and after each CJK ideograph (the ranges of Hugging Face's
//!    `is_chinese_char`, including its `0x2B920` start for Extension E).
//! 3. **Accents** (if `strip_accents`): NFD, then nonspacing marks (`Mn`) are dropped.
//! 4. **Lower case** (if `lowercase`): `char::to_lowercase` (no context rules).
//! 5. **Words**: split at spaces; every punctuation char (Unicode `P*`, and all ASCII symbols
//!    33–47, 58–64, 91–96, 123–126) is a word of its own.
//! 6. **WordPiece**: greedy longest match from the left, `▁` + prefix at the word start and bare
//!    pieces after it; a word with no full cover, or longer than 100 chars, is one `[UNK]`.
//!
//! Repeated words are answered from a per-thread cache (results never depend on it).

use crate::cache::{Caches, MAX_CACHED_WORD};
use crate::vocab::{hash_bytes, Vocab};
use crate::TokenType;
use std::borrow::Cow;
// The categories come from `unicode_categories` 0.1, the crate Hugging Face's `tokenizers` uses
// for BERT: its Unicode 8.0 tables are what the reference ids follow (e.g. U+2E43..U+2E5D, made
// punctuation in Unicode 9-14, stay inside words there).
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// Hugging Face's `max_input_chars_per_word`: longer words become `[UNK]`.
pub const MAX_WORD_CHARS: usize = 100;

/// The phantom space that marks a word-start piece.
const SPACE: &[u8] = "▁".as_bytes();

/// A vocabulary entry as llama.cpp's converter stores it: `##lo` → `lo`, `hello` → `▁hello`,
/// control tokens (`[CLS]` ...) unchanged. This is the inverse of how [`Tokenizer`] reads
/// `tokenizer.ggml.tokens` for a "bert" model, for converters and tests that start from a
/// Hugging Face `vocab.txt` / `tokenizer.json` vocabulary.
///
/// [`Tokenizer`]: crate::Tokenizer
pub fn hf_to_gguf_piece(hf_token: &str, control: bool) -> Cow<'_, str> {
    if control {
        Cow::Borrowed(hf_token)
    } else if let Some(rest) = hf_token.strip_prefix("##") {
        Cow::Borrowed(rest)
    } else {
        Cow::Owned(format!("▁{hf_token}"))
    }
}

/// What a byte < 0x80 does in steps 1–5.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ascii {
    Drop,
    Space,
    Punct,
    /// Part of a word: the byte after lower-casing.
    Word(u8),
}

pub(crate) struct WordPiece {
    lowercase: bool,
    strip_accents: bool,
    unk_id: u32,
    /// Longest piece in bytes (without the `▁` of word-start pieces).
    max_piece_bytes: usize,
    ascii: [Ascii; 128],
}

/// Per-thread buffers reused across calls.
#[derive(Default)]
pub(crate) struct Scratch {
    /// A non-ASCII stretch after steps 1–2.
    clean: String,
    /// `▁` + the word being collected.
    word: Vec<u8>,
    /// Chars in `word` after the `▁`.
    word_chars: usize,
    caches: Caches,
}

impl Scratch {
    pub(crate) fn claim(&mut self, owner: u64) {
        self.caches.claim(owner);
    }

    /// Gives back memory after an unusually long input.
    pub(crate) fn trim(&mut self) {
        const KEEP: usize = 1 << 20;
        if self.clean.capacity() > KEEP {
            self.clean = String::new();
        }
        if self.word.capacity() > KEEP {
            self.word = Vec::new();
        }
    }
}

/// Hugging Face's `is_chinese_char` (CJK Unified Ideographs and extensions, compatibility
/// ideographs), including its `0x2B920` start of the fifth range.
#[inline]
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// Dropped by the clean-up: `Cc`, `Cf`, `Co` (Hugging Face's `is_control`), NUL and U+FFFD;
/// `\t`, `\n`, `\r` are whitespace instead.
#[inline]
fn is_dropped(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c == '\u{FFFD}' || c.is_other_control() || c.is_other_format() || c.is_other_private_use()
}

/// `BertPreTokenizer`'s punctuation: ASCII symbols or Unicode `P*`.
#[inline]
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    c.is_punctuation()
}

/// Class bits of a char (see [`class`]).
const DROPPED: u8 = 1;
const SPACE_CHAR: u8 = 2;
const CJK: u8 = 4;
const PUNCT: u8 = 8;
const NONSPACING_MARK: u8 = 16;

fn compute_class(c: char) -> u8 {
    let mut k = 0;
    if is_dropped(c) {
        k |= DROPPED;
    }
    if c.is_whitespace() {
        k |= SPACE_CHAR;
    }
    if is_cjk(c) {
        k |= CJK;
    }
    if is_punct(c) {
        k |= PUNCT;
    }
    if c.is_mark_nonspacing() {
        k |= NONSPACING_MARK;
    }
    k
}

/// The class bits of `c`: from a table for the Basic Multilingual Plane (64 KiB, built once per
/// process from the category crate, whose lookups are binary searches), computed above it.
#[inline]
fn class(c: char) -> u8 {
    static BMP: std::sync::OnceLock<Box<[u8]>> = std::sync::OnceLock::new();
    let cp = c as u32;
    if cp < 0x10000 {
        let table = BMP.get_or_init(|| {
            (0..0x10000u32)
                .map(|cp| char::from_u32(cp).map_or(0, compute_class))
                .collect()
        });
        table[cp as usize]
    } else {
        compute_class(c)
    }
}

#[inline]
fn is_char_start(b: u8) -> bool {
    (b & 0xC0) != 0x80
}

/// Where the words of one stretch go: collects chars into `word`, tokenizes finished words.
struct Sink<'a> {
    wp: &'a WordPiece,
    vocab: &'a Vocab,
    word: &'a mut Vec<u8>,
    word_chars: &'a mut usize,
    caches: &'a mut Caches,
    out: &'a mut Vec<u32>,
}

impl Sink<'_> {
    /// One char after steps 1–4.
    #[inline]
    fn push(&mut self, c: char) {
        let k = class(c);
        if k & SPACE_CHAR != 0 {
            self.end_word();
        } else if k & PUNCT != 0 {
            self.end_word();
            self.push_to_word(c);
            self.end_word();
        } else {
            self.push_to_word(c);
        }
    }

    #[inline]
    fn push_to_word(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.word
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        *self.word_chars += 1;
    }

    #[inline]
    fn push_ascii_to_word(&mut self, b: u8) {
        self.word.push(b);
        *self.word_chars += 1;
    }

    /// Tokenizes the collected word, if any, and starts a new one.
    fn end_word(&mut self) {
        if *self.word_chars == 0 {
            return;
        }
        if *self.word_chars > MAX_WORD_CHARS {
            self.out.push(self.wp.unk_id);
        } else {
            let w = &self.word[SPACE.len()..];
            if w.len() <= MAX_CACHED_WORD {
                let h = hash_bytes(w);
                if let Some(ids) = self.caches.get_word(w, h) {
                    self.out.extend_from_slice(ids);
                } else {
                    let before = self.out.len();
                    self.wp.word_ids(self.vocab, self.word, self.out);
                    self.caches.put_word(w, h, &self.out[before..]);
                }
            } else {
                self.wp.word_ids(self.vocab, self.word, self.out);
            }
        }
        self.word.truncate(SPACE.len());
        *self.word_chars = 0;
    }
}

impl WordPiece {
    /// `types` are the token types by id; `unk_id` is in range.
    pub(crate) fn new(
        vocab: &Vocab,
        types: &[TokenType],
        unk_id: u32,
        lowercase: bool,
        strip_accents: bool,
    ) -> WordPiece {
        let max_piece_bytes = (0..vocab.len() as u32)
            .filter(|&id| types[id as usize] != TokenType::Control)
            .map(|id| {
                let p = vocab.piece_bytes(id);
                p.strip_prefix(SPACE).unwrap_or(p).len()
            })
            .max()
            .unwrap_or(0);
        let mut ascii = [Ascii::Drop; 128];
        for (b, class) in ascii.iter_mut().enumerate() {
            let c = b as u8;
            *class = match c {
                b'\t' | b'\n' | b'\r' | b' ' => Ascii::Space,
                0..=0x1F | 0x7F => Ascii::Drop,
                _ if c.is_ascii_punctuation() => Ascii::Punct,
                _ if lowercase => Ascii::Word(c.to_ascii_lowercase()),
                _ => Ascii::Word(c),
            };
        }
        // Build the char-class table now, not on the first non-ASCII text.
        class('\u{80}');
        WordPiece {
            lowercase,
            strip_accents,
            unk_id,
            max_piece_bytes,
            ascii,
        }
    }

    pub(crate) fn lowercase(&self) -> bool {
        self.lowercase
    }

    pub(crate) fn strip_accents(&self) -> bool {
        self.strip_accents
    }

    /// A non-control piece spelled exactly `key`.
    #[inline]
    fn lookup(&self, vocab: &Vocab, key: &[u8]) -> Option<u32> {
        vocab
            .lookup(key)
            .filter(|&id| vocab.token_type(id) != Some(TokenType::Control))
    }

    /// Appends the ids of one stretch of raw text (no special tokens inside) to `out`.
    pub(crate) fn encode_segment(
        &self,
        vocab: &Vocab,
        seg: &str,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) {
        let Scratch {
            clean,
            word,
            word_chars,
            caches,
        } = scratch;
        word.clear();
        word.extend_from_slice(SPACE);
        *word_chars = 0;
        let mut sink = Sink {
            wp: self,
            vocab,
            word,
            word_chars,
            caches,
            out,
        };
        if seg.is_ascii() {
            // Steps 1–5 by table: ASCII is its own NFD and has no marks.
            for &b in seg.as_bytes() {
                match self.ascii[b as usize] {
                    Ascii::Word(l) => sink.push_ascii_to_word(l),
                    Ascii::Space => sink.end_word(),
                    Ascii::Punct => {
                        sink.end_word();
                        sink.push_ascii_to_word(b);
                        sink.end_word();
                    }
                    Ascii::Drop => {}
                }
            }
        } else {
            // Steps 1–2 into `clean`, then NFD over the whole stretch (so that canonical
            // reordering sees the marks as Hugging Face does), 3–5 char by char.
            clean.clear();
            for c in seg.chars() {
                if c.is_ascii() {
                    match self.ascii[c as usize] {
                        Ascii::Drop => {}
                        Ascii::Space => clean.push(' '),
                        _ => clean.push(c),
                    }
                    continue;
                }
                let k = class(c);
                if k & DROPPED != 0 {
                    continue;
                }
                if k & SPACE_CHAR != 0 {
                    clean.push(' ');
                } else if k & CJK != 0 {
                    clean.push(' ');
                    clean.push(c);
                    clean.push(' ');
                } else {
                    clean.push(c);
                }
            }
            let lower = |sink: &mut Sink, c: char| {
                if !self.lowercase {
                    sink.push(c);
                } else if c.is_ascii() {
                    sink.push(c.to_ascii_lowercase());
                } else {
                    for l in c.to_lowercase() {
                        sink.push(l);
                    }
                }
            };
            if self.strip_accents {
                for c in clean.chars().nfd() {
                    if class(c) & NONSPACING_MARK == 0 {
                        lower(&mut sink, c);
                    }
                }
            } else {
                for c in clean.chars() {
                    lower(&mut sink, c);
                }
            }
        }
        sink.end_word();
    }

    /// Greedy longest-match WordPiece of one word; `word` is `▁` + the word (1..=100 chars).
    fn word_ids(&self, vocab: &Vocab, word: &[u8], out: &mut Vec<u32>) {
        let before = out.len();
        let w = &word[SPACE.len()..];
        let n = w.len();
        let boundary = |i: usize| i == n || is_char_start(w[i]);
        let mut start = 0;
        while start < n {
            let mut end = n.min(start + self.max_piece_bytes);
            while end > start && !boundary(end) {
                end -= 1;
            }
            let mut found = None;
            // A continuation spelled with a leading `▁` (a literal U+2581 in the text) would
            // read as a word-start piece; BERT vocabularies have no `##▁…` piece.
            if start > 0 && w[start..].starts_with(SPACE) {
                end = start;
            }
            while end > start {
                let key = if start == 0 {
                    &word[..SPACE.len() + end]
                } else {
                    &w[start..end]
                };
                if let Some(id) = self.lookup(vocab, key) {
                    found = Some(id);
                    break;
                }
                end -= 1;
                while end > start && !boundary(end) {
                    end -= 1;
                }
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(before);
                    out.push(self.unk_id);
                    return;
                }
            }
        }
    }

    /// ids → text as Hugging Face's `WordPiece` decoder (`cleanup: true`): pieces joined with
    /// spaces, continuations glued to the piece before; with `skip_special`, control tokens
    /// (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`) are left out.
    pub(crate) fn decode(vocab: &Vocab, ids: &[u32], skip_special: bool, out: &mut String) {
        let mut tok = String::new();
        let mut first = true;
        for &id in ids {
            let control = vocab.token_type(id) == Some(TokenType::Control);
            if skip_special && control {
                continue;
            }
            let piece = vocab.piece(id).unwrap_or("");
            tok.clear();
            match piece.strip_prefix('▁') {
                Some(rest) if !control => {
                    if !first {
                        tok.push(' ');
                    }
                    tok.push_str(rest);
                }
                _ if control => {
                    if !first {
                        tok.push(' ');
                    }
                    tok.push_str(piece);
                }
                // A continuation: glued on, or spelled `##x` at the very start.
                _ => {
                    if first {
                        tok.push_str("##");
                    }
                    tok.push_str(piece);
                }
            }
            first = false;
            out.push_str(&cleanup(&tok));
        }
    }
}

/// Hugging Face's WordPiece decoder clean-up, applied to each token with its leading space.
fn cleanup(tok: &str) -> Cow<'_, str> {
    const RULES: [(&str, &str); 11] = [
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" do not", " don't"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ];
    if !tok.contains(' ') {
        return Cow::Borrowed(tok);
    }
    let mut s = tok.to_string();
    for (from, to) in RULES {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    Cow::Owned(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_space_convention() {
        assert_eq!(hf_to_gguf_piece("hello", false), "▁hello");
        assert_eq!(hf_to_gguf_piece("##lo", false), "lo");
        assert_eq!(hf_to_gguf_piece("[CLS]", true), "[CLS]");
        assert_eq!(hf_to_gguf_piece("[unused0]", false), "▁[unused0]");
    }

    #[test]
    fn classes() {
        assert!(is_cjk('中') && is_cjk('\u{2B81F}') && is_cjk('\u{2B920}'));
        // Hugging Face's range starts at 0x2B920, not 0x2B820.
        assert!(!is_cjk('\u{2B820}') && !is_cjk('\u{2B91F}'));
        assert!(!is_cjk('あ') && !is_cjk('한'));
        assert!(is_punct('!') && is_punct('~') && is_punct('$') && is_punct('¿') && is_punct('。'));
        assert!(!is_punct('a') && !is_punct('€'));
        assert!(is_dropped('\u{200B}') && is_dropped('\u{E000}') && is_dropped('\u{85}'));
        assert!(!is_dropped('\n') && !is_dropped('a'));
        for cp in (0..0x11000).chain(0x10FF00..0x110000) {
            if let Some(c) = char::from_u32(cp) {
                assert_eq!(class(c), compute_class(c), "U+{cp:04X}");
            }
        }
    }
}
