//! State shared by the handlers and the worker thread: config, metrics, the bounded queue, model status.

use crate::backend::BackendInfo;
use crate::batch::Work;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::metrics::Metrics;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Notify, Semaphore};

/// Cheap to clone; every clone points at the same server.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: ServerConfig,
    pub metrics: Metrics,
    /// Admitted API requests (`max_concurrent`): taken after the body is read and validated.
    pub limiter: Arc<Semaphore>,
    /// Request bodies being received (`max_uploads`).
    pub uploads: Arc<Semaphore>,
    /// Bytes of request bodies being received (`upload_bytes`), one permit per byte.
    pub upload_budget: Semaphore,
    queue: SyncSender<Work>,
    /// Set once by the worker: the model's facts, or why it failed to load.
    model: OnceLock<Result<Arc<BackendInfo>, String>>,
    /// Fired when `model` is set.
    loaded: Notify,
    /// Tells the worker to exit once its queue is empty.
    stop: AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// A new server state and the receiving end of its queue (for the worker).
    pub fn new(config: ServerConfig) -> (AppState, Receiver<Work>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue_size.max(1));
        let shared = Shared {
            metrics: Metrics::new(config.queue_size.max(1)),
            limiter: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            uploads: Arc::new(Semaphore::new(config.max_uploads.max(1))),
            upload_budget: Semaphore::new(config.upload_bytes.clamp(1, Semaphore::MAX_PERMITS)),
            queue: tx,
            model: OnceLock::new(),
            loaded: Notify::new(),
            stop: AtomicBool::new(false),
            config,
        };
        (AppState(Arc::new(shared)), rx)
    }

    /// The loaded model's facts, or 503 while loading / after a failed load.
    pub fn info(&self) -> Result<Arc<BackendInfo>, ServerError> {
        match self.model.get() {
            None => Err(ServerError::Loading),
            Some(Ok(info)) => Ok(info.clone()),
            Some(Err(msg)) => Err(ServerError::LoadFailed(msg.clone())),
        }
    }

    /// Name reported as `model`.
    pub fn model_id(&self, info: &BackendInfo) -> String {
        self.config
            .model_id
            .clone()
            .unwrap_or_else(|| info.model_id.clone())
    }

    /// Puts work on the bounded queue without waiting: full -> 429, worker gone -> 503.
    pub fn submit(&self, work: Work) -> Result<(), ServerError> {
        if self.stop.load(Ordering::Acquire) {
            return Err(ServerError::ShuttingDown);
        }
        self.metrics.queue_depth.fetch_add(1, Ordering::AcqRel);
        match self.queue.try_send(work) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.metrics.queue_depth.fetch_sub(1, Ordering::AcqRel);
                Err(match e {
                    TrySendError::Full(_) => ServerError::QueueFull {
                        capacity: self.metrics.queue_capacity,
                    },
                    TrySendError::Disconnected(_) => ServerError::ShuttingDown,
                })
            }
        }
    }

    /// Called by the worker once loading has finished, either way.
    pub fn set_model(&self, result: Result<BackendInfo, String>) {
        let ok = result.is_ok();
        let _ = self.model.set(result.map(Arc::new));
        self.metrics
            .model_loaded
            .store(ok as u64, Ordering::Relaxed);
        self.loaded.notify_one();
    }

    /// Resolves with the load error if loading fails; never resolves if it succeeds.
    pub async fn load_failure(&self) -> String {
        loop {
            match self.model.get() {
                Some(Err(msg)) => return msg.clone(),
                Some(Ok(_)) => std::future::pending::<()>().await,
                None => self.loaded.notified().await,
            }
        }
    }

    /// The load error, if loading has failed by now.
    pub fn load_failure_now(&self) -> Option<String> {
        match self.model.get() {
            Some(Err(msg)) => Some(msg.clone()),
            _ => None,
        }
    }

    /// Asks the worker to exit once idle (after the HTTP server has drained).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}
