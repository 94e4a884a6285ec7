//! The short form of the hostile-client harness (`server::hostile`), against the fake backend with
//! short timeouts: hundreds of slow-body, slow-head and idle connections plus every one-shot attack,
//! while well-behaved clients must keep getting 200s with bit-exact vectors. About 20 s.

mod common;

use common::{FakeBackend, TestServer, FAKE_DIMS};
use server::hostile::{self, HostileConfig};
use server::loadtest::{LoadConfig, LoadText};
use server::ServerConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn process_counts(s: &TestServer) -> (f64, f64) {
    let t = s.client().get("/metrics").unwrap().text();
    let get = |k| server::metrics::sample(&t, k).unwrap_or(f64::NAN);
    (get("process_open_fds"), get("process_threads"))
}

#[test]
fn hostile_clients_do_not_starve_well_behaved_ones() {
    let cfg = ServerConfig {
        head_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(2),
        keep_alive_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        body_limit: 256 * 1024,
        ..ServerConfig::default()
    };
    let s = TestServer::fake(cfg, FakeBackend::with_delay(2));
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
        slack: Duration::from_millis(1500),
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
