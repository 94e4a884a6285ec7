//! WordPiece ("bert") parity with Hugging Face's all-MiniLM-L6-v2 tokenizer, and robustness.
//!
//! The vocabulary comes from `tests/data/minilm/vocab.txt` (Hugging Face's order, turned into
//! llama.cpp's phantom-space convention here), so these tests run without the model; the GGUF
//! at `$GGUFEMBED_MINILM` is checked too when that variable is set.

use proptest::prelude::*;
use std::sync::OnceLock;
use tokenizer::{
    hf_to_gguf_piece, Tokenizer, TokenizerError, TokenizerModel, WordPieceVocab, MAX_WORD_CHARS,
};

/// all-MiniLM's special tokens (its tokenizer.json `added_tokens`, all `special: true`).
const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// `tokenizer.ggml.tokens` and `tokenizer.ggml.token_type` as llama.cpp's converter writes them
/// for all-MiniLM-L6-v2.
fn gguf_vocab() -> &'static (Vec<String>, Vec<i32>) {
    static V: OnceLock<(Vec<String>, Vec<i32>)> = OnceLock::new();
    V.get_or_init(|| {
        let path = testkit::data_path("minilm/vocab.txt");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut tokens = Vec::new();
        let mut types = Vec::new();
        for hf in text.lines() {
            let control = SPECIALS.contains(&hf);
            tokens.push(hf_to_gguf_piece(hf, control).into_owned());
            types.push(if control { 3 } else { 1 });
        }
        (tokens, types)
    })
}

fn base_vocab() -> WordPieceVocab<'static> {
    let (tokens, types) = gguf_vocab();
    WordPieceVocab {
        tokens,
        token_types: types,
        cls_id: Some(101),
        sep_id: Some(102),
        unk_id: Some(100),
        pad_id: Some(0),
        mask_id: Some(103),
        lowercase: Some(true),
        strip_accents: None,
    }
}

fn tok() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::from_wordpiece(&base_vocab()).expect("tokenizer"))
}

fn show(t: &Tokenizer, ids: &[u32]) -> String {
    ids.iter()
        .map(|&i| format!("{i}:{:?}", t.piece(i).unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every line of the parity file; failures listed with both tokenizations.
fn check_parity(t: &Tokenizer) {
    let lines: Vec<testkit::ParityLine> = testkit::read_jsonl("minilm/tokenizer_parity.jsonl");
    assert_eq!(lines.len(), 3050);
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

/// The derived vocabulary is byte for byte what llama.cpp's converter stores: the payload
/// sha256s of `tokenizer.ggml.tokens` / `token_type` in
/// `shared/reference/minilm/gguf_manifest_q8_0.json` (GGUF string = u64 length + bytes).
#[test]
fn derived_vocabulary_is_llama_cpp_s() {
    let (tokens, types) = gguf_vocab();
    let mut payload = Vec::new();
    for t in tokens {
        payload.extend_from_slice(&(t.len() as u64).to_le_bytes());
        payload.extend_from_slice(t.as_bytes());
    }
    assert_eq!(
        gguf::sha256_hex(&payload),
        "5f10edc0a7d6d14d0b7381d5863c43fbb337bbaa74345bd46b618fcd1e727884"
    );
    let types: Vec<u8> = types.iter().flat_map(|t| t.to_le_bytes()).collect();
    assert_eq!(
        gguf::sha256_hex(&types),
        "f68309aa2e216a7c60b75d859f9e80af7995dcdc1b84567e195f5c9152d8e1a2"
    );
}

#[test]
fn parity_lines_match_hugging_face() {
    check_parity(tok());
}

/// The same with every optional key left out: special ids from the pieces, lower-casing
/// detected from the vocabulary (no upper-case piece: uncased).
#[test]
fn parity_without_optional_metadata() {
    let t = Tokenizer::from_wordpiece(&WordPieceVocab {
        cls_id: None,
        sep_id: None,
        unk_id: None,
        pad_id: None,
        mask_id: None,
        lowercase: None,
        ..base_vocab()
    })
    .unwrap();
    assert!(t.lowercase() && t.strip_accents());
    assert_eq!((t.bos_id(), t.eos_id(), t.unk_id()), (101, 102, Some(100)));
    assert_eq!((t.pad_id(), t.mask_id()), (Some(0), Some(103)));
    check_parity(&t);
}

/// The model's own GGUF (our converter's, or llama.cpp's): same ids.
#[test]
fn parity_from_gguf() {
    let Some(path) = std::env::var_os("GGUFEMBED_MINILM") else {
        eprintln!("skipped: GGUFEMBED_MINILM is not set (scripts/test.sh sets it)");
        return;
    };
    let file = gguf::GgufFile::open(path.as_ref()).expect("open GGUFEMBED_MINILM");
    let t = Tokenizer::from_gguf(&file).expect("tokenizer from gguf");
    assert_eq!(t.model(), TokenizerModel::WordPiece);
    assert!(t.lowercase());
    assert_eq!(t.vocab_size(), 30522);
    check_parity(&t);
}

/// Random multi-script lines (vocabulary pieces, controls, accents, CJK, spelled special tokens,
/// words around the 100-char limit) with Hugging Face's ids and decodes; produced by
/// `tests/data/gen_minilm_extra.py` with the `tokenizers` package on all-MiniLM's tokenizer.json.
#[test]
fn extra_reference_lines_match_hugging_face() {
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
        token_ids: Vec<u32>,
        decoded: String,
        decoded_all: String,
    }
    let t = tok();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm_extra.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let (mut n, mut bad) = (0, Vec::new());
    for (i, line) in text.lines().enumerate() {
        let l: Line = serde_json::from_str(line).unwrap();
        let got = t.encode(&l.text);
        if got != l.token_ids {
            bad.push(format!(
                "line {}: {:?}\n  want {}\n  got  {}",
                i + 1,
                l.text,
                show(t, &l.token_ids),
                show(t, &got)
            ));
        }
        let (d, d_all) = (
            t.decode(&l.token_ids).unwrap(),
            t.decode_with(&l.token_ids, false).unwrap(),
        );
        if d != l.decoded || d_all != l.decoded_all {
            bad.push(format!(
                "line {} decode:\n  want {:?}\n  got  {d:?}\n  want {:?}\n  got  {d_all:?}",
                i + 1,
                l.decoded,
                l.decoded_all
            ));
        }
        n += 1;
    }
    assert_eq!(n, 2500);
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// A GGUF carrying the tokenizer metadata exactly as llama.cpp's converter writes it for
/// all-MiniLM-L6-v2 (keys and values of `shared/reference/minilm/gguf_manifest_q8_0.json`):
/// `from_gguf` picks WordPiece and matches Hugging Face.
#[test]
fn from_gguf_with_llama_cpp_s_keys() {
    use gguf::{Array, GgufWriter, Value};
    let (tokens, types) = gguf_vocab();
    let mut w = GgufWriter::new();
    let kvs = [
        ("general.architecture", Value::String("bert".into())),
        ("tokenizer.ggml.token_type_count", Value::U32(2)),
        ("tokenizer.ggml.model", Value::String("bert".into())),
        ("tokenizer.ggml.pre", Value::String("jina-v2-en".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array(Array::String(tokens.clone())),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(Array::I32(types.clone())),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(101)),
        ("tokenizer.ggml.eos_token_id", Value::U32(102)),
        ("tokenizer.ggml.unknown_token_id", Value::U32(100)),
        ("tokenizer.ggml.seperator_token_id", Value::U32(102)),
        ("tokenizer.ggml.padding_token_id", Value::U32(0)),
        ("tokenizer.ggml.mask_token_id", Value::U32(103)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
        ("tokenizer.ggml.add_eos_token", Value::Bool(true)),
        ("tokenizer.ggml.add_sep_token", Value::Bool(false)),
        ("tokenizer.ggml.normalizer.lowercase", Value::Bool(true)),
    ];
    for (k, v) in kvs {
        w.add_kv(k, v).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minilm-tokenizer.gguf");
    std::fs::write(&path, w.header_bytes()).unwrap();
    let file = gguf::GgufFile::open(&path).unwrap();
    let t = Tokenizer::from_gguf(&file).unwrap();
    assert_eq!(t.model(), TokenizerModel::WordPiece);
    assert!(t.lowercase() && t.strip_accents());
    assert_eq!((t.bos_id(), t.eos_id(), t.unk_id()), (101, 102, Some(100)));
    assert_eq!((t.pad_id(), t.mask_id()), (Some(0), Some(103)));
    check_parity(&t);

    // Another tokenizer model is a clear error naming the supported ones.
    let mut w = GgufWriter::new();
    w.add_kv("tokenizer.ggml.model", Value::String("gpt2".into()))
        .unwrap();
    w.add_kv(
        "tokenizer.ggml.tokens",
        Value::Array(Array::String(tokens.clone())),
    )
    .unwrap();
    std::fs::write(&path, w.header_bytes()).unwrap();
    let file = gguf::GgufFile::open(&path).unwrap();
    let msg = Tokenizer::from_gguf(&file).unwrap_err().to_string();
    assert!(
        msg.contains("\"gpt2\"") && msg.contains("\"llama\"") && msg.contains("\"bert\""),
        "{msg}"
    );
}

/// Single chars in four positions against Hugging Face (every punctuation, control, format and
/// space char, chars made punctuation after Unicode 8, a sample of marks and of everything
/// else); produced by `tests/data/gen_minilm_chars.py`. Guards the Unicode 8.0 categories that
/// Hugging Face's tables have.
#[test]
fn char_reference_lines_match_hugging_face() {
    let t = tok();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm_chars.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut bad = Vec::new();
    let mut n = 0;
    for line in text.lines() {
        let l: testkit::ParityLine = serde_json::from_str(line).unwrap();
        let got = t.encode(&l.text);
        if got != l.token_ids {
            let c = l.text.chars().nth(1).unwrap();
            bad.push(format!(
                "U+{:04X} {:?}\n  want {}\n  got  {}",
                c as u32,
                l.text,
                show(t, &l.token_ids),
                show(t, &got)
            ));
        }
        n += 1;
    }
    assert!(n > 2000);
    assert!(
        bad.is_empty(),
        "{} of {n} differ:\n{}",
        bad.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn api_for_the_model() {
    let t = tok();
    assert_eq!(t.model(), TokenizerModel::WordPiece);
    assert_eq!(t.model().gguf_name(), "bert");
    assert_eq!((t.cls_id(), t.sep_id()), (Some(101), Some(102)));
    assert_eq!((t.bos_id(), t.eos_id()), (101, 102));
    assert!(t.add_bos() && t.add_eos());
    assert_eq!(t.vocab_size(), 30522);
    assert_eq!(t.piece(101), Some("[CLS]"));
    assert_eq!(t.piece_id("▁hello"), Some(7592));
    // `tokenize` shows the stored pieces.
    let ids = t.encode("Tokenization!");
    let pieces: Vec<&str> = ids.iter().map(|&i| t.piece(i).unwrap()).collect();
    assert_eq!(pieces, ["[CLS]", "▁token", "ization", "▁!", "[SEP]"]);
    assert_eq!(t.encode_content_vec("Tokenization!"), ids[1..ids.len() - 1]);
    let mut buf = vec![7, 7, 7];
    t.encode_into("Tokenization!", &mut buf);
    assert_eq!(buf, ids);
}

#[test]
fn basic_tokenization_rules() {
    let t = tok();
    let pieces = |s: &str| -> Vec<String> {
        t.encode_content_vec(s)
            .iter()
            .map(|&i| t.piece(i).unwrap().to_string())
            .collect()
    };
    // Lower-casing and accent stripping (NFD, then marks dropped), composed or not.
    assert_eq!(pieces("Café"), pieces("cafe"));
    assert_eq!(pieces("Cafe\u{301}"), pieces("cafe"));
    // Control chars vanish without splitting; whitespace of any kind splits.
    assert_eq!(pieces("ca\u{0}f\u{200B}e\u{FFFD}"), pieces("cafe"));
    assert_eq!(pieces("a\u{3000}b\u{A0}c\td"), pieces("a b c d"));
    // Punctuation is a word of its own, ASCII symbols included.
    assert_eq!(pieces("a$b"), ["▁a", "▁$", "▁b"]);
    assert_eq!(pieces("¿qué?"), ["▁¿", "▁que", "▁?"]);
    // CJK ideographs are words of their own; kana are not.
    assert_eq!(pieces("中文"), ["▁中", "▁文"]);
    // A word longer than 100 chars is one [UNK]; 100 chars is still split.
    let unk = t.unk_id().unwrap();
    assert_eq!(t.encode_content_vec(&"a".repeat(MAX_WORD_CHARS + 1)), [unk]);
    let ids = t.encode_content_vec(&"a".repeat(MAX_WORD_CHARS));
    assert!(ids.len() > 1 && !ids.contains(&unk));
    // A word without a full cover is one [UNK] (not a partial match), the next word is fine.
    assert_eq!(t.encode_content_vec("a\u{10FFFF}b c").len(), 2);
    assert_eq!(t.encode_content_vec("a\u{10FFFF}b c")[0], unk);
    // A literal `▁` inside a word is not a word start.
    assert_eq!(t.encode_content_vec("x▁y"), [unk]);
    // Special tokens spelled in the raw text (case-sensitive) are those tokens.
    assert_eq!(t.encode("[CLS][MASK]x"), vec![101, 101, 103, 1060, 102]);
    assert_ne!(t.encode_content_vec("[cls]"), vec![101]);
}

#[test]
fn edge_inputs_never_panic() {
    let t = tok();
    assert_eq!(t.encode(""), vec![101, 102]);
    assert_eq!(t.encode(" \t\n\r\u{0}\u{7f}\u{200b}"), vec![101, 102]);
    // Every ASCII and C1 control char, and the whole Basic Multilingual Plane in one go.
    let controls: String = (0u32..0x20)
        .chain(0x7F..0xA0)
        .filter_map(char::from_u32)
        .collect();
    assert_eq!(t.encode(&controls), vec![101, 102]);
    let bmp: String = (0x20u32..0x10000).filter_map(char::from_u32).collect();
    let ids = t.encode(&bmp);
    assert!(ids.len() > 1000);
    let all: String = (0x10000u32..0x110000)
        .step_by(7)
        .filter_map(char::from_u32)
        .collect();
    let ids = t.encode(&all);
    assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
    for s in [
        "\u{10ffff}",
        "\u{feff}",
        "İstanbul ΣΑΣ ß ﬁ Ǆ",
        "a\u{301}\u{302}\u{303}",
        "\u{301}",
        "👍🏽👨‍👩‍👧",
        "עברית العربية हिन्दी ไทย 한국어 日本語",
        "[SEP",
        "[[CLS]]",
    ] {
        let ids = t.encode(s);
        assert_eq!((ids[0], *ids.last().unwrap()), (101, 102), "{s:?}");
    }
}

#[test]
fn megabyte_inputs() {
    let t = tok();
    let salad: String = "Tokenization of long lines, 長い行の分割, длинные строки! "
        .repeat(20_000)
        .chars()
        .take(1 << 20)
        .collect();
    let unk = t.unk_id().unwrap();
    for (text, check_unk) in [
        ("a".repeat(1 << 20), true),
        ("é".repeat(1 << 19), true),
        (" ".repeat(1 << 20), false),
        ("漢".repeat(350_000), false),
        (",".repeat(1 << 20), false),
        (salad, false),
    ] {
        let t0 = std::time::Instant::now();
        let ids = t.encode(&text);
        assert!(t0.elapsed().as_secs() < 10, "too slow");
        assert_eq!((ids[0], *ids.last().unwrap()), (101, 102));
        if check_unk {
            assert_eq!(ids, [101, unk, 102]);
        }
    }
}

#[test]
fn truncation_keeps_cls_and_sep() {
    let t = tok();
    let mut ids = t.encode(&"word ".repeat(1000));
    let full = ids.clone();
    assert!(t.truncate(&mut ids, 256));
    assert_eq!(ids.len(), 256);
    assert_eq!(ids[..255], full[..255]);
    assert_eq!((ids[0], ids[255]), (101, 102));
    let mut short = t.encode("short");
    assert!(!t.truncate(&mut short, 256));
    assert_eq!(short, t.encode("short"));
}

#[test]
fn decode_as_hugging_face() {
    let t = tok();
    // What `tokenizers` gives (its WordPiece decoder does not glue `' s`).
    let ids = t.encode("Hello, World! It's tokenization.");
    assert_eq!(
        t.decode(&ids).unwrap(),
        "hello, world! it ' s tokenization."
    );
    assert_eq!(
        t.decode_with(&ids, false).unwrap(),
        "[CLS] hello, world! it ' s tokenization. [SEP]"
    );
    assert!(matches!(
        t.decode(&[101, 30522]),
        Err(TokenizerError::IdOutOfRange { id: 30522, .. })
    ));
}

#[test]
fn bad_metadata_is_a_clear_error() {
    let (tokens, types) = gguf_vocab();
    let e = Tokenizer::from_wordpiece(&WordPieceVocab {
        unk_id: Some(40_000),
        ..base_vocab()
    });
    assert!(e.unwrap_err().to_string().contains("unknown_token_id"));
    let small: Vec<String> = tokens[1000..1010].to_vec();
    let e = Tokenizer::from_wordpiece(&WordPieceVocab {
        tokens: &small,
        token_types: &types[1000..1010],
        cls_id: None,
        ..base_vocab()
    });
    let msg = e.unwrap_err().to_string();
    assert!(
        msg.contains("[CLS]") && msg.contains("bos_token_id"),
        "{msg}"
    );
    let e = Tokenizer::from_wordpiece(&WordPieceVocab {
        token_types: &types[1..],
        ..base_vocab()
    });
    assert!(e.unwrap_err().to_string().contains("token_type"));
}

/// A cased vocabulary keeps case and accents (detected when the key is absent).
#[test]
fn cased_vocabulary() {
    let tokens: Vec<String> = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁Hello", "▁hello", "▁Ca", "fé", "▁,",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let types = [3, 3, 3, 3, 1, 1, 1, 1, 1];
    let t = Tokenizer::from_wordpiece(&WordPieceVocab {
        tokens: &tokens,
        token_types: &types,
        cls_id: None,
        sep_id: None,
        unk_id: None,
        pad_id: None,
        mask_id: None,
        lowercase: None,
        strip_accents: None,
    })
    .unwrap();
    assert!(!t.lowercase() && !t.strip_accents());
    assert_eq!(t.encode("Hello, hello Café"), vec![2, 4, 8, 5, 6, 7, 3]);
    assert_eq!(t.encode("HELLO"), vec![2, 1, 3]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_text_gives_cls_ids_sep(chars in proptest::collection::vec(any::<char>(), 0..200)) {
        let text: String = chars.into_iter().collect();
        let t = tok();
        let ids = t.encode(&text);
        prop_assert_eq!(ids.first(), Some(&101));
        prop_assert_eq!(ids.last(), Some(&102));
        prop_assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        prop_assert!(t.decode(&ids).is_ok());
    }

    /// Words are independent: joining texts with a space joins their ids.
    #[test]
    fn words_are_independent(a in "\\PC{0,40}", b in "\\PC{0,40}") {
        let t = tok();
        let mut joined = t.encode_content_vec(&a);
        joined.extend(t.encode_content_vec(&b));
        prop_assert_eq!(t.encode_content_vec(&format!("{a} {b}")), joined);
    }
}
