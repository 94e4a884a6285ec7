//! The server with the real model (testkit::q8_0_model()), over TCP: vectors bit-identical to the
//! offline `Embedder` under concurrency, real /info and /tokenize, truncation, the official `openai`
//! Python client, and a short bounded load run. One server (with an API key) is shared by all tests.

use crate::common;

use common::{bits, error_of, floats, post, TestServer};
use model::{Embedder, EmbedderOptions, Input};
use serde_json::{json, Value};
use server::api::base64_f32;
use server::client::HttpClient;
use server::{ModelBackend, ServerConfig};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const KEY: &str = "test-key-123";

fn server() -> &'static TestServer {
    static S: OnceLock<TestServer> = OnceLock::new();
    S.get_or_init(|| {
        let cfg = ServerConfig {
            api_key: Some(KEY.into()),
            ..ServerConfig::default()
        };
        let path = testkit::q8_0_model();
        let s = TestServer::start(cfg, move || {
            ModelBackend::open(&path, &EmbedderOptions::default(), 2048)
        });
        s.wait_ready();
        s
    })
}

fn client() -> HttpClient {
    server()
        .client()
        .with_header("Authorization", &format!("Bearer {KEY}"))
}

/// The offline engine, as `ggufembed embed` uses it.
fn offline() -> &'static Mutex<Embedder> {
    static E: OnceLock<Mutex<Embedder>> = OnceLock::new();
    E.get_or_init(|| {
        Mutex::new(
            Embedder::open(&testkit::q8_0_model(), &EmbedderOptions::default())
                .expect("open model"),
        )
    })
}

fn offline_embed(inputs: &[Input]) -> Vec<Vec<f32>> {
    let mut e = offline().lock().unwrap();
    e.embed(inputs)
        .unwrap()
        .into_iter()
        .map(|e| e.vector)
        .collect()
}

/// The engine's inputs for sample texts.
fn inputs_of(texts: &[(String, Option<String>)]) -> Vec<Input> {
    texts
        .iter()
        .map(|(t, p)| Input {
            prompt_name: p.clone(),
            ..Input::new(t.clone())
        })
        .collect()
}

/// Corpus texts with their prompts: every `step`-th entry, skipping the long documents.
fn sample_texts(step: usize) -> Vec<(String, Option<String>)> {
    testkit::corpus()
        .into_iter()
        .filter(|c| !c.text.is_empty() && c.text.len() < 3000)
        .step_by(step)
        .map(|c| (c.text, c.prompt_name))
        .collect()
}

#[test]
fn vectors_are_bit_identical_to_offline_under_concurrency() {
    let texts = sample_texts(9);
    assert!(texts.len() >= 20);
    let inputs = inputs_of(&texts);
    let want = offline_embed(&inputs);
    let _ = server();

    // Four clients at once, each sending its texts in requests of 1-3 (same prompt per request),
    // so the server merges inputs of different requests into shared batches.
    let texts = Arc::new(texts);
    let want = Arc::new(want);
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let (texts, want) = (texts.clone(), want.clone());
            std::thread::spawn(move || {
                let mut c = client();
                let mut i = k;
                let mut checked = 0;
                while i < texts.len() {
                    let prompt = texts[i].1.clone();
                    let mut idx = vec![i];
                    while idx.len() < 1 + k % 3 && i + 4 < texts.len() && texts[i + 4].1 == prompt {
                        i += 4;
                        idx.push(i);
                    }
                    let input: Vec<&str> = idx.iter().map(|&j| texts[j].0.as_str()).collect();
                    let format = if k % 2 == 0 { "base64" } else { "float" };
                    let (st, v) = post(
                        &mut c,
                        "/v1/embeddings",
                        &json!({"input": input, "model": "m", "encoding_format": format, "prompt_name": prompt}),
                    );
                    assert_eq!(st, 200, "{v}");
                    for (n, &j) in idx.iter().enumerate() {
                        let e = &v["data"][n]["embedding"];
                        let got = match e.as_str() {
                            Some(b64) => base64_f32(b64).unwrap(),
                            None => floats(e),
                        };
                        assert_eq!(got.len(), 768);
                        assert_eq!(bits(&got), bits(&want[j]), "text {j} ({format}) differs from offline");
                        checked += 1;
                    }
                    i += 4;
                }
                checked
            })
        })
        .collect();
    let checked: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(checked, texts.len());

    // TEI /embed with Matryoshka dims and without normalization.
    let (t, p) = &texts[0];
    let off = offline_embed(&[Input {
        prompt_name: p.clone(),
        dims: Some(256),
        normalize: false,
        ..Input::new(t.clone())
    }]);
    let (st, v) = post(
        &mut client(),
        "/embed",
        &json!({"inputs": [t], "prompt_name": p, "dimensions": 256, "normalize": false}),
    );
    assert_eq!(st, 200, "{v}");
    let got = floats(&v[0]);
    assert_eq!(bits(&got), bits(&off[0]));
}

/// The empty string is a text like any other (BOS + prompt + EOS), in both APIs, as in the
/// library and the CLI (and sentence-transformers): 200 and the library's vector.
#[test]
fn empty_text_is_embedded_like_the_library_does() {
    let mut c = client();
    for prompt in [None, Some("query")] {
        let off = offline_embed(&[Input {
            prompt_name: prompt.map(String::from),
            ..Input::new("")
        }]);
        let (st, v) = post(
            &mut c,
            "/v1/embeddings",
            &json!({"input": ["", "x"], "prompt_name": prompt}),
        );
        assert_eq!(st, 200, "{v}");
        assert_eq!(bits(&floats(&v["data"][0]["embedding"])), bits(&off[0]));
        let (st, v) = post(
            &mut c,
            "/embed",
            &json!({"inputs": "", "prompt_name": prompt}),
        );
        assert_eq!(st, 200, "{v}");
        assert_eq!(bits(&floats(&v[0])), bits(&off[0]));
    }
}

#[test]
fn token_input_equals_text_input() {
    let corpus = testkit::corpus();
    let tokens = testkit::corpus_tokens();
    let entry = &corpus[5];
    let ids = &tokens.iter().find(|t| t.id == entry.id).unwrap().token_ids;
    let mut c = client();
    let (st, by_text) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": entry.text, "prompt_name": entry.prompt_name, "encoding_format": "base64"}),
    );
    assert_eq!(st, 200, "{by_text}");
    let (st, by_ids) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": [ids], "encoding_format": "base64"}),
    );
    assert_eq!(st, 200, "{by_ids}");
    assert_eq!(
        by_text["data"][0]["embedding"],
        by_ids["data"][0]["embedding"]
    );
    assert_eq!(by_ids["usage"]["total_tokens"], ids.len());
}

#[test]
fn info_and_tokenize_describe_the_real_model() {
    let mut c = client();
    let v = c.get("/info").unwrap().json().unwrap();
    assert_eq!(v["dims"], 768);
    assert_eq!(v["supported_dims"], json!([768, 512, 256, 128]));
    assert_eq!(v["max_input_length"], 2048);
    assert_eq!(v["n_vocab"], 262144);
    assert_eq!(v["quantization"], "Q8_0");
    assert_eq!(v["dense_head"], true);
    assert_eq!(v["prompts"]["query"], "task: search result | query: ");
    assert_eq!(v["model_id"], "embeddinggemma-300M-Q8_0");

    let corpus = testkit::corpus();
    let tokens = testkit::corpus_tokens();
    for entry in corpus
        .iter()
        .filter(|e| !e.text.is_empty() && e.text.len() < 400)
        .step_by(40)
    {
        let want = &tokens.iter().find(|t| t.id == entry.id).unwrap().token_ids;
        let (st, v) = post(
            &mut c,
            "/tokenize",
            &json!({"inputs": entry.text, "prompt_name": entry.prompt_name}),
        );
        assert_eq!(st, 200, "{v}");
        let got: Vec<u32> = v[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap() as u32)
            .collect();
        assert_eq!(&got, want, "tokens of corpus entry {}", entry.id);
        assert_eq!(v[0][0]["text"], "<bos>");
        assert_eq!(v[0][0]["special"], true);
        assert_eq!(v[0][1]["special"], false);
    }
    let (st, t) = post(
        &mut c,
        "/tokenize",
        &json!({"inputs": "Hello wörld, 2 + 2 = 4", "add_special_tokens": false}),
    );
    assert_eq!(st, 200, "{t}");
    let mut ids: Vec<u64> = t[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_u64().unwrap())
        .collect();
    assert!(ids.len() > 3 && ids[0] != 2, "{t}");
    ids.insert(0, 2);
    ids.push(1);
    let (st, v) = post(&mut c, "/detokenize", &json!({"ids": ids}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!(["Hello wörld, 2 + 2 = 4"]));
    let (st, v) = post(
        &mut c,
        "/detokenize",
        &json!({"ids": [ids], "skip_special_tokens": false}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!(["<bos>Hello wörld, 2 + 2 = 4<eos>"]));
}

#[test]
fn over_long_input_is_truncated_or_refused_with_its_token_count() {
    let corpus = testkit::corpus();
    let long = corpus
        .iter()
        .find(|c| {
            c.source
                .as_deref()
                .is_some_and(|s| s.starts_with("overlong"))
        })
        .unwrap();
    let n = testkit::corpus_tokens()
        .into_iter()
        .find(|t| t.id == long.id)
        .unwrap()
        .token_ids
        .len();
    let mut c = client();
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": long.text, "prompt_name": long.prompt_name, "truncate": false}),
    );
    assert_eq!(st, 413, "{v}");
    let (code, msg) = error_of(&v);
    assert_eq!(code, "input_too_long");
    assert!(
        msg.contains(&format!("{n} tokens")) && msg.contains("2048"),
        "{msg}"
    );
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": long.text, "prompt_name": long.prompt_name}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["usage"]["prompt_tokens"], 2048);
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": [[2, 262144, 1]]}),
    );
    assert_eq!(st, 422);
    assert_eq!(error_of(&v).0, "token_out_of_range");
}

#[test]
fn official_openai_python_client_works_unchanged() {
    let texts = sample_texts(31);
    let (q_text, _) = texts
        .iter()
        .find(|t| t.1.as_deref() == Some("query"))
        .unwrap()
        .clone();
    let plain: Vec<String> = texts
        .iter()
        .filter(|t| t.1.is_none())
        .map(|t| t.0.clone())
        .take(3)
        .collect();
    let want_plain = offline_embed(
        &plain
            .iter()
            .map(|t| Input::new(t.clone()))
            .collect::<Vec<_>>(),
    );
    let want_query = offline_embed(&[Input::new(q_text.clone()).with_prompt("query")]);
    let want_256 = offline_embed(&[Input::new(plain[0].clone()).with_dims(256)]);

    let script = r#"
import json, sys
import openai
url, key, plain, query = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
c = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
out = {}
r = c.embeddings.create(model="embeddinggemma", input=plain)          # base64 by default
out["default"] = [d.embedding for d in r.data]
out["index"] = [d.index for d in r.data]
out["usage"] = [r.usage.prompt_tokens, r.usage.total_tokens]
out["model"] = r.model
r = c.embeddings.create(model="embeddinggemma", input=plain, encoding_format="float")
out["float"] = [d.embedding for d in r.data]
out["dims256"] = c.embeddings.create(model="m", input=plain[0], dimensions=256).data[0].embedding
out["query"] = c.embeddings.create(model="m", input=query, extra_body={"prompt_name": "query"}).data[0].embedding
out["models"] = [m.id for m in c.models.list()]
try:
    c.embeddings.create(model="m", input=query, extra_body={"prompt_name": "no-such-prompt"})
    out["bad_prompt"] = None
except openai.UnprocessableEntityError as e:
    out["bad_prompt"] = [e.status_code, e.body["code"], e.body["message"]]
try:
    openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).embeddings.create(model="m", input="x")
    out["bad_key"] = None
except openai.AuthenticationError as e:
    out["bad_key"] = e.status_code
print(json.dumps(out))
"#;
    let url = server().url.clone();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            &url,
            KEY,
            &serde_json::to_string(&plain).unwrap(),
            &q_text,
        ])
        .output()
        .expect("python3 must be installed (scripts/test.sh installs the `openai` package)");
    assert!(
        out.status.success(),
        "the openai client failed (scripts/test.sh runs `python3 -m pip install openai`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let vecs = |v: &Value| -> Vec<Vec<u32>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| bits(&floats(e)))
            .collect()
    };
    let want_bits: Vec<Vec<u32>> = want_plain.iter().map(|w| bits(w)).collect();
    assert_eq!(
        vecs(&v["default"]),
        want_bits,
        "base64 (the client's default) differs from offline"
    );
    assert_eq!(vecs(&v["float"]), want_bits, "float differs from offline");
    assert_eq!(v["index"], json!([0, 1, 2]));
    assert!(v["usage"][0].as_u64().unwrap() > 3);
    assert_eq!(v["usage"][0], v["usage"][1]);
    assert_eq!(v["model"], "embeddinggemma-300M-Q8_0");
    assert_eq!(vecs(&json!([v["dims256"]])), vec![bits(&want_256[0])]);
    assert_eq!(vecs(&json!([v["query"]])), vec![bits(&want_query[0])]);
    assert_eq!(v["models"], json!(["embeddinggemma-300M-Q8_0"]));
    assert_eq!(v["bad_prompt"][0], 422);
    assert_eq!(v["bad_prompt"][1], "unknown_prompt");
    assert!(v["bad_prompt"][2]
        .as_str()
        .unwrap()
        .contains("no-such-prompt"));
    assert_eq!(v["bad_key"], 401);
}

#[test]
fn short_load_run_has_no_errors_and_no_mismatches() {
    let texts = sample_texts(6);
    let inputs = inputs_of(&texts);
    let expected = offline_embed(&inputs);
    let cfg = server::loadtest::LoadConfig {
        url: server().url.clone(),
        clients: 8,
        duration: Duration::from_secs(3),
        api_key: Some(KEY.into()),
        texts: texts
            .into_iter()
            .map(|(text, prompt_name)| server::loadtest::LoadText { text, prompt_name })
            .collect(),
        max_inputs: 4,
        expected: Some(Arc::new(expected)),
        backoff_on_429: Duration::from_millis(50),
        seed: 7,
    };
    let rep = server::loadtest::run(&cfg).unwrap();
    eprintln!("{}", rep.render());
    assert_eq!(rep.transport_errors, 0, "{}", rep.render());
    assert_eq!(rep.server_errors(), 0, "{}", rep.render());
    assert_eq!(rep.mismatches, 0, "{}", rep.render());
    assert!(rep.count(200) >= 8, "{}", rep.render());
    assert_eq!(
        rep.statuses
            .keys()
            .copied()
            .filter(|s| *s != 200 && *s != 429)
            .count(),
        0,
        "{}",
        rep.render()
    );
    assert!(rep.max_queue_depth <= rep.queue_capacity);
}
