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
//! A stretch is first cut into words that merge independently ([`BpeModel::for_each_word`]);
//! repeated words come from a per-thread cache. Short words merge by linear scans, long ones
//! (e.g. CJK lines without spaces) with a linked list of symbols plus a binary heap of candidate
//! pairs with lazy invalidation: O(n log n) in the length of the word.

use crate::cache::{Caches, MAX_CACHED_WORD};
use crate::vocab::{hash_bytes, Vocab};
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

/// Candidate merge: (rank key, merged piece id, left symbol index, end of the merged span);
/// smallest first.
type Candidate = Reverse<(u64, u32, u32, u32)>;

/// Per-thread buffers and memo tables reused across calls.
#[derive(Default)]
pub(crate) struct Scratch {
    norm: String,
    syms: Vec<Symbol>,
    heap: BinaryHeap<Candidate>,
    caches: Caches,
}

impl Scratch {
    /// Makes the memo tables valid for tokenizer `owner`.
    pub(crate) fn claim(&mut self, owner: u64) {
        self.caches.claim(owner);
    }

    /// Gives back memory after an unusually long input (a 1 MB line needs ~50 MB of symbols
    /// and heap), so a thread does not keep it for good.
    pub(crate) fn trim(&mut self) {
        const KEEP: usize = 1 << 16;
        if self.norm.capacity() > 16 * KEEP {
            self.norm = String::new();
        }
        if self.syms.capacity() > KEEP {
            self.syms = Vec::new();
        }
        if self.heap.capacity() > KEEP {
            self.heap = BinaryHeap::new();
        }
    }
}

pub(crate) struct BpeModel {
    /// Rank of each piece's merge score, smaller = merges first (ties share a rank).
    score_rank: Vec<u32>,
    /// Pieces with a `▁` right after a non-`▁` char, with the byte offsets of those `▁`s: the
    /// only pieces that can span a word boundary (see [`BpeModel::for_each_word`]).
    cross_pieces: Vec<CrossPiece>,
    /// False if the vocabulary has too many such pieces to check cheaply: no word splitting.
    split_words: bool,
}

/// A piece that can span a word cut, and the byte offsets of its `▁`s that follow a non-`▁`.
type CrossPiece = (Box<[u8]>, Box<[usize]>);

/// Words of at most this many symbols merge by linear scans instead of a heap.
const SMALL_WORD: usize = 32;
/// The normalized space.
const SPACE: &[u8] = "▁".as_bytes();
/// Beyond this many boundary-crossing pieces, merge whole stretches instead of words.
const MAX_CROSS_PIECES: usize = 64;

impl BpeModel {
    pub(crate) fn new(scores: &[f32], types: &[TokenType], vocab: &Vocab) -> BpeModel {
        // The rank needs only the order of scores: an order-reversing map f32 -> u32 does it
        // without sorting (equal scores share a rank; -0.0 = 0.0).
        let score_rank = scores
            .iter()
            .zip(types)
            .map(|(&s, t)| {
                let s = match t {
                    TokenType::Control | TokenType::UserDefined | TokenType::Unknown => 0.0,
                    _ if s == 0.0 => 0.0,
                    _ => s,
                };
                let bits = s.to_bits();
                let ascending = if bits & 0x8000_0000 != 0 {
                    !bits
                } else {
                    bits | 0x8000_0000
                };
                !ascending
            })
            .collect();
        let mut cross_pieces = Vec::new();
        for id in 0..vocab.len() as u32 {
            let p = vocab.piece_bytes(id);
            if p.len() < 2 || !p[1..].contains(&SPACE[0]) {
                continue;
            }
            let ks: Vec<usize> = (1..p.len())
                .filter(|&k| p[k..].starts_with(SPACE) && !p[..k].ends_with(SPACE))
                .collect();
            if !ks.is_empty() {
                cross_pieces.push((p.into(), ks.into()));
            }
        }
        let split_words = cross_pieces.len() <= MAX_CROSS_PIECES;
        if !split_words {
            cross_pieces.clear();
        }
        BpeModel {
            score_rank,
            cross_pieces,
            split_words,
        }
    }

    /// Splits a normalized stretch into words that merge independently: a cut goes before each
    /// `▁` that follows a non-`▁` char. No merge can cross such a cut unless some piece contains
    /// "non-`▁` char, `▁`" and matches the text there (Gemma has one: `>▁</`), so those places
    /// are checked and left uncut. The result equals merging the whole stretch, with small heaps.
    fn for_each_word<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) {
        let b = text.as_bytes();
        if !self.split_words {
            f(text);
            return;
        }
        let mut start = 0;
        let mut i = 1;
        while i + SPACE.len() <= b.len() {
            if b[i] == SPACE[0]
                && b[i..].starts_with(SPACE)
                && !b[..i].ends_with(SPACE)
                && self.can_cut(b, i)
            {
                f(&text[start..i]);
                start = i;
            }
            i += 1;
        }
        f(&text[start..]);
    }

    /// No boundary-crossing piece matches `b` with one of its inner `▁`s at `at`.
    fn can_cut(&self, b: &[u8], at: usize) -> bool {
        !self
            .cross_pieces
            .iter()
            .any(|(p, ks)| ks.iter().any(|&k| at >= k && b[at - k..].starts_with(p)))
    }

    /// Merge-order key of `l + r = p` (smaller merges first).
    #[inline]
    fn key(&self, vocab: &Vocab, p: u32, l: u32, r: u32) -> u64 {
        ((self.score_rank[p as usize] as u64) << 32)
            | ((0xFFFF - vocab.char_len(l) as u64) << 16)
            | (0xFFFF - vocab.char_len(r) as u64)
    }

    /// The candidate for adjacent symbols `l`, `r`: (rank key, merged piece), if they merge.
    #[inline]
    fn pair(
        &self,
        vocab: &Vocab,
        bytes: &[u8],
        caches: &mut Caches,
        l: &Symbol,
        r: &Symbol,
    ) -> Option<(u64, u32)> {
        if !(l.mergeable && r.mergeable) {
            return None;
        }
        if let Some(answer) = caches.get_pair(l.id, r.id) {
            return answer;
        }
        let answer = vocab
            .lookup(&bytes[l.start as usize..r.end as usize])
            .map(|p| (self.key(vocab, p, l.id, r.id), p));
        caches.put_pair(l.id, r.id, answer);
        answer
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
        let Scratch {
            norm,
            syms,
            heap,
            caches,
        } = scratch;
        // Normalize: ' ' -> '▁' (and the optional dummy prefix).
        let text: &str = if space_prefix || seg.as_bytes().contains(&b' ') {
            norm.clear();
            if space_prefix {
                norm.push('▁');
            }
            let mut last = 0;
            for (i, &b) in seg.as_bytes().iter().enumerate() {
                if b == b' ' {
                    norm.push_str(&seg[last..i]);
                    norm.push('▁');
                    last = i + 1;
                }
            }
            norm.push_str(&seg[last..]);
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
            self.for_each_word(now, |word| {
                let w = word.as_bytes();
                if w.len() <= MAX_CACHED_WORD {
                    let h = hash_bytes(w);
                    if let Some(ids) = caches.get_word(w, h) {
                        out.extend_from_slice(ids);
                        return;
                    }
                    let before = out.len();
                    self.merge_word(vocab, word, unk_id, syms, heap, caches, out);
                    caches.put_word(w, h, &out[before..]);
                } else {
                    self.merge_word(vocab, word, unk_id, syms, heap, caches, out);
                }
            });
            rest = later;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn merge_word(
        &self,
        vocab: &Vocab,
        text: &str,
        unk_id: Option<u32>,
        syms: &mut Vec<Symbol>,
        heap: &mut BinaryHeap<Candidate>,
        caches: &mut Caches,
        out: &mut Vec<u32>,
    ) {
        let bytes = text.as_bytes();
        init_symbols(vocab, text, unk_id, caches, syms);
        match syms.len() {
            0 => {}
            1 => out.push(syms[0].id),
            n if n <= SMALL_WORD => self.merge_small(vocab, bytes, caches, syms, out),
            _ => self.merge_heap(vocab, bytes, caches, syms, heap, out),
        }
    }

    /// The merge loop with a heap of candidates (lazy invalidation).
    fn merge_heap(
        &self,
        vocab: &Vocab,
        bytes: &[u8],
        caches: &mut Caches,
        syms: &mut [Symbol],
        heap: &mut BinaryHeap<Candidate>,
        out: &mut Vec<u32>,
    ) {
        // All initial candidate pairs, heapified at once.
        let mut cands = std::mem::take(heap).into_vec();
        cands.clear();
        for i in 0..syms.len() - 1 {
            let (l, r) = (&syms[i], &syms[i + 1]);
            if let Some((key, p)) = self.pair(vocab, bytes, caches, l, r) {
                cands.push(Reverse((key, p, i as u32, r.end)));
            }
        }
        *heap = BinaryHeap::from(cands);

        while let Some(Reverse((_, p, pos, end))) = heap.pop() {
            let left = syms[pos as usize];
            if !left.alive || left.next == NONE {
                continue;
            }
            let right = syms[left.next as usize];
            // Stale unless the pair at `pos` still spans exactly the text of `p`.
            if !right.mergeable || right.end != end {
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
                self.push_pair(vocab, bytes, caches, syms, merged.prev, heap);
            }
            if merged.next != NONE {
                self.push_pair(vocab, bytes, caches, syms, pos, heap);
            }
        }

        let mut i = 0u32;
        while i != NONE {
            let s = &syms[i as usize];
            out.push(s.id);
            i = s.next;
        }
    }

    /// The same merge order for a short word without a heap: each step scans the current pairs
    /// (linked list, position order) for the smallest (rank key, piece); the first wins ties.
    fn merge_small(
        &self,
        vocab: &Vocab,
        bytes: &[u8],
        caches: &mut Caches,
        syms: &mut [Symbol],
        out: &mut Vec<u32>,
    ) {
        const NO: (u64, u32) = (u64::MAX, NONE);
        // cand[i]: the candidate for the pair (i, syms[i].next)
        let mut cand = [NO; SMALL_WORD];
        for i in 0..syms.len() - 1 {
            cand[i] = self
                .pair(vocab, bytes, caches, &syms[i], &syms[i + 1])
                .unwrap_or(NO);
        }
        loop {
            let (mut best, mut best_c) = (NONE, NO);
            let mut i = 0u32;
            while i != NONE {
                if cand[i as usize] < best_c {
                    best_c = cand[i as usize];
                    best = i;
                }
                i = syms[i as usize].next;
            }
            if best == NONE {
                break;
            }
            let b = best as usize;
            let r = syms[b].next as usize;
            let (r_end, r_next) = (syms[r].end, syms[r].next);
            syms[b].end = r_end;
            syms[b].id = best_c.1;
            syms[b].next = r_next;
            cand[b] = NO;
            if r_next != NONE {
                syms[r_next as usize].prev = best;
                cand[b] = self
                    .pair(vocab, bytes, caches, &syms[b], &syms[r_next as usize])
                    .unwrap_or(NO);
            }
            let p = syms[b].prev;
            if p != NONE {
                cand[p as usize] = self
                    .pair(vocab, bytes, caches, &syms[p as usize], &syms[b])
                    .unwrap_or(NO);
            }
        }
        let mut i = 0u32;
        while i != NONE {
            out.push(syms[i as usize].id);
            i = syms[i as usize].next;
        }
    }

    #[inline]
    fn push_pair(
        &self,
        vocab: &Vocab,
        bytes: &[u8],
        caches: &mut Caches,
        syms: &[Symbol],
        left: u32,
        heap: &mut BinaryHeap<Candidate>,
    ) {
        let l = &syms[left as usize];
        let r = &syms[l.next as usize];
        if let Some((key, p)) = self.pair(vocab, bytes, caches, l, r) {
            heap.push(Reverse((key, p, left, r.end)));
        }
    }
}

/// One symbol per char; chars missing from the vocabulary become their `<0xNN>` byte tokens, or
/// (if a byte token is missing) one unknown token per run of such chars, as Hugging Face's BPE
/// with `byte_fallback` and `fuse_unk` does.
fn init_symbols(
    vocab: &Vocab,
    text: &str,
    unk_id: Option<u32>,
    caches: &mut Caches,
    syms: &mut Vec<Symbol>,
) {
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
            // cache key: the char's UTF-8 bytes packed into a u32
            let mut packed = [0u8; 4];
            packed[..end - i].copy_from_slice(&bytes[i..end]);
            let c = u32::from_le_bytes(packed);
            match caches.get_char(c) {
                Some(answer) => answer,
                None => {
                    let found = vocab.lookup(&bytes[i..end]);
                    caches.put_char(c, found);
                    found
                }
            }
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
