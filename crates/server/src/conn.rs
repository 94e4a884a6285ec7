//! Serving connections (HTTP/1.1 over hyper): the accept loop, the cap on open connections, and a
//! watchdog per connection. Together with `upload` (bodies) and `service` (the handler timeout)
//! every stage of a connection is bounded in time:
//!
//! | stage | bound | on expiry |
//! |---|---|---|
//! | a new connection until its first request's head is complete | `head_timeout` | closed |
//! | a request head, from its first byte | `head_timeout` | closed |
//! | the body | `body_timeout` (`upload`) | 408, closed |
//! | waiting for the model | `request_timeout` (`service`) | 503 |
//! | writing the response, without progress | `write_timeout` | closed |
//! | idle between requests (keep-alive) | `keep_alive_timeout` | closed |
//!
//! Past `max_connections` open connections a new one is answered 503 (`Retry-After: 1`,
//! `Connection: close`) without being read, and closed. Heads are limited to `max_header_bytes`
//! (hyper answers 431 beyond it), which also bounds each connection's read buffer.

use crate::error::{ApiError, ServerError};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Refusals (503 past the connection cap) being written at once; beyond it refused connections
/// are closed without an answer.
const REFUSERS: usize = 64;
/// How often a watchdog looks at its connection when no deadline is nearer.
const TICK: Duration = Duration::from_millis(250);

/// Accepts connections until `stop` resolves, then stops accepting (the listener is closed), lets
/// every connection finish its request in flight, and returns once all are closed.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    state: AppState,
    stop: impl Future<Output = ()>,
) {
    let cfg = &state.config;
    let cap = cfg.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(cap));
    let refusers = Arc::new(Semaphore::new(REFUSERS));
    let (shut_tx, shut_rx) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true)
        .header_read_timeout(None) // the watchdog times heads (and idle connections)
        .max_header_size(cfg.max_header_bytes.max(1024))
        .max_buf_size((cfg.max_header_bytes + 8192).max(16 * 1024));
    let http = Arc::new(http);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                // Out of descriptors (or similar): wait a little rather than spin.
                Err(e) if !per_connection(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(_) => continue,
            },
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let conn = Conn {
                    state: state.clone(),
                    _slot: slot,
                };
                tokio::spawn(conn.serve(stream, app.clone(), http.clone(), shut_rx.clone()));
            }
            Err(_) => refuse(stream, &state, &refusers),
        }
    }
    drop(listener);
    let _ = shut_tx.send(true);
    let _ = slots.acquire_many(cap as u32).await;
}

/// Accept errors that concern one connection only (the next accept may succeed at once).
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Answers 503 past the connection cap, without reading the request (bounded: at most
/// `REFUSERS` at once, 1 s each).
fn refuse(mut stream: TcpStream, state: &AppState, refusers: &Arc<Semaphore>) {
    state
        .metrics
        .connections_refused
        .fetch_add(1, Ordering::Relaxed);
    let Ok(permit) = refusers.clone().try_acquire_owned() else {
        return; // dropped: closed
    };
    let body = ApiError::from(ServerError::TooManyConnections(
        state.config.max_connections,
    ))
    .to_json()
    .to_string();
    let msg = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(msg.as_bytes()).await?;
            stream.shutdown().await?;
            // Read what the client sent until it closes, so closing does not reset the
            // connection before the client has read the answer.
            let mut sink = [0u8; 4096];
            let mut left: usize = 64 * 1024;
            while left > 0 {
                let n = stream.read(&mut sink).await?;
                if n == 0 {
                    break;
                }
                left = left.saturating_sub(n);
            }
            io::Result::Ok(())
        })
        .await;
    });
}

/// One open connection: holds its slot and counts itself in the metrics while alive.
struct Conn {
    state: AppState,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    async fn serve(
        self,
        stream: TcpStream,
        app: Router,
        http: Arc<hyper::server::conn::http1::Builder>,
        mut shut: watch::Receiver<bool>,
    ) {
        let m = &self.state.metrics;
        m.connections_open.fetch_add(1, Ordering::Relaxed);
        m.connections_total.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let clock = Arc::new(Clock::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            clock: clock.clone(),
        });
        let svc_clock = clock.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::begin(svc_clock.clone());
            let response = app.clone().oneshot(req.map(Body::new));
            async move {
                let resp = response.await?;
                Ok::<_, Infallible>(resp.map(|inner| Tracked { inner, _busy: busy }))
            }
        });
        let limits = Limits::of(&self.state);
        let conn = http.serve_connection(io, svc);
        tokio::pin!(conn);
        let mut draining = false;
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                stage = watchdog(&clock, &limits) => {
                    let t = &m.timeouts;
                    match stage {
                        Stage::Head => &t.head,
                        Stage::Idle => &t.idle,
                        Stage::Write => &t.write,
                    }
                    .fetch_add(1, Ordering::Relaxed);
                    break; // dropping the connection closes it
                }
                _ = shut.changed(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.state
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The watchdog's time limits, in milliseconds.
struct Limits {
    head: u64,
    idle: u64,
    write: u64,
}

impl Limits {
    fn of(st: &AppState) -> Limits {
        let ms = |d: Duration| d.as_millis().min(u64::MAX as u128 / 2) as u64;
        let c = &st.config;
        Limits {
            head: ms(c.head_timeout),
            idle: ms(c.keep_alive_timeout),
            write: ms(c.write_timeout),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    Head,
    Idle,
    Write,
}

/// Resolves when the connection has overstayed the limit of the stage it is in.
async fn watchdog(clock: &Clock, limits: &Limits) -> Stage {
    loop {
        let now = clock.now();
        let (deadline, stage) = clock.deadline(limits);
        let wait = match deadline {
            Some(d) if d <= now => return stage,
            Some(d) => Duration::from_millis(d - now).min(TICK),
            None => TICK,
        };
        tokio::time::sleep(wait).await;
    }
}

const NEVER: u64 = u64::MAX;

/// What stage a connection is in, and since when (milliseconds since the connection opened).
/// Updated by its socket (`Watched`) and its requests (`Busy`), all on the connection's task.
struct Clock {
    opened: Instant,
    /// Requests whose head has been read and whose response has not been sent in full.
    busy: AtomicUsize,
    /// Requests begun on this connection.
    served: AtomicU64,
    /// When the last response was sent (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte of the next request arrived, or NEVER.
    head_since: AtomicU64,
    /// Since when a write has been waiting for the client to read, or NEVER.
    write_blocked_since: AtomicU64,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            opened: Instant::now(),
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NEVER),
            write_blocked_since: AtomicU64::new(NEVER),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn on_read(&self) {
        if self.busy.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == NEVER
        {
            self.head_since.store(self.now(), Ordering::Relaxed);
        }
    }

    fn on_write(&self, blocked: bool) {
        let since = &self.write_blocked_since;
        if !blocked {
            since.store(NEVER, Ordering::Relaxed);
        } else if since.load(Ordering::Relaxed) == NEVER {
            since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// The next deadline and the stage it belongs to.
    fn deadline(&self, l: &Limits) -> (Option<u64>, Stage) {
        let blocked = self.write_blocked_since.load(Ordering::Relaxed);
        if blocked != NEVER {
            return (Some(blocked + l.write), Stage::Write);
        }
        if self.busy.load(Ordering::Relaxed) > 0 {
            return (None, Stage::Write); // body and handler have their own timeouts
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NEVER {
            return (Some(head + l.head), Stage::Head);
        }
        let idle = self.idle_since.load(Ordering::Relaxed);
        if self.served.load(Ordering::Relaxed) == 0 {
            (Some(idle + l.head), Stage::Head) // a new connection that has sent nothing
        } else {
            (Some(idle + l.idle), Stage::Idle)
        }
    }
}

/// Marks a request in progress on its connection, from its head until its response has been sent
/// (it travels with the response body) or abandoned.
struct Busy(Arc<Clock>);

impl Busy {
    fn begin(clock: Arc<Clock>) -> Busy {
        clock.busy.fetch_add(1, Ordering::Relaxed);
        clock.served.fetch_add(1, Ordering::Relaxed);
        clock.head_since.store(NEVER, Ordering::Relaxed);
        Busy(clock)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let c = &self.0;
        c.idle_since.store(c.now(), Ordering::Relaxed);
        c.head_since.store(NEVER, Ordering::Relaxed);
        c.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request marked busy until hyper has finished with it.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client socket, reporting reads and blocked writes to the connection's clock.
struct Watched {
    inner: TcpStream,
    clock: Arc<Clock>,
}

impl Watched {
    fn track<T>(&self, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.clock.on_write(r.is_pending());
        r
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.on_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.track(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
