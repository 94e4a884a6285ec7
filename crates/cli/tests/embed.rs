//! `ggufembed embed` end to end: the binary on the real Q8_0 model.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn embed(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let model = testkit::q8_0_model();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ggufembed"));
    cmd.arg("embed")
        .arg("--model")
        .arg(&model)
        .args(["--threads", "2"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run ggufembed");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn jsonl(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn vector(v: &Value) -> Vec<f32> {
    v["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Corpus entries with a given prompt, written as JSON lines with their ids.
fn corpus_jsonl(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<testkit::CorpusEntry>) {
    let entries: Vec<_> = testkit::corpus()
        .into_iter()
        .filter(|c| c.text.len() < 400)
        .take(n)
        .collect();
    let path = dir.join("in.jsonl");
    let lines: Vec<String> = entries
        .iter()
        .map(|c| {
            serde_json::json!({"id": c.id, "text": c.text, "prompt_name": c.prompt_name})
                .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, entries)
}

#[test]
fn jsonl_file_matches_the_reference_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let (path, entries) = corpus_jsonl(dir.path(), 12);
    let out = embed(&["--input", path.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), entries.len());
    let reference = testkit::corpus_st_fp32();
    for (row, entry) in rows.iter().zip(&entries) {
        assert_eq!(row["id"], Value::from(entry.id));
        let r = reference.iter().find(|r| r.id == entry.id).unwrap();
        assert_eq!(row["n_tokens"], Value::from(r.n_tokens));
        assert_eq!(row["truncated"], Value::from(false));
        let c = testkit::cosine(&vector(row), &r.embedding, 768);
        assert!(c > 0.998, "id {}: cosine {c}", entry.id);
    }
}

#[test]
fn bad_lines_are_reported_and_the_job_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let long = "word ".repeat(3000);
    let lines = [
        r#"{"text": "first", "id": "a"}"#.to_string(),
        "not json".to_string(),
        format!(r#"{{"text": "{long}", "id": "long"}}"#),
        r#"{"text": "x", "prompt_name": "no-such-prompt"}"#.to_string(),
        r#"{"text": "last", "id": "z", "prompt_name": "query"}"#.to_string(),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = embed(&["--input", path.to_str().unwrap(), "--no-truncate"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mixed.jsonl:2: invalid JSON"), "{stderr}");
    assert!(
        stderr.contains("mixed.jsonl:3:") && stderr.contains("3003 tokens"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mixed.jsonl:4:") && stderr.contains("no-such-prompt"),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 of 5 inputs failed (see the messages above); the other 2 were embedded"),
        "{stderr}"
    );
    let rows = jsonl(&out);
    let ids: Vec<&Value> = rows.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&Value::from("a"), &Value::from("z")]);
    let lines: Vec<&Value> = rows.iter().map(|r| &r["line"]).collect();
    assert_eq!(lines, [&Value::from(1), &Value::from(5)]);

    // Without --no-truncate the long line is embedded, truncated to the context.
    let out = embed(&["--input", path.to_str().unwrap()], None);
    let rows = jsonl(&out);
    let long_row = rows.iter().find(|r| r["id"] == "long").unwrap();
    assert_eq!(long_row["n_tokens"], Value::from(2048));
    assert_eq!(long_row["truncated"], Value::from(true));
}

#[test]
fn stdin_args_dims_and_formats() {
    // stdin lines: no ids (null), line numbers; Matryoshka dims renormalized.
    let out = embed(&["--dims", "128"], Some("alpha\nbeta\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["id"], Value::Null);
    assert_eq!(rows[1]["line"], Value::from(2));
    let v = vector(&rows[0]);
    assert_eq!(v.len(), 128);
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);

    // The same text as an argument gives the same vector in every format.
    let args_out = jsonl(&embed(&["--dims", "128", "alpha"], None));
    assert_eq!(vector(&args_out[0]), v);

    let json = embed(
        &["--dims", "128", "--format", "json", "alpha", "beta"],
        None,
    );
    let arr: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), 2);
    assert_eq!(vector(&arr[0]), v);

    let csv = embed(&["--dims", "128", "--format", "csv", "alpha"], None);
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("id,line,n_tokens,truncated,e0,e1"));
    let fields: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(fields.len(), 4 + 128);
    assert_eq!(fields[..2], ["", "1"]);
    let csv_v: Vec<f32> = fields[4..].iter().map(|f| f.parse().unwrap()).collect();
    assert_eq!(csv_v, v);

    // npy to a file (header patched in place) and to stdout (spooled) are identical.
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("v.npy");
    let out = embed(
        &[
            "--dims",
            "128",
            "--format",
            "npy",
            "-o",
            npy.to_str().unwrap(),
            "alpha",
            "beta",
        ],
        None,
    );
    assert!(out.status.success());
    let bytes = std::fs::read(&npy).unwrap();
    let stdout_npy = embed(&["--dims", "128", "--format", "npy", "alpha", "beta"], None).stdout;
    assert_eq!(bytes, stdout_npy);
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'shape': (2, 128)"), "{header}");
    let first: Vec<f32> = bytes[10 + header_len..][..128 * 4]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(first, v);
}

#[test]
fn bad_options_fail_before_reading_input() {
    let out = embed(&["--dims", "100", "x"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("100") && stderr.contains("768"), "{stderr}");
    let out = embed(&["--prompt-name", "nope", "x"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    assert!(out.stdout.is_empty());
}

/// Every kernel path (forced with `GGUFEMBED_KERNEL`) computes the same f32 operations in the
/// same order, so the vectors are identical bit for bit, not merely close: on a Q8_0 file (f32
/// attention) and on a Q4_K_M file (bf16 attention: `vdpbf16ps` on avx512-bf16, the same two
/// FMAs per pair elsewhere). Paths this CPU lacks fall back with a warning and are skipped; the
/// scalar path and the best one always run.
#[test]
fn every_kernel_path_gives_the_same_bits() {
    check_every_kernel_path(&testkit::q8_0_model());
    check_every_kernel_path(&testkit::q4_k_m_model());
}

fn check_every_kernel_path(model: &std::path::Path) {
    #[cfg(target_arch = "x86_64")]
    let paths = ["scalar", "avx2-novnni", "avx2-vnni", "avx512", "avx512-bf16"];
    #[cfg(target_arch = "aarch64")]
    let paths = ["scalar", "neon", "neon-dotprod", "neon-i8mm"];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let paths = ["scalar"];
    let dir = tempfile::tempdir().unwrap();
    let (input, entries) = corpus_jsonl(dir.path(), 8);
    let mut first: Option<(&str, Vec<u8>)> = None;
    let mut ran = 0;
    for path in paths {
        let out = Command::new(env!("CARGO_BIN_EXE_ggufembed"))
            .env("GGUFEMBED_KERNEL", path)
            .arg("embed")
            .arg("--model")
            .arg(model)
            .args(["--threads", "2", "--format", "npy", "--input"])
            .arg(&input)
            .output()
            .expect("run ggufembed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{path}: {stderr}");
        if stderr.contains("cannot run the") {
            println!("skipping {path}: not supported by this CPU");
            continue;
        }
        assert!(!stderr.contains("warning"), "{path}: {stderr}");
        // 8 rows of 768 f32 after the npy header
        assert!(out.stdout.len() > entries.len() * 768 * 4, "{path}");
        ran += 1;
        match &first {
            None => first = Some((path, out.stdout)),
            Some((p0, want)) => assert!(
                out.stdout == *want,
                "{path} vectors differ from the {p0} path's"
            ),
        }
    }
    assert!(ran >= 2 || paths.len() == 1, "only {ran} path(s) ran");
}
