//! Added tokens (control, user-defined, unknown pieces) matched verbatim in the raw text, as
//! Hugging Face's `AddedVocabulary` does: leftmost-longest, non-overlapping, before normalization.
//! A byte trie with a first-byte filter keeps the scan over ordinary text cheap.

const NONE: u32 = u32::MAX;

/// One piece of the split: an added token, or a stretch of ordinary text between them.
pub(crate) enum Piece<'t> {
    Added(u32),
    Text(&'t str),
}

struct Node {
    /// Range of this node's edges in `edges` (sorted by byte).
    first_edge: u32,
    n_edges: u32,
    /// Token ending at this node, or `NONE`.
    token: u32,
}

pub(crate) struct AddedTokens {
    nodes: Vec<Node>,
    edges: Vec<(u8, u32)>,
    /// Bytes that can start an added token.
    starts: [bool; 256],
}

impl AddedTokens {
    /// `tokens`: (text, id) in increasing id order; empty texts are ignored, on duplicate texts
    /// the first wins.
    pub(crate) fn build<'a>(tokens: impl Iterator<Item = (&'a [u8], u32)>) -> AddedTokens {
        // Build with per-node child lists, then flatten into one sorted edge array.
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut token_at: Vec<u32> = vec![NONE];
        let mut starts = [false; 256];
        for (text, id) in tokens {
            if text.is_empty() {
                continue;
            }
            starts[text[0] as usize] = true;
            let mut node = 0usize;
            for &b in text {
                node = match children[node].iter().find(|(c, _)| *c == b) {
                    Some(&(_, child)) => child as usize,
                    None => {
                        let child = children.len();
                        children.push(Vec::new());
                        token_at.push(NONE);
                        children[node].push((b, child as u32));
                        child
                    }
                };
            }
            if token_at[node] == NONE {
                token_at[node] = id;
            }
        }
        let mut nodes = Vec::with_capacity(children.len());
        let mut edges = Vec::new();
        for (mut ch, token) in children.into_iter().zip(token_at) {
            ch.sort_unstable_by_key(|e| e.0);
            nodes.push(Node {
                first_edge: edges.len() as u32,
                n_edges: ch.len() as u32,
                token,
            });
            edges.extend_from_slice(&ch);
        }
        AddedTokens {
            nodes,
            edges,
            starts,
        }
    }

    /// Longest added token starting at `text[0]`: (id, byte length).
    #[inline]
    fn longest_match(&self, text: &[u8]) -> Option<(u32, usize)> {
        let mut node = 0usize;
        let mut best = None;
        for (i, &b) in text.iter().enumerate() {
            let n = &self.nodes[node];
            let edges = &self.edges[n.first_edge as usize..(n.first_edge + n.n_edges) as usize];
            match edges.binary_search_by_key(&b, |e| e.0) {
                Ok(k) => node = edges[k].1 as usize,
                Err(_) => break,
            }
            let t = self.nodes[node].token;
            if t != NONE {
                best = Some((t, i + 1));
            }
        }
        best
    }

    /// Calls `emit` for each added token and each non-empty text stretch, in order.
    pub(crate) fn split<'t>(&self, text: &'t str, mut emit: impl FnMut(Piece<'t>)) {
        let bytes = text.as_bytes();
        let mut seg_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if self.starts[bytes[i] as usize] {
                if let Some((id, len)) = self.longest_match(&bytes[i..]) {
                    if seg_start < i {
                        emit(Piece::Text(&text[seg_start..i]));
                    }
                    emit(Piece::Added(id));
                    i += len;
                    seg_start = i;
                    continue;
                }
            }
            i += 1;
        }
        if seg_start < bytes.len() {
            emit(Piece::Text(&text[seg_start..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &AddedTokens, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        a.split(text, |p| match p {
            Piece::Added(id) => out.push(format!("#{id}")),
            Piece::Text(t) => out.push(t.to_string()),
        });
        out
    }

    #[test]
    fn leftmost_longest() {
        let toks: [(&[u8], u32); 5] = [
            (b"<eos>", 1),
            (b"\n", 10),
            (b"\n\n", 11),
            (b"<e", 12),
            (b"", 13),
        ];
        let a = AddedTokens::build(toks.into_iter());
        assert_eq!(run(&a, "a<eos>b"), ["a", "#1", "b"]);
        assert_eq!(run(&a, "\n\n\n"), ["#11", "#10"]);
        assert_eq!(run(&a, "<eo"), ["#12", "o"]);
        assert_eq!(run(&a, "<<eos>>"), ["<", "#1", ">"]);
        assert_eq!(run(&a, ""), Vec::<String>::new());
        assert_eq!(run(&a, "héllo"), ["héllo"]);
    }
}
