//! Batching, back-pressure, timeouts, cancellation, auth, CORS, loading and shutdown, over real TCP
//! with the fake backend (whose batches can be slowed down and are logged).

use crate::common;

use common::{error_of, metric, post, wait_until, FakeBackend, TestServer, FAKE_DIMS};
use serde_json::{json, Value};
use server::metrics::sample;
use server::{ServerConfig, ServerError};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Runs the requests at once, one connection each; returns (status, body, retry-after).
fn burst_with(
    clients: Vec<server::client::HttpClient>,
    bodies: Vec<(&'static str, Value)>,
) -> Vec<(u16, Value, Option<String>)> {
    let handles: Vec<_> = clients
        .into_iter()
        .zip(bodies)
        .map(|(mut c, (path, body))| {
            std::thread::spawn(move || {
                let r = c.post_json(path, body.to_string().as_bytes(), &[]).unwrap();
                (
                    r.status,
                    r.json().unwrap_or(Value::Null),
                    r.header("retry-after").map(String::from),
                )
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn vec_of(v: &Value) -> Vec<u32> {
    common::bits(&common::floats(v))
}

fn want(text: &str) -> Vec<u32> {
    FakeBackend::vector(&FakeBackend::encode(text), FAKE_DIMS, true)
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

#[test]
fn concurrent_requests_share_batches_in_fifo_order() {
    let fake = FakeBackend::held();
    let (log, gate) = (fake.log.clone(), fake.clone());
    let cfg = ServerConfig {
        batch_tokens: 64,
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, fake);
    // Occupy the worker, then queue 5 requests of 2 inputs while it "computes".
    let blocker = {
        let mut c = s.client();
        std::thread::spawn(move || post(&mut c, "/embed", &json!({"inputs": "w901"})))
    };
    wait_until("the blocker's batch", || {
        log.started.load(Ordering::SeqCst) == 1
    });
    let burst_thread = {
        let bodies: Vec<_> = (0..5)
            .map(|i| {
                (
                    "/embed",
                    json!({"inputs": [format!("w{} x", 100 + i), format!("w{} y z", 200 + i)]}),
                )
            })
            .collect();
        let clients: Vec<_> = (0..5).map(|_| s.client()).collect();
        std::thread::spawn(move || burst_with(clients, bodies))
    };
    wait_until("5 queued requests", || {
        metric(&s, "ggufembed_queue_depth") == 5.0
    });
    gate.release();
    let out = burst_thread.join().unwrap();
    assert_eq!(blocker.join().unwrap().0, 200);
    for (i, (st, v, _)) in out.iter().enumerate() {
        assert_eq!(*st, 200, "{v}");
        assert_eq!(vec_of(&v[0]), want(&format!("w{} x", 100 + i)));
        assert_eq!(vec_of(&v[1]), want(&format!("w{} y z", 200 + i)));
    }
    let batches = log.batches.lock().unwrap().clone();
    // All 10 inputs of the burst were merged into one batch after the blocker's.
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[1].len(), 10, "{batches:?}");
    let t = s.client().get("/metrics").unwrap().text();
    assert_eq!(
        sample(&t, "ggufembed_batch_inputs_bucket{le=\"1\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&t, "ggufembed_batch_inputs_bucket{le=\"16\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&t, "ggufembed_batch_tokens_sum"),
        Some(3.0 + 5.0 * (4.0 + 5.0))
    );
}

#[test]
fn one_request_spans_batches_and_order_is_fifo() {
    let fake = FakeBackend::held();
    let (log, gate) = (fake.log.clone(), fake.clone());
    let cfg = ServerConfig {
        batch_tokens: 8, // three 3-token inputs never fit: two per batch
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, fake);
    let send = |body: Value| {
        let mut c = s.client();
        std::thread::spawn(move || post(&mut c, "/embed", &body))
    };
    let blocker = send(json!({"inputs": "w900"}));
    wait_until("the blocker's batch", || {
        log.started.load(Ordering::SeqCst) == 1
    });
    let r1 = send(json!({"inputs": ["w11", "w12", "w13", "w14", "w15"]}));
    wait_until("r1 queued", || metric(&s, "ggufembed_queue_depth") == 1.0);
    let r2 = send(json!({"inputs": "w21"}));
    wait_until("r2 queued", || metric(&s, "ggufembed_queue_depth") == 2.0);
    gate.release();
    let ((st1, v1), (st2, v2)) = (r1.join().unwrap(), r2.join().unwrap());
    assert_eq!(blocker.join().unwrap().0, 200);
    assert_eq!((st1, st2), (200, 200));
    for (i, id) in (11..=15).enumerate() {
        assert_eq!(vec_of(&v1[i]), want(&format!("w{id}")));
    }
    assert_eq!(vec_of(&v2[0]), want("w21"));
    let batches = log.batches.lock().unwrap().clone();
    assert_eq!(
        batches[1..],
        [vec![11, 12], vec![13, 14], vec![15, 21]],
        "{batches:?}"
    );
}

#[test]
fn full_queue_answers_429_with_retry_after_and_stays_bounded() {
    let fake = FakeBackend::held();
    let gate = fake.clone();
    let cfg = ServerConfig {
        batch_tokens: 4, // the worker takes at most 2 one-word requests off the queue
        queue_size: 2,
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, fake);
    let bodies: Vec<_> = (0..16)
        .map(|i| ("/embed", json!({"inputs": format!("w{}", 100 + i)})))
        .collect();
    let clients: Vec<_> = (0..16).map(|_| s.client()).collect();
    let burst_thread = std::thread::spawn(move || burst_with(clients, bodies));
    // While the worker is held, everything beyond 2 taken + 2 queued is refused at once.
    let refused = "ggufembed_requests_total{route=\"/embed\",status=\"429\"}";
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        let m = s.client().get("/metrics").unwrap().text();
        assert!(
            sample(&m, "ggufembed_queue_depth").unwrap() <= 2.0,
            "queue above capacity"
        );
        if sample(&m, refused).unwrap_or(0.0) >= 12.0 {
            std::thread::sleep(Duration::from_millis(50)); // let the rest of the burst land
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    gate.release();
    let out = burst_thread.join().unwrap();
    let n429 = out.iter().filter(|o| o.0 == 429).count();
    let n200 = out.iter().filter(|o| o.0 == 200).count();
    assert_eq!(n429 + n200, 16, "{out:?}");
    // 2 queued + up to 2 the worker took (0 if it had not woken up yet): 12 to 14 refused.
    assert!(
        (12..=14).contains(&n429),
        "expected 12-14 refused, got {n429}: {out:?}"
    );
    for (st, v, retry) in &out {
        if *st == 429 {
            assert_eq!(retry.as_deref(), Some("1"));
            let (code, msg) = error_of(v);
            assert_eq!(code, "queue_full");
            assert!(msg.contains("retry"), "{msg}");
            assert_eq!(v["error"]["type"], "rate_limit_error");
        }
    }
}

#[test]
fn concurrency_limit_answers_429() {
    let fake = FakeBackend::held();
    let gate = fake.clone();
    let cfg = ServerConfig {
        max_concurrent: 2,
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, fake);
    let bodies: Vec<_> = (0..6)
        .map(|i| ("/v1/embeddings", json!({"input": format!("w{}", 100 + i)})))
        .collect();
    let clients: Vec<_> = (0..6).map(|_| s.client()).collect();
    let burst_thread = std::thread::spawn(move || burst_with(clients, bodies));
    let refused = "ggufembed_requests_total{route=\"/v1/embeddings\",status=\"429\"}";
    wait_until("4 refusals", || {
        let m = s.client().get("/metrics").unwrap().text();
        sample(&m, refused).unwrap_or(0.0) >= 4.0
    });
    assert_eq!(metric(&s, "ggufembed_requests_in_flight"), 2.0);
    // GET routes are not limited.
    assert_eq!(s.client().get("/info").unwrap().status, 200);
    gate.release();
    let out = burst_thread.join().unwrap();
    let refused: Vec<_> = out.iter().filter(|o| o.0 == 429).collect();
    assert_eq!(refused.len(), 4, "{out:?}");
    assert_eq!(error_of(&refused[0].1).0, "too_many_requests");
    assert_eq!(out.iter().filter(|o| o.0 == 200).count(), 2);
    assert_eq!(metric(&s, "ggufembed_requests_in_flight"), 0.0);
}

#[test]
fn timeout_answers_503_and_drops_the_queued_work() {
    let fake = FakeBackend::held();
    let (log, gate) = (fake.log.clone(), fake.clone());
    let cfg = ServerConfig {
        request_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, fake);
    let first = {
        let mut c = s.client();
        std::thread::spawn(move || post(&mut c, "/embed", &json!({"inputs": "w11"})))
    };
    wait_until("the first batch", || {
        log.started.load(Ordering::SeqCst) == 1
    });
    let (st, v) = post(&mut s.client(), "/embed", &json!({"inputs": "w22"}));
    assert_eq!(st, 503, "{v}");
    let (code, msg) = error_of(&v);
    assert_eq!(code, "timeout");
    assert!(msg.contains("timed out"), "{msg}");
    assert_eq!(first.join().unwrap().0, 503);
    gate.release();
    wait_until("w22 dropped", || {
        metric(&s, "ggufembed_requests_cancelled_total") == 1.0
    });
    assert_eq!(metric(&s, "ggufembed_queue_depth"), 0.0);
    let batches = log.batches.lock().unwrap().clone();
    assert_eq!(batches, vec![vec![11]], "w22 must never be computed");
}

#[test]
fn client_disconnect_drops_its_queued_work() {
    let fake = FakeBackend::held();
    let (log, gate) = (fake.log.clone(), fake.clone());
    let s = TestServer::fake(ServerConfig::default(), fake);
    let first = {
        let mut c = s.client();
        std::thread::spawn(move || post(&mut c, "/embed", &json!({"inputs": "w11"})))
    };
    wait_until("the first batch", || {
        log.started.load(Ordering::SeqCst) == 1
    });
    // Send a request and hang up while it waits in the queue.
    let body = json!({"inputs": "w22"}).to_string();
    let mut sock = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    write!(
        sock,
        "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    wait_until("w22 queued", || metric(&s, "ggufembed_queue_depth") == 1.0);
    drop(sock);
    wait_until("the server to notice", || {
        metric(&s, "ggufembed_requests_in_flight") == 1.0
    });
    gate.release();
    assert_eq!(first.join().unwrap().0, 200);
    wait_until("w22 dropped", || {
        metric(&s, "ggufembed_requests_cancelled_total") == 1.0
    });
    // The worker is idle again; a third request is computed right away.
    let (st, _) = post(&mut s.client(), "/embed", &json!({"inputs": "w33"}));
    assert_eq!(st, 200);
    let batches = log.batches.lock().unwrap().clone();
    assert_eq!(
        batches,
        vec![vec![11], vec![33]],
        "w22 must never be computed"
    );
}

#[test]
fn api_key_is_required_except_for_health() {
    let cfg = ServerConfig {
        api_key: Some("sekrit-key".into()),
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, FakeBackend::default());
    let mut c = s.client();
    assert_eq!(c.get("/health").unwrap().status, 200);
    let body = json!({"input": "a"}).to_string();
    for (headers, want_msg) in [
        (vec![], "missing API key"),
        (vec![("Authorization", "Bearer wrong")], "invalid API key"),
        (
            vec![("Authorization", "Bearer sekrit-ke")],
            "invalid API key",
        ),
        (vec![("x-api-key", "sekrit-key2")], "invalid API key"),
    ] {
        let r = c
            .post_json("/v1/embeddings", body.as_bytes(), &headers)
            .unwrap();
        assert_eq!(r.status, 401, "{headers:?}");
        let v = r.json().unwrap();
        let (code, msg) = error_of(&v);
        assert_eq!(code, "invalid_api_key");
        assert!(msg.contains(want_msg), "{msg}");
        assert_eq!(v["error"]["type"], "authentication_error");
    }
    for path in ["/info", "/metrics", "/v1/models"] {
        assert_eq!(c.get(path).unwrap().status, 401, "{path}");
    }
    let ok = c
        .post_json(
            "/v1/embeddings",
            body.as_bytes(),
            &[("Authorization", "Bearer sekrit-key")],
        )
        .unwrap();
    assert_eq!(ok.status, 200);
    let ok = c
        .post_json(
            "/embed",
            b"{\"inputs\":\"a\"}",
            &[("x-api-key", "sekrit-key")],
        )
        .unwrap();
    assert_eq!(ok.status, 200);
}

#[test]
fn cors_allows_configured_origins() {
    let cfg = ServerConfig {
        cors_origins: vec!["http://app.example".into()],
        api_key: Some("k".into()),
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, FakeBackend::default());
    let mut c = s.client();
    let pre = c
        .request(
            "OPTIONS",
            "/v1/embeddings",
            &[
                ("Origin", "http://app.example"),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization,content-type",
                ),
            ],
            None,
        )
        .unwrap();
    assert_eq!(pre.status, 200);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    let r = c
        .post_json(
            "/embed",
            b"{\"inputs\":\"a\"}",
            &[
                ("Origin", "http://app.example"),
                ("Authorization", "Bearer k"),
            ],
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    let r = c
        .post_json(
            "/embed",
            b"{\"inputs\":\"a\"}",
            &[
                ("Origin", "http://evil.example"),
                ("Authorization", "Bearer k"),
            ],
        )
        .unwrap();
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn health_is_503_until_the_model_is_loaded() {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let s = TestServer::start(ServerConfig::default(), move || {
        go_rx.recv().unwrap();
        Ok(FakeBackend::default())
    });
    let mut c = s.client();
    let r = c.get("/health").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(error_of(&r.json().unwrap()).0, "model_loading");
    let r = c
        .post_json("/v1/embeddings", b"{\"input\":\"a\"}", &[])
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(c.get("/info").unwrap().status, 503);
    go_tx.send(()).unwrap();
    s.wait_ready();
    assert_eq!(post(&mut c, "/embed", &json!({"inputs": "a"})).0, 200);
}

#[test]
fn a_failed_load_stops_the_server_with_the_reason() {
    let s = TestServer::start(
        ServerConfig::default(),
        || -> Result<FakeBackend, ServerError> {
            std::thread::sleep(Duration::from_millis(100));
            Err(ServerError::Model(
                "cannot open /nope.gguf: No such file".into(),
            ))
        },
    );
    match s.join() {
        Err(ServerError::LoadFailed(msg)) => assert!(msg.contains("/nope.gguf"), "{msg}"),
        other => panic!("expected LoadFailed, got {other:?}"),
    }
}

#[test]
fn graceful_shutdown_finishes_in_flight_and_refuses_new() {
    let fake = FakeBackend::held();
    let (log, gate) = (fake.log.clone(), fake.clone());
    let mut s = TestServer::fake(ServerConfig::default(), fake);
    let in_flight = {
        let mut c = s.client();
        std::thread::spawn(move || post(&mut c, "/embed", &json!({"inputs": "w11"})))
    };
    wait_until("the batch", || log.started.load(Ordering::SeqCst) == 1);
    let addr = s.url.trim_start_matches("http://").to_owned();
    s.signal_shutdown();
    wait_until("new connections refused", || {
        TcpStream::connect(&addr).is_err()
    });
    gate.release();
    let (st, v) = in_flight.join().unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(vec_of(&v[0]), want("w11"));
    s.join().expect("clean shutdown");
}

#[test]
fn model_failures_are_500_and_the_server_recovers() {
    let s = TestServer::fake(ServerConfig::default(), FakeBackend::default());
    let mut c = s.client();
    for (word, phrase) in [("w999", "fake failure"), ("w998", "fake panic")] {
        let (st, v) = post(&mut c, "/v1/embeddings", &json!({"input": ["w11", word]}));
        assert_eq!(st, 500, "{v}");
        let (code, msg) = error_of(&v);
        assert_eq!(code, "internal_error");
        assert!(msg.contains(phrase), "{msg}");
        assert_eq!(v["error"]["type"], "server_error");
        let (st, v) = post(&mut c, "/embed", &json!({"inputs": "w12"}));
        assert_eq!(st, 200, "the worker must keep serving after {word}: {v}");
        assert_eq!(vec_of(&v[0]), want("w12"));
    }
}
