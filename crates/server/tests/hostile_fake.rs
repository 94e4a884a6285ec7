//! The short forms of the hostile-client harness (`server::hostile`) and of the soak
//! (`server::soak`), against the fake backend with short timeouts: hundreds of slow-body, slow-head
//! and idle connections plus every one-shot attack, while well-behaved clients must keep getting
//! 200s with bit-exact vectors; then mixed traffic with the attack at a low rate, checking that no
//! descriptor or thread is left behind. About 35 s in all. Each test runs alone in a child
//! process of the test binary (`common::ran_alone`): they compare the process's descriptor and
//! thread counts, which the binary's other tests would disturb.

use crate::common;

use common::{FakeBackend, TestServer, FAKE_DIMS};
use serde_json::json;
use server::hostile::{self, HostileConfig};
use server::loadtest::{LoadConfig, LoadText};
use server::soak::{Expect, SoakCase, SoakConfig};
use server::ServerConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn process_counts(s: &TestServer) -> (f64, f64) {
    let t = s.client().get("/metrics").unwrap().text();
    let get = |k| server::metrics::sample(&t, k).unwrap_or(f64::NAN);
    (get("process_open_fds"), get("process_threads"))
}

fn short_timeouts() -> ServerConfig {
    ServerConfig {
        head_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(2),
        keep_alive_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        body_limit: 256 * 1024,
        ..ServerConfig::default()
    }
}

#[test]
fn hostile_clients_do_not_starve_well_behaved_ones() {
    // Counts descriptors and threads of the whole process: runs alone, in a child process.
    if common::ran_alone(module_path!(), "hostile_clients_do_not_starve_well_behaved_ones") {
        return;
    }
    let s = TestServer::fake(short_timeouts(), FakeBackend::with_delay(2));
    let texts: Vec<LoadText> = (0..40)
        .map(|i| LoadText {
            text: format!("w{} w{} some words", 10 + i, 60 + i % 7),
            prompt_name: None,
        })
        .collect();
    let expected = texts
        .iter()
        .map(|t| FakeBackend::vector(&FakeBackend::encode(&t.text), FAKE_DIMS, true))
        .collect();
    let load = LoadConfig {
        url: s.url.clone(),
        clients: 8,
        duration: Duration::from_secs(6),
        api_key: None,
        texts,
        max_inputs: 4,
        expected: Some(Arc::new(expected)),
        backoff_on_429: Duration::from_millis(20),
        seed: 7,
    };
    let attack = HostileConfig {
        slow_body: 500,
        slow_head: 200,
        idle: 100,
        one_shot_every: Duration::from_millis(20),
        // The server's own watchdog is exact to its 250 ms tick; the rest of the slack absorbs
        // scheduling on a loaded 2-core CI machine (seen: an idle connection closed 2 s late
        // while three builds ran beside the test).
        slack: Duration::from_millis(3000),
    };
    let before = process_counts(&s);
    let t0 = Instant::now();
    let rep = hostile::run(&load, &attack).expect("harness runs");
    let after = process_counts(&s);
    print!("{}", rep.render());
    println!(
        "fds, threads: before {before:?}, after {after:?}; {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    for (what, ok) in rep.checks() {
        println!("{} {what}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            failed.push(what);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:#?}");
    // Everything the attack opened has been closed again: no descriptor or thread is left behind
    // (the harness's own metrics connection is the one extra socket pair).
    assert!(after.0 <= before.0 + 2.0, "fds {before:?} -> {after:?}");
    assert!(after.1 <= before.1, "threads {before:?} -> {after:?}");
}

#[test]
fn the_harness_refuses_non_loopback_addresses() {
    let e = hostile::loopback_addr("http://192.0.2.1:80").unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    assert!(hostile::loopback_addr("http://127.0.0.1:9").is_ok());
}

fn fake_vec(text: &str, dims: usize) -> Vec<f32> {
    FakeBackend::vector(&FakeBackend::encode(text), dims, true)
}

/// Every kind of traffic the soak sends, with what it must get back.
fn soak_cases() -> Vec<SoakCase> {
    let mut cases = Vec::new();
    let json = Some("application/json");
    for i in 0..8 {
        let texts = [
            format!("w{} w{} soak", 100 + i, 200 + i),
            format!("w{}", 300 + i),
        ];
        let want: Vec<Vec<f32>> = texts.iter().map(|t| fake_vec(t, FAKE_DIMS)).collect();
        cases.push(SoakCase {
            kind: "openai float",
            path: "/v1/embeddings",
            body: json!({"input": texts, "model": "x"}).to_string(),
            content_type: json,
            expect: Expect::Vectors(want.clone()),
        });
        cases.push(SoakCase {
            kind: "openai base64 (curl -d)",
            path: "/v1/embeddings",
            body: json!({"input": texts, "encoding_format": "base64"}).to_string(),
            content_type: Some("application/x-www-form-urlencoded"),
            expect: Expect::Vectors(want.clone()),
        });
        cases.push(SoakCase {
            kind: "openai dims",
            path: "/v1/embeddings",
            body: json!({"input": texts, "dimensions": 4}).to_string(),
            content_type: None,
            expect: Expect::Vectors(texts.iter().map(|t| fake_vec(t, 4)).collect()),
        });
        cases.push(SoakCase {
            kind: "openai token ids",
            path: "/v1/embeddings",
            body: json!({"input": [FakeBackend::encode(&texts[0])]}).to_string(),
            content_type: json,
            expect: Expect::Vectors(vec![want[0].clone()]),
        });
        cases.push(SoakCase {
            kind: "tei embed",
            path: "/embed",
            body: json!({"inputs": texts}).to_string(),
            content_type: json,
            expect: Expect::Vectors(want),
        });
    }
    for (kind, path, body, ct, status) in [
        (
            "tokenize",
            "/tokenize",
            r#"{"inputs":"w11 w12"}"#,
            json,
            200,
        ),
        (
            "detokenize",
            "/detokenize",
            r#"{"ids":[2,11,1]}"#,
            json,
            200,
        ),
        (
            "bad: invalid JSON",
            "/v1/embeddings",
            r#"{"input": "#,
            json,
            400,
        ),
        (
            "bad: dimensions",
            "/v1/embeddings",
            r#"{"input":"a","dimensions":3}"#,
            json,
            422,
        ),
        (
            "bad: prompt",
            "/embed",
            r#"{"inputs":"a","prompt_name":"nope"}"#,
            json,
            422,
        ),
        (
            "bad: token id",
            "/v1/embeddings",
            r#"{"input":[2,5000,1]}"#,
            json,
            422,
        ),
        (
            "bad: content type",
            "/embed",
            r#"{"inputs":"a"}"#,
            Some("text/plain"),
            415,
        ),
    ] {
        cases.push(SoakCase {
            kind,
            path,
            body: body.into(),
            content_type: ct,
            expect: Expect::Status(status),
        });
    }
    cases
}

#[test]
fn soak_short_form_leaves_nothing_behind() {
    // Counts descriptors and threads of the whole process: runs alone, in a child process.
    if common::ran_alone(module_path!(), "soak_short_form_leaves_nothing_behind") {
        return;
    }
    let s = TestServer::fake(short_timeouts(), FakeBackend::with_delay(1));
    let cfg = SoakConfig {
        url: s.url.clone(),
        api_key: None,
        clients: 6,
        duration: Duration::from_secs(12),
        cases: soak_cases(),
        sample_every: Duration::from_secs(1),
        warm_up: Duration::from_secs(4),
        cancel_every: Duration::from_millis(20),
        hostile: HostileConfig {
            slow_body: 10,
            slow_head: 10,
            idle: 10,
            one_shot_every: Duration::from_millis(200),
            slack: Duration::from_millis(1500),
        },
    };
    let rep = server::soak::run(&cfg).expect("soak runs");
    print!("{}", rep.render());
    let mut failed = Vec::new();
    for (what, ok) in rep.checks() {
        println!("{} {what}", if ok { "PASS" } else { "FAIL" });
        // RSS is the long form's bar: here the clients share the server's process.
        if !ok && !what.starts_with("RSS") {
            failed.push(what);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:#?}");
    assert!(rep.cancelled > 50, "{} cancellations", rep.cancelled);
    for kind in [
        "openai float",
        "openai token ids",
        "tei embed",
        "bad: content type",
    ] {
        let n: u64 = rep.kinds[kind].statuses.values().sum();
        assert!(n > 5, "{kind}: {n} requests");
    }
}
