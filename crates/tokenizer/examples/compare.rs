//! Compares our token ids with a reference JSON-lines file of `{"text", "token_ids"}` objects
//! (e.g. produced with the Hugging Face tokenizer) and prints the lines that differ. Lines that
//! also carry `"decoded"` check `decode(token_ids) == decoded` instead.
//!
//! `cargo run -p tokenizer --example compare -- MODEL.gguf REFERENCE.jsonl`

use std::io::BufRead;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: compare MODEL.gguf REFERENCE.jsonl");
        std::process::exit(2);
    }
    let file = gguf::GgufFile::open(args[1].as_ref()).expect("open gguf");
    let tok = tokenizer::Tokenizer::from_gguf(&file).expect("tokenizer");
    let reader = std::io::BufReader::new(std::fs::File::open(&args[2]).expect("open reference"));
    let (mut n, mut bad, mut roundtrip_bad) = (0usize, 0usize, 0usize);
    for (i, line) in reader.lines().enumerate() {
        let line = line.expect("read line");
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        let text = v["text"].as_str().expect("text");
        let want: Vec<u32> = serde_json::from_value(v["token_ids"].clone()).expect("token_ids");
        n += 1;
        if let Some(decoded) = v.get("decoded").and_then(|d| d.as_str()) {
            // a decode check: token_ids -> decoded
            let got = tok.decode(&want).expect("decode");
            if got != decoded {
                bad += 1;
                if bad <= 10 {
                    println!(
                        "line {}: decode {want:?}\n  want {decoded:?}\n  got  {got:?}",
                        i + 1
                    );
                }
            }
            continue;
        }
        let got = tok.encode(text);
        if got != want {
            bad += 1;
            if bad <= 10 {
                let show = |ids: &[u32]| {
                    ids.iter()
                        .map(|&i| format!("{i}:{:?}", tok.piece(i).unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                println!(
                    "line {}: {text:?}\n  want {}\n  got  {}",
                    i + 1,
                    show(&want),
                    show(&got)
                );
            }
        }
        let back = tok.decode(&got).expect("decode");
        if tok.encode(&back) != got && !text.contains('▁') && !text.contains('<') {
            roundtrip_bad += 1;
        }
    }
    println!("{n} lines, {bad} differ, {roundtrip_bad} fail encode(decode(x)) == x");
}
