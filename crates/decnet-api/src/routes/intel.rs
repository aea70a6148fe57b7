//! Intelligence read routes over the store's intel tables: attackers (+
//! events SSE, commands, transcripts, artifacts, STIX 2.1 / MISP export),
//! identities (+ observations, events SSE), campaigns (+ identities, events
//! SSE), credentials, credential-reuse, bounty.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use decnet_store::{AttackerQuery, AttackerRow, BountyQuery, CredentialQuery, LogQuery, Page};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{StreamViewer, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_uuid, ApiQuery, Validate};
use crate::routes::files::{transcript_path, TranscriptRef};
use crate::schema::{Paging, MAX_LIMIT};
use crate::sse::{self, envelope_body, frame};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Identities in the `/identities/events` snapshot.
pub const SNAPSHOT_LIMIT: u32 = 50;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attackers))
        .routes(routes!(attacker_countries))
        .routes(routes!(get_attacker))
        .routes(routes!(attacker_events))
        .routes(routes!(attacker_commands))
        .routes(routes!(attacker_artifacts))
        .routes(routes!(attacker_transcripts))
        .routes(routes!(export_attacker))
        .routes(routes!(list_identities))
        .routes(routes!(identity_events))
        .routes(routes!(get_identity))
        .routes(routes!(identity_observations))
        .routes(routes!(list_campaigns))
        .routes(routes!(campaign_events))
        .routes(routes!(get_campaign))
        .routes(routes!(campaign_identities))
        .routes(routes!(list_credentials))
        .routes(routes!(credential_reuse))
        .routes(routes!(list_bounty))
}

/// A page of intel rows (row shapes: see the store model).
#[derive(Serialize, ToSchema)]
pub struct RowPage {
    /// Matching rows.
    pub total: u64,
    /// Page size.
    pub limit: u32,
    /// Skipped.
    pub offset: u64,
    /// Rows.
    pub data: Vec<Object>,
}

/// Any JSON object.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct Object(Value);

fn ip_param(raw: &str) -> Result<String, ApiError> {
    raw.parse::<std::net::IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| ApiError::field("path", "ip", "Input should be an IP address"))
}

fn opt_len(out: &mut Vec<(String, String)>, n: &str, v: &Option<String>, max: usize) {
    if v.as_ref().is_some_and(|s| s.len() > max) {
        out.push((n.into(), format!("at most {max} characters")));
    }
}

fn paging_problems(limit: Option<u32>, offset: Option<u64>) -> Vec<(String, String)> {
    Paging { limit, offset }.problems()
}

/// Attacker list filters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AttackerParams {
    /// Behaviour class (scanning, slow_scan, brute_force, beaconing, interactive, mixed, unknown).
    #[param(max_length = 32)]
    pub behavior: Option<String>,
    /// Address substring.
    #[param(max_length = 64)]
    pub search: Option<String>,
    /// Only members of this identity.
    pub identity_id: Option<Uuid>,
    /// Only addresses located in this country (ISO 3166-1 alpha-2 code, or
    /// `private`); needs geolocation databases (`[geoip]`).
    #[param(max_length = 16)]
    pub country: Option<String>,
    /// Only addresses whose AbuseIPDB confidence score is at least this
    /// (0-100); needs online enrichment (`[enrich] abuseipdb_key`). Each
    /// row's `enrichment` is an `AttackerEnrichment`.
    #[param(minimum = 0, maximum = 100)]
    pub min_score: Option<u32>,
    /// Page size (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

impl Validate for AttackerParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = paging_problems(self.limit, self.offset);
        opt_len(&mut v, "behavior", &self.behavior, 32);
        opt_len(&mut v, "search", &self.search, 64);
        opt_len(&mut v, "country", &self.country, 16);
        if self.min_score.is_some_and(|n| n > 100) {
            v.push(("min_score".into(), "must be at most 100".into()));
        }
        v
    }
}

/// Attacker addresses per country.
#[derive(Serialize, ToSchema)]
pub struct CountryList {
    /// Countries (ISO code, or `private`), most attackers first; addresses
    /// not located (no database, or not in it) are not counted.
    pub data: Vec<CountryRow>,
}

/// One country's attackers.
#[derive(Serialize, ToSchema)]
pub struct CountryRow {
    /// ISO 3166-1 alpha-2 code, or `private`.
    pub country: String,
    /// Attacker addresses.
    pub attackers: u64,
}

#[utoipa::path(get, path = "/attackers/countries", tag = "Attackers", security(("bearer" = [])),
    responses((status = 200, body = CountryList), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn attacker_countries(
    State(st): State<AppState>,
    _v: Viewer,
) -> ApiResult<Json<CountryList>> {
    let data = st
        .store
        .attacker_countries()
        .await?
        .into_iter()
        .map(|c| CountryRow {
            country: c.country,
            attackers: c.attackers,
        })
        .collect();
    Ok(Json(CountryList { data }))
}

#[utoipa::path(get, path = "/attackers", tag = "Attackers", security(("bearer" = [])), params(AttackerParams),
    responses((status = 200, body = RowPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn list_attackers(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<AttackerParams>,
) -> ApiResult<Json<Page<AttackerRow>>> {
    let q = AttackerQuery {
        behavior: p.behavior.filter(|s| !s.is_empty()),
        search: p.search.filter(|s| !s.is_empty()),
        identity_id: p.identity_id,
        country: p.country.filter(|s| !s.is_empty()),
        min_score: p.min_score,
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_attackers(&q).await?))
}

/// The attacker a path names: by address, or by its stable `uuid` (how
/// DECNET clients name attackers).
pub(crate) async fn attacker(st: &AppState, raw: &str) -> ApiResult<AttackerRow> {
    let found = match Uuid::parse_str(raw) {
        Ok(uuid) => st.store.get_attacker_by_uuid(uuid).await?,
        Err(_) => st.store.get_attacker(&ip_param(raw)?).await?,
    };
    found.ok_or_else(|| ApiError::NotFound("Attacker not found".into()))
}

#[utoipa::path(get, path = "/attackers/{ip}", tag = "Attackers", security(("bearer" = [])),
    params(("ip" = String, Path, description = "Attacker address or uuid")),
    responses((status = 200, body = Object, description = "The attacker row with its `techniques`; `enrichment` (once looked up) is an `AttackerEnrichment`"), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn get_attacker(
    State(st): State<AppState>,
    _v: Viewer,
    Path(ip): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = attacker(&st, &ip).await?;
    let techniques = crate::routes::attack::techniques_of(&st, &a.ip).await?;
    let mut v = serde_json::to_value(a).map_err(|e| ApiError::Internal(e.to_string()))?;
    // The ATT&CK techniques tagged for this address (DESIGN §14).
    v["techniques"] = techniques;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/attackers/{ip}/commands", tag = "Attackers", security(("bearer" = [])),
    params(("ip" = String, Path, description = "Attacker address or uuid"), Paging),
    responses((status = 200, body = crate::schema::EventPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn attacker_commands(
    State(st): State<AppState>,
    _v: Viewer,
    Path(ip): Path<String>,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<axum::response::Response> {
    let a = attacker(&st, &ip).await?;
    let q = LogQuery {
        src_ip: Some(a.ip),
        kind: Some("command".into()),
        limit: p.limit(),
        offset: p.offset(),
        ..Default::default()
    };
    Ok(super::logs::event_page(st.store.query_logs_json(&q).await?))
}

#[utoipa::path(get, path = "/attackers/{ip}/artifacts", tag = "Attackers", security(("bearer" = [])),
    params(("ip" = String, Path, description = "Attacker address or uuid"), Paging),
    responses((status = 200, body = RowPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn attacker_artifacts(
    State(st): State<AppState>,
    _v: Viewer,
    Path(ip): Path<String>,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<Page<decnet_store::BountyRow>>> {
    let a = attacker(&st, &ip).await?;
    let q = BountyQuery {
        ip: Some(a.ip),
        kind: None,
        limit: p.limit(),
        offset: p.offset(),
    };
    Ok(Json(st.store.list_bounty(&q).await?))
}

#[utoipa::path(get, path = "/attackers/{ip}/transcripts", tag = "Attackers", security(("bearer" = [])),
    params(("ip" = String, Path, description = "Attacker address or uuid")),
    responses((status = 200, body = Vec<TranscriptRef>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn attacker_transcripts(
    State(st): State<AppState>,
    _v: Viewer,
    Path(ip): Path<String>,
) -> ApiResult<Json<Vec<TranscriptRef>>> {
    let a = attacker(&st, &ip).await?;
    let q = LogQuery {
        src_ip: Some(a.ip),
        kind: Some("connect".into()),
        limit: MAX_LIMIT,
        ..Default::default()
    };
    let mut out = Vec::new();
    for e in st.store.query_logs(&q).await?.data {
        let Some(sid) = e.session_id else { continue };
        if let Some(path) = transcript_path(&st, &e.decky, sid) {
            if let Ok(m) = tokio::fs::metadata(&path).await {
                out.push(TranscriptRef {
                    url: format!("/api/v1/transcripts/{}/{sid}", e.decky),
                    decky: e.decky.clone(),
                    session_id: sid,
                    size: m.len(),
                });
            }
        }
    }
    Ok(Json(out))
}

/// Export format.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `stix` (STIX 2.1 bundle, default) or `misp` (MISP event).
    #[param(pattern = "^(stix|misp)$")]
    pub format: Option<String>,
}

impl Validate for ExportParams {
    fn validate(&self) -> Vec<(String, String)> {
        match self.format.as_deref() {
            None | Some("stix") | Some("misp") => Vec::new(),
            _ => vec![("format".into(), "must be stix or misp".into())],
        }
    }
}

/// Deterministic STIX id for a value.
fn stix_id(kind: &str, value: &str) -> String {
    let ns = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);
    format!(
        "{kind}--{}",
        Uuid::new_v5(&ns, format!("{kind}:{value}").as_bytes())
    )
}

/// STIX 2.1 bundle: the address, an indicator on it, and observed URLs/hashes.
pub fn stix_bundle(a: &AttackerRow, bounty: &[decnet_store::BountyRow]) -> Value {
    let v6 = a.ip.contains(':');
    let sco = if v6 { "ipv6-addr" } else { "ipv4-addr" };
    let ts = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let addr_id = stix_id(sco, &a.ip);
    let mut objects = vec![
        json!({"type": sco, "spec_version": "2.1", "id": addr_id, "value": a.ip}),
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": stix_id("indicator", &a.ip),
            "created": ts(a.first_seen), "modified": ts(a.last_seen),
            "name": format!("Honeypot attacker {}", a.ip),
            "description": format!("{} ({}): {} events, {} credentials tried, {} commands", a.behavior, a.behavior_rule, a.event_count, a.credentials_tried, a.commands_run),
            "indicator_types": ["malicious-activity"],
            "pattern": format!("[{sco}:value = '{}']", a.ip),
            "pattern_type": "stix",
            "valid_from": ts(a.first_seen),
            "labels": [a.behavior.clone()],
        }),
    ];
    for b in bounty {
        let (ty, pattern) = match b.kind.as_str() {
            "url" => (
                "url",
                format!(
                    "[url:value = '{}']",
                    b.value.replace('\\', "\\\\").replace('\'', "\\'")
                ),
            ),
            "file" => ("file", format!("[file:hashes.'SHA-256' = '{}']", b.value)),
            _ => continue,
        };
        objects.push(json!({
            "type": "indicator", "spec_version": "2.1",
            "id": stix_id("indicator", &format!("{ty}:{}", b.value)),
            "created": ts(b.first_seen), "modified": ts(b.last_seen),
            "name": format!("{ty} seen from {}", a.ip),
            "indicator_types": ["malicious-activity"],
            "pattern": pattern, "pattern_type": "stix", "valid_from": ts(b.first_seen),
        }));
    }
    json!({"type": "bundle", "id": format!("bundle--{}", Uuid::new_v4()), "objects": objects})
}

/// MISP event with the address, URLs and hashes as attributes.
pub fn misp_event(a: &AttackerRow, bounty: &[decnet_store::BountyRow]) -> Value {
    let mut attrs = vec![json!({
        "type": "ip-src", "category": "Network activity", "value": a.ip, "to_ids": true,
        "comment": format!("{}: {}", a.behavior, a.behavior_rule),
    })];
    for b in bounty {
        let (ty, cat) = match b.kind.as_str() {
            "url" => ("url", "Network activity"),
            "file" => ("sha256", "Payload delivery"),
            _ => continue,
        };
        attrs.push(json!({"type": ty, "category": cat, "value": b.value, "to_ids": true}));
    }
    json!({"Event": {
        "info": format!("decnet honeypot activity from {}", a.ip),
        "date": a.first_seen.format("%Y-%m-%d").to_string(),
        "threat_level_id": "2", "analysis": "2", "distribution": "0",
        "Tag": [{"name": format!("decnet:behavior=\"{}\"", a.behavior)}],
        "Attribute": attrs,
    }})
}

#[utoipa::path(get, path = "/attackers/{ip}/export", tag = "Attackers", security(("bearer" = [])),
    params(("ip" = String, Path, description = "Attacker address or uuid"), ExportParams),
    responses((status = 200, body = Object, description = "STIX 2.1 bundle or MISP event"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn export_attacker(
    State(st): State<AppState>,
    _v: Viewer,
    Path(ip): Path<String>,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> ApiResult<Response> {
    let a = attacker(&st, &ip).await?;
    let bounty = st
        .store
        .list_bounty(&BountyQuery {
            ip: Some(a.ip.clone()),
            kind: None,
            limit: MAX_LIMIT,
            offset: 0,
        })
        .await?
        .data;
    let (body, name) = match p.format.as_deref() {
        Some("misp") => (misp_event(&a, &bounty), "misp"),
        _ => (stix_bundle(&a, &bounty), "stix"),
    };
    let mut resp = Json(body).into_response();
    let file = format!(
        "attachment; filename=\"attacker-{}-{name}.json\"",
        a.ip.replace(':', "_")
    );
    if let Ok(v) = file.parse() {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Live events of one attacker address: snapshot `{attacker, events}` then
/// one `event` frame per new event from that address.
#[utoipa::path(get, path = "/attackers/{ip}/events", tag = "Attackers", security(("bearer" = [])),
    params(("ip" = String, Path, description = "Attacker address or uuid"), ("ticket" = Option<String>, Query, description = "SSE ticket")),
    responses((status = 200, description = "SSE", content_type = "text/event-stream", body = String), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
pub(crate) async fn attacker_events(
    State(st): State<AppState>,
    StreamViewer(u): StreamViewer,
    Path(ip): Path<String>,
) -> ApiResult<Response> {
    let a = attacker(&st, &ip).await?;
    let slot = st.sse.acquire(u.user.uuid)?;
    let sub = sse::subscribe(&st, "events.>")?;
    let recent = st
        .store
        .query_logs(&LogQuery {
            src_ip: Some(a.ip.clone()),
            limit: 50,
            ..Default::default()
        })
        .await?
        .data;
    let snapshot = vec![frame("snapshot", &json!({"attacker": a, "events": recent}))];
    let want: std::net::IpAddr = a.ip.parse().map_err(ApiError::internal)?;
    let map: sse::FrameFn = Arc::new(move |env| {
        let e = env.as_event()?;
        (e.src_ip == want).then(|| frame("event", &**e))
    });
    Ok(sse::respond(&st, slot, snapshot, sub, map))
}

/// Identity list parameters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct IdentityParams {
    /// Include merged/dissolved identities.
    pub include_inactive: Option<bool>,
    /// Page size (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

impl Validate for IdentityParams {
    fn validate(&self) -> Vec<(String, String)> {
        paging_problems(self.limit, self.offset)
    }
}

#[utoipa::path(get, path = "/identities", tag = "Identities", security(("bearer" = [])), params(IdentityParams),
    responses((status = 200, body = RowPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn list_identities(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<IdentityParams>,
) -> ApiResult<Json<Page<decnet_store::IdentityRow>>> {
    Ok(Json(
        st.store
            .list_identities(
                p.include_inactive.unwrap_or(false),
                p.limit.unwrap_or(50),
                p.offset.unwrap_or(0),
            )
            .await?,
    ))
}

#[utoipa::path(get, path = "/identities/{identity_id}", tag = "Identities", security(("bearer" = [])),
    params(("identity_id" = Uuid, Path, description = "Identity id")),
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn get_identity(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<decnet_store::IdentityRow>> {
    let id = parse_uuid("identity_id", &id)?;
    Ok(Json(st.store.get_identity(id).await?.ok_or_else(|| {
        ApiError::NotFound("Identity not found".into())
    })?))
}

#[utoipa::path(get, path = "/identities/{identity_id}/observations", tag = "Identities", security(("bearer" = [])),
    params(("identity_id" = Uuid, Path, description = "Identity id"), Paging),
    responses((status = 200, body = RowPage, description = "Member attackers"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn identity_observations(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<Page<AttackerRow>>> {
    let id = parse_uuid("identity_id", &id)?;
    if st.store.get_identity(id).await?.is_none() {
        return Err(ApiError::NotFound("Identity not found".into()));
    }
    let q = AttackerQuery {
        identity_id: Some(id),
        limit: p.limit(),
        offset: p.offset(),
        ..Default::default()
    };
    Ok(Json(st.store.list_attackers(&q).await?))
}

/// `identity.formed` → `formed`, `identity.observation.linked` → `observation.linked`.
fn strip_prefix(topic: &str, prefix: &str) -> String {
    topic.strip_prefix(prefix).unwrap_or(topic).to_owned()
}

#[utoipa::path(get, path = "/identities/events", tag = "Identities", security(("bearer" = [])),
    params(("ticket" = Option<String>, Query, description = "SSE ticket")),
    responses((status = 200, description = "SSE: `snapshot` {identities} (50 latest), then formed / observation.linked / merged / unmerged",
        content_type = "text/event-stream", body = String),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub(crate) async fn identity_events(
    State(st): State<AppState>,
    StreamViewer(u): StreamViewer,
) -> ApiResult<Response> {
    let slot = st.sse.acquire(u.user.uuid)?;
    let sub = sse::subscribe(&st, "identity.>")?;
    let snap = st
        .store
        .list_identities(false, SNAPSHOT_LIMIT, 0)
        .await?
        .data;
    let snapshot = vec![frame("snapshot", &json!({"identities": snap}))];
    let map: sse::FrameFn = Arc::new(|env| {
        Some(frame(
            &strip_prefix(&env.topic, "identity."),
            &envelope_body(env),
        ))
    });
    Ok(sse::respond(&st, slot, snapshot, sub, map))
}

#[utoipa::path(get, path = "/campaigns", tag = "Campaigns", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = RowPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn list_campaigns(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<Page<decnet_store::CampaignRow>>> {
    Ok(Json(st.store.list_campaigns(p.limit(), p.offset()).await?))
}

async fn campaign(st: &AppState, raw: &str) -> ApiResult<decnet_store::CampaignRow> {
    let id = parse_uuid("campaign_id", raw)?;
    st.store
        .get_campaign(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Campaign not found".into()))
}

#[utoipa::path(get, path = "/campaigns/{campaign_id}", tag = "Campaigns", security(("bearer" = [])),
    params(("campaign_id" = Uuid, Path, description = "Campaign id")),
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn get_campaign(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<decnet_store::CampaignRow>> {
    Ok(Json(campaign(&st, &id).await?))
}

#[utoipa::path(get, path = "/campaigns/{campaign_id}/identities", tag = "Campaigns", security(("bearer" = [])),
    params(("campaign_id" = Uuid, Path, description = "Campaign id")),
    responses((status = 200, body = Vec<Object>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn campaign_identities(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<decnet_store::IdentityRow>>> {
    let c = campaign(&st, &id).await?;
    let mut out = Vec::new();
    for id in c.identities.iter().take(MAX_LIMIT as usize) {
        if let Some(i) = st.store.get_identity(*id).await? {
            out.push(i);
        }
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/campaigns/events", tag = "Campaigns", security(("bearer" = [])),
    params(("ticket" = Option<String>, Query, description = "SSE ticket")),
    responses((status = 200, description = "SSE: `snapshot` {campaigns} (50 latest), then campaign.* bus messages",
        content_type = "text/event-stream", body = String),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub(crate) async fn campaign_events(
    State(st): State<AppState>,
    StreamViewer(u): StreamViewer,
) -> ApiResult<Response> {
    let slot = st.sse.acquire(u.user.uuid)?;
    let sub = sse::subscribe(&st, "campaign.>")?;
    let snap = st.store.list_campaigns(SNAPSHOT_LIMIT, 0).await?.data;
    let snapshot = vec![frame("snapshot", &json!({"campaigns": snap}))];
    let map: sse::FrameFn = Arc::new(|env| {
        Some(frame(
            &strip_prefix(&env.topic, "campaign."),
            &envelope_body(env),
        ))
    });
    Ok(sse::respond(&st, slot, snapshot, sub, map))
}

/// Credential filters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct CredentialParams {
    /// Attacker address.
    #[param(max_length = 64)]
    pub ip: Option<String>,
    /// Decky.
    #[param(max_length = 128)]
    pub decky: Option<String>,
    /// Service.
    #[param(max_length = 64)]
    pub service: Option<String>,
    /// Principal (username).
    #[param(max_length = 256)]
    pub principal: Option<String>,
    /// Page size (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

impl Validate for CredentialParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = paging_problems(self.limit, self.offset);
        opt_len(&mut v, "ip", &self.ip, 64);
        opt_len(&mut v, "decky", &self.decky, 128);
        opt_len(&mut v, "service", &self.service, 64);
        opt_len(&mut v, "principal", &self.principal, 256);
        v
    }
}

#[utoipa::path(get, path = "/credentials", tag = "Credentials", security(("bearer" = [])), params(CredentialParams),
    responses((status = 200, body = RowPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn list_credentials(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<CredentialParams>,
) -> ApiResult<Json<Page<decnet_store::CredentialRow>>> {
    let q = CredentialQuery {
        ip: p.ip,
        decky: p.decky,
        service: p.service,
        principal: p.principal,
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_credentials(&q).await?))
}

#[utoipa::path(get, path = "/credential-reuse", tag = "Credentials", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = RowPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn credential_reuse(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<Page<decnet_store::CredentialReuseRow>>> {
    Ok(Json(
        st.store.credential_reuse(p.limit(), p.offset()).await?,
    ))
}

/// Bounty filters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct BountyParams {
    /// `url` or `file`.
    #[param(max_length = 16)]
    pub kind: Option<String>,
    /// Attacker address.
    #[param(max_length = 64)]
    pub ip: Option<String>,
    /// Page size (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

impl Validate for BountyParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = paging_problems(self.limit, self.offset);
        opt_len(&mut v, "kind", &self.kind, 16);
        opt_len(&mut v, "ip", &self.ip, 64);
        v
    }
}

#[utoipa::path(get, path = "/bounty", tag = "Credentials", security(("bearer" = [])), params(BountyParams),
    responses((status = 200, body = RowPage), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn list_bounty(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<BountyParams>,
) -> ApiResult<Json<Page<decnet_store::BountyRow>>> {
    let q = BountyQuery {
        kind: p.kind.filter(|s| !s.is_empty()),
        ip: p.ip.filter(|s| !s.is_empty()),
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_bounty(&q).await?))
}
