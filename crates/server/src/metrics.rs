//! Prometheus text exposition, hand-rolled: request counters, latency and batch histograms, queue depth.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A fixed-bucket histogram (cumulative on render).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>, // [bounds.len() + 1], the last is +Inf
    sum_micros: AtomicU64,  // sum * 1e6, kept integral so it stays lock-free
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((v * 1e6).round().max(0.0) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cum = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cum += c.load(Ordering::Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => format!("{b}"),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cum}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cum}");
    }
}

const LATENCY_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const BATCH_INPUT_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
const BATCH_TOKEN_BOUNDS: &[f64] = &[16.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0];

/// All counters of one server. Shared by the HTTP layer and the worker thread.
pub struct Metrics {
    /// (route, status) -> count
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// route -> latency histogram (seconds)
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub queue_depth: AtomicUsize,
    pub queue_capacity: usize,
    /// API requests admitted (validated, queued or computing).
    pub in_flight: AtomicUsize,
    /// Open client connections.
    pub connections_open: AtomicUsize,
    pub connections_total: AtomicU64,
    /// Connections refused (503) because `max_connections` were open.
    pub connections_refused: AtomicU64,
    /// Request bodies being received, and their bytes received so far.
    pub uploads_in_flight: AtomicUsize,
    pub upload_bytes: AtomicUsize,
    /// Connections closed or requests ended by a timeout, per stage.
    pub timeouts: StageCounts,
    pub batch_inputs: Histogram,
    pub batch_tokens: Histogram,
    pub batch_seconds: Histogram,
    pub tokens_embedded: AtomicU64,
    pub inputs_embedded: AtomicU64,
    /// Requests whose client went away (or timed out) before their work was computed.
    pub cancelled: AtomicU64,
    pub model_loaded: AtomicU64,
}

impl Metrics {
    pub fn new(queue_capacity: usize) -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(BTreeMap::new()),
            queue_depth: AtomicUsize::new(0),
            queue_capacity,
            in_flight: AtomicUsize::new(0),
            connections_open: AtomicUsize::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            uploads_in_flight: AtomicUsize::new(0),
            upload_bytes: AtomicUsize::new(0),
            timeouts: StageCounts::default(),
            batch_inputs: Histogram::new(BATCH_INPUT_BOUNDS),
            batch_tokens: Histogram::new(BATCH_TOKEN_BOUNDS),
            batch_seconds: Histogram::new(LATENCY_BOUNDS),
            tokens_embedded: AtomicU64::new(0),
            inputs_embedded: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            model_loaded: AtomicU64::new(0),
        }
    }

    pub fn record_request(&self, route: &str, status: u16, seconds: f64) {
        let mut req = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *req.entry((route.to_owned(), status)).or_insert(0) += 1;
        drop(req);
        let mut lat = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        lat.entry(route.to_owned())
            .or_insert_with(|| Histogram::new(LATENCY_BOUNDS))
            .observe(seconds);
    }

    /// The Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        counter(
            "ggufembed_model_loaded",
            "1 once the model is loaded and serving.",
            "gauge",
            self.model_loaded.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_queue_depth",
            "Requests waiting for the model.",
            "gauge",
            self.queue_depth.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_queue_capacity",
            "Most requests that may wait; beyond it requests get 429.",
            "gauge",
            self.queue_capacity.to_string(),
        );
        counter(
            "ggufembed_requests_in_flight",
            "API requests admitted (validated, queued or computing).",
            "gauge",
            self.in_flight.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_connections_open",
            "Open client connections.",
            "gauge",
            self.connections_open.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_connections_total",
            "Client connections accepted.",
            "counter",
            self.connections_total.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_connections_refused_total",
            "Connections answered 503 because --max-connections were open.",
            "counter",
            self.connections_refused.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_uploads_in_flight",
            "Request bodies being received.",
            "gauge",
            self.uploads_in_flight.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_upload_bytes",
            "Bytes of request bodies received and not yet handed to a handler.",
            "gauge",
            self.upload_bytes.load(Ordering::Relaxed).to_string(),
        );
        if let Some(p) = process_counts() {
            counter(
                "process_open_fds",
                "Open file descriptors.",
                "gauge",
                p.fds.to_string(),
            );
            counter(
                "process_threads",
                "OS threads.",
                "gauge",
                p.threads.to_string(),
            );
        }
        if let Some((rss, peak)) = process_rss_bytes() {
            counter(
                "process_resident_memory_bytes",
                "Resident set size.",
                "gauge",
                rss.to_string(),
            );
            counter(
                "ggufembed_peak_resident_memory_bytes",
                "Peak resident set size (VmHWM).",
                "gauge",
                peak.to_string(),
            );
        }

        counter(
            "ggufembed_tokens_embedded_total",
            "Tokens run through the model.",
            "counter",
            self.tokens_embedded.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_inputs_embedded_total",
            "Inputs (texts or token arrays) embedded.",
            "counter",
            self.inputs_embedded.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "ggufembed_requests_cancelled_total",
            "Requests dropped before compute because the client went away or timed out.",
            "counter",
            self.cancelled.load(Ordering::Relaxed).to_string(),
        );
        let _ = writeln!(
            out,
            "# HELP ggufembed_timeouts_total Connections closed (head, idle, write) or requests answered 408 (body) by a timeout.\n# TYPE ggufembed_timeouts_total counter"
        );
        for (stage, n) in self.timeouts.all() {
            let _ = writeln!(out, "ggufembed_timeouts_total{{stage=\"{stage}\"}} {n}");
        }
        out.push_str("# HELP ggufembed_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE ggufembed_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ggufembed_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP ggufembed_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE ggufembed_request_duration_seconds histogram\n");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            h.render(
                &mut out,
                "ggufembed_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        for (name, help, h) in [
            (
                "ggufembed_batch_inputs",
                "Inputs per model batch.",
                &self.batch_inputs,
            ),
            (
                "ggufembed_batch_tokens",
                "Tokens per model batch.",
                &self.batch_tokens,
            ),
            (
                "ggufembed_batch_duration_seconds",
                "Compute time per model batch.",
                &self.batch_seconds,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.render(&mut out, name, "");
        }
        out
    }
}

/// Timeouts per stage of a connection.
#[derive(Default)]
pub struct StageCounts {
    pub head: AtomicU64,
    pub body: AtomicU64,
    pub idle: AtomicU64,
    pub write: AtomicU64,
}

impl StageCounts {
    pub fn all(&self) -> [(&'static str, u64); 4] {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("head", l(&self.head)),
            ("body", l(&self.body)),
            ("idle", l(&self.idle)),
            ("write", l(&self.write)),
        ]
    }
}

/// Open file descriptors and threads of this process.
pub struct ProcessCounts {
    pub fds: u64,
    pub threads: u64,
}

/// From /proc/self/fd and /proc/self/status (Linux); `None` elsewhere.
pub fn process_counts() -> Option<ProcessCounts> {
    let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()?;
    // read_dir's own descriptor is counted while it is open.
    Some(ProcessCounts {
        fds: fds.saturating_sub(1),
        threads,
    })
}

/// (current, peak) resident set size from /proc/self/status (Linux); `None` elsewhere.
pub fn process_rss_bytes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Reads one sample (`name` or `name{labels}`) from Prometheus text. For tools and tests.
pub fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == name_and_labels).then(|| v.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::new(4);
        m.record_request("/embed", 200, 0.003);
        m.record_request("/embed", 200, 0.2);
        m.record_request("/embed", 429, 100.0);
        let t = m.render();
        assert_eq!(
            sample(
                &t,
                "ggufembed_requests_total{route=\"/embed\",status=\"200\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &t,
                "ggufembed_requests_total{route=\"/embed\",status=\"429\"}"
            ),
            Some(1.0)
        );
        let b = |le: &str| {
            sample(
                &t,
                &format!(
                    "ggufembed_request_duration_seconds_bucket{{route=\"/embed\",le=\"{le}\"}}"
                ),
            )
        };
        assert_eq!(b("0.005"), Some(1.0));
        assert_eq!(b("0.25"), Some(2.0));
        assert_eq!(b("60"), Some(2.0));
        assert_eq!(b("+Inf"), Some(3.0));
        assert_eq!(sample(&t, "ggufembed_queue_capacity"), Some(4.0));
    }
}
