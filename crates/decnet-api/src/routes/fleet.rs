//! Fleet routes: deploy an INI, list/lifecycle, teardown, mutate, live
//! services on fleet deckies, and file drops into a decky's filesystem.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use chrono::{Duration as ChronoDuration, Utc};
use decnet_engine::{DeckySummary, EngineError, Lifecycle};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Admin, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Validate};
use crate::routes::config::{DEFAULT_DEPLOYMENT_LIMIT, LIMITS_KEY};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest path accepted for a file drop.
pub const MAX_DROP_PATH: usize = 4096;
/// Largest file drop (decoded bytes).
pub const MAX_DROP_BYTES: usize = 4 * 1024 * 1024;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(services))
        .routes(routes!(lifecycle))
        .routes(routes!(deploy))
        .routes(routes!(drop_file, delete_file))
        .routes(routes!(teardown))
        .routes(routes!(mutate))
        .routes(routes!(mutate_interval))
        .routes(routes!(add_service))
        .routes(routes!(remove_service))
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(_) | EngineError::ServiceMissing { .. } => {
                ApiError::NotFound(e.to_string())
            }
            EngineError::AlreadyRunning(_) | EngineError::ServiceExists { .. } => {
                ApiError::Conflict(e.to_string())
            }
            EngineError::UnknownService(_) | EngineError::InvalidConfig { .. } => {
                ApiError::field("body", "name", e.to_string())
            }
            EngineError::Service { .. }
            | EngineError::DataDir(..)
            | EngineError::Network { .. } => ApiError::Conflict(e.to_string()),
        }
    }
}

/// One entry of the service catalogue: what a decky can run.
#[derive(Serialize, ToSchema)]
pub(crate) struct CatalogueEntry {
    /// INI / API name.
    name: &'static str,
    /// Default listening ports as `tcp/22`, `udp/161`.
    ports: Vec<String>,
    /// One-line description.
    description: &'static str,
}

/// The services the engine can run (the dashboard's "+ Service" picker),
/// from the built-in catalogue; needs no engine, so it answers in every
/// API process.
#[utoipa::path(get, path = "/services", operation_id = "list_services", tag = "Fleet", security(("bearer" = [])),
    responses((status = 200, body = Vec<CatalogueEntry>), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn services(_v: Viewer) -> Json<Vec<CatalogueEntry>> {
    Json(
        decnet_core::catalog::SERVICE_CATALOG
            .iter()
            .map(|s| CatalogueEntry {
                name: s.name,
                ports: s.ports.iter().map(|(t, p)| format!("{t}/{p}")).collect(),
                description: s.description,
            })
            .collect(),
    )
}

#[utoipa::path(get, path = "/deckies", operation_id = "list_deckies", tag = "Fleet", security(("bearer" = [])),
    responses((status = 200, description = "Running deckies with their services and ports"), (status = 401, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    State(st): State<AppState>,
    _v: Viewer,
) -> ApiResult<Json<Vec<DeckySummary>>> {
    Ok(Json(st.engine()?.fleet.summary().await))
}

#[utoipa::path(get, path = "/deckies/lifecycle", tag = "Fleet", security(("bearer" = [])),
    responses((status = 200, description = "Per-decky state: pending, deploying, running, failed (with error), tearing_down, removed"), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn lifecycle(
    State(st): State<AppState>,
    _v: Viewer,
) -> ApiResult<Json<Vec<Lifecycle>>> {
    Ok(Json(st.engine()?.fleet.lifecycle()))
}

/// `POST /deckies/deploy` body.
#[derive(Deserialize, ToSchema)]
pub struct DeployRequest {
    /// A fleet INI (the same format and validator as `decnet validate`).
    pub ini_content: String,
    /// Tear down every running fleet decky not in this INI first.
    #[serde(default)]
    pub replace_fleet: bool,
}

impl Validate for DeployRequest {}

/// One accepted decky.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Decky name.
    pub name: String,
    /// Lifecycle id to follow in `/deckies/lifecycle`.
    pub lifecycle_id: String,
    /// `pending`.
    pub state: String,
}

/// `202` body of a deploy.
#[derive(Serialize, ToSchema)]
pub struct DeployAccepted {
    /// Accepted deckies.
    pub deckies: Vec<Accepted>,
    /// The deckies' lifecycle ids, in the same order (DECNET's spelling).
    pub lifecycle_ids: Vec<String>,
    /// Validator warnings (`LINE: message`).
    pub warnings: Vec<String>,
}

#[utoipa::path(post, path = "/deckies/deploy", operation_id = "deploy_deckies", tag = "Fleet", security(("bearer" = [])), request_body = DeployRequest,
    responses((status = 202, body = DeployAccepted), (status = 400, body = crate::error::ErrorBody, description = "Structural INI error"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "Names/IPs in use or over the deployment limit"),
        (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn deploy(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(body): ApiJson<DeployRequest>,
) -> ApiResult<(StatusCode, Json<DeployAccepted>)> {
    let eng = st.engine()?.clone();
    let (fleet_spec, warnings) = parse_ini(&body.ini_content)?;
    check_deployment_limit(&st, &fleet_spec).await?;
    if !body.replace_fleet {
        check_clashes(&eng.fleet, &fleet_spec).await?;
    }
    let mut warnings: Vec<String> = warnings
        .into_iter()
        .map(|w| format!("{}: {}", w.line, w.message))
        .collect();
    apply_alerts_sections(&st, &fleet_spec, &mut warnings).await?;
    let accepted: Vec<Accepted> = fleet_spec
        .deckies
        .iter()
        .map(|d| {
            let lc = eng.fleet.accept(&d.name);
            Accepted {
                name: d.name.clone(),
                lifecycle_id: lc.id.to_string(),
                state: "pending".into(),
            }
        })
        .collect();
    tokio::spawn(deploy_in_background(
        eng.fleet.clone(),
        fleet_spec,
        body.replace_fleet,
    ));
    Ok((
        StatusCode::ACCEPTED,
        Json(DeployAccepted {
            lifecycle_ids: accepted.iter().map(|a| a.lifecycle_id.clone()).collect(),
            deckies: accepted,
            warnings,
        }),
    ))
}

/// The INI parsed; a structural problem is a 400, errors on lines a 422.
fn parse_ini(
    ini: &str,
) -> ApiResult<(
    decnet_core::FleetSpec,
    Vec<decnet_core::fleet::ValidationError>,
)> {
    decnet_core::fleet::parse_str(ini).map_err(|report| {
        let detail = report.render("ini_content");
        if report.is_structural() {
            return ApiError::BadRequest(detail.trim_end().to_owned());
        }
        ApiError::Validation(
            report
                .errors
                .iter()
                .map(|e| {
                    crate::error::FieldError::new(
                        "body",
                        "ini_content",
                        format!("line {}: {}", e.line, e.message),
                        "value_error",
                    )
                })
                .collect(),
        )
    })
}

/// 409 when the INI defines more deckies than one request may deploy.
async fn check_deployment_limit(
    st: &AppState,
    fleet_spec: &decnet_core::FleetSpec,
) -> ApiResult<()> {
    let limit = st
        .store
        .get_setting(LIMITS_KEY)
        .await?
        .and_then(|v| v.get("deployment_limit").and_then(|n| n.as_u64()))
        .unwrap_or(DEFAULT_DEPLOYMENT_LIMIT as u64);
    if fleet_spec.deckies.len() as u64 > limit {
        return Err(ApiError::Conflict(format!(
            "this INI defines {} deckies; the deployment limit is {limit} per request (PUT /api/v1/config/deployment-limit)",
            fleet_spec.deckies.len()
        )));
    }
    Ok(())
}

/// 409 when a decky's name or address is taken by a running decky.
async fn check_clashes(
    fleet: &decnet_engine::Fleet,
    fleet_spec: &decnet_core::FleetSpec,
) -> ApiResult<()> {
    let (names, ips) = fleet.in_use().await;
    let mut clashes = Vec::new();
    for d in &fleet_spec.deckies {
        if names.contains(&d.name) {
            clashes.push(format!("decky '{}' is already running", d.name));
        }
        // A DHCP decky has no address until its lease: nothing to clash with.
        for ip in d.addrs() {
            if !ip.is_unspecified() && ips.contains(&ip) && !names.contains(&d.name) {
                clashes.push(format!("IP {ip} is already used by a running decky"));
            }
        }
    }
    if clashes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Conflict(clashes.join("; ")))
    }
}

/// Tears the fleet file's deckies down if asked, then deploys the new ones.
async fn deploy_in_background(
    fleet: std::sync::Arc<decnet_engine::Fleet>,
    fleet_spec: decnet_core::FleetSpec,
    replace: bool,
) {
    if replace {
        for running in fleet.summary().await {
            // Topology deckies belong to their topology, not to the fleet file.
            if fleet.topology_of(&running.name).is_none() {
                let _ = fleet.teardown(&running.name).await;
            }
        }
    }
    for spec in fleet_spec.deckies {
        if let Err(e) = fleet.deploy(spec).await {
            tracing::warn!("deploy: {e}");
        }
    }
}

/// A deployed INI's `[alerts]`/`[alerts.*]`/`[siem.*]` sections replace the
/// alerts engine's file sections (the API's channel/rule edits stay laid
/// over them) before any decky is accepted: invalid ones are a 422 and
/// nothing changes. An INI without such sections leaves alerts as they
/// are; a server without an engine says it ignored them.
async fn apply_alerts_sections(
    st: &AppState,
    fleet_spec: &decnet_core::FleetSpec,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    if fleet_spec.alerts.is_empty() {
        return Ok(());
    }
    let Some(backend) = st.alerts.as_ref() else {
        warnings.push(
            "1: [alerts]/[siem.*] sections ignored: this server runs no alerts engine".into(),
        );
        return Ok(());
    };
    let invalid = |lines: Vec<(usize, String)>| {
        ApiError::Validation(
            lines
                .into_iter()
                .map(|(line, message)| {
                    crate::error::FieldError::new(
                        "body",
                        "ini_content",
                        format!("line {line}: {message}"),
                        "value_error",
                    )
                })
                .collect(),
        )
    };
    decnet_alerts::AlertsConfig::from_fleet(&fleet_spec.alerts)
        .map_err(|errors| invalid(errors.into_iter().map(|e| (e.line, e.message)).collect()))?;
    match backend
        .replace_base(&*st.store, fleet_spec.alerts.maps().clone())
        .await
    {
        Ok(_) => Ok(()),
        Err(crate::alerts::AlertsChangeError::Invalid(errors)) => Err(invalid(
            errors.0.iter().map(|e| (1, e.to_string())).collect(),
        )),
        Err(crate::alerts::AlertsChangeError::Store(e)) => Err(ApiError::Internal(e.to_string())),
        // A channel or SIEM output that cannot be built (CA file, TLS).
        Err(e) => Err(invalid(vec![(1, e.to_string())])),
    }
}

#[utoipa::path(delete, path = "/deckies/{name}", operation_id = "teardown_decky", tag = "Fleet", security(("bearer" = [])),
    params(("name" = String, Path, description = "Decky name")),
    responses((status = 200, body = crate::schema::Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn teardown(
    State(st): State<AppState>,
    _a: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<crate::schema::Message>> {
    st.engine()?.fleet.teardown(&name).await?;
    Ok(crate::schema::Message::new("Decky torn down"))
}

#[utoipa::path(post, path = "/deckies/{name}/mutate", tag = "Fleet", security(("bearer" = [])),
    params(("name" = String, Path, description = "Decky name")),
    responses((status = 200, description = "The decky with its new persona"), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn mutate(
    State(st): State<AppState>,
    _a: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<DeckySummary>> {
    Ok(Json(st.engine()?.fleet.mutate(&name).await?))
}

/// `PUT /deckies/{name}/mutate-interval` body.
#[derive(Deserialize, ToSchema)]
pub struct MutateInterval {
    /// Minutes between automatic persona re-rolls; null disables.
    pub minutes: Option<u32>,
}

impl Validate for MutateInterval {
    fn validate(&self) -> Vec<(String, String)> {
        match self.minutes {
            Some(0) => vec![(
                "minutes".into(),
                "must be at least 1 (or null to disable)".into(),
            )],
            Some(m) if m > 525_600 => {
                vec![("minutes".into(), "must be at most 525600 (one year)".into())]
            }
            _ => vec![],
        }
    }
}

#[utoipa::path(put, path = "/deckies/{name}/mutate-interval", tag = "Fleet", security(("bearer" = [])), request_body = MutateInterval,
    params(("name" = String, Path, description = "Decky name")),
    responses((status = 200, body = crate::schema::Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn mutate_interval(
    State(st): State<AppState>,
    _a: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<MutateInterval>,
) -> ApiResult<Json<crate::schema::Message>> {
    st.engine()?
        .fleet
        .set_mutate_interval(&name, body.minutes)
        .await?;
    Ok(crate::schema::Message::new("Mutate interval updated"))
}

/// `{name}` of a service to add (seed `DeckyServiceAddRequest`).
#[derive(Deserialize, ToSchema)]
pub struct ServiceAdd {
    /// Service name.
    pub name: String,
}

impl Validate for ServiceAdd {
    fn validate(&self) -> Vec<(String, String)> {
        if self.name.is_empty() {
            vec![("name".into(), "must not be empty".into())]
        } else if decnet_core::catalog::service(&self.name).is_none() {
            vec![("name".into(), format!("unknown service '{}'", self.name))]
        } else {
            vec![]
        }
    }
}

/// Services of a decky after a change (seed `DeckyServicesResponse`).
#[derive(Serialize, ToSchema)]
pub struct DeckyServices {
    /// Decky.
    pub decky_name: String,
    /// Topology, for topology deckies.
    pub topology_id: Option<String>,
    /// All services now.
    pub services: Vec<String>,
}

#[utoipa::path(post, path = "/deckies/{name}/services", operation_id = "add_decky_service", tag = "Fleet", security(("bearer" = [])), request_body = ServiceAdd,
    params(("name" = String, Path, description = "Decky name")),
    responses((status = 201, body = DeckyServices), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn add_service(
    State(st): State<AppState>,
    _a: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ServiceAdd>,
) -> ApiResult<(StatusCode, Json<DeckyServices>)> {
    let eng = st.engine()?;
    let services = eng.fleet.add_service(&name, &body.name, None).await?;
    Ok((
        StatusCode::CREATED,
        Json(DeckyServices {
            decky_name: name.clone(),
            topology_id: eng.fleet.topology_of(&name),
            services,
        }),
    ))
}

#[utoipa::path(delete, path = "/deckies/{name}/services/{service}", operation_id = "remove_decky_service", tag = "Fleet", security(("bearer" = [])),
    params(("name" = String, Path, description = "Decky name"), ("service" = String, Path, description = "Service name")),
    responses((status = 200, body = DeckyServices), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn remove_service(
    State(st): State<AppState>,
    _a: Admin,
    Path((name, service)): Path<(String, String)>,
) -> ApiResult<Json<DeckyServices>> {
    let eng = st.engine()?;
    let services = eng.fleet.remove_service(&name, &service).await?;
    Ok(Json(DeckyServices {
        decky_name: name.clone(),
        topology_id: eng.fleet.topology_of(&name),
        services,
    }))
}

fn check_path(path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !path.starts_with('/') {
        out.push((
            "path".into(),
            "path must be absolute (start with '/')".into(),
        ));
    }
    if path.split('/').any(|seg| seg == "..") {
        out.push(("path".into(), "path must not contain '..' segments".into()));
    }
    if path.contains('\0') {
        out.push(("path".into(), "path must not contain NUL".into()));
    }
    if path.len() > MAX_DROP_PATH {
        out.push((
            "path".into(),
            format!("path longer than {MAX_DROP_PATH} bytes"),
        ));
    }
    out
}

/// File drop (seed `DeckyFileDropRequest`).
#[derive(Deserialize, ToSchema)]
pub struct FileDrop {
    /// Target decky.
    pub decky_name: String,
    /// Topology of the decky (optional; checked when given).
    #[serde(default)]
    pub topology_id: Option<String>,
    /// Absolute path, no `..`.
    pub path: String,
    /// Content, base64.
    pub content_b64: String,
    /// Unix mode (default 0o644).
    #[serde(default = "default_mode")]
    pub mode: u32,
    /// Seconds added to now for the mtime (negative back-dates it).
    #[serde(default)]
    pub mtime_offset: i64,
    /// Replace an existing file instead of answering 409.
    #[serde(default)]
    pub overwrite: bool,
}

fn default_mode() -> u32 {
    0o644
}

impl Validate for FileDrop {
    fn validate(&self) -> Vec<(String, String)> {
        let mut out = check_path(&self.path);
        if self.decky_name.is_empty() {
            out.push(("decky_name".into(), "must not be empty".into()));
        }
        if self.mode > 0o7777 {
            out.push(("mode".into(), "must be at most 0o7777 (4095)".into()));
        }
        if self.mtime_offset.unsigned_abs() > 100 * 365 * 86_400 {
            out.push(("mtime_offset".into(), "must be within ±100 years".into()));
        }
        if self.content_b64.len() > MAX_DROP_BYTES / 3 * 4 + 4 {
            out.push((
                "content_b64".into(),
                format!("content larger than {MAX_DROP_BYTES} bytes"),
            ));
        } else if base64::engine::general_purpose::STANDARD
            .decode(self.content_b64.trim())
            .is_err()
        {
            out.push(("content_b64".into(), "not valid base64".into()));
        }
        out
    }
}

/// A dropped file.
#[derive(Serialize, ToSchema)]
pub struct DroppedFile {
    /// Decky.
    pub decky_name: String,
    /// Normalised path.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Mode.
    pub mode: u32,
    /// Modification time.
    pub mtime: chrono::DateTime<Utc>,
}

async fn decky_ctx(
    st: &AppState,
    name: &str,
    topology: Option<&str>,
) -> ApiResult<std::sync::Arc<decnet_services::DeckyCtx>> {
    let eng = st.engine()?;
    let ctx = eng
        .fleet
        .decky(name)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("no running decky named '{name}'")))?;
    if let Some(t) = topology {
        if eng.fleet.topology_of(name).as_deref() != Some(t) {
            return Err(ApiError::NotFound(format!(
                "decky '{name}' is not in topology '{t}'"
            )));
        }
    }
    Ok(ctx)
}

#[utoipa::path(post, path = "/deckies/files", tag = "Fleet", security(("bearer" = [])), request_body = FileDrop,
    responses((status = 201, body = DroppedFile), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn drop_file(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(body): ApiJson<FileDrop>,
) -> ApiResult<(StatusCode, Json<DroppedFile>)> {
    let ctx = decky_ctx(&st, &body.decky_name, body.topology_id.as_deref()).await?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.content_b64.trim())
        .map_err(|_| ApiError::field("body", "content_b64", "not valid base64"))?;
    let vfs = ctx.vfs();
    if !body.overwrite && vfs.get(&body.path).is_some() {
        return Err(ApiError::Conflict(format!(
            "{} already exists on '{}'; set overwrite to replace it",
            body.path, body.decky_name
        )));
    }
    let mtime = Utc::now() + ChronoDuration::seconds(body.mtime_offset);
    let path = vfs
        .add_file(&body.path, &bytes, body.mode, mtime, None)
        .map_err(|e| ApiError::field("body", "path", e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(DroppedFile {
            decky_name: body.decky_name,
            path,
            size: bytes.len() as u64,
            mode: body.mode,
            mtime,
        }),
    ))
}

/// File delete (seed `DeckyFileDeleteRequest`).
#[derive(Deserialize, ToSchema)]
pub struct FileDelete {
    /// Target decky.
    pub decky_name: String,
    /// Topology of the decky (optional).
    #[serde(default)]
    pub topology_id: Option<String>,
    /// Absolute path, no `..`.
    pub path: String,
}

impl Validate for FileDelete {
    fn validate(&self) -> Vec<(String, String)> {
        check_path(&self.path)
    }
}

#[utoipa::path(delete, path = "/deckies/files", tag = "Fleet", security(("bearer" = [])), request_body = FileDelete,
    responses((status = 200, body = crate::schema::Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_file(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(body): ApiJson<FileDelete>,
) -> ApiResult<Json<crate::schema::Message>> {
    let ctx = decky_ctx(&st, &body.decky_name, body.topology_id.as_deref()).await?;
    if ctx.vfs().remove_file(&body.path) {
        Ok(crate::schema::Message::new("File removed"))
    } else {
        Err(ApiError::NotFound(format!(
            "no file {} on '{}'",
            body.path, body.decky_name
        )))
    }
}
