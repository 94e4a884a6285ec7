//! `ggufembed serve`: OpenAI (`/v1/embeddings`) and text-embeddings-inference (`/embed`,
//! `/tokenize`, `/detokenize`) APIs over axum, with a dynamic-batching worker thread.
//!
//! Connections (`conn`): an accept loop with a cap on open connections and a watchdog per
//! connection (head, keep-alive idle and write-stall timeouts). Bodies are received in full
//! (`upload`) before a request is parsed and admitted.
//!
//! Data flow: handler (`routes`) -> wire types to one `EmbedCall` (`api`) -> validation and queueing
//! (`service`) -> bounded channel -> the worker thread that owns the model (`batch`) -> oneshot reply
//! -> the API's JSON. Errors: `ServerError`, rendered once as `ApiError` (`error`).

pub mod api;
pub mod backend;
pub mod batch;
pub mod client;
pub mod config;
mod conn;
pub mod error;
pub mod hostile;
pub mod loadtest;
pub mod metrics;
pub mod model_backend;
pub mod routes;
pub mod serve;
pub mod service;
pub mod soak;
pub mod state;
pub mod upload;

pub use backend::{Backend, BackendInfo};
pub use config::ServerConfig;
pub use error::{ApiError, ServerError};
pub use model_backend::ModelBackend;
pub use routes::app;
pub use serve::{run_until_signal, serve, shutdown_signal};
pub use state::AppState;
