//! `/health` (`{status, components}`; 503 only when a critical component is
//! down), `/workers`, and the unauthenticated probes for load balancers:
//! `/livez` (the process answers) and `/readyz` (it can serve: database
//! reachable, critical workers running, not shutting down). The probes
//! say nothing but their status word.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Viewer;
use crate::engine::SENSOR_STALE;
use crate::schema::{ComponentHealth, Health};
use crate::state::AppState;
use crate::workers::{WorkerState, WorkerStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Lossless backlog above which the bus is reported failing (consumer behind).
pub const BACKLOG_LIMIT: usize = 100_000;
/// Longest a health or readiness database ping may take.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(workers))
        .routes(routes!(livez))
        .routes(routes!(readyz))
}

fn comp(ok: bool, critical: bool, detail: Option<String>) -> ComponentHealth {
    ComponentHealth {
        status: if ok { "ok" } else { "failing" }.into(),
        critical,
        detail,
    }
}

async fn database(st: &AppState) -> ComponentHealth {
    match tokio::time::timeout(PING_TIMEOUT, st.store.ping()).await {
        Ok(Ok(())) => comp(true, true, Some(st.store.backend().to_string())),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database health check failed");
            comp(false, true, Some("database unavailable".into()))
        }
        Err(_) => comp(false, true, Some("database ping timed out".into())),
    }
}

fn bus(st: &AppState) -> ComponentHealth {
    let bus = st.bus.stats();
    comp(
        bus.lossless_backlog <= BACKLOG_LIMIT,
        false,
        Some(format!(
            "{} subscribers, {} dropped, backlog {}",
            bus.subscribers, bus.dropped, bus.lossless_backlog
        )),
    )
}

/// Scale-out: which server runs the cluster's intel engine (absent on a
/// single node, where no lease is ever taken).
async fn intel_lease(st: &AppState) -> Option<ComponentHealth> {
    let lookup = decnet_store::lease::info(st.store.as_ref(), decnet_store::lease::INTEL);
    let l = tokio::time::timeout(PING_TIMEOUT, lookup)
        .await
        .ok()?
        .ok()??;
    let detail = if l.live {
        format!("held by {}", l.holder)
    } else {
        format!("no live holder (last {}); a server takes it over", l.holder)
    };
    Some(comp(l.live, false, Some(detail)))
}

/// Supervised API workers and the watched ones outside it, as
/// `<name>_worker` / probe name → health.
fn workers_health(st: &AppState) -> Vec<(String, ComponentHealth)> {
    let mut out = Vec::new();
    for w in st.supervisor.statuses() {
        let ok = w.state == WorkerState::Running;
        let detail = (!ok).then(|| {
            format!(
                "{:?}: {}",
                w.state,
                w.last_error.clone().unwrap_or_default()
            )
        });
        out.push((format!("{}_worker", w.name), comp(ok, w.critical, detail)));
    }
    for p in st.probes.iter() {
        let (ok, detail) = match p.check() {
            Ok(note) => (true, note),
            Err(why) => (false, Some(why)),
        };
        out.push((p.name.clone(), comp(ok, p.critical, detail)));
    }
    out
}

/// Remote sensors (scale-out): degraded, never critical, when silent or spooling.
fn sensors(st: &AppState) -> Vec<(String, ComponentHealth)> {
    let Some(eng) = &st.engine else {
        return Vec::new();
    };
    eng.sensors
        .snapshot()
        .into_iter()
        .map(|(name, beat)| {
            let fresh = beat.age_secs < SENSOR_STALE.as_secs();
            let healthy = beat.payload["status"].as_str() == Some("healthy");
            let detail = format!(
                "last heartbeat {}s ago, {} deckies, status {}",
                beat.age_secs,
                beat.payload["deckies"],
                beat.payload["status"].as_str().unwrap_or("?")
            );
            (
                format!("sensor_{name}"),
                comp(fresh && healthy, false, Some(detail)),
            )
        })
        .collect()
}

/// Computes the health document and its HTTP status.
pub async fn compute(st: &AppState) -> (StatusCode, Health) {
    let mut c = BTreeMap::new();
    c.insert("database".to_string(), database(st).await);
    c.insert("bus".to_string(), bus(st));
    if let Some(lease) = intel_lease(st).await {
        c.insert("intel_lease".to_string(), lease);
    }
    c.extend(workers_health(st));
    c.extend(sensors(st));
    let critical = c.values().any(|x| x.critical && x.status != "ok");
    let other = c.values().any(|x| !x.critical && x.status != "ok");
    let status = if critical {
        "unhealthy"
    } else if other {
        "degraded"
    } else {
        "healthy"
    };
    let code = if critical {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        Health {
            status: status.into(),
            components: c,
        },
    )
}

#[utoipa::path(get, path = "/health", tag = "Observability",
    security(("bearer" = [])),
    responses((status = 200, body = Health), (status = 503, description = "A critical component is down", body = Health),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn health(State(st): State<AppState>, _v: Viewer) -> Response {
    let (code, h) = compute(&st).await;
    (code, Json(h)).into_response()
}

#[utoipa::path(get, path = "/workers", tag = "Observability",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<WorkerStatus>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn workers(State(st): State<AppState>, _v: Viewer) -> Json<Vec<WorkerStatus>> {
    Json(st.supervisor.statuses())
}

/// Body of `/livez` and `/readyz`: one word, nothing else.
#[derive(Serialize, ToSchema)]
pub struct ProbeStatus {
    /// `alive`; `ready` or `not_ready`.
    pub status: &'static str,
}

#[utoipa::path(get, path = "/livez", tag = "Observability",
    responses((status = 200, description = "The process answers", body = ProbeStatus)))]
pub(crate) async fn livez() -> Json<ProbeStatus> {
    Json(ProbeStatus { status: "alive" })
}

/// Ready: not shutting down, the database answers a ping in time, and
/// every critical worker runs.
async fn ready(st: &AppState) -> bool {
    if *st.shutdown.borrow() {
        return false;
    }
    let ping = tokio::time::timeout(PING_TIMEOUT, st.store.ping()).await;
    if !matches!(ping, Ok(Ok(()))) {
        return false;
    }
    let api_workers = st
        .supervisor
        .statuses()
        .into_iter()
        .all(|w| !w.critical || w.state == WorkerState::Running);
    api_workers && st.probes.iter().all(|p| !p.critical || p.check().is_ok())
}

#[utoipa::path(get, path = "/readyz", tag = "Observability",
    responses((status = 200, description = "Ready to serve", body = ProbeStatus),
        (status = 503, description = "Not ready (database, a critical worker, or shutting down)", body = ProbeStatus)))]
pub(crate) async fn readyz(State(st): State<AppState>) -> Response {
    if ready(&st).await {
        Json(ProbeStatus { status: "ready" }).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ProbeStatus {
                status: "not_ready",
            }),
        )
            .into_response()
    }
}
