//! Any input is handled: round trips, no panics, no quadratic blow-up, sane metadata checks.

use proptest::prelude::*;
use std::sync::OnceLock;
use tokenizer::{SpmVocab, Tokenizer, TokenizerError};

fn tok() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let file = gguf::GgufFile::open(&testkit::q8_0_model()).expect("open model");
        Tokenizer::from_gguf(&file).expect("tokenizer from gguf")
    })
}

/// What decode(encode(text)) must give: a literal `▁` reads back as a space, and spelled
/// BOS/EOS/PAD/UNK are dropped like the real ones.
fn expected_round_trip(text: &str) -> String {
    let mut want = text.replace('▁', " ");
    for s in ["<bos>", "<eos>", "<pad>", "<unk>"] {
        want = want.replace(s, "");
    }
    want
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_unicode_round_trips(text in "\\PC{0,200}") {
        let t = tok();
        let ids = t.encode(&text);
        prop_assert_eq!(ids.first(), Some(&t.bos_id()));
        prop_assert_eq!(ids.last(), Some(&t.eos_id()));
        prop_assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        prop_assert_eq!(t.decode(&ids).unwrap(), expected_round_trip(&text));
    }

    #[test]
    fn any_chars_round_trip(chars in proptest::collection::vec(any::<char>(), 0..100)) {
        let text: String = chars.into_iter().collect();
        let t = tok();
        let ids = t.encode(&text);
        prop_assert_eq!(t.decode(&ids).unwrap(), expected_round_trip(&text));
    }

    #[test]
    fn spaces_specials_and_pieces_round_trip(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(" ".to_string()), Just("  ".to_string()), Just("\n".to_string()),
                Just("\t\t".to_string()), Just("<start_of_turn>".to_string()),
                Just("▁".to_string()), Just("> </".to_string()), Just("\0".to_string()),
                "[a-zé漢字🙂]{1,6}",
            ],
            0..40,
        )
    ) {
        let text = parts.concat();
        let t = tok();
        let ids = t.encode(&text);
        prop_assert_eq!(t.decode(&ids).unwrap(), expected_round_trip(&text));
    }
}

#[test]
fn edge_inputs() {
    let t = tok();
    assert_eq!(t.encode(""), vec![t.bos_id(), t.eos_id()]);
    for text in [
        "\0",
        "\0\0\u{1}\u{7f}",
        "\r\n",
        "\u{feff}",
        "\u{10ffff}",
        " ",
        "<eos>",
    ] {
        let ids = t.encode(text);
        assert!(ids.len() >= 2, "{text:?}");
        assert_eq!(
            t.decode(&ids).unwrap(),
            expected_round_trip(text),
            "{text:?}"
        );
    }
    // A char missing from the vocabulary falls back to its UTF-8 bytes.
    let ids = t.encode("\u{10ffff}");
    let pieces: Vec<&str> = ids[1..ids.len() - 1]
        .iter()
        .map(|&i| t.piece(i).unwrap())
        .collect();
    assert_eq!(pieces, ["<0xF4>", "<0x8F>", "<0xBF>", "<0xBF>"]);
    // Spelled control tokens are those tokens.
    assert_eq!(t.encode("<eos>"), vec![t.bos_id(), t.eos_id(), t.eos_id()]);
}

#[test]
fn megabyte_lines_encode_and_round_trip() {
    let t = tok();
    let word_salad: String = "Tokenization of long lines, 長い行の分割, длинные строки! "
        .repeat(20_000)
        .chars()
        .take(1 << 20)
        .collect();
    for text in [
        "a".repeat(1 << 20),
        " ".repeat(1 << 20),
        "漢".repeat(350_000),
        "\u{10ffff}".repeat(250_000),
        word_salad,
    ] {
        let ids = t.encode(&text);
        assert!(ids.len() > 2);
        assert_eq!(t.decode(&ids).unwrap(), text);
    }
}

#[test]
fn decode_rejects_out_of_range_ids_and_keeps_invalid_bytes_visible() {
    let t = tok();
    let n = t.vocab_size() as u32;
    assert!(matches!(
        t.decode(&[5, n]),
        Err(TokenizerError::IdOutOfRange { id, .. }) if id == n
    ));
    // A lone continuation byte is not UTF-8: it decodes as U+FFFD, as Hugging Face does.
    let b = t.piece_id("<0x80>").unwrap();
    let a = t.encode_content_vec("a");
    let mut ids = a.clone();
    ids.push(b);
    ids.extend(&a);
    assert_eq!(t.decode(&ids).unwrap(), "a\u{FFFD}a");
}

#[test]
fn truncation_matches_sentence_transformers() {
    let t = tok();
    let mut ids = t.encode(&"word ".repeat(5000));
    let full = ids.clone();
    assert!(tokenizer::truncate(&mut ids, 2048, t.eos_id()));
    assert_eq!(ids.len(), 2048);
    assert_eq!(ids[..2047], full[..2047]);
    assert_eq!(ids[2047], t.eos_id());
    let mut short = t.encode("short");
    let before = short.clone();
    assert!(!tokenizer::truncate(&mut short, 2048, t.eos_id()));
    assert_eq!(short, before);
}

fn vocab_fixture() -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens: Vec<String> = [
        "<pad>", "<eos>", "<bos>", "<unk>", "▁", "a", "b", "ab", "▁ab",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut types = vec![3, 3, 3, 2, 1, 1, 1, 1, 1];
    let mut scores = vec![0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    (tokens, scores, types)
}

#[test]
fn bad_metadata_is_a_clear_error() {
    let (tokens, scores, types) = vocab_fixture();
    let base = SpmVocab {
        tokens: &tokens,
        scores: &scores,
        token_types: &types,
        bos_id: 2,
        eos_id: 1,
        unk_id: Some(3),
        pad_id: Some(0),
        add_bos: true,
        add_eos: true,
        add_space_prefix: false,
    };
    let t = Tokenizer::from_vocab(&base).unwrap();
    assert_eq!(t.encode(" ab"), vec![2, 8, 1]);
    assert_eq!(t.encode("ba"), vec![2, 6, 5, 1]);
    assert_eq!(t.encode("c"), vec![2, 9 + 0x63, 1]);
    let e = Tokenizer::from_vocab(&SpmVocab {
        scores: &scores[1..],
        ..base
    });
    assert!(e.unwrap_err().to_string().contains("tokenizer.ggml.scores"));
    let e = Tokenizer::from_vocab(&SpmVocab {
        bos_id: 100_000,
        ..base
    });
    assert!(e.unwrap_err().to_string().contains("bos_token_id"));
    let mut bad_types = types.clone();
    bad_types[5] = 42;
    let e = Tokenizer::from_vocab(&SpmVocab {
        token_types: &bad_types,
        ..base
    });
    assert!(e.unwrap_err().to_string().contains("token_type[5] = 42"));
    let e = Tokenizer::from_vocab(&SpmVocab {
        tokens: &[],
        scores: &[],
        token_types: &[],
        ..base
    });
    assert!(matches!(e, Err(TokenizerError::EmptyVocab)));
    // Without byte tokens and without an unknown token some text cannot be encoded.
    let e = Tokenizer::from_vocab(&SpmVocab {
        tokens: &tokens[..9],
        scores: &scores[..9],
        token_types: &[3, 3, 3, 1, 1, 1, 1, 1, 1],
        unk_id: None,
        ..base
    });
    assert!(matches!(
        e,
        Err(TokenizerError::NoFallback { missing: 256 })
    ));
    // With an unknown token but no byte tokens, runs of unknown chars become one <unk>.
    let t = Tokenizer::from_vocab(&SpmVocab {
        tokens: &tokens[..9],
        scores: &scores[..9],
        token_types: &types[..9],
        ..base
    })
    .unwrap();
    assert_eq!(t.encode("xyzab"), vec![2, 3, 7, 1]);
    // add_space_prefix puts a '▁' in front of the text.
    let t = Tokenizer::from_vocab(&SpmVocab {
        add_space_prefix: true,
        ..base
    })
    .unwrap();
    assert_eq!(t.encode("ab"), vec![2, 8, 1]);
}
