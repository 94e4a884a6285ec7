//! SIGTERM and SIGINT (Ctrl-C) drain gracefully: the test re-runs its own binary as a child that
//! serves with `run_until_signal` (fake backend, slow batches), then signals it mid-request.
#![cfg(unix)]

use crate::common;

use common::FakeBackend;
use server::client::HttpClient;
use server::ServerConfig;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "GGUFEMBED_TEST_SIGNAL_CHILD";

/// In the child: serve until a signal, then report how it ended.
fn child_main() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("PORT={}", listener.local_addr().unwrap().port());
    let r = server::run_until_signal(
        listener,
        ServerConfig::default(),
        || Ok(FakeBackend::with_delay(1500)),
        || println!("SIGNALLED"),
    );
    println!("EXIT={}", if r.is_ok() { "clean" } else { "error" });
}

fn drain_on(signal: &str, test_name: &str) {
    let mut child = common::spawn_alone(
        &common::test_name(module_path!(), test_name),
        &[(CHILD_ENV, "1")],
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut port = None;
    let mut line = String::new();
    while port.is_none() {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before binding"
        );
        // libtest may print "test NAME ... " on the same line first.
        port = line
            .split("PORT=")
            .nth(1)
            .map(|p| p.trim().parse::<u16>().unwrap());
    }
    let url = format!("http://127.0.0.1:{}", port.unwrap());
    let t0 = Instant::now();
    while HttpClient::new(&url)
        .unwrap()
        .get("/health")
        .map(|r| r.status)
        .ok()
        != Some(200)
    {
        assert!(t0.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    let in_flight = {
        let url = url.clone();
        std::thread::spawn(move || {
            HttpClient::new(&url)
                .unwrap()
                .post_json("/embed", b"{\"inputs\": \"w11 w12\"}", &[])
                .unwrap()
        })
    };
    // Signal once the request is being handled (the fake then "computes" for 1.5 s).
    let t0 = Instant::now();
    loop {
        let m = HttpClient::new(&url)
            .unwrap()
            .get("/metrics")
            .unwrap()
            .text();
        if server::metrics::sample(&m, "ggufembed_requests_in_flight") == Some(1.0) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "request never reached the server"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    while TcpStream::connect(url.trim_start_matches("http://")).is_ok() {
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "new connections must be refused soon after {signal}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        !in_flight.is_finished(),
        "the in-flight request must still be running"
    );
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200, "in-flight request must finish: {}", r.text());
    let v = r.json().unwrap();
    let want = FakeBackend::vector(&FakeBackend::encode("w11 w12"), common::FAKE_DIMS, true);
    let got = common::floats(&v[0]);
    assert_eq!(got, want);
    let mut rest = String::new();
    for l in out.lines() {
        rest.push_str(&l.unwrap());
        rest.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "child exit status {status:?}; output:\n{rest}"
    );
    assert!(
        rest.contains("SIGNALLED") && rest.contains("EXIT=clean"),
        "child output:\n{rest}"
    );
}

#[test]
fn sigterm_drains_in_flight_and_exits_cleanly() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_main();
    }
    drain_on("-TERM", "sigterm_drains_in_flight_and_exits_cleanly");
}

#[test]
fn ctrl_c_drains_in_flight_and_exits_cleanly() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_main();
    }
    drain_on("-INT", "ctrl_c_drains_in_flight_and_exits_cleanly");
}
