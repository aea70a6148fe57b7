//! `/health` (`{status, components}`; 503 only when a critical component is
//! down) and `/workers`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::Viewer;
use crate::schema::{ComponentHealth, Health};
use crate::state::AppState;
use crate::workers::{WorkerState, WorkerStatus};

/// Lossless backlog above which the bus is reported failing (consumer behind).
pub const BACKLOG_LIMIT: usize = 100_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/workers", get(workers))
}

fn comp(ok: bool, critical: bool, detail: Option<String>) -> ComponentHealth {
    ComponentHealth {
        status: if ok { "ok" } else { "failing" }.into(),
        critical,
        detail,
    }
}

/// Computes the health document and its HTTP status.
pub async fn compute(st: &AppState) -> (StatusCode, Health) {
    let mut c = BTreeMap::new();
    let db = tokio::time::timeout(Duration::from_secs(3), st.store.ping()).await;
    c.insert(
        "database".to_string(),
        match db {
            Ok(Ok(())) => comp(true, true, Some(st.store.backend().to_string())),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "database health check failed");
                comp(false, true, Some("database unavailable".into()))
            }
            Err(_) => comp(false, true, Some("database ping timed out".into())),
        },
    );
    let bus = st.bus.stats();
    c.insert(
        "bus".to_string(),
        comp(
            bus.lossless_backlog <= BACKLOG_LIMIT,
            false,
            Some(format!(
                "{} subscribers, {} dropped, backlog {}",
                bus.subscribers, bus.dropped, bus.lossless_backlog
            )),
        ),
    );
    // Scale-out: which server runs the cluster's intel engine (absent on a
    // single node, where no lease is ever taken).
    if let Ok(Ok(Some(l))) = tokio::time::timeout(
        Duration::from_secs(3),
        decnet_store::lease::info(st.store.as_ref(), decnet_store::lease::INTEL),
    )
    .await
    {
        let detail = if l.live {
            format!("held by {}", l.holder)
        } else {
            format!("no live holder (last {}); a server takes it over", l.holder)
        };
        c.insert("intel_lease".to_string(), comp(l.live, false, Some(detail)));
    }
    for w in st.supervisor.statuses() {
        let ok = w.state == WorkerState::Running;
        let detail = match w.state {
            WorkerState::Running => None,
            _ => Some(format!(
                "{:?}: {}",
                w.state,
                w.last_error.clone().unwrap_or_default()
            )),
        };
        c.insert(format!("{}_worker", w.name), comp(ok, w.critical, detail));
    }
    for p in &st.config.health_probes {
        let (ok, detail) = (p.check)();
        c.insert(p.name.clone(), comp(ok, p.critical, Some(detail)));
    }
    // Remote sensors (scale-out): degraded, never critical, when silent or spooling.
    if let Some(eng) = &st.config.engine {
        for (name, beat) in eng.sensors.snapshot() {
            let fresh = beat.age_secs < crate::engine::SENSOR_STALE.as_secs();
            let healthy = beat.payload["status"].as_str() == Some("healthy");
            let detail = format!(
                "last heartbeat {}s ago, {} deckies, status {}",
                beat.age_secs,
                beat.payload["deckies"],
                beat.payload["status"].as_str().unwrap_or("?")
            );
            c.insert(
                format!("sensor_{name}"),
                comp(fresh && healthy, false, Some(detail)),
            );
        }
    }
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

#[utoipa::path(get, path = "/api/v1/health", tag = "Observability",
    security(("bearer" = [])),
    responses((status = 200, body = Health), (status = 503, description = "A critical component is down", body = Health),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn health(State(st): State<AppState>, _v: Viewer) -> Response {
    let (code, h) = compute(&st).await;
    (code, Json(h)).into_response()
}

#[utoipa::path(get, path = "/api/v1/workers", tag = "Observability",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<WorkerStatus>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn workers(State(st): State<AppState>, _v: Viewer) -> Json<Vec<WorkerStatus>> {
    Json(st.supervisor.statuses())
}
