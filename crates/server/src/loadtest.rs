//! Load generator for a running server (`ggufembed bench --server URL`): N concurrent clients send
//! OpenAI requests (base64, as the official client does) with mixed texts for a fixed time, check
//! every vector bit for bit against expected embeddings, and sample the server's /metrics for
//! queue depth and peak RSS. Only talks to the URL it is given; bounded in time.

use crate::api::base64_f32;
use crate::client::HttpClient;
use crate::metrics::sample;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One text the clients may send, with the prompt it is sent with.
#[derive(Debug, Clone)]
pub struct LoadText {
    pub text: String,
    pub prompt_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://host:port`
    pub url: String,
    pub clients: usize,
    pub duration: Duration,
    pub api_key: Option<String>,
    pub texts: Vec<LoadText>,
    /// Each request carries 1..=max_inputs texts (same prompt), chosen at random.
    pub max_inputs: usize,
    /// Expected vector of each text (same order as `texts`), compared bit for bit. `None`: no check.
    pub expected: Option<Arc<Vec<Vec<f32>>>>,
    /// Pause after a 429 before the client's next request (0: hammer).
    pub backoff_on_429: Duration,
    pub seed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub elapsed: Duration,
    /// HTTP status -> count
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connection errors, timeouts).
    pub transport_errors: u64,
    pub first_error: Option<String>,
    /// Successful requests' latencies, seconds, sorted.
    pub latencies: Vec<f64>,
    pub inputs_ok: u64,
    pub tokens_ok: u64,
    /// Vectors that differed from `expected` in any bit (or had the wrong length).
    pub mismatches: u64,
    /// Largest `ggufembed_queue_depth` seen while sampling /metrics every 50 ms.
    pub max_queue_depth: f64,
    pub queue_capacity: f64,
    /// The server's peak RSS (`ggufembed_peak_resident_memory_bytes`) at the end.
    pub server_peak_rss: Option<f64>,
}

impl LoadReport {
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }
    pub fn tokens_per_s(&self) -> f64 {
        self.tokens_ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn requests_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// Latency quantile of successful requests (q in 0..=1), seconds.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i]
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "elapsed            {:.1} s", self.elapsed.as_secs_f64());
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(s, "responses          {}", statuses.join(", "));
        let _ = writeln!(s, "transport errors   {}", self.transport_errors);
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "first error        {e}");
        }
        let _ = writeln!(
            s,
            "throughput         {:.0} tokens/s, {:.1} requests/s, {} inputs",
            self.tokens_per_s(),
            self.requests_per_s(),
            self.inputs_ok
        );
        let _ = writeln!(
            s,
            "latency            p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.quantile(0.5) * 1e3,
            self.quantile(0.9) * 1e3,
            self.quantile(0.99) * 1e3,
            self.quantile(1.0) * 1e3
        );
        let _ = writeln!(s, "mismatched vectors {}", self.mismatches);
        let _ = writeln!(
            s,
            "queue depth        max {} of {}",
            self.max_queue_depth, self.queue_capacity
        );
        if let Some(rss) = self.server_peak_rss {
            let _ = writeln!(s, "server peak RSS    {:.0} MB", rss / 1e6);
        }
        s
    }
}

/// Tiny deterministic PRNG (xorshift64*), so runs are repeatable without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// Runs the load and returns what happened. Fails only if the server cannot be reached at all.
pub fn run(cfg: &LoadConfig) -> std::io::Result<LoadReport> {
    // Probe first, so a wrong URL is one clear error rather than N transport errors.
    let mut probe = client(cfg)?;
    let r = probe.get("/health")?;
    if r.status != 200 {
        return Err(std::io::Error::other(format!(
            "{}/health answered {}: {}",
            cfg.url,
            r.status,
            r.text()
        )));
    }
    // Texts grouped by prompt: one request uses one prompt.
    let mut groups: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, t) in cfg.texts.iter().enumerate() {
        groups.entry(t.prompt_name.clone()).or_default().push(i);
    }
    let groups: Arc<Vec<(Option<String>, Vec<usize>)>> = Arc::new(groups.into_iter().collect());
    let report = Arc::new(Mutex::new(LoadReport::default()));
    let done = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let deadline = t0 + cfg.duration;

    let monitor = {
        let (cfg, report, done) = (cfg.clone(), report.clone(), done.clone());
        std::thread::spawn(move || monitor_metrics(&cfg, &report, &done))
    };
    let workers: Vec<_> = (0..cfg.clients)
        .map(|k| {
            let (cfg, report, groups) = (cfg.clone(), report.clone(), groups.clone());
            std::thread::spawn(move || client_loop(k, &cfg, &groups, deadline, &report))
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let elapsed = t0.elapsed();
    done.store(true, Ordering::SeqCst);
    let _ = monitor.join();

    let mut rep = report.lock().unwrap_or_else(|e| e.into_inner()).clone();
    rep.elapsed = elapsed;
    rep.latencies.sort_by(f64::total_cmp);
    if let Ok(r) = probe.get("/metrics") {
        let t = r.text();
        rep.server_peak_rss = sample(&t, "ggufembed_peak_resident_memory_bytes");
        rep.queue_capacity = sample(&t, "ggufembed_queue_capacity").unwrap_or(f64::NAN);
    }
    Ok(rep)
}

fn client(cfg: &LoadConfig) -> std::io::Result<HttpClient> {
    let c = HttpClient::new(&cfg.url)?.with_timeout(Duration::from_secs(300));
    Ok(match &cfg.api_key {
        Some(k) => c.with_header("Authorization", &format!("Bearer {k}")),
        None => c,
    })
}

fn client_loop(
    k: usize,
    cfg: &LoadConfig,
    groups: &[(Option<String>, Vec<usize>)],
    deadline: Instant,
    report: &Mutex<LoadReport>,
) {
    let mut rng = Rng(cfg.seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(k as u64 + 1)) | 1);
    let mut http = match client(cfg) {
        Ok(c) => c,
        Err(e) => return note_error(report, e.to_string()),
    };
    while Instant::now() < deadline {
        let (prompt, members) = &groups[rng.below(groups.len())];
        let n = 1 + rng.below(cfg.max_inputs.max(1));
        let picks: Vec<usize> = (0..n).map(|_| members[rng.below(members.len())]).collect();
        let body = serde_json::json!({
            "model": "ggufembed",
            "input": picks.iter().map(|&i| cfg.texts[i].text.as_str()).collect::<Vec<_>>(),
            "encoding_format": "base64",
            "prompt_name": prompt,
        });
        let t = Instant::now();
        let resp = http.post_json("/v1/embeddings", body.to_string().as_bytes(), &[]);
        let latency = t.elapsed().as_secs_f64();
        match resp {
            Err(e) => note_error(report, format!("transport: {e}")),
            Ok(r) => {
                let checked = (r.status == 200).then(|| check(cfg, &picks, &r.body));
                let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
                *rep.statuses.entry(r.status).or_insert(0) += 1;
                match checked {
                    Some(Ok((tokens, bad))) => {
                        rep.latencies.push(latency);
                        rep.inputs_ok += picks.len() as u64;
                        rep.tokens_ok += tokens;
                        rep.mismatches += bad;
                    }
                    Some(Err(e)) => {
                        rep.mismatches += picks.len() as u64;
                        rep.first_error.get_or_insert(e);
                    }
                    None if r.status != 429 => {
                        rep.first_error
                            .get_or_insert(format!("HTTP {}: {}", r.status, r.text()));
                    }
                    None => {}
                }
                drop(rep);
                if r.status == 429 && !cfg.backoff_on_429.is_zero() {
                    std::thread::sleep(cfg.backoff_on_429);
                }
            }
        }
    }
}

fn note_error(report: &Mutex<LoadReport>, e: String) {
    let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
    rep.transport_errors += 1;
    rep.first_error.get_or_insert(e);
}

/// (tokens used, vectors that differ from the expected ones)
fn check(cfg: &LoadConfig, picks: &[usize], body: &[u8]) -> Result<(u64, u64), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("200 with a non-JSON body: {e}"))?;
    let data = v["data"].as_array().ok_or("200 without `data`")?;
    if data.len() != picks.len() {
        return Err(format!("{} vectors for {} inputs", data.len(), picks.len()));
    }
    let mut bad = 0;
    for (i, (d, &pick)) in data.iter().zip(picks).enumerate() {
        if d["index"].as_u64() != Some(i as u64) {
            return Err(format!("data[{i}] has index {}", d["index"]));
        }
        let got = d["embedding"]
            .as_str()
            .and_then(base64_f32)
            .ok_or("embedding is not base64 f32")?;
        if let Some(exp) = &cfg.expected {
            let same = got.len() == exp[pick].len()
                && got
                    .iter()
                    .zip(&exp[pick])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
            bad += (!same) as u64;
        }
    }
    Ok((v["usage"]["total_tokens"].as_u64().unwrap_or(0), bad))
}

fn monitor_metrics(cfg: &LoadConfig, report: &Mutex<LoadReport>, done: &AtomicBool) {
    let Ok(mut http) = client(cfg) else { return };
    while !done.load(Ordering::SeqCst) {
        if let Ok(r) = http.get("/metrics") {
            if let Some(d) = sample(&r.text(), "ggufembed_queue_depth") {
                let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
                rep.max_queue_depth = rep.max_queue_depth.max(d);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
