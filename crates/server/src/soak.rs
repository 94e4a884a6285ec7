//! Soak test (`ggufembed bench --server URL --soak`, and the short form in `tests/hostile_fake.rs`):
//! mixed traffic against one server for a fixed time, sampling its /metrics (RSS, open file
//! descriptors, threads, connections) as it goes. The traffic: the caller's cases (OpenAI float and
//! base64, `dimensions`, token-id input, TEI `/embed`, `/tokenize`, bad requests, each with the
//! status and, for embeddings, the vectors expected bit for bit), clients that hang up before the
//! answer (cancellations), and the hostile mix of `hostile` at a low rate. Loopback only.

use crate::api::base64_f32;
use crate::client::HttpClient;
use crate::hostile::{self, Attack, HostileConfig, KindStats};
use crate::metrics::sample;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a case must get back.
#[derive(Debug, Clone)]
pub enum Expect {
    /// 200 with these vectors, bit for bit (OpenAI `data[i].embedding`, float or base64, or TEI's
    /// array of arrays). 429 is accepted (back-pressure), nothing else.
    Vectors(Vec<Vec<f32>>),
    /// Exactly this status.
    Status(u16),
}

#[derive(Debug, Clone)]
pub struct SoakCase {
    /// Label in the report, e.g. "openai base64".
    pub kind: &'static str,
    pub path: &'static str,
    pub body: String,
    /// `Content-Type` to send (`None`: none at all).
    pub content_type: Option<&'static str>,
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub url: String,
    pub api_key: Option<String>,
    pub clients: usize,
    pub duration: Duration,
    pub cases: Vec<SoakCase>,
    /// Time between two /metrics samples.
    pub sample_every: Duration,
    /// The reference point for memory growth ("after the first minute").
    pub warm_up: Duration,
    /// Pause between two cancelled requests.
    pub cancel_every: Duration,
    pub hostile: HostileConfig,
}

/// One /metrics sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub t: f64,
    pub rss: f64,
    pub fds: f64,
    pub threads: f64,
    pub connections: f64,
}

#[derive(Debug, Clone, Default)]
pub struct KindCounts {
    pub statuses: BTreeMap<u16, u64>,
    pub mismatches: u64,
    pub unexpected: u64,
    pub first_unexpected: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    pub elapsed: Duration,
    pub kinds: BTreeMap<&'static str, KindCounts>,
    pub transport_errors: u64,
    pub first_transport_error: Option<String>,
    pub cancelled: u64,
    /// Before any traffic, during it, and after it stopped and the server settled.
    pub before: Sample,
    pub samples: Vec<Sample>,
    pub after: Sample,
    pub warm_up: f64,
    pub hostile: BTreeMap<&'static str, KindStats>,
}

impl SoakReport {
    pub fn server_errors(&self) -> u64 {
        self.kinds
            .values()
            .flat_map(|k| k.statuses.iter())
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// The first sample at or after the warm-up, and the last one.
    pub fn reference_and_end(&self) -> Option<(Sample, Sample)> {
        let r = self.samples.iter().find(|s| s.t >= self.warm_up)?;
        Some((*r, *self.samples.last()?))
    }

    pub fn checks(&self) -> Vec<(String, bool)> {
        let mismatches: u64 = self.kinds.values().map(|k| k.mismatches).sum();
        let unexpected: u64 = self.kinds.values().map(|k| k.unexpected).sum();
        let mut out = vec![
            (
                format!("zero 5xx ({})", self.server_errors()),
                self.server_errors() == 0,
            ),
            (
                format!("zero mismatched vectors ({mismatches})"),
                mismatches == 0,
            ),
            (
                format!("every response as expected ({unexpected} unexpected)"),
                unexpected == 0,
            ),
            (
                format!("zero transport errors ({})", self.transport_errors),
                self.transport_errors == 0,
            ),
        ];
        match self.reference_and_end() {
            Some((r, e)) => {
                let growth = e.rss / r.rss - 1.0;
                out.push((
                    format!(
                        "RSS at the end within 5% of RSS at {:.0} s ({:.1} MB -> {:.1} MB, {:+.2}%)",
                        r.t,
                        r.rss / 1e6,
                        e.rss / 1e6,
                        growth * 100.0
                    ),
                    growth.abs() <= 0.05,
                ));
                out.push((
                    format!(
                        "no thread growth ({} at {:.0} s, {} at the end, {} after)",
                        r.threads, r.t, e.threads, self.after.threads
                    ),
                    e.threads <= r.threads && self.after.threads <= r.threads,
                ));
            }
            None => out.push(("a sample after the warm-up".into(), false)),
        }
        out.push((
            format!(
                "no descriptor growth ({} before the traffic, {} after it)",
                self.before.fds, self.after.fds
            ),
            self.after.fds <= self.before.fds,
        ));
        for (kind, k) in &self.hostile {
            out.push((
                format!(
                    "hostile {kind}: {} attempts, {} unexpected{}",
                    k.attempts,
                    k.unexpected,
                    k.first_unexpected
                        .as_ref()
                        .map(|e| format!(" (first: {e})"))
                        .unwrap_or_default()
                ),
                k.unexpected == 0,
            ));
        }
        out
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "elapsed {:.0} s, cancelled requests {}",
            self.elapsed.as_secs_f64(),
            self.cancelled
        );
        for (kind, k) in &self.kinds {
            let st: Vec<String> = k
                .statuses
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  {kind:<22} {}; {} mismatched, {} unexpected{}",
                st.join(", "),
                k.mismatches,
                k.unexpected,
                k.first_unexpected
                    .as_ref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(
            s,
            "  {:>6} {:>9} {:>5} {:>7} {:>11}",
            "t (s)", "RSS (MB)", "fds", "threads", "connections"
        );
        let row = |s: &mut String, label: &str, x: &Sample| {
            let _ = writeln!(
                s,
                "  {label:>6} {:>9.1} {:>5} {:>7} {:>11}",
                x.rss / 1e6,
                x.fds,
                x.threads,
                x.connections
            );
        };
        row(&mut s, "before", &self.before);
        for x in &self.samples {
            row(&mut s, &format!("{:.0}", x.t), x);
        }
        row(&mut s, "after", &self.after);
        s
    }
}

fn client(url: &str, key: Option<&str>) -> std::io::Result<HttpClient> {
    let c = HttpClient::new(url)?.with_timeout(Duration::from_secs(300));
    Ok(match key {
        Some(k) => c.with_header("Authorization", &format!("Bearer {k}")),
        None => c,
    })
}

fn take_sample(c: &mut HttpClient, t: f64) -> std::io::Result<Sample> {
    let m = c.get("/metrics")?.text();
    let g = |k| sample(&m, k).unwrap_or(f64::NAN);
    Ok(Sample {
        t,
        rss: g("process_resident_memory_bytes"),
        fds: g("process_open_fds"),
        threads: g("process_threads"),
        connections: g("ggufembed_connections_open"),
    })
}

/// Runs the soak. Fails only if the server cannot be reached (or is not on loopback).
pub fn run(cfg: &SoakConfig) -> std::io::Result<SoakReport> {
    let addr = hostile::loopback_addr(&cfg.url)?;
    let key = cfg.api_key.as_deref();
    let mut mon = client(&cfg.url, key)?;
    let before = take_sample(&mut mon, 0.0)?;
    let report = Arc::new(Mutex::new(SoakReport {
        before,
        warm_up: cfg.warm_up.as_secs_f64(),
        ..SoakReport::default()
    }));
    let done = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let deadline = t0 + cfg.duration;
    let attack = Attack::start(&cfg.url, key, &cfg.hostile)?;
    let limits = attack.limits.clone();
    let cases = Arc::new(cfg.cases.clone());

    let mut threads = Vec::new();
    for k in 0..cfg.clients {
        let (cases, report, url, key) = (
            cases.clone(),
            report.clone(),
            cfg.url.clone(),
            cfg.api_key.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut rng = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(k as u64 + 1) | 1;
            let mut http = match client(&url, key.as_deref()) {
                Ok(c) => c,
                Err(_) => return,
            };
            while Instant::now() < deadline {
                rng ^= rng >> 12;
                rng ^= rng << 25;
                rng ^= rng >> 27;
                let i = (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % cases.len();
                one_case(&mut http, &cases[i], &report);
            }
        }));
    }
    {
        // Cancellations: a valid request, then hang up before the answer.
        let (cases, report, every) = (cases.clone(), report.clone(), cfg.cancel_every);
        let auth = key
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        threads.push(std::thread::spawn(move || {
            let mut i = 0;
            while Instant::now() < deadline {
                let c = &cases[i % cases.len()];
                i += 1;
                if !matches!(c.expect, Expect::Vectors(_)) {
                    continue;
                }
                if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                    let _ = write!(
                        s,
                        "POST {} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                        c.path,
                        c.body.len(),
                        c.body
                    );
                    std::thread::sleep(Duration::from_millis(1 + (i % 20) as u64));
                    drop(s);
                    report.lock().unwrap_or_else(|e| e.into_inner()).cancelled += 1;
                }
                std::thread::sleep(every);
            }
        }));
    }
    {
        let (report, done, url, key, every) = (
            report.clone(),
            done.clone(),
            cfg.url.clone(),
            cfg.api_key.clone(),
            cfg.sample_every,
        );
        threads.push(std::thread::spawn(move || {
            let Ok(mut c) = client(&url, key.as_deref()) else {
                return;
            };
            let mut next = t0 + every;
            while !done.load(Ordering::SeqCst) {
                if Instant::now() >= next {
                    next += every;
                    if let Ok(s) = take_sample(&mut c, t0.elapsed().as_secs_f64()) {
                        report
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .samples
                            .push(s);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The last sample, with the traffic still on.
    if let Ok(s) = take_sample(&mut mon, t0.elapsed().as_secs_f64()) {
        report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .samples
            .push(s);
    }
    let hostile = attack.stop();
    done.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = t0.elapsed();
    hostile::settle(&mut mon, &limits, cfg.hostile.slack)?;
    let after = take_sample(&mut mon, t0.elapsed().as_secs_f64())?;
    let mut rep = report.lock().unwrap_or_else(|e| e.into_inner()).clone();
    rep.elapsed = elapsed;
    rep.after = after;
    rep.hostile = hostile;
    Ok(rep)
}

fn one_case(http: &mut HttpClient, case: &SoakCase, report: &Mutex<SoakReport>) {
    let headers: Vec<(&str, &str)> = case
        .content_type
        .map(|ct| vec![("Content-Type", ct)])
        .unwrap_or_default();
    let resp = http.request("POST", case.path, &headers, Some(case.body.as_bytes()));
    let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
    let r = match resp {
        Ok(r) => r,
        Err(e) => {
            rep.transport_errors += 1;
            rep.first_transport_error
                .get_or_insert(format!("{}: {e}", case.kind));
            return;
        }
    };
    let k = rep.kinds.entry(case.kind).or_default();
    *k.statuses.entry(r.status).or_insert(0) += 1;
    let verdict = match (&case.expect, r.status) {
        (Expect::Status(want), got) if *want == got => Ok(()),
        (Expect::Vectors(_), 429) => Ok(()),
        (Expect::Vectors(want), 200) => match vectors_of(case.path, &r.body) {
            Ok(got) => {
                let same = |a: &[f32], b: &[f32]| {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                };
                if got.len() != want.len() {
                    Err(format!("{} vectors for {} inputs", got.len(), want.len()))
                } else {
                    k.mismatches +=
                        got.iter().zip(want).filter(|(g, w)| !same(g, w)).count() as u64;
                    Ok(())
                }
            }
            Err(e) => Err(e),
        },
        (_, got) => Err(format!(
            "{got}: {}",
            r.text().chars().take(200).collect::<String>()
        )),
    };
    if let Err(e) = verdict {
        k.unexpected += 1;
        k.first_unexpected.get_or_insert(e);
    }
}

/// The vectors of an OpenAI (`/v1/embeddings`, float or base64) or TEI (`/embed`) answer.
fn vectors_of(path: &str, body: &[u8]) -> Result<Vec<Vec<f32>>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let floats = |x: &serde_json::Value| -> Option<Vec<f32>> {
        match x {
            serde_json::Value::String(b) => base64_f32(b),
            serde_json::Value::Array(a) => a.iter().map(|f| f.as_f64().map(|f| f as f32)).collect(),
            _ => None,
        }
    };
    let items: Vec<&serde_json::Value> = if path == "/embed" {
        v.as_array().ok_or("not an array")?.iter().collect()
    } else {
        v["data"]
            .as_array()
            .ok_or("no data")?
            .iter()
            .map(|d| &d["embedding"])
            .collect()
    };
    items
        .into_iter()
        .map(|x| floats(x).ok_or_else(|| "an embedding is not a vector".to_owned()))
        .collect()
}
