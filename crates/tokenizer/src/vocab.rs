//! The piece table: every piece's text in one buffer, an open-addressing hash index from text to
//! id (no `String` per token), and per-token type and length.

use crate::TokenType;

const EMPTY: u32 = u32::MAX;

/// One hash slot: the key's first 8 bytes inline, and `id | len << 32 | tag << 40` (len
/// saturated at 255, tag = 24 hash bits). Keys of up to 8 bytes (most pieces) are compared
/// without touching the piece text, so a probe costs one cache line.
#[derive(Clone, Copy)]
struct Slot {
    head: u64,
    meta: u64,
}

const FREE: Slot = Slot {
    head: 0,
    meta: u64::MAX,
};

/// The first 8 bytes of `key`, zero-padded.
#[inline]
fn head8(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_le_bytes(b)
}

/// The `len | tag << 8` half of a slot's meta for a key with hash `h`.
#[inline]
fn check_bits(key: &[u8], h: u64) -> u64 {
    (key.len().min(255) as u64) | ((h >> 40) << 8)
}

pub(crate) struct Vocab {
    /// All pieces back to back; piece `i` is `text[offsets[i]..offsets[i + 1]]`.
    text: String,
    offsets: Vec<u32>, // [n + 1]
    types: Vec<TokenType>,
    /// Length of each piece in chars (saturating), used by the merge order.
    char_len: Vec<u16>,
    /// Open addressing, linear probing, power-of-two size.
    slots: Vec<Slot>,
    mask: usize,
    /// Id of each single ASCII char piece, `EMPTY` if absent (fast path of the BPE start).
    ascii: [u32; 128],
    /// Id of the `<0xNN>` byte token for each byte value, `EMPTY` if absent.
    byte_ids: [u32; 256],
    /// Byte value of each byte-fallback token (`<0xNN>`), by id; absent for other tokens.
    byte_of: Vec<i16>,
}

/// A fast non-cryptographic hash of a short byte string (8 bytes per step, multiply-rotate).
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(K);
    }
    // final avalanche so the low bits (the slot index) depend on every input bit
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

impl Vocab {
    /// `pieces` yields each piece's text in id order. On duplicate texts the lowest id wins.
    pub(crate) fn build<'a>(
        pieces: impl ExactSizeIterator<Item = std::borrow::Cow<'a, str>>,
        types: Vec<TokenType>,
        total_bytes: usize,
    ) -> Vocab {
        let n = pieces.len();
        let mut text = String::with_capacity(total_bytes);
        let mut offsets = Vec::with_capacity(n + 1);
        let mut char_len = Vec::with_capacity(n);
        offsets.push(0u32);
        for p in pieces {
            text.push_str(&p);
            offsets.push(text.len() as u32);
            // chars = bytes that are not UTF-8 continuation bytes
            let chars = p.bytes().filter(|&b| (b & 0xC0) != 0x80).count();
            char_len.push(chars.min(u16::MAX as usize) as u16);
        }
        let cap = (n * 2).next_power_of_two().max(16);
        let mut v = Vocab {
            text,
            offsets,
            types,
            char_len,
            slots: vec![FREE; cap],
            mask: cap - 1,
            ascii: [EMPTY; 128],
            byte_ids: [EMPTY; 256],
            byte_of: vec![-1; n],
        };
        for id in 0..n as u32 {
            v.insert(id);
        }
        for c in 0..128u8 {
            if let Some(id) = v.lookup(&[c]) {
                v.ascii[c as usize] = id;
            }
        }
        for id in 0..n as u32 {
            if v.types[id as usize] == TokenType::Byte {
                if let Some(b) = parse_byte_piece(v.piece_bytes(id)) {
                    v.byte_of[id as usize] = b as i16;
                    if v.byte_ids[b as usize] == EMPTY {
                        v.byte_ids[b as usize] = id;
                    }
                }
            }
        }
        v
    }

    fn insert(&mut self, id: u32) {
        let key = self.piece_bytes(id);
        let h = hash_bytes(key);
        let (head, check) = (head8(key), check_bits(key, h));
        let mut i = h as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s.meta == FREE.meta {
                self.slots[i] = Slot {
                    head,
                    meta: id as u64 | (check << 32),
                };
                return;
            }
            if s.head == head
                && s.meta >> 32 == check
                && (key.len() <= 8 || self.piece_bytes(s.meta as u32) == key)
            {
                return; // duplicate text: keep the lower id
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<u32> {
        let h = hash_bytes(key);
        let (head, check) = (head8(key), check_bits(key, h));
        let mut i = h as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s.meta == FREE.meta {
                return None;
            }
            if s.head == head
                && s.meta >> 32 == check
                && (key.len() <= 8 || self.piece_bytes(s.meta as u32) == key)
            {
                return Some(s.meta as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub(crate) fn piece_bytes(&self, id: u32) -> &[u8] {
        let (a, b) = (
            self.offsets[id as usize] as usize,
            self.offsets[id as usize + 1] as usize,
        );
        &self.text.as_bytes()[a..b]
    }

    pub(crate) fn piece(&self, id: u32) -> Option<&str> {
        if (id as usize) < self.len() {
            let (a, b) = (
                self.offsets[id as usize] as usize,
                self.offsets[id as usize + 1] as usize,
            );
            Some(&self.text[a..b])
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.types.len()
    }

    pub(crate) fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    #[inline]
    pub(crate) fn char_len(&self, id: u32) -> u16 {
        self.char_len[id as usize]
    }

    /// Id of the single-char piece for an ASCII byte, if the vocabulary has one.
    #[inline]
    pub(crate) fn ascii_id(&self, b: u8) -> Option<u32> {
        let id = self.ascii[b as usize & 127];
        (id != EMPTY).then_some(id)
    }

    #[inline]
    pub(crate) fn byte_id(&self, b: u8) -> Option<u32> {
        let id = self.byte_ids[b as usize];
        (id != EMPTY).then_some(id)
    }

    /// The byte a `<0xNN>` byte-fallback token stands for.
    #[inline]
    pub(crate) fn byte_value(&self, id: u32) -> Option<u8> {
        let b = self.byte_of[id as usize];
        (b >= 0).then_some(b as u8)
    }
}

/// `<0xNN>` → NN.
fn parse_byte_piece(p: &[u8]) -> Option<u8> {
    if p.len() == 6 && p.starts_with(b"<0x") && p[5] == b'>' {
        let hex = std::str::from_utf8(&p[3..5]).ok()?;
        u8::from_str_radix(hex, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn lookup_finds_every_piece_and_rejects_others() {
        let pieces = ["a", "b", "ab", "▁", "<0x41>", "a"];
        let types = vec![
            TokenType::Normal,
            TokenType::Normal,
            TokenType::Normal,
            TokenType::Normal,
            TokenType::Byte,
            TokenType::Normal,
        ];
        let v = Vocab::build(pieces.iter().map(|p| Cow::Borrowed(*p)), types, 0);
        assert_eq!(v.lookup(b"a"), Some(0)); // duplicate: lowest id wins
        assert_eq!(v.lookup(b"ab"), Some(2));
        assert_eq!(v.lookup("▁".as_bytes()), Some(3));
        assert_eq!(v.lookup(b"abc"), None);
        assert_eq!(v.lookup(b""), None);
        assert_eq!(v.ascii_id(b'b'), Some(1));
        assert_eq!(v.ascii_id(b'c'), None);
        assert_eq!(v.byte_id(0x41), Some(4));
        assert_eq!(v.byte_value(4), Some(0x41));
        assert_eq!(v.byte_value(2), None);
        assert_eq!(v.piece(3), Some("▁"));
        assert_eq!(v.piece(6), None);
        assert_eq!(v.char_len(3), 1);
    }
}
