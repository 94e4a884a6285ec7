//! Token-for-token parity with the Hugging Face tokenizer on the reference files, loading the
//! tokenizer from the real GGUF.

use std::sync::OnceLock;
use tokenizer::Tokenizer;

fn tok() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let path = testkit::q8_0_model();
        let file = gguf::GgufFile::open(&path).expect("open model");
        Tokenizer::from_gguf(&file).expect("tokenizer from gguf")
    })
}

fn show(t: &Tokenizer, ids: &[u32]) -> String {
    ids.iter()
        .map(|&i| format!("{i}:{:?}", t.piece(i).unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn parity_lines_match_hugging_face() {
    let t = tok();
    let lines = testkit::tokenizer_parity();
    assert!(lines.len() >= 3000, "parity file has {} lines", lines.len());
    let mut bad = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let got = t.encode(&l.text);
        if got != l.token_ids {
            bad.push(format!(
                "line {}: {:?}\n  want {}\n  got  {}",
                i + 1,
                l.text.chars().take(200).collect::<String>(),
                show(t, &l.token_ids),
                show(t, &got)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} lines differ:\n{}",
        bad.len(),
        lines.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Extra Hugging Face reference lines (random multi-script text, vocabulary pieces, space runs,
/// spelled special tokens, `x> </y` which needs the one cross-word piece `>▁</`); produced by
/// `tests/data/gen_hf_extra.py` with the `tokenizers` package on the model's tokenizer.json.
#[test]
fn extra_reference_lines_match_hugging_face() {
    let t = tok();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hf_extra.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let l: testkit::ParityLine = serde_json::from_str(line).unwrap();
        let got = t.encode(&l.text);
        assert_eq!(
            got,
            l.token_ids,
            "line {}: {:?}\n  want {}\n  got  {}",
            i + 1,
            l.text,
            show(t, &l.token_ids),
            show(t, &got)
        );
        n += 1;
    }
    assert!(n > 2000);
}

#[test]
fn corpus_with_prompts_matches_hugging_face() {
    let t = tok();
    let corpus = testkit::corpus();
    let want = testkit::corpus_tokens();
    assert_eq!(corpus.len(), want.len());
    let mut n_bad = 0;
    for (c, w) in corpus.iter().zip(&want) {
        assert_eq!(c.id, w.id);
        let prompt = match &c.prompt_name {
            Some(name) => tokenizer::prompts::resolve_prompt(&[], name, None).unwrap(),
            None => String::new(),
        };
        let got = t.encode(&format!("{prompt}{}", c.text));
        if got != w.token_ids {
            n_bad += 1;
            eprintln!(
                "id {}: {:?}\n  want {}\n  got  {}",
                c.id,
                c.text.chars().take(200).collect::<String>(),
                show(t, &w.token_ids),
                show(t, &got)
            );
        }
    }
    assert_eq!(n_bad, 0, "{n_bad} corpus entries differ");
}

#[test]
fn decode_round_trips_parity_lines() {
    let t = tok();
    for (i, l) in testkit::tokenizer_parity().iter().enumerate() {
        let text = t.decode(&l.token_ids).unwrap();
        // A literal `▁` in the input decodes as a space (the tokenizer cannot tell them apart),
        // and special tokens spelled in the text are skipped like BOS/EOS.
        let mut want = l.text.replace('▁', " ");
        for s in ["<bos>", "<eos>", "<pad>", "<unk>"] {
            want = want.replace(s, "");
        }
        assert_eq!(text, want, "line {}", i + 1);
    }
}

/// `decode` / `decode_with(.., false)` against Hugging Face `decode(skip_special_tokens=True/False)`
/// on random id sequences (byte-token runs valid and invalid, control and user-defined tokens);
/// produced by `tests/data/gen_hf_decode.py`.
#[test]
fn decode_matches_hugging_face() {
    #[derive(serde::Deserialize)]
    struct Line {
        token_ids: Vec<u32>,
        decoded: String,
        decoded_all: String,
    }
    let t = tok();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hf_decode.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let l: Line = serde_json::from_str(line).unwrap();
        assert_eq!(t.decode(&l.token_ids).unwrap(), l.decoded, "line {}", i + 1);
        assert_eq!(
            t.decode_with(&l.token_ids, false).unwrap(),
            l.decoded_all,
            "line {}",
            i + 1
        );
        n += 1;
    }
    assert!(n >= 2000);
}
