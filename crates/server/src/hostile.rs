//! Hostile-client harness (`ggufembed bench --server URL --hostile`, and the short form in
//! `tests/hostile_fake.rs`). Loopback only, bounded in connections and in time, stops by itself.
//!
//! It runs the well-behaved load of `loadtest` twice: alone (baseline), then while attackers run:
//! - held connections, re-opened as soon as the server closes them: slow bodies (a head with
//!   `Content-Length: 100000` and 9 bytes; half then stall, half trickle a byte a second), slow
//!   heads (a partial head, half stalled, half trickling) and idle connections that send nothing;
//! - one-shot attacks in a loop: disconnect mid-request and mid-response, pipelined requests,
//!   oversized heads and bodies (declared and chunked), malformed chunked encoding,
//!   `Expect: 100-continue`, and a client that does not read its responses.
//!
//! Every attack has an expected outcome (408 and closed within the body timeout, closed within the
//! head timeout, 431, 413, 400, 200 ...); anything else is counted as unexpected with an example.
//! With the held connections established, one normal request is timed (the "probe").

use crate::client::{read_response, HttpClient};
use crate::loadtest::{self, LoadConfig, LoadReport};
use crate::metrics::sample;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
pub struct HostileConfig {
    /// Slow-body connections held open at once.
    pub slow_body: usize,
    /// Slow-head connections held open at once.
    pub slow_head: usize,
    /// Connections that send nothing, held open at once.
    pub idle: usize,
    /// Pause between two one-shot attacks of one kind.
    pub one_shot_every: Duration,
    /// Extra time a server may take past its own timeout to close a held connection.
    pub slack: Duration,
}

impl Default for HostileConfig {
    fn default() -> Self {
        HostileConfig {
            slow_body: 300,
            slow_head: 200,
            idle: 100,
            one_shot_every: Duration::from_millis(50),
            slack: Duration::from_secs(2),
        }
    }
}

/// What one kind of attack saw.
#[derive(Debug, Clone, Default)]
pub struct KindStats {
    pub attempts: u64,
    pub unexpected: u64,
    pub first_unexpected: Option<String>,
    /// Held connections: longest time the server kept one open, seconds.
    pub max_held: f64,
}

/// The server's limits, from its /info.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub head_timeout: f64,
    pub body_timeout: f64,
    pub write_timeout: f64,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
}

#[derive(Debug, Clone, Default)]
pub struct HostileReport {
    pub baseline: LoadReport,
    pub attack: LoadReport,
    pub kinds: BTreeMap<&'static str, KindStats>,
    /// Slow-body connections open when the probe ran, its status and latency (s).
    pub probe: Option<(usize, u16, f64)>,
    pub limits: Limits,
    /// /metrics before the load, with the attack's held connections in place (at the probe), and
    /// after the attack stopped and the server had time to clean up.
    pub before: BTreeMap<String, f64>,
    pub during: BTreeMap<String, f64>,
    pub after: BTreeMap<String, f64>,
}

/// Share of the requests that got 200 (1.0 when there were none).
pub fn ok_rate(r: &LoadReport) -> f64 {
    let total: u64 = r.statuses.values().sum::<u64>() + r.transport_errors;
    if total == 0 {
        return 1.0;
    }
    r.count(200) as f64 / total as f64
}

impl HostileReport {
    /// Pass/fail lines for the bars of the hostile test.
    pub fn checks(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for (name, r) in [("baseline", &self.baseline), ("attack", &self.attack)] {
            out.push((
                format!(
                    "{name}: zero 5xx, mismatches, transport errors ({}, {}, {})",
                    r.server_errors(),
                    r.mismatches,
                    r.transport_errors
                ),
                r.server_errors() == 0 && r.mismatches == 0 && r.transport_errors == 0,
            ));
        }
        let rate = ok_rate(&self.attack);
        out.push((
            format!(
                "well-behaved clients during the attack: >= 99% 200s ({:.2}% of {})",
                rate * 100.0,
                self.attack.statuses.values().sum::<u64>()
            ),
            rate >= 0.99 && self.attack.count(200) > 0,
        ));
        if let Some((n, status, secs)) = self.probe {
            // The bar: not kept waiting for the stalled uploads' timeouts (at most 1 s past the
            // shorter of the head and body timeouts); it is normally the request's own compute.
            let bound = self.limits.head_timeout.min(self.limits.body_timeout) + 1.0;
            out.push((
                format!(
                    "a normal request with {n} stalled uploads open: 200 within {bound:.0} s ({status} in {:.0} ms)",
                    secs * 1e3
                ),
                status == 200 && secs <= bound,
            ));
        }
        for (kind, k) in &self.kinds {
            let mut what = format!(
                "{kind}: {} attempts, {} unexpected",
                k.attempts, k.unexpected
            );
            if k.max_held > 0.0 {
                let _ = write!(what, ", held at most {:.1} s", k.max_held);
            }
            if let Some(e) = &k.first_unexpected {
                let _ = write!(what, " (first: {e})");
            }
            out.push((what, k.attempts > 0 && k.unexpected == 0));
        }
        let left = |k: &str| self.after.get(k).copied().unwrap_or(f64::NAN);
        out.push((
            format!(
                "after the attack: no uploads or admitted requests left ({} uploads, {} bytes, {} in flight)",
                left("ggufembed_uploads_in_flight"),
                left("ggufembed_upload_bytes"),
                left("ggufembed_requests_in_flight")
            ),
            left("ggufembed_uploads_in_flight") == 0.0
                && left("ggufembed_upload_bytes") == 0.0
                && left("ggufembed_requests_in_flight") == 0.0,
        ));
        out
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        for (name, r) in [("baseline", &self.baseline), ("attack", &self.attack)] {
            let _ = writeln!(
                s,
                "{name:<9} {:.1} s: {:.2}% 200 of {} requests, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, {} mismatched",
                r.elapsed.as_secs_f64(),
                ok_rate(r) * 100.0,
                r.statuses.values().sum::<u64>() + r.transport_errors,
                r.quantile(0.5) * 1e3,
                r.quantile(0.99) * 1e3,
                r.quantile(1.0) * 1e3,
                r.mismatches
            );
            if let Some(e) = &r.first_error {
                let _ = writeln!(s, "          first error: {e}");
            }
        }
        let _ = writeln!(
            s,
            "{:<40} {:>12} {:>12} {:>12}",
            "server", "before", "attack", "after"
        );
        for (k, v) in &self.after {
            let g = |m: &BTreeMap<String, f64>| m.get(k).copied().unwrap_or(f64::NAN);
            let _ = writeln!(
                s,
                "{k:<40} {:>12} {:>12} {v:>12}",
                g(&self.before),
                g(&self.during)
            );
        }
        s
    }
}

/// Shared by every attacker.
struct Ctx {
    addr: SocketAddr,
    stop: AtomicBool,
    limits: Limits,
    slack: f64,
    kinds: Mutex<BTreeMap<&'static str, KindStats>>,
    /// Slow-body connections whose head and first bytes have been sent and are still open.
    slow_body_open: AtomicUsize,
    /// A valid request body and its `Authorization` header line (or "").
    body: String,
    auth: String,
}

impl Ctx {
    fn note(&self, kind: &'static str, outcome: Result<f64, String>) {
        let mut k = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let s = k.entry(kind).or_default();
        s.attempts += 1;
        match outcome {
            Ok(held) => s.max_held = s.max_held.max(held),
            Err(e) => {
                s.unexpected += 1;
                s.first_unexpected.get_or_insert(e);
            }
        }
    }
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The loopback address of `url`, or an error: the harness never attacks another host.
pub fn loopback_addr(url: &str) -> std::io::Result<SocketAddr> {
    let host = url
        .strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/');
    let addr = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host}: no address")))?;
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::other(format!(
            "{url}: the hostile harness only runs against a loopback address (127.0.0.1, ::1)"
        )));
    }
    Ok(addr)
}

/// A running attack (the held connections and the one-shot loops); `stop` ends it.
pub struct Attack {
    ctx: Arc<Ctx>,
    rt: tokio::runtime::Runtime,
    held: Vec<tokio::task::JoinHandle<()>>,
    shots: Vec<std::thread::JoinHandle<()>>,
    pub limits: Limits,
}

impl Attack {
    /// Starts every attacker against the server at `url` (loopback only).
    pub fn start(url: &str, api_key: Option<&str>, cfg: &HostileConfig) -> std::io::Result<Attack> {
        let addr = loopback_addr(url)?;
        let limits = server_limits(url, api_key)?;
        let body = serde_json::json!({"input": ["hello world", "a second input"], "model": "x"});
        let ctx = Arc::new(Ctx {
            addr,
            stop: AtomicBool::new(false),
            limits: limits.clone(),
            slack: cfg.slack.as_secs_f64(),
            kinds: Mutex::new(BTreeMap::new()),
            slow_body_open: AtomicUsize::new(0),
            body: body.to_string(),
            auth: api_key
                .map(|k| format!("Authorization: Bearer {k}\r\n"))
                .unwrap_or_default(),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let mut held = Vec::new();
        for i in 0..cfg.slow_body {
            held.push(rt.spawn(hold(ctx.clone(), Held::SlowBody, i % 2 == 1)));
        }
        for i in 0..cfg.slow_head {
            held.push(rt.spawn(hold(ctx.clone(), Held::SlowHead, i % 2 == 1)));
        }
        for _ in 0..cfg.idle {
            held.push(rt.spawn(hold(ctx.clone(), Held::Idle, false)));
        }
        let shots = ONE_SHOTS
            .iter()
            .map(|&(name, f)| {
                let (ctx, every) = (ctx.clone(), cfg.one_shot_every);
                std::thread::spawn(move || {
                    while !ctx.stopped() {
                        ctx.note(name, f(&ctx).map(|_| 0.0));
                        std::thread::sleep(every);
                    }
                })
            })
            .collect();
        Ok(Attack {
            ctx,
            rt,
            held,
            shots,
            limits,
        })
    }

    /// Slow-body connections open right now (head and first bytes sent).
    pub fn slow_bodies_open(&self) -> usize {
        self.ctx.slow_body_open.load(Ordering::SeqCst)
    }

    /// Stops every attacker (within about a second) and returns what each kind saw.
    pub fn stop(self) -> BTreeMap<&'static str, KindStats> {
        self.ctx.stop.store(true, Ordering::SeqCst);
        for s in self.shots {
            let _ = s.join();
        }
        let held = self.held;
        self.rt.block_on(async {
            for h in held {
                let _ = h.await;
            }
        });
        drop(self.rt);
        let kinds = self.ctx.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.clone()
    }
}

/// Runs the baseline load, then the attack with the same load, for `load.duration` each.
pub fn run(load: &LoadConfig, cfg: &HostileConfig) -> std::io::Result<HostileReport> {
    loopback_addr(&load.url)?;
    let mut c = HttpClient::new(&load.url)?.with_timeout(Duration::from_secs(60));
    if let Some(k) = &load.api_key {
        c = c.with_header("Authorization", &format!("Bearer {k}"));
    }
    let before = snapshot(&mut c)?;
    let baseline = loadtest::run(load)?;
    let attack = Attack::start(&load.url, load.api_key.as_deref(), cfg)?;
    let limits = attack.limits.clone();

    // The probe: one normal request once the stalled uploads are in place (at most 10 s).
    let t0 = Instant::now();
    while attack.slow_bodies_open() < cfg.slow_body && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let open = attack.slow_bodies_open();
    let t = Instant::now();
    let probe = c
        .post_json("/v1/embeddings", attack.ctx.body.as_bytes(), &[])
        .map(|r| r.status)
        .unwrap_or(0);
    let probe = Some((open, probe, t.elapsed().as_secs_f64()));
    let during = snapshot(&mut c)?;

    let under_attack = loadtest::run(load)?;
    let kinds = attack.stop();
    let after = settle(&mut c, &limits, cfg.slack)?;
    Ok(HostileReport {
        baseline,
        attack: under_attack,
        kinds,
        probe,
        limits,
        before,
        during,
        after,
    })
}

/// Waits (at most the server's longest head/body timeout plus `slack`) until the server holds no
/// upload and only the caller's connection, and returns its /metrics then.
pub fn settle(
    c: &mut HttpClient,
    limits: &Limits,
    slack: Duration,
) -> std::io::Result<BTreeMap<String, f64>> {
    let settle = limits.head_timeout.max(limits.body_timeout) + slack.as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs_f64(settle);
    loop {
        let after = snapshot(c)?;
        let idle = after.get("ggufembed_uploads_in_flight") == Some(&0.0)
            && after.get("ggufembed_connections_open") == Some(&1.0);
        if idle || Instant::now() > deadline {
            return Ok(after);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The server's connection, upload and process figures from /metrics.
pub fn snapshot(c: &mut HttpClient) -> std::io::Result<BTreeMap<String, f64>> {
    let m = c.get("/metrics")?.text();
    let mut out = BTreeMap::new();
    for k in [
        "ggufembed_uploads_in_flight",
        "ggufembed_upload_bytes",
        "ggufembed_requests_in_flight",
        "ggufembed_connections_open",
        "ggufembed_connections_refused_total",
        "process_open_fds",
        "process_threads",
        "process_resident_memory_bytes",
        "ggufembed_timeouts_total{stage=\"head\"}",
        "ggufembed_timeouts_total{stage=\"body\"}",
        "ggufembed_timeouts_total{stage=\"idle\"}",
        "ggufembed_timeouts_total{stage=\"write\"}",
    ] {
        if let Some(v) = sample(&m, k) {
            out.insert(k.to_owned(), v);
        }
    }
    Ok(out)
}

fn server_limits(url: &str, api_key: Option<&str>) -> std::io::Result<Limits> {
    let mut c = HttpClient::new(url)?;
    if let Some(k) = api_key {
        c = c.with_header("Authorization", &format!("Bearer {k}"));
    }
    let v = c.get("/info")?.json()?;
    let f = |k: &str| {
        v[k].as_f64().ok_or_else(|| {
            std::io::Error::other(format!(
                "{url}/info has no {k}: not a ggufembed server with connection limits"
            ))
        })
    };
    Ok(Limits {
        head_timeout: f("head_timeout_s")?,
        body_timeout: f("body_timeout_s")?,
        write_timeout: f("write_timeout_s")?,
        max_body_bytes: f("max_body_bytes")? as usize,
        max_header_bytes: f("max_header_bytes")? as usize,
    })
}

#[derive(Clone, Copy)]
enum Held {
    SlowBody,
    SlowHead,
    Idle,
}

/// Holds one connection of the given kind open, re-opening it whenever the server closes it, until
/// the attack stops. Checks how and when the server closed it.
async fn hold(ctx: Arc<Ctx>, kind: Held, trickle: bool) {
    let (name, limit, start, drip): (&'static str, f64, String, &[u8]) = match kind {
        Held::SlowBody => (
            if trickle { "slow body (trickle)" } else { "slow body (stalled)" },
            ctx.limits.body_timeout,
            format!(
                "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"input\":",
                ctx.auth
            ),
            b" ",
        ),
        Held::SlowHead => (
            if trickle { "slow head (trickle)" } else { "slow head (stalled)" },
            ctx.limits.head_timeout,
            "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_owned(),
            b"a",
        ),
        Held::Idle => ("idle connection", ctx.limits.head_timeout, String::new(), b""),
    };
    while !ctx.stopped() {
        let t0 = Instant::now();
        let mut s = match tokio::net::TcpStream::connect(ctx.addr).await {
            Ok(s) => s,
            Err(e) => {
                ctx.note(name, Err(format!("connect: {e}")));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if s.write_all(start.as_bytes()).await.is_err() {
            ctx.note(
                name,
                Err("the server closed before the head was sent".into()),
            );
            continue;
        }
        let counted = matches!(kind, Held::SlowBody);
        if counted {
            ctx.slow_body_open.fetch_add(1, Ordering::SeqCst);
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let outcome = loop {
            match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break Some(t0.elapsed().as_secs_f64()),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) if ctx.stopped() => break None,
                Err(_) => {
                    if trickle {
                        let _ = s.write_all(drip).await;
                    }
                }
            }
        };
        if counted {
            ctx.slow_body_open.fetch_sub(1, Ordering::SeqCst);
        }
        let Some(held) = outcome else { break };
        let status = status_of(&got);
        let expected_status = match kind {
            Held::SlowBody => Some(408),
            _ => None,
        };
        let verdict = if held > limit + ctx.slack {
            Err(format!("held {held:.1} s, over the {limit} s timeout"))
        } else if status != expected_status {
            Err(format!(
                "closed with status {status:?}, expected {expected_status:?}"
            ))
        } else {
            Ok(held)
        };
        ctx.note(name, verdict);
    }
}

fn status_of(resp: &[u8]) -> Option<u16> {
    let line = resp.split(|&b| b == b'\n').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

type OneShot = fn(&Ctx) -> Result<(), String>;

const ONE_SHOTS: &[(&str, OneShot)] = &[
    ("disconnect mid-request", disconnect_mid_request),
    ("disconnect mid-response", disconnect_mid_response),
    ("pipelined requests", pipelined),
    ("oversized head", oversized_head),
    ("oversized body (declared)", oversized_declared),
    ("oversized body (chunked)", oversized_chunked),
    ("malformed chunked body", malformed_chunked),
    ("expect 100-continue", expect_continue),
    ("client that does not read", no_reader),
];

fn connect(ctx: &Ctx) -> Result<std::net::TcpStream, String> {
    let s = std::net::TcpStream::connect_timeout(&ctx.addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    Ok(s)
}

fn post_head(ctx: &Ctx, extra: &str) -> String {
    format!(
        "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/json\r\n{extra}\r\n",
        ctx.auth
    )
}

/// Reads one response; `Err` names what came instead.
fn response(s: &std::net::TcpStream) -> Result<crate::client::HttpResponse, String> {
    let mut r = BufReader::new(s);
    read_response(&mut r).map_err(|e| format!("reading the response: {e}"))
}

fn expect_status(
    got: Result<crate::client::HttpResponse, String>,
    want: u16,
) -> Result<(), String> {
    let r = got?;
    if r.status == want {
        Ok(())
    } else {
        Err(format!("{} instead of {want}: {}", r.status, r.text()))
    }
}

fn disconnect_mid_request(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let head = post_head(ctx, &format!("Content-Length: {}\r\n", ctx.body.len()));
    let half = &ctx.body.as_bytes()[..ctx.body.len() / 2];
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(half))
        .map_err(|e| format!("write: {e}"))
}

fn disconnect_mid_response(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let inputs: Vec<String> = (0..64).map(|i| format!("input number {i}")).collect();
    let body = serde_json::json!({ "input": inputs }).to_string();
    let head = post_head(ctx, &format!("Content-Length: {}\r\n", body.len()));
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body.as_bytes()))
        .map_err(|e| format!("write: {e}"))?;
    let mut first = [0u8; 12];
    s.read_exact(&mut first)
        .map_err(|e| format!("reading the status line: {e}"))?;
    match status_of(&first) {
        Some(200) | Some(429) => Ok(()), // then hang up in the middle of it
        other => Err(format!("status {other:?}")),
    }
}

fn pipelined(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let one = format!(
        "{}{}",
        post_head(ctx, &format!("Content-Length: {}\r\n", ctx.body.len())),
        ctx.body
    );
    let msg = format!("{one}GET /health HTTP/1.1\r\nHost: x\r\n\r\n{one}");
    s.write_all(msg.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut r = BufReader::new(&s);
    for (i, want) in [200u16, 200, 200].iter().enumerate() {
        let resp = read_response(&mut r).map_err(|e| format!("response {i}: {e}"))?;
        if resp.status != *want && resp.status != 429 {
            return Err(format!("response {i}: {} {}", resp.status, resp.text()));
        }
        if i != 1 && resp.status == 200 {
            let v = resp.json().map_err(|e| e.to_string())?;
            if v["data"].as_array().map(|d| d.len()) != Some(2) {
                return Err(format!("response {i}: not 2 vectors"));
            }
        }
    }
    Ok(())
}

fn oversized_head(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let big = "a".repeat(ctx.limits.max_header_bytes * 2);
    let msg = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    // The server may answer and close before it has all of it: a failed write is fine.
    let _ = s.write_all(msg.as_bytes());
    match response(&s) {
        Ok(r) if r.status == 431 => Ok(()),
        Ok(r) => Err(format!("{} instead of 431", r.status)),
        Err(_) => Ok(()), // closed without an answer
    }
}

fn oversized_declared(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let head = post_head(
        ctx,
        &format!("Content-Length: {}\r\n", ctx.limits.max_body_bytes + 1),
    );
    s.write_all(head.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    expect_status(response(&s), 413) // at once: the body is never sent
}

fn oversized_chunked(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let head = post_head(ctx, "Transfer-Encoding: chunked\r\n");
    let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
    let _ = s.write_all(head.as_bytes());
    let mut sent = 0;
    while sent <= ctx.limits.max_body_bytes {
        if s.write_all(chunk.as_bytes()).is_err() {
            break; // the server answered and closed
        }
        sent += 0x10000;
    }
    match response(&s) {
        Ok(r) if r.status == 413 => Ok(()),
        Ok(r) => Err(format!("{} instead of 413", r.status)),
        Err(_) => Ok(()), // reset after the 413 while we were still sending
    }
}

fn malformed_chunked(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let msg = format!(
        "{}zz\r\n{{\"input\":\"a\"}}\r\n0\r\n\r\n",
        post_head(ctx, "Transfer-Encoding: chunked\r\n")
    );
    s.write_all(msg.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    match response(&s) {
        Ok(r) if r.status == 400 => Ok(()),
        Ok(r) => Err(format!("{} instead of 400", r.status)),
        Err(_) => Ok(()), // hyper may close on a framing error without an answer
    }
}

fn expect_continue(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let head = post_head(
        ctx,
        &format!(
            "Expect: 100-continue\r\nContent-Length: {}\r\n",
            ctx.body.len()
        ),
    );
    s.write_all(head.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut r = BufReader::new(&s);
    let interim = read_response(&mut r).map_err(|e| format!("100 Continue: {e}"))?;
    if interim.status != 100 {
        return Err(format!("{} instead of 100 Continue", interim.status));
    }
    (&s).write_all(ctx.body.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let resp = read_response(&mut r).map_err(|e| format!("reading the response: {e}"))?;
    match resp.status {
        200 | 429 => Ok(()),
        s => Err(format!("{s}: {}", resp.text())),
    }
}

/// Sends 32 pipelined requests and reads nothing for a while, then checks the connection ends
/// (all answered, or closed by the server's write timeout) instead of hanging.
fn no_reader(ctx: &Ctx) -> Result<(), String> {
    let mut s = connect(ctx)?;
    let one = format!(
        "{}{}",
        post_head(ctx, &format!("Content-Length: {}\r\n", ctx.body.len())),
        ctx.body
    );
    for _ in 0..32 {
        if s.write_all(one.as_bytes()).is_err() {
            return Ok(()); // closed by the server
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = s.set_read_timeout(Some(Duration::from_secs_f64(
        ctx.limits.write_timeout + ctx.slack + 5.0,
    )));
    let mut r = BufReader::new(&s);
    for i in 0..32 {
        match read_response(&mut r) {
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err(format!("response {i}: nothing for {e}"))
            }
            Err(_) => return Ok(()), // closed by the server
        }
    }
    Ok(())
}
