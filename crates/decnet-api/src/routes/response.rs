//! `/api/v1/response/*` (active response) and the CrowdSec
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
use axum::Json;
use decnet_response::{api, Responder, ResponseError};

use crate::auth::{Admin, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Validate};
use crate::schema::Message;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(backends))
        .routes(routes!(activate))
        .routes(routes!(list_bans, ban))
        .routes(routes!(unban))
        .routes(routes!(blocklist))
        .routes(routes!(policy_get, policy_put))
        .routes(routes!(audit))
        .routes(routes!(bouncers, create_bouncer))
        .routes(routes!(delete_bouncer))
}

/// The bouncer endpoints, mounted at the root (`/v1/...`).
pub(crate) fn bouncer_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lapi_stream))
        .routes(routes!(lapi_list))
        .routes(routes!(lapi_metrics))
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

#[utoipa::path(get, path = "/response/status", tag = "Response", operation_id = "response_status", security(("bearer" = [])),
    responses((status = 200, description = "Health, backends, active bans, dry run", body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody)))]
pub(crate) async fn status(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Json<api::Status>> {
    Ok(Json(api::status(&r)))
}

#[utoipa::path(get, path = "/response/backends", tag = "Response", operation_id = "response_backends", security(("bearer" = [])),
    responses((status = 200, description = "Each backend's state", body = [Object]), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody)))]
pub(crate) async fn backends(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(serde_json::json!(api::backends(&r))))
}

#[utoipa::path(post, path = "/response/backends/{name}/activate", tag = "Response", operation_id = "response_backend_activate", security(("bearer" = [])),
    params(("name" = String, Path, description = "Backend")),
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn activate(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    Path(name): Path<String>,
) -> ApiResult<Json<Message>> {
    api::activate(&r, &a.0.user.username, &name)
        .await
        .map_err(err)?;
    Ok(Message::new("Backend activated"))
}

#[utoipa::path(get, path = "/response/bans", tag = "Response", operation_id = "response_bans_list", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "1-1000 (default 100)"), ("offset" = Option<u64>, Query, description = "Skip"),
        ("ip" = Option<String>, Query, description = "Only bans covering this address"), ("include_dry_run" = Option<bool>, Query, description = "Default true")),
    responses((status = 200, description = "{total, limit, offset, data}", body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn list_bans(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
    ApiQuery(q): ApiQuery<api::BanQuery>,
) -> ApiResult<Json<api::BanPage>> {
    api::list_bans(&r, &q)
        .map(Json)
        .map_err(|e| ApiError::field("query", "ip", e.to_string()))
}

#[utoipa::path(post, path = "/response/bans", tag = "Response", operation_id = "response_ban", security(("bearer" = [])),
    request_body(content = Object, description = "{value (address or CIDR), reason, duration?}"),
    responses((status = 201, description = "The ban", body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn ban(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    ApiJson(body): ApiJson<api::ManualBan>,
) -> ApiResult<(StatusCode, Json<decnet_response::bans::Ban>)> {
    let b = api::ban(&r, &a.0.user.username, &body).map_err(err)?;
    Ok((StatusCode::CREATED, Json(b)))
}

#[utoipa::path(delete, path = "/response/bans/{value}", tag = "Response", operation_id = "response_unban", security(("bearer" = [])),
    params(("value" = String, Path, description = "Address or CIDR (URL-encoded)"), ("reason" = Option<String>, Query, description = "For the audit trail")),
    responses((status = 200, description = "The lifted ban", body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn unban(
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

#[utoipa::path(get, path = "/response/blocklist.txt", tag = "Response", operation_id = "response_blocklist", security(("bearer" = [])),
    responses((status = 200, description = "One banned address or CIDR per line", content_type = "text/plain", body = String), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody)))]
pub(crate) async fn blocklist(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Response> {
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        api::blocklist_txt(&r),
    )
        .into_response())
}

#[utoipa::path(get, path = "/response/policy", tag = "Response", operation_id = "response_policy_get", security(("bearer" = [])),
    responses((status = 200, description = "The [response] keys in force", body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody)))]
pub(crate) async fn policy_get(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(Json(api::policy_get(&r)))
}

#[utoipa::path(put, path = "/response/policy", tag = "Response", operation_id = "response_policy_put", security(("bearer" = [])),
    request_body(content = Object, description = "[response] key/values"),
    responses((status = 200, description = "The policy now in force", body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn policy_put(
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

#[utoipa::path(get, path = "/response/audit", tag = "Response", operation_id = "response_audit", security(("bearer" = [])),
    params(("limit" = Option<usize>, Query, description = "1-1000 (default 100)")),
    responses((status = 200, description = "Audit entries, newest first", body = Vec<Object>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody)))]
pub(crate) async fn audit(
    _v: Viewer,
    ActiveResponse(r): ActiveResponse,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<decnet_response::bans::AuditEntry>>> {
    Ok(Json(api::audit(&r, q.limit.unwrap_or(100))))
}

#[utoipa::path(get, path = "/response/bouncers", tag = "Response", operation_id = "response_bouncers_list", security(("bearer" = [])),
    responses((status = 200, description = "Bouncer keys (names, never the keys)", body = Vec<Object>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody)))]
pub(crate) async fn bouncers(
    _a: Admin,
    ActiveResponse(r): ActiveResponse,
) -> ApiResult<Json<Vec<api::BouncerView>>> {
    Ok(Json(api::bouncers(&r)))
}

#[utoipa::path(post, path = "/response/bouncers", tag = "Response", operation_id = "response_bouncer_create", security(("bearer" = [])),
    request_body(content = Object, description = "{name}"),
    responses((status = 201, description = "The new key, shown once", body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn create_bouncer(
    a: Admin,
    ActiveResponse(r): ActiveResponse,
    ApiJson(body): ApiJson<NewBouncer>,
) -> ApiResult<(StatusCode, Json<api::CreatedBouncer>)> {
    let k = api::create_bouncer(&r, &a.0.user.username, &body.name).map_err(err)?;
    Ok((StatusCode::CREATED, Json(k)))
}

#[utoipa::path(delete, path = "/response/bouncers/{name}", tag = "Response", operation_id = "response_bouncer_delete", security(("bearer" = [])),
    params(("name" = String, Path, description = "Bouncer")),
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "Active response not configured", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_bouncer(
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

#[utoipa::path(get, path = "/v1/decisions/stream", tag = "CrowdSec bouncer API", operation_id = "lapi_decisions_stream",
    params(("X-Api-Key" = String, Header, description = "Bouncer key"), ("startup" = Option<bool>, Query, description = "Every active decision, not only changes")),
    responses((status = 200, description = "{new, deleted} decisions", body = Object), (status = 403, description = "Bad key"), (status = 503, description = "Active response not configured")))]
pub(crate) async fn lapi_stream(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Query<HashMap<String, String>>,
) -> Response {
    match st.responder.clone() {
        Some(r) => decnet_response::crowdsec::stream(State(r), headers, q).await,
        None => lapi_unavailable(),
    }
}

#[utoipa::path(get, path = "/v1/decisions", tag = "CrowdSec bouncer API", operation_id = "lapi_decisions",
    params(("X-Api-Key" = String, Header, description = "Bouncer key"), ("ip" = Option<String>, Query, description = "Only decisions covering this address")),
    responses((status = 200, description = "Active decisions (or null)", body = Object), (status = 403, description = "Bad key"), (status = 503, description = "Active response not configured")))]
pub(crate) async fn lapi_list(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Query<HashMap<String, String>>,
) -> Response {
    match st.responder.clone() {
        Some(r) => decnet_response::crowdsec::list(State(r), headers, q).await,
        None => lapi_unavailable(),
    }
}

#[utoipa::path(post, path = "/v1/usage-metrics", tag = "CrowdSec bouncer API", operation_id = "lapi_usage_metrics",
    params(("X-Api-Key" = String, Header, description = "Bouncer key")),
    responses((status = 201, description = "Accepted"), (status = 403, description = "Bad key"), (status = 503, description = "Active response not configured")))]
pub(crate) async fn lapi_metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match st.responder.clone() {
        Some(r) => decnet_response::crowdsec::metrics(State(r), headers).await,
        None => lapi_unavailable(),
    }
}
