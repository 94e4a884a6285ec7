//! A minimal reader for SentencePiece's `tokenizer.model` (a protobuf `ModelProto`): only the
//! `pieces` field (1) is decoded, each as `{ piece: string = 1, score: float = 2, type: enum = 3 }`.
//! Every other field is skipped by wire type. Errors name the byte offset.

/// `SentencePiece.Type` from sentencepiece_model.proto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_proto(v: u64) -> Option<Self> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// What went wrong, and at which byte of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError {
    pub offset: usize,
    pub problem: String,
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.problem)
    }
}

const WIRE_VARINT: u64 = 0;
const WIRE_I64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_I32: u64 = 5;

/// A bounds-checked cursor over one protobuf message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the whole file, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, problem: impl Into<String>) -> ProtoError {
        ProtoError {
            offset: self.base + self.pos,
            problem: problem.into(),
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                self.pos = start;
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.pos = start;
        Err(self.err("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                self.err(format!(
                    "field of {n} bytes runs past the end ({} bytes left)",
                    self.buf.len() - self.pos
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Reads a length-delimited field's payload; returns it with its offset in the file.
    fn len_delimited(&mut self) -> Result<(usize, &'a [u8]), ProtoError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| self.err("length does not fit in memory"))?;
        let off = self.base + self.pos;
        Ok((off, self.take(n)?))
    }

    fn skip(&mut self, wire: u64) -> Result<(), ProtoError> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_I64 => self.take(8).map(drop),
            WIRE_LEN => self.len_delimited().map(drop),
            WIRE_I32 => self.take(4).map(drop),
            other => Err(self.err(format!("unsupported protobuf wire type {other}"))),
        }
    }
}

/// Decodes the pieces of a SentencePiece `ModelProto`, in id order.
pub fn parse_pieces(buf: &[u8]) -> Result<Vec<Piece>, ProtoError> {
    let mut r = Reader {
        buf,
        pos: 0,
        base: 0,
    };
    let mut pieces = Vec::new();
    while !r.done() {
        let key = r.varint()?;
        let (field, wire) = (key >> 3, key & 7);
        if field == 1 {
            if wire != WIRE_LEN {
                return Err(r.err(format!(
                    "ModelProto.pieces has wire type {wire}, expected 2"
                )));
            }
            let (off, msg) = r.len_delimited()?;
            pieces.push(parse_piece(msg, off, pieces.len())?);
        } else {
            r.skip(wire)?;
        }
    }
    if pieces.is_empty() {
        return Err(ProtoError {
            offset: 0,
            problem: "no pieces: not a SentencePiece model".into(),
        });
    }
    Ok(pieces)
}

fn parse_piece(buf: &[u8], base: usize, id: usize) -> Result<Piece, ProtoError> {
    let mut r = Reader { buf, pos: 0, base };
    let mut piece = None;
    let mut score = 0.0f32;
    let mut kind = PieceType::Normal;
    while !r.done() {
        let key = r.varint()?;
        match (key >> 3, key & 7) {
            (1, WIRE_LEN) => {
                let (off, bytes) = r.len_delimited()?;
                let s = std::str::from_utf8(bytes).map_err(|e| ProtoError {
                    offset: off,
                    problem: format!("piece {id} is not valid UTF-8 ({e})"),
                })?;
                piece = Some(s.to_owned());
            }
            (2, WIRE_I32) => {
                let b = r.take(4)?;
                score = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            (3, WIRE_VARINT) => {
                let v = r.varint()?;
                kind = PieceType::from_proto(v)
                    .ok_or_else(|| r.err(format!("piece {id} has unknown type {v}")))?;
            }
            (_, wire) => r.skip(wire)?,
        }
    }
    let piece = piece.ok_or_else(|| ProtoError {
        offset: base,
        problem: format!("piece {id} has no text"),
    })?;
    Ok(Piece { piece, score, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn piece(text: &str, score: Option<f32>, kind: Option<u64>) -> Vec<u8> {
        let mut m = vec![0x0a];
        varint(text.len() as u64, &mut m);
        m.extend_from_slice(text.as_bytes());
        if let Some(s) = score {
            m.push(0x15);
            m.extend_from_slice(&s.to_le_bytes());
        }
        if let Some(k) = kind {
            m.push(0x18);
            varint(k, &mut m);
        }
        let mut out = vec![0x0a];
        varint(m.len() as u64, &mut out);
        out.extend(m);
        out
    }

    #[test]
    fn decodes_pieces_and_skips_other_fields() {
        let mut buf = piece("<unk>", Some(0.0), Some(2));
        buf.extend(piece("▁a", Some(-1.5), None));
        // trainer_spec (field 2, a message) and an unknown varint field 9
        buf.extend([0x12, 0x02, 0x08, 0x01, 0x48, 0x05]);
        buf.extend(piece("<0x00>", None, Some(6)));
        let p = parse_pieces(&buf).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].kind, PieceType::Unknown);
        assert_eq!(p[1].piece, "▁a");
        assert_eq!(p[1].score, -1.5);
        assert_eq!(p[1].kind, PieceType::Normal);
        assert_eq!(p[2].score, 0.0);
        assert_eq!(p[2].kind, PieceType::Byte);
    }

    #[test]
    fn truncation_names_the_offset() {
        let buf = piece("hello", Some(1.0), Some(1));
        let cut = &buf[..buf.len() - 2];
        let e = parse_pieces(cut).unwrap_err();
        assert!(e.problem.contains("past the end"), "{e}");
        assert_eq!(e.offset, 2);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(parse_pieces(b"").is_err());
        assert!(parse_pieces(&[0x0b, 0x00]).is_err()); // wire type 3 (group)
        assert!(parse_pieces(b"{\"not\": \"protobuf\"}").is_err());
    }
}
