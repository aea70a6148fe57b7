//! Route modules. Each exposes `routes() -> Router<AppState>` mounted under
//! `/api/v1`; later issues add `fleet.rs`, `topology.rs`, `response.rs` the
//! same way, using the extractors in [`crate::auth`] and [`crate::sse`].

pub mod auth;
pub mod config;
pub mod files;
pub mod fleet;
pub mod health;
pub mod intel;
pub mod logs;
pub mod response;
pub mod stream;
pub mod topology;
pub mod webhooks;

use axum::Router;

use crate::state::AppState;

/// Everything under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(config::routes())
        .merge(fleet::routes())
        .merge(topology::routes())
        .merge(health::routes())
        .merge(intel::routes())
        .merge(files::routes())
        .merge(logs::routes())
        .merge(response::routes())
        .merge(stream::routes())
        .merge(webhooks::routes())
}
