//! Shared state of every handler.

use std::sync::Arc;
use std::time::Instant;

use decnet_bus::Bus;
use decnet_store::{HistogramBucket, LogQuery, Stats, Store, StoreError};
use tokio::sync::watch;

use crate::auth::{Keys, RateLimiter, Tickets};
use crate::config::ApiConfig;
use crate::shared_value::SharedValue;
use crate::sse::SseSlots;
use crate::token_cache::TokenCache;
use crate::webhooks::Webhooks;
use crate::workers::Supervisor;

/// Cheap to clone; one per server.
#[derive(Clone)]
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Live messages.
    pub bus: Arc<dyn Bus>,
    /// JWT keys.
    pub keys: Arc<Keys>,
    /// Login limiter (per IP and per username).
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
    pub event_json: Arc<crate::sse_json::EventJson>,
    /// The shared producer of the unfiltered `/stream` feed.
    pub hub: Arc<crate::stream_hub::StreamHub>,
    /// Background workers.
    pub supervisor: Arc<Supervisor>,
    /// Webhook registry and dispatcher.
    pub webhooks: Arc<Webhooks>,
    /// Configuration.
    pub config: Arc<ApiConfig>,
    /// Flips to true on shutdown; streams end.
    pub shutdown: watch::Receiver<bool>,
    /// Server start.
    pub started: Instant,
}

impl AppState {
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
