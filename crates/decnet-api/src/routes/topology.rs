//! Topology routes (DECNET "MazeNET"): CRUD with optimistic concurrency,
//! LANs/edges/deckies, the mutation queue, deploy/teardown, live services
//! on topology deckies, and the per-topology SSE stream of the seed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use decnet_engine::topology::{
    Edge, Lan, Mutation, MutationOp, MutationStatus, TarpitPlan, Topologies, Topology,
    TopologyDecky, TopologyError, TopologySpec, TopologyStatus,
};
use futures::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, StreamViewer, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Validate};
use crate::routes::fleet::{DeckyServices, ServiceAdd};
use crate::sse::{self, frame};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(create_blank))
        .routes(routes!(get_one, delete_one))
        .routes(routes!(add_lan))
        .routes(routes!(update_lan, remove_lan))
        .routes(routes!(set_tarpit))
        .routes(routes!(add_edge, remove_edge))
        .routes(routes!(add_decky))
        .routes(routes!(update_decky, remove_decky))
        .routes(routes!(add_service))
        .routes(routes!(remove_service))
        .routes(routes!(service_config))
        .routes(routes!(mutations, enqueue))
        .routes(routes!(deploy))
        .routes(routes!(teardown))
        .routes(routes!(events))
}

impl From<TopologyError> for ApiError {
    fn from(e: TopologyError) -> Self {
        match e {
            TopologyError::NotFound(m) => ApiError::NotFound(m),
            TopologyError::Conflict(m) => ApiError::Conflict(m),
            TopologyError::Invalid(m) => ApiError::field("body", "", m),
            TopologyError::Store(m) => ApiError::internal(m),
            TopologyError::Engine(e) => e.into(),
        }
    }
}

/// The topology manager for a route on topology `id`: the id checked
/// (422), then the engine (503).
fn topologies<'a>(st: &'a AppState, id: &str) -> ApiResult<&'a Arc<Topologies>> {
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiError::field("path", "id", "not a topology id"));
    }
    Ok(&st.engine()?.topologies)
}

/// The body of every topology-decky service route.
fn decky_services(id: String, name: String, services: Vec<String>) -> DeckyServices {
    DeckyServices {
        decky_name: name,
        topology_id: Some(id),
        services,
    }
}

impl Validate for TopologySpecBody {}

/// `POST /topologies` body.
#[derive(Deserialize, ToSchema)]
pub struct TopologySpecBody {
    /// Display name.
    pub name: String,
    /// LANs `[{name, cidr, cidr6?, tarpit?, tarpit_interval?}]` (`cidr6`: the
    /// IPv6 range of a dual-stack LAN).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub lans: Vec<Lan>,
    /// Deckies `[{name, ip?, ip6?, services, archetype?, distro?, nmap_os?, config?, tarpit?, tarpit_interval?}]`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub deckies: Vec<TopologyDecky>,
    /// Edges `[{decky, lan}]`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub edges: Vec<Edge>,
    /// Tarpits of every decky; a LAN's or a decky's own `tarpit` (or
    /// `none`) overrides it.
    #[serde(flatten)]
    pub tarpit: TarpitIn,
}

#[utoipa::path(get, path = "/topologies", operation_id = "list_topologies", tag = "Topologies", security(("bearer" = [])),
    responses((status = 200, description = "All topologies"), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn list(State(st): State<AppState>, _v: Viewer) -> ApiResult<Json<Vec<Topology>>> {
    Ok(Json(st.engine()?.topologies.list().await?))
}

#[utoipa::path(post, path = "/topologies", operation_id = "create_topology", tag = "Topologies", security(("bearer" = [])), request_body = TopologySpecBody,
    responses((status = 201, description = "Created (status pending, version 1)"), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(b): ApiJson<TopologySpecBody>,
) -> ApiResult<(StatusCode, Json<Topology>)> {
    let t = st
        .engine()?
        .topologies
        .create(TopologySpec {
            name: b.name,
            lans: b.lans,
            deckies: b.deckies,
            edges: b.edges,
            tarpit: b.tarpit.into(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// `POST /topologies/blank` body (DECNET's): a name; `mode` and
/// `target_host_uuid` are accepted for compatibility, and only the
/// single-host mode exists here.
#[derive(Deserialize, ToSchema)]
pub struct BlankTopologyIn {
    /// Display name (1-64 characters, unique).
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// `unihost` (the default; `agent` is not supported).
    #[serde(default)]
    pub mode: Option<String>,
    /// Agent host to pin to (not supported: must be absent or null).
    #[serde(default)]
    pub target_host_uuid: Option<String>,
}

impl Validate for BlankTopologyIn {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if self.name.trim().is_empty() || self.name.chars().count() > 64 {
            v.push(("name".into(), "must be 1-64 characters".into()));
        }
        if self.mode.as_deref().is_some_and(|m| m != "unihost") {
            v.push((
                "mode".into(),
                "only unihost is supported (no agent hosts)".into(),
            ));
        }
        if self.target_host_uuid.is_some() {
            v.push((
                "target_host_uuid".into(),
                "agent hosts are not supported".into(),
            ));
        }
        v
    }
}

#[utoipa::path(post, path = "/topologies/blank", operation_id = "create_blank_topology", tag = "Topologies", security(("bearer" = [])), request_body = BlankTopologyIn,
    responses((status = 201, description = "Created: pending, one DMZ LAN and its gateway decky"), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, description = "Name taken or no free DMZ subnet", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn create_blank(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(b): ApiJson<BlankTopologyIn>,
) -> ApiResult<(StatusCode, Json<Topology>)> {
    let t = st.engine()?.topologies.create_blank(b.name.trim()).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

#[utoipa::path(get, path = "/topologies/{id}", operation_id = "get_topology", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 200, description = "The topology"), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_one(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<Topology>> {
    Ok(Json(topologies(&st, &id)?.get(&id).await?))
}

#[utoipa::path(delete, path = "/topologies/{id}", operation_id = "delete_topology", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 200, body = crate::schema::Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_one(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::schema::Message>> {
    topologies(&st, &id)?.delete(&id).await?;
    Ok(crate::schema::Message::new("Topology deleted"))
}

/// A write that names the version it was based on.
#[derive(Deserialize, ToSchema)]
pub struct Versioned<T> {
    /// Topology version the change is based on (stale → 409).
    pub version: i64,
    /// The change.
    #[serde(flatten)]
    pub item: T,
}

impl<T> Validate for Versioned<T> {}

/// Version-only write (deletes).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// Topology version the change is based on.
    pub version: i64,
    /// Edge deletes: decky name.
    #[serde(default)]
    pub decky: Option<String>,
    /// Edge deletes: LAN name.
    #[serde(default)]
    pub lan: Option<String>,
}

impl Validate for VersionQuery {}

async fn edit(
    st: &AppState,
    id: &str,
    version: i64,
    f: impl FnOnce(&mut Topology) -> Result<(), TopologyError>,
) -> ApiResult<Json<Topology>> {
    Ok(Json(topologies(st, id)?.update(id, version, f).await?))
}

#[utoipa::path(post, path = "/topologies/{id}/lans", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn add_lan(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Versioned<Lan>>,
) -> ApiResult<Json<Topology>> {
    edit(&st, &id, b.version, |t| t.add_lan(b.item)).await
}

/// LAN update body.
#[derive(Deserialize, ToSchema)]
pub struct LanUpdate {
    /// New range.
    pub cidr: String,
    /// New IPv6 range of a dual-stack LAN (absent: none).
    #[serde(default)]
    pub cidr6: Option<String>,
    /// Tarpits of the deckies on this LAN (or `none`: no wider list).
    #[serde(flatten)]
    pub tarpit: TarpitIn,
}

#[utoipa::path(put, path = "/topologies/{id}/lans/{lan}", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), ("lan" = String, Path, description = "LAN name")),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn update_lan(
    State(st): State<AppState>,
    _a: Admin,
    Path((id, lan)): Path<(String, String)>,
    ApiJson(b): ApiJson<Versioned<LanUpdate>>,
) -> ApiResult<Json<Topology>> {
    let LanUpdate {
        cidr,
        cidr6,
        tarpit,
    } = b.item;
    edit(&st, &id, b.version, |t| {
        t.update_lan(Lan {
            name: lan,
            cidr,
            cidr6,
            tarpit: tarpit.into(),
        })
    })
    .await
}

/// Tarpits at one level of a topology (and the `PUT
/// /topologies/{id}/tarpit` body: the tarpits of every decky).
#[derive(Deserialize, ToSchema)]
pub struct TarpitIn {
    /// `kind:port` entries (`ssh:22, http:8080, tcp:445`); absent or
    /// null: none at this level.
    #[serde(default)]
    #[schema(example = "ssh:2222, http:8080")]
    pub tarpit: Option<String>,
    /// Seconds between two trickles (1-3600; default 10).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    pub tarpit_interval: Option<u32>,
}

#[utoipa::path(put, path = "/topologies/{id}/tarpit", tag = "Topologies", security(("bearer" = [])), request_body = TarpitIn,
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 200, description = "Updated topology (takes effect when its deckies are next deployed)"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn set_tarpit(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Versioned<TarpitIn>>,
) -> ApiResult<Json<Topology>> {
    edit(&st, &id, b.version, |t| {
        t.tarpit = b.item.into();
        Ok(())
    })
    .await
}

impl From<TarpitIn> for TarpitPlan {
    fn from(t: TarpitIn) -> Self {
        TarpitPlan {
            tarpit: t.tarpit,
            tarpit_interval: t.tarpit_interval,
        }
    }
}

#[utoipa::path(delete, path = "/topologies/{id}/lans/{lan}", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), ("lan" = String, Path, description = "LAN name"), VersionQuery),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn remove_lan(
    State(st): State<AppState>,
    _a: Admin,
    Path((id, lan)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Topology>> {
    edit(&st, &id, q.version, |t| t.remove_lan(&lan)).await
}

#[utoipa::path(post, path = "/topologies/{id}/edges", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn add_edge(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Versioned<Edge>>,
) -> ApiResult<Json<Topology>> {
    edit(&st, &id, b.version, |t| {
        t.attach(b.item);
        Ok(())
    })
    .await
}

#[utoipa::path(delete, path = "/topologies/{id}/edges", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), VersionQuery),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn remove_edge(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Topology>> {
    let (Some(decky), Some(lan)) = (q.decky.clone(), q.lan.clone()) else {
        return Err(ApiError::field(
            "query",
            "decky",
            "decky and lan are required",
        ));
    };
    let e = Edge { decky, lan };
    edit(&st, &id, q.version, |t| t.detach(&e)).await
}

#[utoipa::path(post, path = "/topologies/{id}/deckies", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn add_decky(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Versioned<TopologyDecky>>,
) -> ApiResult<Json<Topology>> {
    edit(&st, &id, b.version, |t| t.add_decky(b.item)).await
}

#[utoipa::path(put, path = "/topologies/{id}/deckies/{name}", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), ("name" = String, Path, description = "Decky name")),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn update_decky(
    State(st): State<AppState>,
    _a: Admin,
    Path((id, name)): Path<(String, String)>,
    ApiJson(b): ApiJson<Versioned<TopologyDecky>>,
) -> ApiResult<Json<Topology>> {
    let decky = TopologyDecky { name, ..b.item };
    edit(&st, &id, b.version, |t| t.update_decky(decky)).await
}

#[utoipa::path(delete, path = "/topologies/{id}/deckies/{name}", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), ("name" = String, Path, description = "Decky name"), VersionQuery),
    responses((status = 200, description = "Updated topology"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn remove_decky(
    State(st): State<AppState>,
    _a: Admin,
    Path((id, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Topology>> {
    edit(&st, &id, q.version, |t| t.remove_decky(&name)).await
}

/// `POST /topologies/{id}/mutations` body.
#[derive(Deserialize, ToSchema)]
pub struct MutationIn {
    /// add_lan, remove_lan, update_lan, add_decky, update_decky, remove, attach, detach.
    #[schema(value_type = String)]
    pub op: MutationOp,
    /// Operation arguments.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
}

impl Validate for MutationIn {}

#[utoipa::path(post, path = "/topologies/{id}/mutations", operation_id = "enqueue_topology_mutation", tag = "Topologies", security(("bearer" = [])), request_body = MutationIn,
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 202, description = "Queued (pending)"), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn enqueue(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<MutationIn>,
) -> ApiResult<(StatusCode, Json<Mutation>)> {
    let m = topologies(&st, &id)?.enqueue(&id, b.op, b.args).await?;
    Ok((StatusCode::ACCEPTED, Json(m)))
}

/// Mutation list filter.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct MutationQuery {
    /// pending, applying, applied, failed.
    pub status: Option<String>,
}

impl Validate for MutationQuery {
    fn validate(&self) -> Vec<(String, String)> {
        match self.status.as_deref() {
            None | Some("pending" | "applying" | "applied" | "failed") => vec![],
            Some(_) => vec![(
                "status".into(),
                "must be pending, applying, applied or failed".into(),
            )],
        }
    }
}

#[utoipa::path(get, path = "/topologies/{id}/mutations", operation_id = "list_topology_mutations", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), MutationQuery),
    responses((status = 200, description = "Mutations in queue order"), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn mutations(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MutationQuery>,
) -> ApiResult<Json<Vec<Mutation>>> {
    let topos = topologies(&st, &id)?;
    let status = q.status.as_deref().and_then(|s| {
        serde_json::from_value::<MutationStatus>(serde_json::Value::String(s.into())).ok()
    });
    topos.get(&id).await?;
    Ok(Json(topos.mutations(&id, status).await?))
}

#[utoipa::path(post, path = "/topologies/{id}/deploy", operation_id = "deploy_topology", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 202, description = "Deploying; follow /topologies/{id}/events"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn deploy(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    start_transition(&st, id, TopologyStatus::Deploying, |topos, id| async move {
        topos.deploy(&id).await.map(drop)
    })
    .await
}

/// Checks that the topology may enter `target` (409 otherwise), then runs
/// `work` in the background and answers 202 with the new status.
async fn start_transition<F, Fut>(
    st: &AppState,
    id: String,
    target: TopologyStatus,
    work: F,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)>
where
    F: FnOnce(Arc<Topologies>, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = decnet_engine::topology::TopoResult<()>> + Send,
{
    let topos = topologies(st, &id)?.clone();
    let t = topos.get(&id).await?;
    if !t.status.can_become(target) {
        return Err(ApiError::Conflict(format!(
            "topology is {:?}; it cannot become {target:?} now",
            t.status
        )));
    }
    tokio::spawn(async move {
        if let Err(e) = work(topos, id.clone()).await {
            tracing::warn!(topology = %id, "{target:?} failed: {e}");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"topology_id": t.id, "status": target})),
    ))
}

#[utoipa::path(post, path = "/topologies/{id}/teardown", operation_id = "teardown_topology", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id")),
    responses((status = 202, description = "Tearing down"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn teardown(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    start_transition(
        &st,
        id,
        TopologyStatus::TearingDown,
        |topos, id| async move { topos.teardown(&id).await.map(drop) },
    )
    .await
}

#[utoipa::path(post, path = "/topologies/{id}/deckies/{name}/services", operation_id = "add_topology_decky_service", tag = "Topologies", security(("bearer" = [])), request_body = ServiceAdd,
    params(("id" = String, Path, description = "Topology id"), ("name" = String, Path, description = "Decky name")),
    responses((status = 201, body = DeckyServices), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn add_service(
    State(st): State<AppState>,
    _a: Admin,
    Path((id, name)): Path<(String, String)>,
    ApiJson(b): ApiJson<ServiceAdd>,
) -> ApiResult<(StatusCode, Json<DeckyServices>)> {
    let services = topologies(&st, &id)?
        .add_service(&id, &name, &b.name)
        .await
        .map_err(|e| match e {
            TopologyError::Invalid(m) => ApiError::field("body", "name", m),
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(decky_services(id, name, services)),
    ))
}

#[utoipa::path(delete, path = "/topologies/{id}/deckies/{name}/services/{service}", operation_id = "remove_topology_decky_service", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), ("name" = String, Path, description = "Decky name"), ("service" = String, Path, description = "Service")),
    responses((status = 200, body = DeckyServices), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn remove_service(
    State(st): State<AppState>,
    _a: Admin,
    Path((id, name, service)): Path<(String, String, String)>,
) -> ApiResult<Json<DeckyServices>> {
    let services = topologies(&st, &id)?
        .remove_service(&id, &name, &service)
        .await?;
    Ok(Json(decky_services(id, name, services)))
}

/// New config of one service.
#[derive(Deserialize, ToSchema)]
pub struct ServiceConfig {
    /// Key/value config (`{"password": "x"}`).
    pub config: BTreeMap<String, String>,
}

impl Validate for ServiceConfig {}

#[utoipa::path(put, path = "/topologies/{id}/deckies/{name}/services/{service}/config", tag = "Topologies", security(("bearer" = [])), request_body = ServiceConfig,
    params(("id" = String, Path, description = "Topology id"), ("name" = String, Path, description = "Decky name"), ("service" = String, Path, description = "Service")),
    responses((status = 200, body = DeckyServices), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn service_config(
    State(st): State<AppState>,
    _a: Admin,
    Path((id, name, service)): Path<(String, String, String)>,
    ApiJson(b): ApiJson<ServiceConfig>,
) -> ApiResult<Json<DeckyServices>> {
    let services = topologies(&st, &id)?
        .update_service_config(&id, &name, &service, b.config)
        .await?;
    Ok(Json(decky_services(id, name, services)))
}

/// `topology.<id>.mutation.applied` → `mutation.applied`; `decky.<n>.service_added` → `decky.service_added`.
pub fn sse_name_for(topic: &str) -> String {
    let mut parts = topic.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("decky"), Some(_), Some(tail)) => format!("decky.{tail}"),
        (Some(_), Some(_), Some(tail)) => tail.to_owned(),
        _ => topic.to_owned(),
    }
}

/// Auth query for the stream (ticket).
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Single-use ticket from `POST /auth/sse-ticket`.
    pub ticket: Option<String>,
}

#[utoipa::path(get, path = "/topologies/{id}/events", operation_id = "topology_events", tag = "Topologies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Topology id"), EventsQuery),
    responses((status = 200, content_type = "text/event-stream", description = "snapshot {topology_id, status, in_flight}, then status / mutation.* / decky.* events"),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub(crate) async fn events(
    State(st): State<AppState>,
    v: StreamViewer,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let topos = topologies(&st, &id)?.clone();
    // Auth first (extractor), then existence, then the slot (before the 200).
    let t = topos.get(&id).await?;
    let slot = st.sse.acquire(v.0.user.uuid)?;
    let mut in_flight = topos.mutations(&id, Some(MutationStatus::Pending)).await?;
    in_flight.extend(topos.mutations(&id, Some(MutationStatus::Applying)).await?);
    let snapshot = frame(
        "snapshot",
        &serde_json::json!({"topology_id": id, "status": t.status, "in_flight": in_flight}),
    );
    let topo_sub = sse::subscribe(
        &st,
        &format!("topology.{}.>", decnet_core::subject::sanitize_token(&id)),
    )?;
    let decky_sub = sse::subscribe(&st, "decky.>")?;
    let tid = id.clone();
    let map_topo: sse::FrameFn =
        Arc::new(move |env| Some(frame(&sse_name_for(&env.topic), &sse::envelope_body(env))));
    let map_decky: sse::FrameFn = Arc::new(move |env| {
        let body = sse::envelope_body(env);
        (body["payload"]["topology_id"].as_str() == Some(tid.as_str()))
            .then(|| frame(&sse_name_for(&env.topic), &body))
    });
    let live = futures::stream::select(
        sse::live_frames(&st, topo_sub, map_topo),
        sse::live_frames(&st, decky_sub, map_decky),
    );
    let frames = futures::stream::iter([Ok(snapshot)]).chain(live);
    Ok(sse::with_slot(&st, slot, frames))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sse_names_follow_the_seed() {
        assert_eq!(
            super::sse_name_for("topology.abc.mutation.applied"),
            "mutation.applied"
        );
        assert_eq!(super::sse_name_for("topology.abc.status"), "status");
        assert_eq!(
            super::sse_name_for("decky.web01.service_added"),
            "decky.service_added"
        );
        assert_eq!(super::sse_name_for("odd"), "odd");
    }
}
