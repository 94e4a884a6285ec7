//! `ggufembed bench` on a model other than EmbeddingGemma: all-MiniLM-L6-v2 (BERT, no prompts,
//! 256-token limit). The workloads must run without the prompts the model lacks and fit its
//! token limit, and `--json` must report each workload's token count (what
//! `bench/compare-llama-cpp.sh` hands to `llama-bench -p`).

use serde_json::Value;
use std::process::Command;

#[test]
fn bench_fits_a_256_token_bert_model() {
    let Some(model) = std::env::var_os("GGUFEMBED_MINILM") else {
        eprintln!(
            "skipped: set GGUFEMBED_MINILM to all-MiniLM-L6-v2's Q8_0 gguf (scripts/test.sh does)"
        );
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ggufembed"))
        .arg("bench")
        .arg("--model")
        .arg(&model)
        .args(["--threads", "2", "--runs", "20", "--batch", "64", "--json"])
        .output()
        .expect("run ggufembed bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(r["arch"], "bert");
    assert!(
        r["weight_mix"].as_str().unwrap().starts_with("Q8_0: "),
        "{r}"
    );
    assert!(!r["kernel"].as_str().unwrap().is_empty());
    let w = r["workloads"].as_array().unwrap();
    let names: Vec<&str> = w.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["short", "long", "xl"]);
    let tokens: Vec<u64> = w.iter().map(|w| w["tokens"].as_u64().unwrap()).collect();
    // short < long < xl <= the model's 256-token limit: `xl` repeats the paragraph as often as
    // fits (more than once: one paragraph is ~55 tokens), it is not cut.
    assert!(tokens[0] < tokens[1] && tokens[1] < tokens[2], "{tokens:?}");
    assert!(tokens[2] <= 256 && tokens[2] > 2 * tokens[1], "{tokens:?}");
    for w in w {
        let p50 = w["p50_ms"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 <= w["p99_ms"].as_f64().unwrap(), "{w}");
    }
    let t = &r["throughput"];
    assert!(t["tokens"].as_u64().unwrap() > 10_000, "{t}");
    assert!(t["tokens_per_s"].as_f64().unwrap() > 0.0, "{t}");
}
