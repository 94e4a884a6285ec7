//! Per-thread memo tables for the BPE: they only remember answers, so results never depend on
//! them. Each is direct-mapped (a new entry evicts the old one in its slot).

const NONE: u32 = u32::MAX;

/// Entries of the pair cache (a power of two).
const PAIR_SLOTS: usize = 1 << 14;
/// Entries of the char cache (a power of two).
const CHAR_SLOTS: usize = 1 << 12;
/// Entries of the word cache (a power of two; 16 bytes each).
const WORD_SLOTS: usize = 1 << 16;
/// Longest word (bytes) the word cache keeps.
pub(crate) const MAX_CACHED_WORD: usize = 64;
/// The word cache's arenas are emptied when they grow past these sizes.
const WORD_ARENA_BYTES: usize = 1 << 20;
const WORD_ARENA_IDS: usize = 1 << 18;

/// Adjacent pair `(l, r)` by id -> merged piece and its rank key (`p == NONE`: no merge).
#[derive(Clone, Copy)]
struct PairEntry {
    pair: u64,
    key: u64,
    p: u32,
}

#[derive(Clone, Copy, Default)]
struct WordEntry {
    /// High half of the word's hash (the low bits pick the slot).
    tag: u32,
    word_off: u32,
    ids_off: u32,
    word_len: u16,
    /// 0 = empty slot (a word always has at least one id).
    ids_len: u16,
}

/// All memo tables of one thread, valid for one tokenizer (`owner`).
#[derive(Default)]
pub(crate) struct Caches {
    owner: u64,
    pairs: Vec<PairEntry>,
    chars: Vec<(u32, u32)>,
    words: Vec<WordEntry>,
    word_bytes: Vec<u8>,
    word_ids: Vec<u32>,
}

impl Caches {
    /// Makes the tables valid for tokenizer `owner`, emptying them if they held another's.
    pub(crate) fn claim(&mut self, owner: u64) {
        if self.owner == owner && !self.pairs.is_empty() {
            return;
        }
        self.owner = owner;
        let empty_pair = PairEntry {
            pair: u64::MAX,
            key: 0,
            p: NONE,
        };
        self.pairs.clear();
        self.pairs.resize(PAIR_SLOTS, empty_pair);
        self.chars.clear();
        self.chars.resize(CHAR_SLOTS, (u32::MAX, NONE));
        self.clear_words();
    }

    fn clear_words(&mut self) {
        self.words.clear();
        self.words.resize(WORD_SLOTS, WordEntry::default());
        self.word_bytes.clear();
        self.word_ids.clear();
    }

    #[inline]
    fn pair_slot(pair: u64) -> usize {
        (pair.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50) as usize & (PAIR_SLOTS - 1)
    }

    /// `Some(answer)` if the pair is cached; the answer is `None` for "does not merge".
    #[inline]
    pub(crate) fn get_pair(&self, l: u32, r: u32) -> Option<Option<(u64, u32)>> {
        let pair = ((l as u64) << 32) | r as u64;
        let e = self.pairs[Self::pair_slot(pair)];
        (e.pair == pair).then_some((e.p != NONE).then_some((e.key, e.p)))
    }

    #[inline]
    pub(crate) fn put_pair(&mut self, l: u32, r: u32, answer: Option<(u64, u32)>) {
        let pair = ((l as u64) << 32) | r as u64;
        let (key, p) = answer.unwrap_or((0, NONE));
        self.pairs[Self::pair_slot(pair)] = PairEntry { pair, key, p };
    }

    /// `c` is a non-ASCII char's UTF-8 bytes packed little-endian into a u32.
    #[inline]
    pub(crate) fn get_char(&self, c: u32) -> Option<Option<u32>> {
        let (k, v) = self.chars[Self::char_slot(c)];
        (k == c).then_some((v != NONE).then_some(v))
    }

    #[inline]
    pub(crate) fn put_char(&mut self, c: u32, id: Option<u32>) {
        self.chars[Self::char_slot(c)] = (c, id.unwrap_or(NONE));
    }

    #[inline]
    fn char_slot(c: u32) -> usize {
        (c.wrapping_mul(0x9E37_79B1) >> 20) as usize & (CHAR_SLOTS - 1)
    }

    /// The ids of a cached word with hash `h`.
    #[inline]
    pub(crate) fn get_word(&self, word: &[u8], h: u64) -> Option<&[u32]> {
        let e = &self.words[h as usize & (WORD_SLOTS - 1)];
        if e.ids_len == 0 || e.tag != (h >> 32) as u32 || e.word_len as usize != word.len() {
            return None;
        }
        let (wo, io) = (e.word_off as usize, e.ids_off as usize);
        let w = &self.word_bytes[wo..wo + e.word_len as usize];
        (w == word).then(|| &self.word_ids[io..io + e.ids_len as usize])
    }

    pub(crate) fn put_word(&mut self, word: &[u8], h: u64, ids: &[u32]) {
        if ids.is_empty() || ids.len() > u16::MAX as usize || word.len() > MAX_CACHED_WORD {
            return;
        }
        if self.word_bytes.len() + word.len() > WORD_ARENA_BYTES
            || self.word_ids.len() + ids.len() > WORD_ARENA_IDS
        {
            self.clear_words();
        }
        let e = WordEntry {
            tag: (h >> 32) as u32,
            word_off: self.word_bytes.len() as u32,
            ids_off: self.word_ids.len() as u32,
            word_len: word.len() as u16,
            ids_len: ids.len() as u16,
        };
        self.word_bytes.extend_from_slice(word);
        self.word_ids.extend_from_slice(ids);
        self.words[h as usize & (WORD_SLOTS - 1)] = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets() {
        let mut c = Caches::default();
        c.claim(1);
        assert_eq!(c.get_pair(3, 4), None);
        c.put_pair(3, 4, Some((7, 9)));
        c.put_pair(3, 5, None);
        assert_eq!(c.get_pair(3, 4), Some(Some((7, 9))));
        assert_eq!(c.get_pair(3, 5), Some(None));
        c.put_char(0xA9C3, Some(12));
        assert_eq!(c.get_char(0xA9C3), Some(Some(12)));
        c.put_word(b"hello", 42, &[1, 2]);
        assert_eq!(c.get_word(b"hello", 42), Some(&[1u32, 2][..]));
        assert_eq!(c.get_word(b"hellp", 42), None);
        c.claim(1);
        assert_eq!(c.get_pair(3, 4), Some(Some((7, 9))));
        c.claim(2); // another tokenizer: everything forgotten
        assert_eq!(c.get_pair(3, 4), None);
        assert_eq!(c.get_char(0xA9C3), None);
        assert_eq!(c.get_word(b"hello", 42), None);
    }
}
