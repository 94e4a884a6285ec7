//! SentencePiece BPE over one normalized stretch of text, in Hugging Face's merge order.
//!
//! Hugging Face's `tokenizer.json` for a SentencePiece BPE model lists as merges every split
//! `(l, r)` of every piece `p = l + r` with `l`, `r`, `p` all in the vocabulary, ranked by
//! `(score(p) desc, chars(l) desc, chars(r) desc, id(p) asc)`; the merge loop then always applies
//! the best-ranked adjacent pair, leftmost first on ties. Scores come from the SentencePiece
//! model, where control and user-defined pieces score 0 (GGUF converters overwrite those with
//! -1000, so [`BpeModel::new`] restores 0 for them). We derive the rank of a pair from the piece
//! table on the fly instead of storing half a million merges.
//!
//! The merge itself is a linked list of symbols plus a binary heap of candidate pairs with lazy
//! invalidation: O(n log n) in the length of the stretch.

use crate::vocab::Vocab;
use crate::TokenType;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const NONE: u32 = u32::MAX;
/// Longest stretch merged as one unit (positions are u32). Longer stretches are cut at a char
/// boundary, which only matters for single lines over 2 GiB.
const MAX_STRETCH: usize = 1 << 31;

#[derive(Clone, Copy)]
struct Symbol {
    /// Byte span in the normalized text.
    start: u32,
    end: u32,
    id: u32,
    prev: u32,
    next: u32,
    /// False for byte-fallback and unknown symbols, which never merge.
    mergeable: bool,
    alive: bool,
}

/// Candidate merge: (rank key, merged piece id, left symbol index); smallest first.
type Candidate = Reverse<(u64, u32, u32)>;

/// Per-thread buffers reused across calls.
#[derive(Default)]
pub(crate) struct Scratch {
    norm: String,
    syms: Vec<Symbol>,
    heap: BinaryHeap<Candidate>,
}

pub(crate) struct BpeModel {
    /// Dense rank of each piece's merge score, 0 = best (ties share a rank).
    score_rank: Vec<u32>,
}

impl BpeModel {
    pub(crate) fn new(scores: &[f32], types: &[TokenType]) -> BpeModel {
        let n = scores.len();
        // Sort (score, id) by score descending via an order-preserving integer key.
        let mut order: Vec<u64> = (0..n)
            .map(|i| {
                let s = match types[i] {
                    TokenType::Control | TokenType::UserDefined | TokenType::Unknown => 0.0,
                    _ => scores[i],
                };
                // -0.0 and 0.0 are the same score
                let s = if s == 0.0 { 0.0f32 } else { s };
                let bits = s.to_bits();
                // monotone map f32 -> u32 (ascending), then invert for descending
                let asc = if bits & 0x8000_0000 != 0 {
                    !bits
                } else {
                    bits | 0x8000_0000
                };
                ((!asc as u64) << 32) | i as u64
            })
            .collect();
        order.sort_unstable();
        let mut score_rank = vec![0u32; n];
        let mut rank = 0u32;
        let mut prev_key = None;
        for k in order {
            let key = (k >> 32) as u32;
            if prev_key.is_some_and(|p| p != key) {
                rank += 1;
            }
            prev_key = Some(key);
            score_rank[(k & 0xFFFF_FFFF) as usize] = rank;
        }
        BpeModel { score_rank }
    }

    /// Merge-order key of `l + r = p` (smaller merges first).
    #[inline]
    fn key(&self, vocab: &Vocab, p: u32, l: u32, r: u32) -> u64 {
        ((self.score_rank[p as usize] as u64) << 32)
            | ((0xFFFF - vocab.char_len(l) as u64) << 16)
            | (0xFFFF - vocab.char_len(r) as u64)
    }

    /// Appends the ids of one stretch of raw text (no added tokens inside) to `out`.
    pub(crate) fn encode_segment(
        &self,
        vocab: &Vocab,
        seg: &str,
        space_prefix: bool,
        unk_id: Option<u32>,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) {
        let Scratch { norm, syms, heap } = scratch;
        // Normalize: ' ' -> '▁' (and the optional dummy prefix).
        let text: &str = if space_prefix || seg.as_bytes().contains(&b' ') {
            norm.clear();
            if space_prefix {
                norm.push('▁');
            }
            for (i, part) in seg.split(' ').enumerate() {
                if i > 0 {
                    norm.push('▁');
                }
                norm.push_str(part);
            }
            norm
        } else {
            seg
        };
        let mut rest = text;
        while !rest.is_empty() {
            let mut cut = rest.len().min(MAX_STRETCH);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (now, later) = rest.split_at(cut);
            self.merge_stretch(vocab, now, unk_id, syms, heap, out);
            rest = later;
        }
    }

    fn merge_stretch(
        &self,
        vocab: &Vocab,
        text: &str,
        unk_id: Option<u32>,
        syms: &mut Vec<Symbol>,
        heap: &mut BinaryHeap<Candidate>,
        out: &mut Vec<u32>,
    ) {
        let bytes = text.as_bytes();
        init_symbols(vocab, text, unk_id, syms);
        match syms.len() {
            0 => return,
            1 => {
                out.push(syms[0].id);
                return;
            }
            _ => {}
        }

        // All initial candidate pairs, heapified at once.
        let mut cands = std::mem::take(heap).into_vec();
        cands.clear();
        for i in 0..syms.len().saturating_sub(1) {
            let (l, r) = (&syms[i], &syms[i + 1]);
            if l.mergeable && r.mergeable {
                if let Some(p) = vocab.lookup(&bytes[l.start as usize..r.end as usize]) {
                    cands.push(Reverse((self.key(vocab, p, l.id, r.id), p, i as u32)));
                }
            }
        }
        *heap = BinaryHeap::from(cands);

        while let Some(Reverse((_, p, pos))) = heap.pop() {
            let left = syms[pos as usize];
            if !left.alive || left.next == NONE {
                continue;
            }
            let right = syms[left.next as usize];
            // Stale if the pair at `pos` no longer spans exactly the piece `p`.
            if !right.mergeable || (right.end - left.start) as usize != vocab.piece_bytes(p).len() {
                continue;
            }
            // Merge right into left.
            let merged = Symbol {
                end: right.end,
                id: p,
                next: right.next,
                ..left
            };
            syms[pos as usize] = merged;
            syms[left.next as usize].alive = false;
            if right.next != NONE {
                syms[right.next as usize].prev = pos;
            }
            if merged.prev != NONE {
                self.push_pair(vocab, bytes, syms, merged.prev, heap);
            }
            if merged.next != NONE {
                self.push_pair(vocab, bytes, syms, pos, heap);
            }
        }

        let mut i = 0u32;
        while i != NONE {
            let s = &syms[i as usize];
            out.push(s.id);
            i = s.next;
        }
    }

    #[inline]
    fn push_pair(
        &self,
        vocab: &Vocab,
        bytes: &[u8],
        syms: &[Symbol],
        left: u32,
        heap: &mut BinaryHeap<Candidate>,
    ) {
        let l = &syms[left as usize];
        let r = &syms[l.next as usize];
        if l.mergeable && r.mergeable {
            if let Some(p) = vocab.lookup(&bytes[l.start as usize..r.end as usize]) {
                heap.push(Reverse((self.key(vocab, p, l.id, r.id), p, left)));
            }
        }
    }
}

/// One symbol per char; chars missing from the vocabulary become their `<0xNN>` byte tokens, or
/// (if a byte token is missing) one unknown token per run of such chars, as Hugging Face's BPE
/// with `byte_fallback` and `fuse_unk` does.
fn init_symbols(vocab: &Vocab, text: &str, unk_id: Option<u32>, syms: &mut Vec<Symbol>) {
    syms.clear();
    let bytes = text.as_bytes();
    let push = |syms: &mut Vec<Symbol>, start: usize, end: usize, id: u32, mergeable| {
        let idx = syms.len() as u32;
        syms.push(Symbol {
            start: start as u32,
            end: end as u32,
            id,
            prev: if idx == 0 { NONE } else { idx - 1 },
            next: idx + 1,
            mergeable,
            alive: true,
        });
    };
    let mut last_was_unk = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let len = utf8_len(b);
        let end = (i + len).min(bytes.len());
        let id = if b < 0x80 {
            vocab.ascii_id(b)
        } else {
            vocab.lookup(&bytes[i..end])
        };
        match id {
            Some(id) => {
                push(syms, i, end, id, true);
                last_was_unk = false;
            }
            None => {
                if bytes[i..end].iter().all(|&b| vocab.byte_id(b).is_some()) {
                    for (k, &b) in bytes.iter().enumerate().take(end).skip(i) {
                        let id = vocab.byte_id(b).unwrap_or(0);
                        push(syms, k, k + 1, id, false);
                    }
                    last_was_unk = false;
                } else if last_was_unk {
                    if let Some(s) = syms.last_mut() {
                        s.end = end as u32;
                    }
                } else {
                    // The loader guarantees an unknown id whenever byte tokens are missing.
                    push(syms, i, end, unk_id.unwrap_or(0), false);
                    last_was_unk = true;
                }
            }
        }
        i = end;
    }
    if let Some(s) = syms.last_mut() {
        s.next = NONE;
    }
}

#[inline]
fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}
