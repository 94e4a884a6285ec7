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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": null,
                "code": self.code,
            }
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// `axum::Json`, with its rejections rendered as `ApiError`.
pub struct ApiJson<T>(pub T);

#[axum::async_trait]
impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(ApiError::from(r)),
        }
    }
}
