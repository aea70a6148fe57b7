//! `/api/v1/response/*` (active response, issue 10) and the CrowdSec
//! bouncer endpoints `/v1/decisions[/stream]` (X-Api-Key, no dashboard
//! auth). The work is done by `decnet_response::api`; this file maps roles,
//! bodies and errors. Without a `[response]` section in the fleet every
//! route answers 503.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use decnet_response::{api, Responder, ResponseError};

use crate::auth::{Admin, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Validate};
use crate::schema::Message;
use crate::state::AppState;

impl Validate for api::ManualBan {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if self.reason.trim().is_empty() {
            v.push((
                "reason".into(),
                "a reason is required for the audit trail".into(),
            ));
        }
        if self.value.trim().is_empty() {
            v.push(("value".into(), "an address or CIDR is required".into()));
        }
        v
    }
}
impl Validate for api::ManualUnban {}
impl Validate for api::BanQuery {}

/// `POST /response/bouncers` body.
#[derive(serde::Deserialize)]
pub struct NewBouncer {
    /// Bouncer name.
    pub name: String,
}
impl Validate for NewBouncer {}

/// `PUT /response/policy` body: the `[response]` key/values.
#[derive(serde::Deserialize)]
pub struct PolicyIn(pub BTreeMap<String, String>);
impl Validate for PolicyIn {}

/// `GET /response/audit` query.
#[derive(serde::Deserialize)]
pub struct AuditQuery {
    /// 1..1000 (default 100).
    pub limit: Option<usize>,
}
impl Validate for AuditQuery {}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/response/status", get(status))
        .route("/response/backends", get(backends))
        .route("/response/backends/{name}/activate", post(activate))
        .route("/response/bans", get(list_bans).post(ban))
        .route("/response/bans/{value}", delete(unban))
        .route("/response/blocklist.txt", get(blocklist))
        .route("/response/policy", get(policy_get).put(policy_put))
        .route("/response/audit", get(audit))
        .route("/response/bouncers", get(bouncers).post(create_bouncer))
        .route("/response/bouncers/{name}", delete(delete_bouncer))
}

/// The bouncer endpoints, mounted at the root (`/v1/...`).
pub(crate) fn bouncer_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/decisions/stream", get(lapi_stream))
        .route("/v1/decisions", get(lapi_list))
        .route("/v1/usage-metrics", post(lapi_metrics))
}

/// The state's responder (503 without one), with the caller noted as an
/// API client: API clients are never banned (allowlist default). Put it
/// after the role extractor so 401/403 come first.
pub struct ActiveResponse(pub Arc<Responder>);

impl FromRequestParts<AppState> for ActiveResponse {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> ApiResult<Self> {
        let r = st.responder()?.clone();
        if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            r.note_api_client(peer.ip());
        }
        Ok(ActiveResponse(r))
    }
}

fn err(e: ResponseError) -> ApiError {
    match api::status_code(&e) {
        404 => ApiError::NotFound(e.to_string()),
        409 => ApiError::Conflict(e.to_string()),
        422 => ApiError::field("body", "", e.to_string()),
        _ => ApiError::Internal(e.to_string()),
    }
}

async fn status(_v: Viewer, ActiveResponse(r): ActiveResponse) -> ApiResult<Json<api::Status>> {
    Ok(Json(api::status(&r)))
}

async fn backends(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(serde_json::json!(api::backends(&r))))
}

async fn activate(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    Path(name): Path<String>,
) -> ApiResult<Json<Message>> {
    api::activate(&r, &a.0.user.username, &name)
        .await
        .map_err(err)?;
    Ok(Message::new("Backend activated"))
}

async fn list_bans(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
    ApiQuery(q): ApiQuery<api::BanQuery>,
) -> ApiResult<Json<api::BanPage>> {
    api::list_bans(&r, &q)
        .map(Json)
        .map_err(|e| ApiError::field("query", "ip", e.to_string()))
}

async fn ban(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    ApiJson(body): ApiJson<api::ManualBan>,
) -> ApiResult<(StatusCode, Json<decnet_response::bans::Ban>)> {
    let b = api::ban(&r, &a.0.user.username, &body).map_err(err)?;
    Ok((StatusCode::CREATED, Json(b)))
}

async fn unban(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    Path(value): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<decnet_response::bans::Ban>> {
    // `DELETE /response/bans/10.0.0.0%2F8?reason=...`
    let body = api::ManualUnban {
        reason: q.get("reason").cloned().unwrap_or_default(),
    };
    api::unban(&r, &a.0.user.username, &value, &body)
        .map(Json)
        .map_err(err)
}

async fn blocklist(_v: Viewer, ActiveResponse(r): ActiveResponse) -> ApiResult<Response> {
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        api::blocklist_txt(&r),
    )
        .into_response())
}

async fn policy_get(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(Json(api::policy_get(&r)))
}

async fn policy_put(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    ApiJson(body): ApiJson<PolicyIn>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    api::policy_put(&r, &a.0.user.username, body.0)
        .await
        .map(Json)
        .map_err(|e| match e {
            ResponseError::Policy(p) => ApiError::field("body", &p.key, p.message),
            other => err(other),
        })
}

async fn audit(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<decnet_response::bans::AuditEntry>>> {
    Ok(Json(api::audit(&r, q.limit.unwrap_or(100))))
}

async fn bouncers(
    _a: Admin,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Json<Vec<api::BouncerView>>> {
    Ok(Json(api::bouncers(&r)))
}

async fn create_bouncer(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    ApiJson(body): ApiJson<NewBouncer>,
) -> ApiResult<(StatusCode, Json<api::CreatedBouncer>)> {
    let k = api::create_bouncer(&r, &a.0.user.username, &body.name).map_err(err)?;
    Ok((StatusCode::CREATED, Json(k)))
}

async fn delete_bouncer(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    Path(name): Path<String>,
) -> ApiResult<Json<Message>> {
    api::delete_bouncer(&r, &a.0.user.username, &name).map_err(err)?;
    Ok(Message::new("Bouncer key deleted"))
}

fn lapi_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"message": "active response is not configured"})),
    )
        .into_response()
}

async fn lapi_stream(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Query<HashMap<String, String>>,
) -> Response {
    match st.responder.clone() {
        Some(r) => decnet_response::crowdsec::stream(State(r), headers, q).await,
        None => lapi_unavailable(),
    }
}

async fn lapi_list(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Query<HashMap<String, String>>,
) -> Response {
    match st.responder.clone() {
        Some(r) => decnet_response::crowdsec::list(State(r), headers, q).await,
        None => lapi_unavailable(),
    }
}

async fn lapi_metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match st.responder.clone() {
        Some(r) => decnet_response::crowdsec::metrics(State(r), headers).await,
        None => lapi_unavailable(),
    }
}
