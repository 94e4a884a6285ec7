//! The crate's error type (`ServerError`) and its single HTTP rendering (`ApiError`), in OpenAI's shape:
//! `{"error":{"message":"...","type":"...","param":null,"code":"..."}}`. Every handler, middleware,
//! fallback and extractor rejection (axum's own JSON errors included) goes through `ApiError`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// Everything that can go wrong in the server, from request validation to the model and the socket.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("unknown prompt name {name:?}; known prompt names: {known}")]
    UnknownPrompt { name: String, known: String },
    #[error("dimensions={dims} is not supported; use one of {supported:?}")]
    BadDims { dims: usize, supported: Vec<usize> },
    #[error("input has {n_tokens} tokens but the model's context is {max}; shorten it or send \"truncate\": true")]
    TooLong { n_tokens: usize, max: usize },
    #[error("token id {id} is outside the vocabulary (size {n_vocab}); ids must be < {n_vocab}")]
    TokenOutOfRange { id: u64, n_vocab: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("input {index}: {source}")]
    AtInput {
        index: usize,
        source: Box<ServerError>,
    },
    #[error("the request queue is full ({capacity} waiting); retry after a moment")]
    QueueFull { capacity: usize },
    #[error("too many requests in flight (limit {limit}); retry after a moment")]
    TooManyRequests { limit: usize },
    #[error("{0} request bodies are being received (--max-uploads); retry after a moment")]
    TooManyUploads(usize),
    #[error(
        "{0} bytes of request bodies are being received (--upload-bytes); retry after a moment"
    )]
    UploadBudget(usize),
    #[error("the request body is larger than {limit} bytes (--body-limit); send fewer or shorter inputs per request")]
    BodyTooLarge { limit: usize },
    #[error("the request body did not arrive within {secs} s (--body-timeout); send the whole body at once")]
    BodyTimeout { secs: u64 },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("{0} connections are open (--max-connections); retry after a moment")]
    TooManyConnections(usize),
    #[error("the model is still loading; retry after a moment")]
    Loading,
    #[error("the model failed to load: {0}")]
    LoadFailed(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error(
        "the request timed out after {secs} s waiting for the model; retry, or send fewer inputs"
    )]
    Timeout { secs: u64 },
    #[error("model error: {0}")]
    Model(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl ServerError {
    /// Attach the position of the offending input in the request.
    pub fn at(self, index: usize) -> ServerError {
        ServerError::AtInput {
            index,
            source: Box::new(self),
        }
    }

    /// HTTP status and OpenAI `code` for this error.
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ServerError::UnknownPrompt { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unknown_prompt")
            }
            ServerError::BadDims { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_dimensions")
            }
            ServerError::TooLong { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "input_too_long"),
            ServerError::TokenOutOfRange { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "token_out_of_range")
            }
            ServerError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
            ServerError::AtInput { source, .. } => source.status_code(),
            ServerError::QueueFull { .. } => (StatusCode::TOO_MANY_REQUESTS, "queue_full"),
            ServerError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ServerError::TooManyUploads(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_uploads"),
            ServerError::UploadBudget(_) => (StatusCode::TOO_MANY_REQUESTS, "upload_budget_full"),
            ServerError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ServerError::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ServerError::BodyRead(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            ServerError::TooManyConnections(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "too_many_connections")
            }
            ServerError::Loading => (StatusCode::SERVICE_UNAVAILABLE, "model_loading"),
            ServerError::LoadFailed(_) => (StatusCode::SERVICE_UNAVAILABLE, "model_load_failed"),
            ServerError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            ServerError::Timeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ServerError::Model(_) | ServerError::Io { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }
}

/// One error response. Built from a `ServerError`, a rejection, or directly for HTTP-level failures.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for the `Retry-After` header (429 / 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 422: the request is valid JSON of the right shape, but a value is unusable.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::from(ServerError::Invalid(message.into()))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", message)
    }

    pub fn not_found(path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {path}; see GET /info, POST /v1/embeddings, POST /embed, POST /tokenize, POST /detokenize"),
        )
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route: the API routes take POST with a JSON body, the others GET",
        )
    }

    /// OpenAI's `type` field, derived from the status.
    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        let (status, code) = e.status_code();
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
            retry_after,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match &r {
            JsonRejection::JsonDataError(_) => "invalid_type",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::MissingJsonContentType(_) => "missing_content_type",
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                "body_too_large"
            }
            _ => "invalid_body",
        };
        let hint = match code {
            "body_too_large" => "; send fewer or shorter inputs per request",
            _ => "",
        };
        ApiError::new(r.status(), code, format!("{}{hint}", r.body_text()))
    }
}

impl ApiError {
    /// The body: `{"error":{"message","type","param","code"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": null,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_json();
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A JSON body, with its rejections rendered as `ApiError`. The body is parsed as JSON when it
/// declares `application/json` (or `application/*+json`), no `Content-Type` at all, or the
/// `application/x-www-form-urlencoded` that `curl -d` sends (as llama-server does); any other
/// declared type gets 415 naming what to send.
pub struct ApiJson<T>(pub T);

/// Whether a `Content-Type` value is one the API routes read as JSON.
pub fn json_content_type(value: Option<&str>) -> bool {
    let Some(v) = value else { return true };
    let mime = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.is_empty()
        || mime == "application/json"
        || mime == "application/x-www-form-urlencoded"
        || (mime.starts_with("application/") && mime.ends_with("+json"))
}

#[axum::async_trait]
impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = req.headers().get(header::CONTENT_TYPE).map(|v| {
            v.to_str()
                .map(str::to_owned)
                .unwrap_or_else(|_| "(not ASCII)".into())
        });
        if !json_content_type(declared.as_deref()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
                format!(
                    "Content-Type {:?} is not accepted: send the body as JSON with `Content-Type: application/json` (or no Content-Type)",
                    declared.unwrap_or_default()
                ),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                let code = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "body_too_large"
                } else {
                    "invalid_body"
                };
                ApiError::new(r.status(), code, r.body_text())
            })?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(ApiError::from(r)),
        }
    }
}
