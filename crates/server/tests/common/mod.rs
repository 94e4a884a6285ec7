//! Test harness: a server on 127.0.0.1:0 in a background runtime, and a deterministic fake backend.
#![allow(dead_code)]

use server::backend::{Backend, BackendInfo, Embedding, Input, TokenInput, Truncate};
use server::client::HttpClient;
use server::{ServerConfig, ServerError};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running server; shut down (gracefully) on drop.
pub struct TestServer {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    pub fn start<B, L>(config: ServerConfig, loader: L) -> TestServer
    where
        B: Backend,
        L: FnOnce() -> Result<B, ServerError> + Send + 'static,
    {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let stop = async move {
                    let _ = stop_rx.await;
                };
                server::serve(listener, config, loader, stop).await
            })
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server bound");
        TestServer {
            url: format!("http://{addr}"),
            shutdown: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Starts with the fake backend and waits until /health is 200.
    pub fn fake(config: ServerConfig, fake: FakeBackend) -> TestServer {
        let s = TestServer::start(config, move || Ok(fake));
        s.wait_ready();
        s
    }

    pub fn client(&self) -> HttpClient {
        HttpClient::new(&self.url)
            .unwrap()
            .with_timeout(Duration::from_secs(60))
    }

    pub fn wait_ready(&self) {
        let t0 = Instant::now();
        let mut c = self.client();
        loop {
            if let Ok(r) = c.get("/health") {
                if r.status == 200 {
                    return;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "server not ready after 300 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop()
    }

    /// Signals shutdown without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub fn join(mut self) -> Result<(), ServerError> {
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("server thread panicked")
    }

    fn stop(&mut self) -> Result<(), ServerError> {
        self.signal_shutdown();
        match self.thread.take() {
            Some(t) => t.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// What the fake model has computed, for assertions about batching and cancellation.
#[derive(Default)]
pub struct FakeLog {
    /// Batches that have entered `embed_tokens`.
    pub started: AtomicUsize,
    /// Per batch: the first id after BOS of every input (the tests make it unique per input).
    pub batches: Mutex<Vec<Vec<u32>>>,
}

/// Deterministic stand-in for the model: words are tokens, vectors are a fixed function of the ids.
#[derive(Clone)]
pub struct FakeBackend {
    pub n_ctx: usize,
    /// Milliseconds each batch takes (simulated compute), adjustable while running.
    pub batch_delay_ms: Arc<AtomicU64>,
    /// While true, a batch that has started waits (the test decides when the "compute" ends).
    pub hold: Arc<AtomicBool>,
    pub log: Arc<FakeLog>,
}

pub const FAKE_VOCAB: usize = 1000;
pub const FAKE_DIMS: usize = 8;

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend {
            n_ctx: 32,
            batch_delay_ms: Arc::new(AtomicU64::new(0)),
            hold: Arc::new(AtomicBool::new(false)),
            log: Arc::new(FakeLog::default()),
        }
    }
}

impl FakeBackend {
    /// A fake whose batches wait for `release()`.
    pub fn held() -> Self {
        let f = FakeBackend::default();
        f.hold.store(true, Ordering::SeqCst);
        f
    }

    pub fn release(&self) {
        self.hold.store(false, Ordering::SeqCst);
    }

    pub fn with_delay(ms: u64) -> Self {
        let f = FakeBackend::default();
        f.batch_delay_ms.store(ms, Ordering::SeqCst);
        f
    }

    /// "w123" is token 123; any other word hashes into 10..FAKE_VOCAB.
    pub fn word_id(w: &str) -> u32 {
        if let Some(n) = w.strip_prefix('w').and_then(|n| n.parse::<u32>().ok()) {
            if (10..FAKE_VOCAB as u32).contains(&n) {
                return n;
            }
        }
        let h = w
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        10 + h % (FAKE_VOCAB as u32 - 10)
    }

    pub fn encode(text: &str) -> Vec<u32> {
        let mut ids = vec![2];
        ids.extend(text.split_whitespace().map(Self::word_id));
        ids.push(1);
        ids
    }

    /// The fake's embedding of `ids` (what the server must return, bit for bit).
    pub fn vector(ids: &[u32], dims: usize, normalize: bool) -> Vec<f32> {
        let mut v: Vec<f32> = (0..FAKE_DIMS)
            .map(|k| {
                ids.iter()
                    .enumerate()
                    .map(|(p, &id)| ((id as f32) * 0.37 + (k as f32) * 1.3 + p as f32 * 0.11).sin())
                    .sum()
            })
            .collect();
        v.truncate(dims);
        if normalize {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
        }
        v
    }

    fn prompt(name: &str) -> Option<&'static str> {
        match name.to_ascii_lowercase().as_str() {
            "query" => Some("task: search result | query:"),
            "document" => Some("title: none | text:"),
            _ => None,
        }
    }
}

impl Backend for FakeBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            model_id: "fake-embed".into(),
            arch: "fake".into(),
            n_embd: FAKE_DIMS,
            dims: FAKE_DIMS,
            supported_dims: vec![8, 4],
            n_ctx: self.n_ctx,
            context_length: self.n_ctx,
            pooling: "mean".into(),
            n_vocab: FAKE_VOCAB,
            quantization: "F32".into(),
            weight_mix: "F32: F32×3".into(),
            has_head: true,
            prompts: vec![
                ("query".into(), "task: search result | query:".into()),
                ("document".into(), "title: none | text:".into()),
            ],
            bos_id: 2,
            eos_id: 1,
        }
    }

    fn prepare(&self, input: &Input) -> Result<TokenInput, ServerError> {
        let text = match &input.prompt_name {
            None => input.text.clone(),
            Some(name) => match Self::prompt(name) {
                Some(p) => format!("{p} {}", input.text),
                None => {
                    return Err(ServerError::UnknownPrompt {
                        name: name.clone(),
                        known: "query, document".into(),
                    })
                }
            },
        };
        let mut ids = Self::encode(&text);
        let mut truncated = false;
        if ids.len() > self.n_ctx {
            if input.truncate == Truncate::Error {
                return Err(ServerError::TooLong {
                    n_tokens: ids.len(),
                    max: self.n_ctx,
                });
            }
            truncated = tokenizer::truncate(&mut ids, self.n_ctx, 1);
        }
        Ok(TokenInput {
            ids,
            dims: input.dims,
            truncated,
            normalize: input.normalize,
        })
    }

    /// Token 999 makes the batch fail, token 998 makes it panic (to test 500s and recovery).
    fn embed_tokens(&mut self, inputs: &[TokenInput]) -> Result<Vec<Embedding>, ServerError> {
        if inputs.iter().any(|t| t.ids.contains(&999)) {
            return Err(ServerError::Model(
                "fake failure in the forward pass".into(),
            ));
        }
        if inputs.iter().any(|t| t.ids.contains(&998)) {
            panic!("fake panic in the forward pass");
        }
        self.log.started.fetch_add(1, Ordering::SeqCst);
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let ms = self.batch_delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
        self.log.batches.lock().unwrap().push(
            inputs
                .iter()
                .map(|t| t.ids.get(1).copied().unwrap_or(0))
                .collect(),
        );
        Ok(inputs
            .iter()
            .map(|t| Embedding {
                vector: Self::vector(&t.ids, t.dims.unwrap_or(FAKE_DIMS), t.normalize),
                n_tokens: t.ids.len(),
                truncated: t.truncated,
            })
            .collect())
    }

    fn decode(&self, ids: &[u32]) -> Result<String, ServerError> {
        Ok(ids
            .iter()
            .filter(|&&id| id >= 10)
            .map(|id| format!("w{id}"))
            .collect::<Vec<_>>()
            .join(" "))
    }

    fn piece(&self, id: u32) -> Option<String> {
        match id {
            1 => Some("<eos>".into()),
            2 => Some("<bos>".into()),
            0..=9 => Some(format!("<ctrl{id}>")),
            _ if (id as usize) < FAKE_VOCAB => Some(format!("\u{2581}w{id}")),
            _ => None,
        }
    }

    fn is_special(&self, id: u32) -> bool {
        id < 10
    }
}

/// POSTs JSON and returns (status, parsed body).
pub fn post(c: &mut HttpClient, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = c.post_json(path, body.to_string().as_bytes(), &[]).unwrap();
    let v = r.json().unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

/// A JSON array of numbers as f32 (a float-format embedding).
pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Bit patterns, to compare vectors exactly.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Asserts the OpenAI error shape and returns (code, message).
pub fn error_of(v: &serde_json::Value) -> (String, String) {
    let e = &v["error"];
    let msg = e["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.message in {v}"));
    let code = e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code in {v}"));
    assert!(e["type"].is_string(), "no error.type in {v}");
    (code.to_owned(), msg.to_owned())
}

/// Polls until `cond` holds (panics after 20 s, naming `what`).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One sample of the server's /metrics.
pub fn metric(s: &TestServer, key: &str) -> f64 {
    let t = s.client().get("/metrics").unwrap().text();
    server::metrics::sample(&t, key).unwrap_or_else(|| panic!("no {key} in /metrics"))
}

/// Set in a child process that [`run_alone`] started.
pub const ALONE_ENV: &str = "GGUFEMBED_TEST_ALONE";

/// The name libtest gives test function `f` of the module at `module_path` (`module_path!()`
/// of the caller; libtest drops the crate's name: `all::signals` -> `signals::f`).
pub fn test_name(module_path: &str, f: &str) -> String {
    let module = module_path.split_once("::").map_or("", |(_, m)| m);
    if module.is_empty() {
        f.to_string()
    } else {
        format!("{module}::{f}")
    }
}

/// A child process of this test binary that runs test `name` (from [`test_name`]) alone, with
/// [`ALONE_ENV`] set and `extra_env`; its stdout is piped to the caller, stderr discarded.
pub fn spawn_alone(name: &str, extra_env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ALONE_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// For a test that checks process-wide state (open descriptors, threads), which the other tests
/// of this binary would disturb: in the test binary itself, runs test `f` of `module_path`
/// (`module_path!()`) alone in a child process ([`run_alone`]) and returns true, and the caller
/// returns; in that child, returns false and the caller runs its body.
pub fn ran_alone(module_path: &str, f: &str) -> bool {
    if std::env::var_os(ALONE_ENV).is_some() {
        return false;
    }
    run_alone(&test_name(module_path, f));
    true
}

/// Runs test `name` alone in a child process and fails with its output unless it passed.
pub fn run_alone(name: &str) {
    let out = spawn_alone(name, &[]).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(out.status.success(), "{name}, run alone, failed");
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in the child:\n{stdout}"
    );
}
