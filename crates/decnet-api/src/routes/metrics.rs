//! `GET /metrics`: Prometheus text exposition, on the API listener and,
//! optionally, on a listener of its own (`--metrics-listen`). Outside
//! `/api/v1` and its JWT auth because a scraper holds a static credential:
//! with a metrics token configured, `Authorization: Bearer <token>` is
//! required; without one, the page answers like node_exporter does.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use decnet_core::secret::Secret;
use sha2::{Digest, Sha256};

use crate::metrics::{Metrics, CONTENT_TYPE};
use crate::state::AppState;

/// What a `/metrics` request is answered from.
#[derive(Clone, Debug)]
pub struct MetricsEndpoint {
    /// The registry; `None`: metrics are off (404).
    pub metrics: Option<Arc<Metrics>>,
    /// Required bearer token, if any.
    pub token: Option<Secret>,
}

impl MetricsEndpoint {
    fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Digests of equal length compared: the time taken says nothing
        // about how much of the token matched.
        Sha256::digest(given.as_bytes()) == Sha256::digest(want.expose().as_bytes())
    }

    /// The answer to one scrape.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let Some(metrics) = &self.metrics else {
            return (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"detail": "metrics are disabled"})),
            )
                .into_response();
        };
        if !self.authorised(headers) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(serde_json::json!({"detail": "metrics token required"})),
            )
                .into_response();
        }
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
    }

    /// A router serving only `/metrics` (the separate listener).
    pub fn router(self) -> Router {
        Router::new()
            .route(
                "/metrics",
                get(
                    |State(ep): State<MetricsEndpoint>, headers: HeaderMap| async move {
                        ep.respond(&headers)
                    },
                ),
            )
            .with_state(self)
    }
}

/// Serves `/metrics` alone on `bind` (`--metrics-listen`) until `stop`
/// resolves; returns the bound address and the server task.
pub async fn serve_separately(
    bind: std::net::SocketAddr,
    endpoint: MetricsEndpoint,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = endpoint.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
    });
    Ok((addr, task))
}

/// `/metrics` on the API listener.
pub(crate) async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    st.metrics.respond(&headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(token: Option<&str>) -> MetricsEndpoint {
        MetricsEndpoint {
            metrics: Some(Metrics::new()),
            token: token.map(Secret::new),
        }
    }

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {t}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn a_token_is_required_only_when_configured() {
        assert_eq!(endpoint(None).respond(&HeaderMap::new()).status(), 200);
        let ep = endpoint(Some("s3cret-scrape"));
        assert_eq!(ep.respond(&HeaderMap::new()).status(), 401);
        assert_eq!(ep.respond(&bearer("s3cret-scrap")).status(), 401);
        assert_eq!(ep.respond(&bearer("s3cret-scrape")).status(), 200);
    }

    #[test]
    fn disabled_metrics_answer_404() {
        let ep = MetricsEndpoint {
            metrics: None,
            token: None,
        };
        assert_eq!(ep.respond(&HeaderMap::new()).status(), 404);
    }
}
