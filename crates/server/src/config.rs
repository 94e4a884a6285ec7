//! Server limits and options. Defaults are safe for a laptop: loopback, a short queue, bounded bodies.

use std::time::Duration;

/// Everything the HTTP layer and the batching worker need to know. `Default` gives the laptop defaults
/// that `ggufembed serve` uses when no flag is given.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most tokens one forward pass (one batch) may hold. A single input longer than this still runs, alone.
    pub batch_tokens: usize,
    /// Requests that may wait in the queue for the model. When full, new requests get 429 + Retry-After.
    pub queue_size: usize,
    /// HTTP requests that may be in flight at once (parsing, queued or computing). Over it: 429.
    pub max_concurrent: usize,
    /// Most inputs (strings or token arrays) one request may carry.
    pub max_inputs: usize,
    /// Largest request body in bytes. Over it: 413.
    pub body_limit: usize,
    /// Whether inputs longer than the context are truncated when a request does not say (`truncate`).
    pub truncate_default: bool,
    /// How long a request may wait for its embeddings (queue + compute) before 503.
    pub request_timeout: Duration,
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
            api_key: None,
            cors_origins: Vec::new(),
            model_id: None,
        }
    }
}
