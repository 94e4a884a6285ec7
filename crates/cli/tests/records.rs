//! The commands agree with each other (issue 15): one input reader and record meaning for `embed`
//! and `tokenize`, one prompt list, empty texts, ids of every JSON type in every format,
//! `--input-format`, file errors worded the same in every command, short options, thread caps.
//! Tests marked "real model" run the binary on the Q8_0 model.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `ggufembed ARGS…` with `stdin`, waiting for the end.
fn run(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ggufembed"))
        .args(args)
        .env("GGUFEMBED_HOME", "/nonexistent/ggufembed-home") // never pull in these tests
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ggufembed");
    let mut pipe = child.stdin.take().unwrap();
    // A command that fails before reading stdin closes it: ignore the broken pipe.
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// `ggufembed CMD -m MODEL ARGS…` on the real model.
fn with_model(cmd: &str, args: &[&str], stdin: &str) -> Output {
    let model = testkit::q8_0_model();
    let mut all = vec![cmd, "-m", model.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all, stdin)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn rows(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
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

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// Kind 6: missing, a directory, not a GGUF, empty: the same line in every command, naming the
/// path; `serve` fails before it listens.
#[test]
fn file_errors_read_the_same_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let missing = format!("{d}/missing.gguf");
    let readme = write(dir.path(), "README.md", "# not a model\n");
    let empty = write(dir.path(), "empty.gguf", "");
    let cases = [
        (missing.as_str(), "no such file".to_string()),
        (d.as_str(), "is a directory, not a GGUF file".to_string()),
        (
            readme.as_str(),
            "not a GGUF file (it starts with \"# no\", expected \"GGUF\")".to_string(),
        ),
        (empty.as_str(), "not a GGUF file (it is empty)".to_string()),
    ];
    for (path, what) in &cases {
        let want = format!("ggufembed: error: {path}: {what}\n");
        for cmd in [
            &["embed", "-m", path, "x"][..],
            &["tokenize", "-m", path, "x"],
            &["prompts", "-m", path],
            &["inspect", "-m", path],
            &["inspect", path],
            &["bench", "-m", path],
            &["serve", "-m", path, "--port", "0"],
        ] {
            let o = run(cmd, "");
            assert!(!o.status.success(), "{cmd:?}");
            assert_eq!(stderr(&o), want, "{cmd:?}");
            assert!(o.stdout.is_empty(), "{cmd:?} printed {:?}", o.stdout);
        }
    }
}

/// Kind 1 (real model): the same `.jsonl` through `embed` and `tokenize`: same records kept and
/// failed, same messages, same summary, same exit code, same token counts, same ids.
#[test]
fn embed_and_tokenize_read_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"text": "first", "id": 2}"#,             // 1: explicit id 2
        r#"{"text": "second"}"#,                     // 2: no id: null, line 2 (no collision)
        "",                                          // 3: blank: skipped, not a record
        "not json",                                  // 4: bad
        r#"{"text": "a body", "title": "A title"}"#, // 5: title alone: document prompt
        r#"{"text": "q", "prompt_name": "question answering"}"#, // 6
        r#"{"text": "x", "prompt_name": "nope"}"#,   // 7: bad prompt
        r#"{"text": ""}"#,                           // 8: empty text: a record like any other
        "   ",                                       // 9: blank
        r#"{"text": "last", "prompt_name": null, "id": [1, "a"]}"#, // 10
    ];
    let input = write(dir.path(), "in.jsonl", &lines.join("\n"));
    let emb = with_model("embed", &["-i", &input, "-t", "2"], "");
    let tok = with_model("tokenize", &["-i", &input], "");
    for (what, o) in [("embed", &emb), ("tokenize", &tok)] {
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(o));
        let err = stderr(o);
        assert!(
            err.contains(&format!("{input}:4: invalid JSON")),
            "{what}: {err}"
        );
        assert!(
            err.contains(&format!(
                "{input}:7: unknown prompt name \"nope\"; known prompt names: "
            )),
            "{what}: {err}"
        );
        let verb = if what == "embed" {
            "embedded"
        } else {
            "tokenized"
        };
        assert!(
            err.contains(&format!(
                "2 of 8 inputs failed (see the messages above); the other 6 were {verb}"
            )),
            "{what}: {err}"
        );
    }
    let (e, t) = (rows(&emb), rows(&tok));
    let line_of = |r: &Value| r["line"].as_u64().unwrap();
    assert_eq!(
        e.iter().map(line_of).collect::<Vec<_>>(),
        [1, 2, 5, 6, 8, 10]
    );
    assert_eq!(
        t.iter().map(line_of).collect::<Vec<_>>(),
        [1, 2, 5, 6, 8, 10]
    );
    for (er, tr) in e.iter().zip(&t) {
        assert_eq!(er["id"], tr["id"]);
        assert_eq!(er["n_tokens"], tr["token_ids"].as_array().unwrap().len());
    }
    let ids: Vec<&Value> = e.iter().map(|r| &r["id"]).collect();
    let want = [
        json!(2),
        json!(null),
        json!(null),
        json!(null),
        json!(null),
        json!([1, "a"]),
    ];
    assert_eq!(ids, want.iter().collect::<Vec<_>>());
    // The title selected the document prompt in both.
    let pieces: String = t[2]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(pieces.contains("title:▁A▁title▁|▁text:"), "{pieces}");
    let doc = rows(&with_model(
        "embed",
        &["--prompt-name", "document", "--title", "A title", "a body"],
        "",
    ));
    assert_eq!(vector(&e[2]), vector(&doc[0]));
    // The empty text is BOS + EOS.
    assert_eq!(t[4]["token_ids"], json!([2, 1]));
}

/// Kind 7: every input failing says so.
#[test]
fn a_job_where_every_input_fails_says_so() {
    let o = with_model(
        "embed",
        &["--input-format", "jsonl", "-i", "-"],
        "x\ny\n{}\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.ends_with("ggufembed: all 3 inputs failed (see the messages above)\n"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

/// Kind 2 (real model): one prompt list, printed by `prompts`, accepted by every command.
#[test]
fn every_listed_prompt_works_in_every_command() {
    let o = with_model("prompts", &["--json"], "");
    assert!(o.status.success(), "{}", stderr(&o));
    let list: serde_json::Map<String, Value> = serde_json::from_slice(&o.stdout).unwrap();
    for name in [
        "query",
        "document",
        "STS",
        "question answering",
        "fact checking",
    ] {
        assert!(list.contains_key(name), "{name} missing from {list:?}");
    }
    let table = String::from_utf8(with_model("prompts", &[], "").stdout).unwrap();
    assert_eq!(table.lines().count(), list.len());
    for (name, text) in &list {
        let t = with_model("tokenize", &["--prompt-name", name, "x"], "");
        assert!(t.status.success(), "tokenize {name}: {}", stderr(&t));
        let e = with_model("embed", &["--dims", "128", "--prompt-name", name, "x"], "");
        assert!(e.status.success(), "embed {name}: {}", stderr(&e));
        let n = rows(&t)[0]["token_ids"].as_array().unwrap().len();
        assert_eq!(rows(&e)[0]["n_tokens"], n, "{name}");
        assert!(
            table.contains(&format!("{:?}", text.as_str().unwrap())),
            "{name}"
        );
    }
}

/// Kind 3 (real model): the empty text is embedded the same from arguments, text and JSON lines.
#[test]
fn empty_text_is_embedded_from_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write(dir.path(), "in.txt", "a\n\nb\n");
    let jsonl = write(dir.path(), "in.jsonl", "{\"text\": \"\"}\n\n");
    let from_arg = rows(&with_model("embed", &[""], ""));
    let from_txt = rows(&with_model("embed", &["-i", &txt], ""));
    let from_jsonl = rows(&with_model("embed", &["-i", &jsonl], ""));
    assert_eq!(from_txt.len(), 3);
    assert_eq!(from_jsonl.len(), 1, "the blank line is not a record");
    for r in [&from_arg[0], &from_txt[1], &from_jsonl[0]] {
        assert_eq!(r["n_tokens"], 2);
        assert_eq!(vector(r), vector(&from_arg[0]));
    }
}

/// Kind 4 (real model): ids of every JSON type, in every output format.
#[test]
fn ids_of_every_json_type_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [
        json!(1),
        json!(2.5),
        json!("s,\"q\"\nx"),
        json!(true),
        json!(null),
        json!([1, "a,b"]),
        json!({"k": [1, {"z": "\""}]}),
    ];
    let mut lines: Vec<String> = ids
        .iter()
        .map(|id| json!({"id": id, "text": "t"}).to_string())
        .collect();
    lines.push(json!({"text": "no id"}).to_string());
    let input = write(dir.path(), "ids.jsonl", &lines.join("\n"));
    let want = |k: usize| ids.get(k).cloned().unwrap_or(Value::Null);

    let jl = rows(&with_model("embed", &["--dims", "128", "-i", &input], ""));
    let js: Value = serde_json::from_slice(
        &with_model(
            "embed",
            &["--dims", "128", "--format", "json", "-i", &input],
            "",
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(js.as_array().unwrap(), &jl);
    assert_eq!(jl.len(), 8);
    for (k, r) in jl.iter().enumerate() {
        assert_eq!(r["id"], want(k), "row {k}");
        assert_eq!(r["line"], k + 1);
    }

    let csv_out = with_model(
        "embed",
        &["--dims", "128", "--format", "csv", "-i", &input],
        "",
    );
    assert!(csv_out.status.success(), "{}", stderr(&csv_out));
    let mut reader = csv::Reader::from_reader(&csv_out.stdout[..]);
    assert_eq!(reader.headers().unwrap().len(), 4 + 128);
    let recs: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 8);
    for (k, rec) in recs.iter().enumerate() {
        assert_eq!(rec.len(), 4 + 128, "row {k}");
        let id = match want(k) {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => other.to_string(),
        };
        assert_eq!(&rec[0], id, "row {k}");
        let v: Vec<f32> = rec.iter().skip(4).map(|f| f.parse().unwrap()).collect();
        assert_eq!(v, vector(&jl[k]), "row {k}");
    }

    let npy = with_model(
        "embed",
        &["--dims", "128", "--format", "npy", "-i", &input],
        "",
    );
    assert!(npy.status.success());
    let header_len = u16::from_le_bytes([npy.stdout[8], npy.stdout[9]]) as usize;
    assert_eq!(npy.stdout.len(), 10 + header_len + 8 * 128 * 4);
}

/// Kind 5 (real model): `--input-format` reads stdin as JSON lines, or a .jsonl file as text.
#[test]
fn input_format_overrides_the_extension() {
    let record = r#"{"text": "hello", "id": "h"}"#;
    let as_jsonl = with_model("embed", &["--input-format", "jsonl", "-i", "-"], record);
    assert!(as_jsonl.status.success(), "{}", stderr(&as_jsonl));
    let r = rows(&as_jsonl);
    assert_eq!(r[0]["id"], "h");
    assert_eq!(
        vector(&r[0]),
        vector(&rows(&with_model("embed", &["hello"], ""))[0])
    );

    // Without the flag stdin is text: the JSON is the text, and a note says how to read records.
    let as_text = with_model("embed", &["-i", "-"], record);
    assert!(as_text.status.success());
    assert!(
        stderr(&as_text).contains("--input-format jsonl"),
        "{}",
        stderr(&as_text)
    );
    let raw = rows(&with_model("embed", &[record], ""));
    assert_eq!(vector(&rows(&as_text)[0]), vector(&raw[0]));

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "r.jsonl", record);
    let t = rows(&with_model(
        "tokenize",
        &["--input-format", "txt", "-i", &file],
        "",
    ));
    let pieces: String = t[0]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(pieces.contains("\"text\""), "{pieces}");

    let o = with_model("embed", &["--input-format", "jsonl", "hello"], "");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not to TEXT arguments"),
        "{}",
        stderr(&o)
    );
}

/// Kind 7 (real model): more threads than cores are capped, with a warning.
#[test]
fn threads_above_the_cores_are_capped_with_a_warning() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let o = with_model("embed", &["-t", "1000", "x"], "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "warning: 1000 threads requested but only {cores} cores are available; using {cores}"
        )),
        "{}",
        stderr(&o)
    );
    let capped = rows(&o);
    let normal = rows(&with_model("embed", &["x"], ""));
    assert_eq!(vector(&capped[0]), vector(&normal[0]));
}
