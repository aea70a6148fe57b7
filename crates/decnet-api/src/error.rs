//! Error responses: every failure is `{"detail": …}`; 500s carry an
//! `error_id` that is also written to the server log, never a stack trace.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// One validation failure: where (`body.new_password`, `query.limit`) and why.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Location path, e.g. `["body", "username"]`.
    pub loc: Vec<String>,
    /// Human-readable reason.
    pub msg: String,
    /// Machine-readable kind (`missing`, `type_error`, `value_error`).
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// A validation error at `place.field`.
    pub fn new(place: &str, field: &str, msg: impl Into<String>, kind: &str) -> Self {
        let mut loc = vec![place.to_owned()];
        loc.extend(
            field
                .split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        FieldError {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }
}

/// What a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a message.
    BadRequest(String),
    /// 401; always carries `WWW-Authenticate: Bearer`.
    Unauthorized(String),
    /// 403.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 409.
    Conflict(String),
    /// 415.
    UnsupportedMediaType,
    /// 422 with field paths.
    Validation(Vec<FieldError>),
    /// 429 with `Retry-After` seconds.
    TooManyRequests {
        /// Message.
        detail: String,
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// 503.
    Unavailable(String),
    /// 500: the cause is logged under a fresh error id and not sent.
    Internal(String),
}

impl ApiError {
    /// 422 for one field.
    pub fn field(place: &str, field: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(place, field, msg, "value_error")])
    }

    /// 500 from any displayable cause.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<decnet_store::StoreError> for ApiError {
    fn from(e: decnet_store::StoreError) -> Self {
        use decnet_store::StoreError as E;
        match e {
            E::Conflict(m) => ApiError::Conflict(m),
            E::NotFound(m) => ApiError::NotFound(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// `detail` of an error: a message, or the field errors of a 422.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// A message.
    Message(String),
    /// Field errors (422).
    Fields(Vec<FieldError>),
}

/// Body of every error response (documented in OpenAPI).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong (a string, or a list of field errors for 422).
    pub detail: Detail,
    /// Present on 500s: look it up in the server log.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, extra): (
            StatusCode,
            serde_json::Value,
            Option<(header::HeaderName, HeaderValue)>,
        ) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "detail": m }), None),
            ApiError::Unauthorized(m) => (
                StatusCode::UNAUTHORIZED,
                json!({ "detail": m }),
                Some((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, json!({ "detail": m }), None),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "detail": m }), None),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, json!({ "detail": m }), None),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({ "detail": "Content-Type must be application/json" }),
                None,
            ),
            ApiError::Validation(errs) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "detail": errs }),
                None,
            ),
            ApiError::TooManyRequests {
                detail,
                retry_after,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "detail": detail }),
                Some((
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&retry_after.max(1).to_string())
                        .unwrap_or(HeaderValue::from_static("1")),
                )),
            ),
            ApiError::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "detail": m }),
                None,
            ),
            ApiError::Internal(cause) => return internal_response(&cause),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some((k, v)) = extra {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

/// A 500 whose cause goes to the log under a fresh id.
pub fn internal_response(cause: &str) -> Response {
    let id = Uuid::new_v4().simple().to_string();
    tracing::error!(error_id = %id, cause, "internal server error");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "detail": "Internal server error", "error_id": id })),
    )
        .into_response()
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
