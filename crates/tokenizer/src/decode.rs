//! ids -> text: Hugging Face's Gemma decoder (`Replace ▁→' '`, `ByteFallback`, `Fuse`) for
//! SentencePiece, its `WordPiece` decoder for WordPiece.

use crate::{Algo, Tokenizer, TokenizerError};

pub(crate) fn decode(
    t: &Tokenizer,
    ids: &[u32],
    skip_special: bool,
) -> Result<String, TokenizerError> {
    let vocab = &t.vocab;
    if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab.len()) {
        return Err(TokenizerError::IdOutOfRange {
            id,
            vocab_size: vocab.len(),
        });
    }
    let mut out = String::new();
    if let Algo::WordPiece(_) = t.algo {
        crate::wordpiece::WordPiece::decode(vocab, ids, skip_special, &mut out);
        return Ok(out);
    }
    // Pending run of byte-fallback tokens.
    let mut bytes: Vec<u8> = Vec::new();
    for &id in ids {
        if skip_special && t.is_skipped_in_decode(id) {
            continue;
        }
        if let Some(b) = vocab.byte_value(id) {
            bytes.push(b);
            continue;
        }
        flush_bytes(&mut bytes, &mut out);
        let piece = vocab.piece(id).unwrap_or("");
        for (i, part) in piece.split('▁').enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(part);
        }
    }
    flush_bytes(&mut bytes, &mut out);
    Ok(out)
}

/// A run of byte tokens becomes its UTF-8 text, or one U+FFFD per byte if it is not valid UTF-8.
fn flush_bytes(bytes: &mut Vec<u8>, out: &mut String) {
    if bytes.is_empty() {
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => {
            for _ in 0..bytes.len() {
                out.push('\u{FFFD}');
            }
        }
    }
    bytes.clear();
}

impl Tokenizer {
    /// The tokens Hugging Face marks `special` for a SentencePiece model: BOS, EOS, PAD, UNK.
    fn is_skipped_in_decode(&self, id: u32) -> bool {
        id == self.bos_id || id == self.eos_id || Some(id) == self.pad_id || Some(id) == self.unk_id
    }
}
