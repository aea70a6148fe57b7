//! Route modules. Each exposes `routes() -> OpenApiRouter<AppState>`
//! mounted under `/api/v1`; a handler is registered through its
//! `#[utoipa::path]` (`routes!`), so every route is in the OpenAPI
//! document by construction.

pub mod alerts;
pub mod attack;
pub mod auth;
pub mod canary;
pub mod config;
pub mod files;
pub mod fleet;
pub mod fleet_events;
pub mod health;
pub mod intel;
pub mod logs;
pub mod metrics;
pub mod response;
pub mod stream;
pub mod topology;
pub mod webhooks;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Everything under `/api/v1`.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(alerts::routes())
        .merge(auth::routes())
        .merge(canary::routes())
        .merge(config::routes())
        .merge(fleet::routes())
        .merge(fleet_events::routes())
        .merge(topology::routes())
        .merge(health::routes())
        .merge(intel::routes())
        .merge(files::routes())
        .merge(logs::routes())
        .merge(response::routes())
        .merge(stream::routes())
        .merge(webhooks::routes())
        .merge(attack::routes())
}
