//! Server limits and options. Defaults are safe for a laptop: loopback, a short queue, bounded bodies.

use std::time::Duration;

/// Everything the HTTP layer and the batching worker need to know. `Default` gives the laptop defaults
/// that `ggufembed serve` uses when no flag is given.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most tokens one model batch (one engine call) may hold. A single input longer than this still
    /// runs, alone. The engine runs a batch as forward passes of up to `model::FORWARD_TOKENS`.
    pub batch_tokens: usize,
    /// Requests that may wait in the queue for the model. When full, new requests get 429 + Retry-After.
    pub queue_size: usize,
    /// API requests admitted at once (validated, queued or computing). A request is admitted only
    /// after its body has been read and parsed, so slow uploads never hold a slot. Over it: 429.
    pub max_concurrent: usize,
    /// Most inputs (strings or token arrays) one request may carry.
    pub max_inputs: usize,
    /// Largest request body in bytes. Over it: 413.
    pub body_limit: usize,
    /// Whether inputs longer than the context are truncated when a request does not say (`truncate`).
    pub truncate_default: bool,
    /// How long a request may wait for its embeddings (queue + compute) before 503.
    pub request_timeout: Duration,
    /// Longest a request head (request line and headers) may take from its first byte, and a new
    /// connection may stay silent before sending one. Past it the connection is closed.
    pub head_timeout: Duration,
    /// Longest reading a request body may take (a total, from the end of the head). Past it: 408
    /// and the connection is closed.
    pub body_timeout: Duration,
    /// Longest a kept-alive connection may sit idle between requests before it is closed.
    pub keep_alive_timeout: Duration,
    /// Longest a response write may make no progress (a client that does not read). Past it the
    /// connection is closed.
    pub write_timeout: Duration,
    /// Open connections at most. Past it a new connection gets 503 + `Connection: close` at once.
    pub max_connections: usize,
    /// Request bodies being received at once. Past it: 429.
    pub max_uploads: usize,
    /// Bytes of request bodies received but not yet handed to a handler, summed over all
    /// uploads. Past it: 429.
    pub upload_bytes: usize,
    /// Largest request head (request line + headers), bytes. Past it: 431.
    pub max_header_bytes: usize,
    /// Required bearer token (`Authorization: Bearer KEY`, or `x-api-key: KEY`) for every route but /health.
    pub api_key: Option<String>,
    /// Origins allowed by CORS. Empty: no CORS headers. `*`: any origin.
    pub cors_origins: Vec<String>,
    /// Name reported as `model` in responses and by /v1/models. `None`: taken from the backend.
    pub model_id: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            batch_tokens: 2048,
            queue_size: 64,
            max_concurrent: 128,
            max_inputs: 256,
            body_limit: 2 * 1024 * 1024,
            truncate_default: true,
            request_timeout: Duration::from_secs(60),
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(30),
            max_connections: 2048,
            max_uploads: 1024,
            upload_bytes: 128 * 1024 * 1024,
            max_header_bytes: 32 * 1024,
            api_key: None,
            cors_origins: Vec::new(),
            model_id: None,
        }
    }
}
