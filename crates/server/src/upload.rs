//! Receiving request bodies, before admission. The API routes read the whole body here, bounded in
//! size (`body_limit`), in time (`body_timeout`, a total from the end of the head), in number
//! (`max_uploads` bodies at once) and in bytes held (`upload_bytes`, summed over all bodies being
//! received). Only then does the handler parse it and take a concurrency slot (`service::admit`),
//! so a slow or stalled upload delays nothing but itself. Every refusal here closes the connection
//! (the rest of the body is never read): 413 too large, 408 too slow, 429 too many uploads or
//! bytes, 400 broken framing (e.g. bad chunked encoding).

use crate::error::{ApiError, ServerError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::SemaphorePermit;

/// Middleware for the API routes: the request goes on with its body fully in memory, or gets the
/// error, with `Connection: close`.
pub async fn read_body(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match receive(&st, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => {
            let mut resp = ApiError::from(e).into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}

/// The declared `Content-Length`, if any and well-formed (hyper has already rejected bad ones).
fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

async fn receive(st: &AppState, req: Request) -> Result<Request, ServerError> {
    let c = &st.config;
    if content_length(req.headers()).is_some_and(|n| n > c.body_limit as u64) {
        return Err(ServerError::BodyTooLarge {
            limit: c.body_limit,
        });
    }
    let _slot = st
        .uploads
        .try_acquire()
        .map_err(|_| ServerError::TooManyUploads(c.max_uploads))?;
    let _counted = Gauge::add(&st.metrics.uploads_in_flight, 1);
    let (parts, mut body) = req.into_parts();
    let mut buf: Vec<u8> = Vec::new(); // [bytes received so far]
    let mut held = Held {
        permit: None,
        bytes: Gauge::add(&st.metrics.upload_bytes, 0),
    };
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ServerError::BodyRead(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if buf.len() + data.len() > c.body_limit {
                return Err(ServerError::BodyTooLarge {
                    limit: c.body_limit,
                });
            }
            held.charge(st, data.len())?;
            buf.extend_from_slice(&data);
        }
        Ok(())
    };
    match tokio::time::timeout(c.body_timeout, read).await {
        Ok(r) => r?,
        Err(_) => {
            st.metrics.timeouts.body.fetch_add(1, Ordering::Relaxed);
            return Err(ServerError::BodyTimeout {
                secs: c.body_timeout.as_secs().max(1),
            });
        }
    }
    Ok(Request::from_parts(parts, Body::from(buf)))
}

/// The bytes of one body charged against `upload_budget`, given back when dropped.
struct Held<'a> {
    permit: Option<SemaphorePermit<'a>>,
    bytes: Gauge<'a>,
}

impl<'a> Held<'a> {
    fn charge(&mut self, st: &'a AppState, n: usize) -> Result<(), ServerError> {
        if n == 0 {
            return Ok(());
        }
        let full = || ServerError::UploadBudget(st.config.upload_bytes);
        let p = st
            .upload_budget
            .try_acquire_many(u32::try_from(n).map_err(|_| full())?)
            .map_err(|_| full())?;
        match &mut self.permit {
            Some(held) => held.merge(p),
            None => self.permit = Some(p),
        }
        self.bytes.grow(n);
        Ok(())
    }
}

/// Adds to a gauge now and takes the same amount off when dropped.
struct Gauge<'a> {
    gauge: &'a AtomicUsize,
    n: usize,
}

impl<'a> Gauge<'a> {
    fn add(gauge: &'a AtomicUsize, n: usize) -> Self {
        gauge.fetch_add(n, Ordering::Relaxed);
        Gauge { gauge, n }
    }

    fn grow(&mut self, n: usize) {
        self.gauge.fetch_add(n, Ordering::Relaxed);
        self.n += n;
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(self.n, Ordering::Relaxed);
    }
}
