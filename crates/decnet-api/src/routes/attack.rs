//! ATT&CK routes (DESIGN §14): techniques seen (fleet, attacker, identity,
//! campaign; with counts), tags, the attackers behind a technique, the
//! Navigator layer, STIX 2.1 and MISP downloads, the rules in use and
//! their reload. The TAXII 2.1 server is mounted beside `/api/v1` (see
//! [`taxii_router`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use decnet_attack::catalogue::{Catalogue, Domain};
use decnet_attack::live::{stix_feed, StoreSource};
use decnet_attack::navigator::{self, LayerInfo};
use decnet_attack::stix::Subject;
use decnet_attack::taxii::{self, AuthError, Principal, TaxiiAuth, TaxiiConfig};
use decnet_store::attack_sql::{TagFilter, TechniqueCount};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{resolve_token, Admin, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Validate};
use crate::routes::intel::attacker;
use crate::schema::MAX_LIMIT;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(techniques))
        .routes(routes!(technique_attackers))
        .routes(routes!(tags))
        .routes(routes!(attacker_techniques))
        .routes(routes!(navigator_layer))
        .routes(routes!(stix_bundle))
        .routes(routes!(misp_event))
        .routes(routes!(rules))
        .routes(routes!(reload_rules))
}

/// Whose tags, over which time range. At most one of `ip`, `identity_id`,
/// `campaign_id`; none: the whole fleet.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct Scope {
    /// One attacker (address).
    #[param(max_length = 64)]
    pub ip: Option<String>,
    /// An identity's member addresses.
    pub identity_id: Option<Uuid>,
    /// A campaign's member identities' addresses.
    pub campaign_id: Option<Uuid>,
    /// Event time at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Event time before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

impl Validate for Scope {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let given = [
            self.ip.is_some(),
            self.identity_id.is_some(),
            self.campaign_id.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            v.push((
                "ip".into(),
                "give at most one of ip, identity_id, campaign_id".into(),
            ));
        }
        if let Some(ip) = &self.ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                v.push(("ip".into(), "Input should be an IP address".into()));
            }
        }
        v
    }
}

/// A resolved scope: the tag filter, the STIX subject and a display name.
struct Resolved {
    filter: TagFilter,
    subject: Subject,
    name: String,
}

async fn resolve(st: &AppState, s: &Scope) -> ApiResult<Resolved> {
    let mut filter = TagFilter {
        since: s.since,
        until: s.until,
        ..TagFilter::default()
    };
    if let Some(ip) = &s.ip {
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|_| ApiError::field("query", "ip", "Input should be an IP address"))?;
        filter.src_ips = vec![ip.to_string()];
        return Ok(Resolved {
            filter,
            subject: Subject::Attacker { ip },
            name: format!("attacker {ip}"),
        });
    }
    if let Some(id) = s.identity_id {
        let identity = st
            .store
            .get_identity(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("Identity not found".into()))?;
        filter.src_ips = identity.members;
        return Ok(Resolved {
            filter,
            subject: Subject::Identity {
                id: id.to_string(),
                name: format!("decnet identity {id}"),
            },
            name: format!("identity {id}"),
        });
    }
    if let Some(id) = s.campaign_id {
        let campaign = st
            .store
            .get_campaign(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("Campaign not found".into()))?;
        for identity in campaign.identities {
            if let Some(i) = st.store.get_identity(identity).await? {
                filter.src_ips.extend(i.members);
            }
        }
        if filter.src_ips.is_empty() {
            // A campaign whose identities are gone has no tags, not all of them.
            filter.src_ips.push(String::new());
        }
        return Ok(Resolved {
            filter,
            subject: Subject::Campaign {
                id: id.to_string(),
                name: format!("decnet campaign {id}"),
            },
            name: format!("campaign {id}"),
        });
    }
    Ok(Resolved {
        filter,
        subject: Subject::Fleet,
        name: "fleet".into(),
    })
}

/// A technique count with the catalogue's name and tactics.
fn described(c: &TechniqueCount) -> Value {
    let t = Catalogue::builtin().technique(&c.technique_id);
    let mut v = serde_json::to_value(c).unwrap_or_default();
    v["name"] = json!(t.map(|t| t.full_name(Catalogue::builtin())));
    v["tactics"] = json!(t.map(|t| t.tactics.clone()).unwrap_or_default());
    v["domain"] = json!(t.map(|t| t.domain.as_str()));
    v
}

/// The tactics of both matrices in ATT&CK order (the matrix's columns).
fn tactic_columns() -> Value {
    let cat = Catalogue::builtin();
    let mut out = Vec::new();
    for d in [Domain::Enterprise, Domain::Ics] {
        for t in cat.tactics(d) {
            out.push(
                json!({"id": t.id, "shortname": t.shortname, "name": t.name, "domain": d.as_str()}),
            );
        }
    }
    Value::Array(out)
}

async fn counts_json(st: &AppState, filter: &TagFilter) -> ApiResult<Value> {
    let counts = st.store.attack_technique_counts(filter).await?;
    Ok(json!({
        "attack_version": Catalogue::builtin().version(),
        "tactics": tactic_columns(),
        "techniques": counts.iter().map(described).collect::<Vec<_>>(),
    }))
}

/// Techniques seen, most tagged first, with the tactic columns of the matrix.
#[utoipa::path(get, path = "/attack/techniques", tag = "ATT&CK", security(("bearer" = [])), params(Scope),
    responses((status = 200, body = crate::routes::intel::Object, description = "{attack_version, tactics, techniques}"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn techniques(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(s): ApiQuery<Scope>,
) -> ApiResult<Json<Value>> {
    let r = resolve(&st, &s).await?;
    Ok(Json(counts_json(&st, &r.filter).await?))
}

/// Techniques of one attacker (address or uuid).
#[utoipa::path(get, path = "/attackers/{ip}/techniques", tag = "ATT&CK", security(("bearer" = [])),
    params(("ip" = String, Path, description = "Attacker address or uuid")),
    responses((status = 200, body = crate::routes::intel::Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn attacker_techniques(
    State(st): State<AppState>,
    _v: Viewer,
    Path(ip): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = attacker(&st, &ip).await?;
    let filter = TagFilter {
        src_ips: vec![a.ip],
        ..TagFilter::default()
    };
    Ok(Json(counts_json(&st, &filter).await?))
}

/// The techniques of an attacker for its detail JSON.
pub(crate) async fn techniques_of(st: &AppState, ip: &str) -> ApiResult<Value> {
    let filter = TagFilter {
        src_ips: vec![ip.to_owned()],
        ..TagFilter::default()
    };
    let counts = st.store.attack_technique_counts(&filter).await?;
    Ok(Value::Array(counts.iter().map(described).collect()))
}

fn technique_param(raw: &str) -> ApiResult<String> {
    let ok = raw.len() <= 16
        && raw.starts_with('T')
        && raw[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::field(
            "path",
            "technique_id",
            "Input should be an ATT&CK technique id (T1110, T1110.001)",
        ))
    }
}

/// Attackers tagged with a technique (its sub-techniques included), most
/// recently tagged first.
#[utoipa::path(get, path = "/attack/techniques/{technique_id}/attackers", tag = "ATT&CK", security(("bearer" = [])),
    params(("technique_id" = String, Path, description = "T1110 or T1110.001"), Scope),
    responses((status = 200, body = crate::routes::intel::Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn technique_attackers(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
    ApiQuery(s): ApiQuery<Scope>,
) -> ApiResult<Json<Value>> {
    let mut r = resolve(&st, &s).await?;
    r.filter.technique_id = Some(technique_param(&id)?);
    let rows = st.store.attack_attackers(&r.filter, MAX_LIMIT).await?;
    Ok(Json(json!({"technique_id": id, "attackers": rows})))
}

/// Tag list filters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TagParams {
    /// Attacker address.
    #[param(max_length = 64)]
    pub ip: Option<String>,
    /// Technique (sub-techniques included).
    #[param(max_length = 16)]
    pub technique_id: Option<String>,
    /// Tags of one event.
    pub event_id: Option<Uuid>,
    /// Page size (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

impl Validate for TagParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = crate::schema::Paging {
            limit: self.limit,
            offset: self.offset,
        }
        .problems();
        if self
            .ip
            .as_ref()
            .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_err())
        {
            v.push(("ip".into(), "Input should be an IP address".into()));
        }
        if self
            .technique_id
            .as_ref()
            .is_some_and(|t| technique_param(t).is_err())
        {
            v.push((
                "technique_id".into(),
                "Input should be an ATT&CK technique id".into(),
            ));
        }
        v
    }
}

/// Tags (event, technique, rule, confidence, evidence), newest first: the
/// events behind a technique or an attacker.
#[utoipa::path(get, path = "/attack/tags", tag = "ATT&CK", security(("bearer" = [])), params(TagParams),
    responses((status = 200, body = crate::routes::intel::RowPage), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn tags(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<TagParams>,
) -> ApiResult<Response> {
    let filter = TagFilter {
        src_ips: p.ip.iter().cloned().collect(),
        technique_id: p.technique_id.clone(),
        event_id: p.event_id,
        ..TagFilter::default()
    };
    let page = st
        .store
        .attack_list_tags(&filter, p.limit.unwrap_or(50), p.offset.unwrap_or(0))
        .await?;
    Ok(Json(page).into_response())
}

fn download(body: Value, file: &str) -> Response {
    let mut resp = Json(body).into_response();
    if let Ok(v) = format!("attachment; filename=\"{file}\"").parse() {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Navigator layer query.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct LayerParams {
    /// `enterprise` (default) or `ics`.
    #[param(pattern = "^(enterprise|ics)$")]
    pub domain: Option<String>,
}

impl Validate for LayerParams {
    fn validate(&self) -> Vec<(String, String)> {
        match self.domain.as_deref() {
            None | Some("enterprise") | Some("ics") => Vec::new(),
            _ => vec![("domain".into(), "must be enterprise or ics".into())],
        }
    }
}

/// ATT&CK Navigator layer (format 4.5) of the techniques seen in a scope,
/// scored by tag count; opens in the Navigator.
#[utoipa::path(get, path = "/attack/navigator", tag = "ATT&CK", security(("bearer" = [])), params(Scope, LayerParams),
    responses((status = 200, body = crate::routes::intel::Object, description = "Navigator layer"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn navigator_layer(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(s): ApiQuery<Scope>,
    ApiQuery(l): ApiQuery<LayerParams>,
) -> ApiResult<Response> {
    let r = resolve(&st, &s).await?;
    let counts = st.store.attack_technique_counts(&r.filter).await?;
    let domain = match l.domain.as_deref() {
        Some("ics") => Domain::Ics,
        _ => Domain::Enterprise,
    };
    let info = LayerInfo {
        name: format!("decnet: {}", r.name),
        description: format!(
            "Techniques decnet tagged for {} ({} to {})",
            r.name,
            s.since.map_or("the start".into(), |t| t.to_rfc3339()),
            s.until.map_or("now".into(), |t| t.to_rfc3339()),
        ),
    };
    let layer = navigator::layer(
        &info,
        domain,
        &stix_feed::technique_stats(&counts),
        Catalogue::builtin(),
    );
    Ok(download(
        layer,
        &format!(
            "decnet-{}-{}-layer.json",
            file_stem(&r.name),
            domain.as_str()
        ),
    ))
}

async fn export_of(st: &AppState, s: &Scope) -> ApiResult<(decnet_attack::stix::Export, String)> {
    let r = resolve(st, s).await?;
    let export = stix_feed::export(st.store.as_ref(), r.subject, &r.filter, "decnet")
        .await?
        .ok_or_else(|| ApiError::NotFound("No ATT&CK tags in this scope".into()))?;
    Ok((export, file_stem(&r.name)))
}

/// STIX 2.1 bundle of a scope (identity, attack-patterns, indicators,
/// sightings, relationships); 404 when nothing was tagged.
#[utoipa::path(get, path = "/attack/stix", tag = "ATT&CK", security(("bearer" = [])), params(Scope),
    responses((status = 200, body = crate::routes::intel::Object, description = "STIX 2.1 bundle"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn stix_bundle(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(s): ApiQuery<Scope>,
) -> ApiResult<Response> {
    let (export, stem) = export_of(&st, &s).await?;
    let body = decnet_attack::stix::bundle(&export, Catalogue::builtin());
    Ok(download(body, &format!("decnet-{stem}.stix.json")))
}

/// MISP event of a scope; 404 when nothing was tagged.
#[utoipa::path(get, path = "/attack/misp", tag = "ATT&CK", security(("bearer" = [])), params(Scope),
    responses((status = 200, body = crate::routes::intel::Object, description = "MISP event"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn misp_event(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(s): ApiQuery<Scope>,
) -> ApiResult<Response> {
    let (export, stem) = export_of(&st, &s).await?;
    let body = decnet_attack::misp::event(&export, Catalogue::builtin());
    Ok(download(body, &format!("decnet-{stem}.misp.json")))
}

/// The rules in use: id, name, techniques, confidence, kind, file:line.
#[utoipa::path(get, path = "/attack/rules", tag = "ATT&CK", security(("bearer" = [])),
    responses((status = 200, body = crate::routes::intel::Object), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn rules(State(st): State<AppState>, _v: Viewer) -> Json<Value> {
    let set = st.attack.handle().current();
    let rules: Vec<Value> = set
        .rules()
        .iter()
        .map(|r| {
            json!({
                "id": &*r.id,
                "name": r.name,
                "description": r.description,
                "techniques": r.techniques.iter().map(|t| &**t).collect::<Vec<_>>(),
                "confidence": r.confidence,
                "type": match r.body {
                    decnet_attack::rules::RuleBody::Event(_) => "event",
                    decnet_attack::rules::RuleBody::Sequence(_) => "sequence",
                    decnet_attack::rules::RuleBody::Aggregate(_) => "aggregate",
                },
                "file": &*r.file,
                "line": r.line,
            })
        })
        .collect();
    Json(json!({
        "source": st.attack.dir().map_or("embedded".into(), |d| d.display().to_string()),
        "generation": set.generation(),
        "attack_version": Catalogue::builtin().version(),
        "rules": rules,
    }))
}

/// Re-reads the rule directory. Valid: the new set is in use at once (200).
/// Invalid: the previous set stays in use and every error is returned as
/// `FILE:LINE: message` (422).
#[utoipa::path(post, path = "/attack/rules/reload", tag = "ATT&CK", security(("bearer" = [])),
    responses((status = 200, body = crate::routes::intel::Object, description = "{rules, generation}"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::routes::intel::Object, description = "{detail, errors}")))]
pub(crate) async fn reload_rules(State(st): State<AppState>, _a: Admin) -> Response {
    let rules = st.attack.clone();
    let outcome = tokio::task::spawn_blocking(move || rules.reload()).await;
    match outcome {
        Ok(Ok(o)) => {
            tracing::info!(rules = o.rules, "ATT&CK rules reloaded through the API");
            Json(json!({"rules": o.rules, "generation": o.generation})).into_response()
        }
        Ok(Err(errors)) => {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "detail": format!("rules not reloaded ({} errors); the previous rules stay in use", list.len()),
                    "errors": list,
                })),
            )
                .into_response()
        }
        Err(e) => ApiError::Internal(format!("rule reload task: {e}")).into_response(),
    }
}

/// TAXII readers: the API's bearer tokens (any role; a password change
/// pending refuses), also presented as `Token` or as a Basic password.
struct ApiTokens(AppState);

impl TaxiiAuth for ApiTokens {
    async fn authorize(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let token = taxii::presented_token(headers).ok_or(AuthError::Missing)?;
        let user = resolve_token(&self.0, &token)
            .await
            .map_err(|_| AuthError::Invalid)?
            .user;
        if user.must_change_password {
            return Err(AuthError::Forbidden);
        }
        Ok(Principal {
            name: user.username,
        })
    }
}

/// The TAXII 2.1 server at `/taxii2/` over the store's STIX objects.
pub fn taxii_router(state: &AppState) -> Router {
    taxii::router(
        TaxiiConfig::default(),
        Arc::new(StoreSource::new(state.store.clone())),
        Arc::new(ApiTokens(state.clone())),
    )
}
