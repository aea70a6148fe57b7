//! `/canary/*`: canary tokens (create, list, show, revoke, download, their
//! triggers) and breadcrumb bundles. Viewers read; admins create, revoke
//! and download. Secrets (keys, passwords, private keys) leave the server
//! only inside a download, never in JSON.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use decnet_canary::{CanaryError, CanaryService, NewToken, Token, TokenSummary};
use decnet_core::{Event, EventKind};
use decnet_store::LogQuery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admin, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_uuid, ApiJson, ApiQuery, Validate};
use crate::routes::files::attachment;
use crate::schema::Paging;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Newest triggers read to count triggers per token in a listing.
pub const COUNT_WINDOW: u32 = 5_000;
/// Most tokens in one breadcrumb bundle.
pub const BUNDLE_MAX: usize = 100;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_kinds))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(get_token, revoke_token))
        .routes(routes!(download_token))
        .routes(routes!(token_triggers))
        .routes(routes!(bundle))
}

/// A token kind the server can make.
#[derive(Serialize, ToSchema)]
pub struct KindView {
    /// Registry name (`aws_credentials`…).
    pub name: String,
    /// What it is.
    pub description: String,
}

/// A token as listings show it: the library's secret-free summary (key ids
/// and user names, never keys or passwords) and what the server adds.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    /// The token.
    #[serde(flatten)]
    pub token: TokenSummary,
    /// The call-home URL (`http_url`) or hostname (`dns_name`), for kinds
    /// whose whole content is that.
    pub call_home: Option<String>,
    /// Triggers among the newest [`COUNT_WINDOW`] stored.
    pub trigger_count: u64,
    /// Time of its newest trigger among those.
    pub last_trigger: Option<DateTime<Utc>>,
}

fn view(svc: &CanaryService, t: &Token, counts: &TriggerCounts) -> TokenView {
    let ctx = svc.ctx();
    let call_home = match t.kind.as_str() {
        "http_url" => Some(ctx.url("c", &t.slug, "")),
        "dns_name" => ctx.hostname(&t.slug),
        _ => None,
    };
    let (trigger_count, last_trigger) = counts.get(&t.id).copied().unwrap_or((0, None));
    TokenView {
        token: t.summary(),
        call_home,
        trigger_count,
        last_trigger,
    }
}

/// Per token: triggers seen and the newest one's time.
type TriggerCounts = HashMap<Uuid, (u64, Option<DateTime<Utc>>)>;

fn trigger_query(search: Option<String>, limit: u32, offset: u64) -> LogQuery {
    LogQuery {
        kind: Some(EventKind::CanaryTrigger.as_str().to_owned()),
        search,
        limit,
        offset,
        ..Default::default()
    }
}

async fn trigger_counts(st: &AppState) -> ApiResult<TriggerCounts> {
    let page = st
        .store
        .query_logs(&trigger_query(None, COUNT_WINDOW, 0))
        .await?;
    let mut out = TriggerCounts::new();
    for e in page.data {
        let Some(id) = e
            .fields
            .get("token_id")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        let entry = out.entry(id).or_insert((0, None));
        entry.0 += 1;
        if entry.1.is_none_or(|t| e.ts > t) {
            entry.1 = Some(e.ts);
        }
    }
    Ok(out)
}

/// A library error as the API answers it: bad input is a 422 on the field
/// it names, with the library's message as the reason.
fn api_error(e: CanaryError) -> ApiError {
    match e {
        CanaryError::UnknownKind(_) | CanaryError::MissingTarget { .. } => {
            ApiError::field("body", "kind", e.to_string())
        }
        CanaryError::InvalidText { field, .. } => ApiError::field("body", field, e.to_string()),
        CanaryError::InvalidDecky(_) => ApiError::field("body", "planted_in.decky", e.to_string()),
        CanaryError::InvalidPath { .. } => {
            ApiError::field("body", "planted_in.path", e.to_string())
        }
        CanaryError::NotFound(_) => ApiError::NotFound(e.to_string()),
        CanaryError::Revoked(_) => ApiError::Conflict(e.to_string()),
        CanaryError::Store(s) => s.into(),
        CanaryError::Render(_) | CanaryError::Corrupt(_) => ApiError::internal(e),
    }
}

#[utoipa::path(get, path = "/canary/kinds", operation_id = "list_canary_kinds", tag = "Canary", security(("bearer" = [])),
    responses((status = 200, body = Vec<KindView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_kinds(_v: Viewer) -> Json<Vec<KindView>> {
    Json(
        decnet_canary::kinds::KINDS
            .iter()
            .map(|k| KindView {
                name: k.name().to_owned(),
                description: k.describe().to_owned(),
            })
            .collect(),
    )
}

#[utoipa::path(get, path = "/canary/tokens", operation_id = "list_canary_tokens", tag = "Canary", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>, description = "Every token, oldest first; no secrets"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn list_tokens(
    State(st): State<AppState>,
    _v: Viewer,
) -> ApiResult<Json<Vec<TokenView>>> {
    let svc = st.canary()?;
    let tokens = svc.list().await.map_err(api_error)?;
    let counts = trigger_counts(&st).await?;
    Ok(Json(tokens.iter().map(|t| view(svc, t, &counts)).collect()))
}

// The library checks every field (kind, lengths, placements) and names the
// one at fault; `api_error` turns that into the 422.
impl Validate for NewToken {}

#[utoipa::path(post, path = "/canary/tokens", operation_id = "create_canary_token", tag = "Canary", security(("bearer" = [])), request_body = NewToken,
    responses((status = 201, body = TokenView, description = "Created (and planted where asked); the secrets are in its download"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn create_token(
    State(st): State<AppState>,
    Admin(me): Admin,
    ApiJson(mut req): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    let svc = st.canary()?;
    req.created_by = me.user.username.clone();
    let token = svc.create(&req).await.map_err(api_error)?;
    if let Some(eng) = &st.engine {
        crate::canary::plant_token(svc, &eng.fleet, &token)
            .await
            .map_err(api_error)?;
    }
    tracing::info!(token = %token.id, kind = %token.kind, by = %me.user.username, "canary token created");
    Ok((
        StatusCode::CREATED,
        Json(view(svc, &token, &TriggerCounts::new())),
    ))
}

async fn token_or_404(st: &AppState, raw: &str) -> ApiResult<Token> {
    let id = parse_uuid("token_id", raw)?;
    st.canary()?.get(id).await.map_err(api_error)
}

#[utoipa::path(get, path = "/canary/tokens/{token_id}", operation_id = "get_canary_token", tag = "Canary", security(("bearer" = [])),
    params(("token_id" = Uuid, Path, description = "Token id")),
    responses((status = 200, body = TokenView), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn get_token(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenView>> {
    let t = token_or_404(&st, &id).await?;
    let counts = trigger_counts(&st).await?;
    Ok(Json(view(st.canary()?, &t, &counts)))
}

#[utoipa::path(delete, path = "/canary/tokens/{token_id}", operation_id = "revoke_canary_token", tag = "Canary", security(("bearer" = [])),
    params(("token_id" = Uuid, Path, description = "Token id")),
    responses((status = 200, body = TokenView, description = "Revoked (kept, with its triggers); it no longer triggers"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn revoke_token(
    State(st): State<AppState>,
    Admin(me): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenView>> {
    let svc = st.canary()?;
    let id = parse_uuid("token_id", &id)?;
    let t = svc.revoke(id).await.map_err(api_error)?;
    tracing::info!(token = %t.id, by = %me.user.username, "canary token revoked");
    let counts = trigger_counts(&st).await?;
    Ok(Json(view(svc, &t, &counts)))
}

/// A download that must not linger in caches: it holds the token's secrets.
fn secret_attachment(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let mut resp = attachment(bytes, content_type, filename);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[utoipa::path(get, path = "/canary/tokens/{token_id}/download", operation_id = "download_canary_token", tag = "Canary", security(("bearer" = [])),
    params(("token_id" = Uuid, Path, description = "Token id")),
    responses((status = 200, description = "The token's file, or a zip of its files laid out as under a home directory", content_type = "application/octet-stream"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "Revoked"), (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn download_token(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid("token_id", &id)?;
    let d = st.canary()?.download(id).await.map_err(api_error)?;
    Ok(secret_attachment(d.bytes, d.content_type, &d.file_name))
}

/// A token's triggers, newest first.
#[derive(Serialize, ToSchema)]
pub struct TriggerPage {
    /// `canary_trigger` events.
    #[schema(value_type = Vec<crate::schema::EventDoc>)]
    pub items: Vec<Event>,
    /// Stored triggers of the token.
    pub total: u64,
}

#[utoipa::path(get, path = "/canary/tokens/{token_id}/triggers", operation_id = "canary_token_triggers", tag = "Canary", security(("bearer" = [])),
    params(("token_id" = Uuid, Path, description = "Token id"), Paging),
    responses((status = 200, body = TriggerPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn token_triggers(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<TriggerPage>> {
    let t = token_or_404(&st, &id).await?;
    let q = trigger_query(Some(t.id.to_string()), p.limit(), p.offset());
    let page = st.store.query_logs(&q).await?;
    // The search is a substring of the fields: keep only this token's own.
    let id = t.id.to_string();
    let items: Vec<Event> = page
        .data
        .into_iter()
        .filter(|e| e.fields.get("token_id").and_then(|v| v.as_str()) == Some(id.as_str()))
        .collect();
    Ok(Json(TriggerPage {
        items,
        total: page.total,
    }))
}

/// Tokens for a breadcrumb bundle.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleIn {
    /// Live tokens to include (1-100).
    pub token_ids: Vec<Uuid>,
}

impl Validate for BundleIn {
    fn validate(&self) -> Vec<(String, String)> {
        if self.token_ids.is_empty() || self.token_ids.len() > BUNDLE_MAX {
            vec![(
                "token_ids".into(),
                format!("give between 1 and {BUNDLE_MAX} token ids"),
            )]
        } else {
            Vec::new()
        }
    }
}

#[utoipa::path(post, path = "/canary/bundle", operation_id = "canary_bundle", tag = "Canary", security(("bearer" = [])), request_body = BundleIn,
    responses((status = 200, description = "A zip of the tokens' files with install.sh and install.ps1 for real workstations", content_type = "application/zip"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "A token is revoked"), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn bundle(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(body): ApiJson<BundleIn>,
) -> ApiResult<Response> {
    let svc = st.canary()?;
    let mut tokens = Vec::with_capacity(body.token_ids.len());
    for id in body.token_ids {
        let t = svc.get(id).await.map_err(api_error)?;
        if t.revoked {
            return Err(api_error(CanaryError::Revoked(id)));
        }
        tokens.push(t);
    }
    let zip = decnet_canary::bundle::bundle(&tokens, &svc.ctx()).map_err(api_error)?;
    Ok(secret_attachment(zip, "application/zip", "breadcrumbs.zip"))
}
