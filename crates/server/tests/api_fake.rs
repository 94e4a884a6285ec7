//! Every endpoint and every request-error path, over real TCP, with the deterministic fake backend.

use crate::common;

use common::{bits, error_of, floats, post, FakeBackend, TestServer, FAKE_DIMS};
use serde_json::{json, Value};
use server::api::base64_f32;
use server::ServerConfig;

fn server() -> TestServer {
    TestServer::fake(ServerConfig::default(), FakeBackend::default())
}

#[test]
fn openai_embeddings_all_input_shapes() {
    let s = server();
    let mut c = s.client();
    let expect = |text: &str| FakeBackend::vector(&FakeBackend::encode(text), FAKE_DIMS, true);

    // A single string.
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": "hello world", "model": "x"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "fake-embed");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["index"], 0);
    assert_eq!(
        bits(&floats(&v["data"][0]["embedding"])),
        bits(&expect("hello world"))
    );
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    assert_eq!(v["usage"]["total_tokens"], 4);

    // An array of strings, in order, with usage summed.
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": ["a", "b c d", "e f"]}),
    );
    assert_eq!(st, 200, "{v}");
    for (i, t) in ["a", "b c d", "e f"].iter().enumerate() {
        assert_eq!(v["data"][i]["index"], i);
        assert_eq!(bits(&floats(&v["data"][i]["embedding"])), bits(&expect(t)));
    }
    assert_eq!(v["usage"]["prompt_tokens"], 3 + 5 + 4);

    // Token ids, used as sent, and arrays of them.
    let ids = FakeBackend::encode("w11 w12");
    let (st, v) = post(&mut c, "/v1/embeddings", &json!({"input": ids}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        bits(&floats(&v["data"][0]["embedding"])),
        bits(&expect("w11 w12"))
    );
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": [[2, 11, 1], [2, 13, 14, 1]]}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        bits(&floats(&v["data"][1]["embedding"])),
        bits(&expect("w13 w14"))
    );
    assert_eq!(v["usage"]["total_tokens"], 7);
}

#[test]
fn openai_base64_dimensions_and_prompts() {
    let s = server();
    let mut c = s.client();
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": ["x y", "z"], "encoding_format": "base64", "dimensions": 4}),
    );
    assert_eq!(st, 200, "{v}");
    let got = base64_f32(v["data"][0]["embedding"].as_str().unwrap()).unwrap();
    assert_eq!(
        bits(&got),
        bits(&FakeBackend::vector(&FakeBackend::encode("x y"), 4, true))
    );

    // prompt_name prepends the prompt; title is passed through to the model.
    let (st, v) = post(
        &mut c,
        "/v1/embeddings",
        &json!({"input": "x", "prompt_name": "Query"}),
    );
    assert_eq!(st, 200, "{v}");
    let want = FakeBackend::vector(
        &FakeBackend::encode("task: search result | query: x"),
        FAKE_DIMS,
        true,
    );
    assert_eq!(bits(&floats(&v["data"][0]["embedding"])), bits(&want));
    assert_eq!(v["usage"]["prompt_tokens"], 8);

    // The server-side truncation default applies (32-token context in the fake).
    let long = vec!["w"; 50].join(" ");
    let (st, v) = post(&mut c, "/v1/embeddings", &json!({"input": long}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["usage"]["prompt_tokens"], 32);
}

#[test]
fn tei_embed_tokenize_detokenize() {
    let s = server();
    let mut c = s.client();
    let (st, v) = post(&mut c, "/embed", &json!({"inputs": "a b"}));
    assert_eq!(st, 200, "{v}");
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 1);
    assert_eq!(
        bits(&floats(&arr[0])),
        bits(&FakeBackend::vector(
            &FakeBackend::encode("a b"),
            FAKE_DIMS,
            true
        ))
    );

    let (st, v) = post(
        &mut c,
        "/embed",
        &json!({"inputs": ["a", "b"], "normalize": false, "truncate": true, "truncation_direction": "Right", "dimensions": 4, "prompt_name": "document"}),
    );
    assert_eq!(st, 200, "{v}");
    let want = FakeBackend::vector(&FakeBackend::encode("title: none | text: b"), 4, false);
    assert_eq!(bits(&floats(&v[1])), bits(&want));

    let (st, v) = post(&mut c, "/tokenize", &json!({"inputs": ["w11 w12", "w13"]}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v[0].as_array().unwrap().len(), 4);
    assert_eq!(
        v[0][0],
        json!({"id": 2, "text": "<bos>", "special": true, "start": null, "stop": null})
    );
    assert_eq!(v[0][1]["id"], 11);
    assert_eq!(v[0][1]["text"], "\u{2581}w11");
    assert_eq!(v[0][1]["special"], false);
    assert_eq!(v[1].as_array().unwrap().len(), 3);

    let (st, v) = post(
        &mut c,
        "/tokenize",
        &json!({"inputs": "w11", "add_special_tokens": false, "prompt_name": "query"}),
    );
    assert_eq!(st, 200, "{v}");
    let ids: Vec<u64> = v[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let mut want: Vec<u64> = FakeBackend::encode("task: search result | query: w11")
        .iter()
        .map(|&x| x as u64)
        .collect();
    want.remove(0);
    want.pop();
    assert_eq!(ids, want);

    let (st, v) = post(&mut c, "/detokenize", &json!({"ids": [2, 11, 12, 1]}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!(["w11 w12"]));
    let (st, v) = post(
        &mut c,
        "/detokenize",
        &json!({"ids": [[2, 11, 1], [13]], "skip_special_tokens": false}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!(["<bos>w11<eos>", "w13"]));
}

#[test]
fn info_models_health_metrics() {
    let s = server();
    let mut c = s.client();
    let r = c.get("/health").unwrap();
    assert_eq!(r.status, 200);
    let v = c.get("/info").unwrap().json().unwrap();
    assert_eq!(v["model_id"], "fake-embed");
    assert_eq!(v["dims"], 8);
    assert_eq!(v["max_input_length"], 32);
    assert_eq!(v["quantization"], "F32");
    assert_eq!(v["dense_head"], true);
    assert_eq!(v["prompts"]["query"], "task: search result | query:");
    assert_eq!(v["supported_dims"], json!([8, 4]));
    let v = c.get("/v1/models").unwrap().json().unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "fake-embed");
    assert_eq!(v["data"][0]["object"], "model");

    post(&mut c, "/embed", &json!({"inputs": ["a b c", "d"]}));
    post(&mut c, "/embed", &json!({"inputs": []}));
    let r = c.get("/metrics").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let t = r.text();
    let m = |k: &str| server::metrics::sample(&t, k).unwrap_or_else(|| panic!("no {k} in\n{t}"));
    assert_eq!(
        m("ggufembed_requests_total{route=\"/embed\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        m("ggufembed_requests_total{route=\"/embed\",status=\"422\"}"),
        1.0
    );
    // wait_ready() and the check above.
    assert_eq!(
        m("ggufembed_requests_total{route=\"/health\",status=\"200\"}"),
        2.0
    );
    assert_eq!(m("ggufembed_tokens_embedded_total"), 8.0);
    assert_eq!(m("ggufembed_inputs_embedded_total"), 2.0);
    assert_eq!(
        m("ggufembed_request_duration_seconds_count{route=\"/embed\"}"),
        2.0
    );
    assert_eq!(m("ggufembed_batch_inputs_count"), 1.0);
    assert_eq!(m("ggufembed_queue_depth"), 0.0);
    assert_eq!(m("ggufembed_model_loaded"), 1.0);
    assert!(m("ggufembed_peak_resident_memory_bytes") > 0.0);
}

/// (path, body, expected status, expected code, a phrase the message must contain)
type Case = (&'static str, Value, u16, &'static str, &'static str);

#[test]
fn request_errors_are_openai_shaped_and_say_what_to_fix() {
    let s = server();
    let mut c = s.client();
    let long = vec!["w"; 50].join(" ");
    let cases: Vec<Case> = vec![
        (
            "/v1/embeddings",
            json!({"input": 5}),
            422,
            "invalid_value",
            "`input` is a number",
        ),
        (
            "/v1/embeddings",
            json!({"input": []}),
            422,
            "invalid_value",
            "empty array",
        ),
        (
            "/v1/embeddings",
            json!({"input": ["a", [2, -3]]}),
            422,
            "invalid_value",
            "`input[1][1]` = -3",
        ),
        (
            "/v1/embeddings",
            json!({"model": "m"}),
            422,
            "invalid_type",
            "missing field `input`",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "dimensions": "8"}),
            422,
            "invalid_type",
            "dimensions",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "inptu": 1}),
            422,
            "invalid_type",
            "unknown field `inptu`",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "encoding_format": "int8"}),
            422,
            "invalid_type",
            "unknown variant `int8`",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "prompt_name": "nope"}),
            422,
            "unknown_prompt",
            "\"nope\"",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "dimensions": 5}),
            422,
            "unsupported_dimensions",
            "[8, 4]",
        ),
        (
            "/v1/embeddings",
            json!({"input": [2, 1000, 1]}),
            422,
            "token_out_of_range",
            "token id 1000",
        ),
        (
            "/v1/embeddings",
            json!({"input": [[2, 1], [2, 5000, 1]]}),
            422,
            "token_out_of_range",
            "input 1:",
        ),
        (
            "/v1/embeddings",
            json!({"input": [2, 11, 1], "prompt_name": "query"}),
            422,
            "invalid_value",
            "text inputs only",
        ),
        (
            "/v1/embeddings",
            json!({"input": ["ok", long.clone()], "truncate": false}),
            413,
            "input_too_long",
            "input 1: input has 52 tokens",
        ),
        (
            "/v1/embeddings",
            json!({"input": vec![2u32; 40], "truncate": false}),
            413,
            "input_too_long",
            "40 tokens",
        ),
        (
            "/embed",
            json!({"inputs": long, "truncate": false}),
            413,
            "input_too_long",
            "\"truncate\": true",
        ),
        (
            "/embed",
            json!({"inputs": "a", "truncation_direction": "Left"}),
            422,
            "invalid_value",
            "\"Right\"",
        ),
        (
            "/embed",
            json!({"inputs": "a", "truncation_direction": "Up"}),
            422,
            "invalid_type",
            "truncation_direction",
        ),
        (
            "/embed",
            json!({"inputs": "a", "normalize": "yes"}),
            422,
            "invalid_type",
            "normalize",
        ),
        (
            "/embed",
            json!({"inputs": vec!["a"; 257]}),
            422,
            "invalid_value",
            "257 inputs",
        ),
        (
            "/tokenize",
            json!({"inputs": [[2, 1]]}),
            422,
            "invalid_value",
            "array of strings",
        ),
        (
            "/tokenize",
            json!({"inputs": "a", "prompt_name": "nope"}),
            422,
            "unknown_prompt",
            "input 0",
        ),
        (
            "/detokenize",
            json!({"ids": "abc"}),
            422,
            "invalid_value",
            "token ids",
        ),
        (
            "/detokenize",
            json!({"ids": [[1, 2], [3, 1000]]}),
            422,
            "token_out_of_range",
            "input 1",
        ),
    ];
    for (path, body, status, code, phrase) in cases {
        let (st, v) = post(&mut c, path, &body);
        let (got_code, msg) = error_of(&v);
        assert_eq!(
            (st, got_code.as_str()),
            (status, code),
            "{path} {body}: {v}"
        );
        assert!(
            msg.contains(phrase),
            "{path} {body}: message {msg:?} lacks {phrase:?}"
        );
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
}

#[test]
fn http_level_errors() {
    let cfg = ServerConfig {
        body_limit: 1000,
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, FakeBackend::default());
    let mut c = s.client();

    let r = c
        .post_json("/v1/embeddings", b"{\"input\": \"a\"", &[])
        .unwrap();
    assert_eq!(r.status, 400);
    let (code, msg) = error_of(&r.json().unwrap());
    assert_eq!(code, "invalid_json");
    assert!(msg.contains("EOF"), "{msg}");

    // A JSON body with no Content-Type, or with the form type `curl -d` sends, is read as JSON;
    // any other declared type is refused with 415 naming what to send.
    let want = bits(&FakeBackend::vector(
        &FakeBackend::encode("a"),
        FAKE_DIMS,
        true,
    ));
    for ct in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=utf-8"),
    ] {
        let h: Vec<(&str, &str)> = ct.iter().map(|v| ("Content-Type", *v)).collect();
        let r = c
            .request("POST", "/embed", &h, Some(b"{\"inputs\":\"a\"}"))
            .unwrap();
        assert_eq!(r.status, 200, "{ct:?}: {}", r.text());
        assert_eq!(bits(&floats(&r.json().unwrap()[0])), want, "{ct:?}");
    }
    for ct in ["text/plain", "multipart/form-data; boundary=x"] {
        let r = c
            .request(
                "POST",
                "/embed",
                &[("Content-Type", ct)],
                Some(b"{\"inputs\":\"a\"}"),
            )
            .unwrap();
        assert_eq!(r.status, 415, "{ct}");
        let (code, msg) = error_of(&r.json().unwrap());
        assert_eq!(code, "unsupported_content_type");
        assert!(msg.contains("Content-Type: application/json"), "{msg}");
        assert!(msg.contains(ct.split(';').next().unwrap()), "{msg}");
    }

    let big = json!({"input": "a ".repeat(600)}).to_string();
    let r = c.post_json("/v1/embeddings", big.as_bytes(), &[]).unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(error_of(&r.json().unwrap()).0, "body_too_large");

    let r = c.get("/v2/nothing").unwrap();
    assert_eq!(r.status, 404);
    assert!(error_of(&r.json().unwrap()).1.contains("/v2/nothing"));

    let r = c.get("/v1/embeddings").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(error_of(&r.json().unwrap()).0, "method_not_allowed");

    // Invalid UTF-8 inside a JSON string.
    let r = c
        .post_json("/embed", b"{\"inputs\": \"\xff\xfe\"}", &[])
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    error_of(&r.json().unwrap());

    // The connection is still usable after all that.
    let (st, _) = post(&mut c, "/embed", &json!({"inputs": "a"}));
    assert_eq!(st, 200);
}

/// `curl -d` sends `application/x-www-form-urlencoded`; the API reads it as JSON (as llama-server
/// does). Runs the real curl when it is installed.
#[test]
fn curl_dash_d_gets_200() {
    let s = server();
    let out = match std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-d", r#"{"input":"hi"}"#])
        .arg(format!("{}/v1/embeddings", s.url))
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("curl not found ({e}); the form type is covered by http_level_errors");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code, "200", "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        bits(&floats(&v["data"][0]["embedding"])),
        bits(&FakeBackend::vector(
            &FakeBackend::encode("hi"),
            FAKE_DIMS,
            true
        ))
    );
}
