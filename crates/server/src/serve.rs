//! Running a server: bind first, load the model in the background (so /health answers 503 until
//! it is ready), serve until the shutdown signal, then drain in-flight requests and stop the worker.

use crate::backend::Backend;
use crate::batch::spawn_worker;
use crate::config::ServerConfig;
use crate::conn;
use crate::error::ServerError;
use crate::routes::app;
use crate::state::AppState;
use std::future::Future;
use tokio::net::TcpListener;

/// Serves on `listener` until `shutdown` resolves (or the model fails to load), then finishes the
/// requests in flight, refuses new connections, and joins the worker thread.
/// `loader` runs on the worker thread and builds the backend.
pub async fn serve<B, L>(
    listener: TcpListener,
    config: ServerConfig,
    loader: L,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError>
where
    B: Backend,
    L: FnOnce() -> Result<B, ServerError> + Send + 'static,
{
    let (state, rx) = AppState::new(config);
    let worker = spawn_worker(loader, rx, state.clone()).map_err(|source| ServerError::Io {
        what: "starting the model worker thread".into(),
        source,
    })?;
    let watcher = state.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = watcher.load_failure() => {}
        }
    };
    conn::run(listener, app(state.clone()), state.clone(), stop).await;
    state.stop();
    let load_error = state.load_failure_now();
    drop(state);
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    match load_error {
        Some(msg) => Err(ServerError::LoadFailed(msg)),
        None => Ok(()),
    }
}

/// Runs the server on its own small runtime (two async threads: HTTP is light next to the model,
/// which has its own thread and pool) until Ctrl-C/SIGTERM or a failed load. `on_signal` runs when
/// the signal arrives, before draining. For the CLI.
pub fn run_until_signal<B, L>(
    listener: std::net::TcpListener,
    config: ServerConfig,
    loader: L,
    on_signal: impl FnOnce() + Send + 'static,
) -> Result<(), ServerError>
where
    B: Backend,
    L: FnOnce() -> Result<B, ServerError> + Send + 'static,
{
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| ServerError::Io { what, source }
    };
    listener
        .set_nonblocking(true)
        .map_err(io("listening socket"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ggufembed-http")
        .enable_all()
        .build()
        .map_err(io("starting the async runtime"))?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener).map_err(io("listening socket"))?;
        let shutdown = async move {
            shutdown_signal().await;
            on_signal();
        };
        serve(listener, config, loader, shutdown).await
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
