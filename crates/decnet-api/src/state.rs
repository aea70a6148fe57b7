//! Shared state of every handler: the one place a route gets what it
//! works with (store, bus, engine, responder, caches, configuration).

use std::sync::Arc;
use std::time::Instant;

use decnet_attack::live::RulesInUse;
use decnet_bus::Bus;
use decnet_canary::CanaryService;
use decnet_response::Responder;
use decnet_store::{HistogramBucket, LogQuery, Stats, Store, StoreError};
use tokio::sync::watch;

use crate::alerts::AlertsBackend;
use crate::auth::limiter::RateLimiter;
use crate::auth::tickets::Tickets;
use crate::auth::token::Keys;
use crate::config::ApiConfig;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::shared_value::SharedValue;
use crate::sse_json::EventJson;
use crate::sse_slots::SseSlots;
use crate::stream_hub::StreamHub;
use crate::token_cache::TokenCache;
use crate::webhooks::Webhooks;
use crate::worker_probe::WorkerProbe;
use crate::workers::Supervisor;

/// The live handles an API serves from, given to [`crate::serve`] by
/// whoever runs it (the binary, a test).
#[derive(Clone)]
pub struct Backends {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Live messages.
    pub bus: Arc<dyn Bus>,
    /// The fleet and topologies (fleet/topology/file-drop routes); `None` → 503.
    pub engine: Option<Engine>,
    /// Active response (`/response/*`, the CrowdSec bouncer API); `None`
    /// when the fleet has no `[response]` section → 503.
    pub responder: Option<Arc<Responder>>,
    /// Workers run outside the API (store ingester, intel…), for `/health`.
    pub probes: Vec<WorkerProbe>,
    /// Canary tokens (`/canary/*`); `None` when the fleet has no `[canary]` section → 503.
    pub canary: Option<Arc<CanaryService>>,
    /// The alerts engine (`/alerts/*`); `None` → 503.
    pub alerts: Option<AlertsBackend>,
    /// The ATT&CK rules the tag worker uses (`/attack/rules`, reload).
    pub attack: Arc<RulesInUse>,
    /// Prometheus registry served at `/metrics`; `None`: metrics off (404).
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Re-reads the fleet file (`POST /config/reload`); `None` → 409.
    pub reload: Option<crate::reload::FleetReload>,
}

impl Backends {
    /// A store and a bus, no engine, responder or webhook source.
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Self {
        Backends {
            store,
            bus,
            engine: None,
            responder: None,
            probes: Vec::new(),
            canary: None,
            alerts: None,
            attack: Arc::new(RulesInUse::builtin()),
            metrics: None,
            reload: None,
        }
    }
}

/// Cheap to clone; one per server.
#[derive(Clone)]
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Live messages.
    pub bus: Arc<dyn Bus>,
    /// The fleet and topologies, when this process runs deckies.
    pub engine: Option<Engine>,
    /// Active response, when configured.
    pub responder: Option<Arc<Responder>>,
    /// Canary tokens, when configured.
    pub canary: Option<Arc<CanaryService>>,
    /// The alerts engine, when this process runs one.
    pub alerts: Option<AlertsBackend>,
    /// JWT keys.
    pub keys: Arc<Keys>,
    /// Login limiter.
    pub login_limiter: Arc<RateLimiter>,
    /// SSE tickets.
    pub tickets: Arc<Tickets>,
    /// `/stats`, shared by every caller for a second or two.
    pub stats_cache: Arc<SharedValue<Stats>>,
    /// The streams' 24 h histogram, shared the same way.
    pub histogram_cache: Arc<SharedValue<Vec<HistogramBucket>>>,
    /// Verified bearer tokens (short TTL; invalidated on logout etc.).
    pub token_cache: Arc<TokenCache>,
    /// SSE connection slots.
    pub sse: Arc<SseSlots>,
    /// Live events' JSON, shared by every stream.
    pub event_json: Arc<EventJson>,
    /// The shared producer of the unfiltered `/stream` feed.
    pub hub: Arc<StreamHub>,
    /// Background workers.
    pub supervisor: Arc<Supervisor>,
    /// Workers outside the API, watched.
    pub probes: Arc<[WorkerProbe]>,
    /// Webhook registry and dispatcher.
    pub webhooks: Arc<Webhooks>,
    /// Configuration.
    pub config: Arc<ApiConfig>,
    /// Flips to true on shutdown; streams end.
    pub shutdown: watch::Receiver<bool>,
    /// Server start.
    pub started: Instant,
    /// The ATT&CK rules in use.
    pub attack: Arc<RulesInUse>,
    /// `/metrics`: the registry and its token.
    pub metrics: crate::routes::metrics::MetricsEndpoint,
    /// Fleet file reload, when there is a file.
    pub reload: Option<crate::reload::FleetReload>,
}

impl AppState {
    /// The engine, or 503 in a process that runs no deckies.
    pub fn engine(&self) -> Result<&Engine, ApiError> {
        self.engine
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("this API process runs no deckies".into()))
    }

    /// The responder, or 503 when active response is not configured.
    pub fn responder(&self) -> Result<&Arc<Responder>, ApiError> {
        self.responder
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("active response is not configured".into()))
    }

    /// The canary service, or 503 when canaries are not configured.
    pub fn canary(&self) -> Result<&Arc<CanaryService>, ApiError> {
        self.canary.as_ref().ok_or_else(|| {
            ApiError::Unavailable(
                "canary tokens are not configured (add a [canary] section to the fleet file)"
                    .into(),
            )
        })
    }

    /// The alerts engine, or 503 in a process that runs none.
    pub fn alerts(&self) -> Result<&AlertsBackend, ApiError> {
        self.alerts
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("this API process runs no alerts engine".into()))
    }

    /// Dashboard counters, computed once per [`crate::STATS_TTL`] for every
    /// caller (`/stats` and every stream).
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let store = self.store.clone();
        self.stats_cache
            .get(move || async move { store.stats().await })
            .await
    }

    /// The last 24 h in 15-minute buckets, shared like [`AppState::stats`].
    pub async fn day_histogram(&self) -> Result<Vec<HistogramBucket>, StoreError> {
        let store = self.store.clone();
        self.histogram_cache
            .get(move || async move {
                let q = LogQuery {
                    since: Some(chrono::Utc::now() - chrono::Duration::hours(24)),
                    limit: 1,
                    ..Default::default()
                };
                store.histogram(&q, 15 * 60).await
            })
            .await
    }
}
