//! `app(state) -> Router`: the routes, thin handlers, and the middleware (CORS, metrics, auth,
//! concurrency limit, body limit). Every failure is an `ApiError`.

use crate::api::{
    self, DetokenizeRequest, OpenAiRequest, OpenAiResponse, SimpleToken, TeiEmbedRequest,
    TokenizeRequest,
};
use crate::backend::{Backend, Input, Truncate};
use crate::error::{ApiError, ApiJson, ServerError};
use crate::service;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The whole HTTP application. Tests drive it over TCP; `serve` runs it.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/embed", post(tei_embed))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            concurrency_limit,
        ));
    let mut router = Router::new()
        .merge(api)
        .route("/health", get(health))
        .route("/info", get(info))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ));
    if let Some(cors) = cors_layer(&state.config.cors_origins) {
        router = router.layer(cors);
    }
    router.with_state(state)
}

// ---- handlers -------------------------------------------------------------------------------

async fn openai_embeddings(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<OpenAiRequest>,
) -> Result<Response, ApiError> {
    let call = req.to_call()?;
    let embeddings = service::embed(&st, call).await?;
    let model = st.model_id(&*st.info()?);
    let format = req.encoding_format.unwrap_or_default();
    Ok(Json(OpenAiResponse::new(embeddings, format, model)).into_response())
}

async fn tei_embed(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<TeiEmbedRequest>,
) -> Result<Response, ApiError> {
    let embeddings = service::embed(&st, req.to_call()?).await?;
    let vectors: Vec<Vec<f32>> = embeddings.into_iter().map(|e| e.vector).collect();
    Ok(Json(vectors).into_response())
}

async fn tokenize(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<TokenizeRequest>,
) -> Result<Json<Vec<Vec<SimpleToken>>>, ApiError> {
    let texts = api::parse_texts(&req.inputs, "inputs")?;
    check_count(texts.len(), &st)?;
    let (prompt_name, add_special) = (req.prompt_name, req.add_special_tokens);
    let out = service::call(&st, move |b| {
        let info = b.info();
        texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let input = Input {
                    text,
                    prompt_name: prompt_name.clone(),
                    title: None,
                    dims: None,
                    truncate: Truncate::Truncate,
                    normalize: true,
                };
                let mut ids = b.prepare(&input).map_err(|e| e.at(i))?.ids;
                if !add_special {
                    if ids.last() == Some(&info.eos_id) {
                        ids.pop();
                    }
                    if ids.first() == Some(&info.bos_id) {
                        ids.remove(0);
                    }
                }
                Ok(ids.into_iter().map(|id| simple_token(b, id)).collect())
            })
            .collect::<Result<Vec<_>, ServerError>>()
    })
    .await?;
    Ok(Json(out))
}

fn simple_token(b: &dyn Backend, id: u32) -> SimpleToken {
    SimpleToken {
        id,
        text: b.piece(id).unwrap_or_default(),
        special: b.is_special(id),
        start: None,
        stop: None,
    }
}

async fn detokenize(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<DetokenizeRequest>,
) -> Result<Json<Vec<String>>, ApiError> {
    let lists = api::parse_id_lists(&req.ids, "ids")?;
    check_count(lists.len(), &st)?;
    let n_vocab = st.info()?.n_vocab;
    for (i, ids) in lists.iter().enumerate() {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= n_vocab) {
            return Err(ServerError::TokenOutOfRange {
                id: id as u64,
                n_vocab,
            }
            .at(i)
            .into());
        }
    }
    let skip_special = req.skip_special_tokens;
    let out = service::call(&st, move |b| {
        lists
            .iter()
            .map(|ids| detokenize_one(b, ids, skip_special))
            .collect::<Result<Vec<_>, ServerError>>()
    })
    .await?;
    Ok(Json(out))
}

/// Decodes `ids`; with `skip_special == false` the special tokens are kept, written as their pieces.
fn detokenize_one(b: &dyn Backend, ids: &[u32], skip_special: bool) -> Result<String, ServerError> {
    if skip_special {
        return b.decode(ids);
    }
    let mut out = String::new();
    let mut run_start = 0;
    for (k, &id) in ids.iter().enumerate() {
        let tok = simple_token(b, id);
        if tok.special {
            out.push_str(&b.decode(&ids[run_start..k])?);
            out.push_str(&tok.text);
            run_start = k + 1;
        }
    }
    out.push_str(&b.decode(&ids[run_start..])?);
    Ok(out)
}

fn check_count(n: usize, st: &AppState) -> Result<(), ServerError> {
    if n > st.config.max_inputs {
        return Err(ServerError::Invalid(format!(
            "{n} inputs in one request; the limit is {} (--max-inputs): split the request",
            st.config.max_inputs
        )));
    }
    Ok(())
}

async fn health(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    st.info()?;
    Ok(Json(json!({"status": "ok"})))
}

async fn info(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let info = st.info()?;
    let c = &st.config;
    let prompts: serde_json::Map<String, Value> = info
        .prompts
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Ok(Json(json!({
        "model_id": st.model_id(&info),
        "arch": info.arch,
        "dims": info.dims,
        "supported_dims": info.supported_dims,
        "n_embd": info.n_embd,
        "max_input_length": info.n_ctx,
        "n_vocab": info.n_vocab,
        "quantization": info.quantization,
        "weight_mix": info.weight_mix,
        "dense_head": info.has_head,
        "prompts": prompts,
        "max_batch_tokens": c.batch_tokens,
        "max_client_batch_size": c.max_inputs,
        "max_concurrent_requests": c.max_concurrent,
        "queue_size": c.queue_size,
        "truncate_default": c.truncate_default,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

async fn models(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let info = st.info()?;
    Ok(Json(json!({
        "object": "list",
        "data": [{"id": st.model_id(&info), "object": "model", "created": 0, "owned_by": "ggufembed"}],
    })))
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

// ---- middleware -----------------------------------------------------------------------------

/// Counts every response by route and status and observes its latency.
async fn record_metrics(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let t0 = Instant::now();
    let resp = next.run(req).await;
    st.metrics
        .record_request(&route, resp.status().as_u16(), t0.elapsed().as_secs_f64());
    resp
}

/// With an API key configured, every route but /health needs `Authorization: Bearer KEY` (or
/// `x-api-key: KEY`). Compared in constant time.
async fn require_api_key(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(key) = &st.config.api_key {
        if req.uri().path() != "/health" && req.method() != Method::OPTIONS {
            match presented_key(req.headers()) {
                None => {
                    return ApiError::unauthorized(
                        "missing API key: send the header `Authorization: Bearer <key>`",
                    )
                    .into_response()
                }
                Some(got) if !constant_time_eq(got.as_bytes(), key.as_bytes()) => {
                    return ApiError::unauthorized("invalid API key").into_response()
                }
                Some(_) => {}
            }
        }
    }
    next.run(req).await
}

fn presented_key(h: &HeaderMap) -> Option<&str> {
    if let Some(v) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        return scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim());
    }
    h.get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Equality whose running time depends only on the lengths, never on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= (x ^ y) as u64;
    }
    std::hint::black_box(diff) == 0
}

/// At most `max_concurrent` API requests in flight; beyond it 429 at once (no hidden queue).
async fn concurrency_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match st.limiter.clone().try_acquire_owned() {
        Ok(_permit) => {
            let _counted = InFlight::enter(&st);
            next.run(req).await
        }
        Err(_) => ApiError::from(ServerError::TooManyRequests {
            limit: st.config.max_concurrent,
        })
        .into_response(),
    }
}

/// Counts a request in `ggufembed_requests_in_flight` until dropped (also when the client leaves).
struct InFlight(AppState);

impl InFlight {
    fn enter(st: &AppState) -> InFlight {
        st.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(st.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bearer_or_x_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", HeaderValue::from_static("k1"));
        assert_eq!(presented_key(&h), Some("k1"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  k2 "),
        );
        assert_eq!(presented_key(&h), Some("k2"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic k3"));
        assert_eq!(presented_key(&h), None);
    }
}
