//! Prometheus metrics (`/metrics`, text exposition format 0.0.4).
//!
//! Two kinds of figures, so that nothing on a decky's hot path takes a
//! lock or allocates for metrics:
//!
//! * **counted from the bus** (`events.rs`): one lossy subscription to
//!   `events.>` read in batches; each batch is folded into a local map and
//!   the shared counters (atomics) are bumped once per distinct
//!   decky/service/kind of the batch. Services only publish, as before.
//! * **read at scrape time** (`readers.rs`, `process.rs`): bus depths and
//!   drops, lags, SSE viewers, bans, alert deliveries, process RSS/CPU/FDs
//!   are read from the counters their owners already keep.
//!
//! The store's write latency is a histogram fed once per committed batch
//! through the ingester's commit observer.

mod events;
mod process;
mod readers;
pub mod sources;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use events::EventCounter;
pub use readers::{Reader, Sample};

/// `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Labels of `decnet_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// Decky name.
    pub decky: String,
    /// Service name.
    pub service: String,
    /// Event kind (`connect`, `auth_attempt`…).
    pub kind: String,
}

/// Labels of `decnet_connections_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// Decky name.
    pub decky: String,
    /// Service name.
    pub service: String,
}

/// Newest event time seen on the bus (µs since the epoch; 0 before the
/// first): the reference the ingest and intel lags are measured against.
#[derive(Clone, Debug, Default)]
pub struct EventClock(Arc<AtomicI64>);

impl EventClock {
    /// Moves the clock forward to `micros` (never back).
    pub fn advance(&self, micros: i64) {
        self.0.fetch_max(micros, Ordering::Relaxed);
    }

    /// Newest event time seen, µs since the epoch.
    pub fn micros(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// How far `consumer_micros` (the newest event a consumer finished)
    /// is behind the newest event published, in seconds; 0 when it is
    /// caught up (an idle fleet has no lag).
    pub fn lag_seconds(&self, consumer_micros: i64) -> f64 {
        let newest = self.micros();
        if newest == 0 || consumer_micros >= newest {
            return 0.0;
        }
        (newest - consumer_micros.max(0)) as f64 / 1e6
    }
}

/// The process's metrics registry and the figures it owns.
pub struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    connections: Family<ConnectionLabels, Counter>,
    store_write: Histogram,
    readers: Arc<RwLock<Vec<Reader>>>,
    clock: EventClock,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with decnet's own metrics and the process collector.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "decnet_events",
            "Events published by deckies, per decky, service and kind",
            events.clone(),
        );
        let connections = Family::<ConnectionLabels, Counter>::default();
        registry.register(
            "decnet_connections",
            "Connections accepted by deckies, per decky and service",
            connections.clone(),
        );
        // 100 µs … ~13 s: a SQLite batch commits in about a millisecond,
        // a PostgreSQL one over a network in tens; seconds mean trouble.
        let store_write = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        registry.register(
            "decnet_store_write_seconds",
            "Time one batch of events took to commit to the store",
            store_write.clone(),
        );
        let readers = Arc::new(RwLock::new(Vec::new()));
        registry.register_collector(Box::new(readers::ReaderCollector(readers.clone())));
        registry.register_collector(Box::new(process::ProcessCollector));
        Arc::new(Metrics {
            registry,
            events,
            connections,
            store_write,
            readers,
            clock: EventClock::default(),
        })
    }

    /// Adds a figure read at every scrape.
    pub fn add_reader(&self, reader: Reader) {
        self.readers.write().push(reader);
    }

    /// Records one store commit's duration.
    pub fn observe_store_write(&self, took: Duration) {
        self.store_write.observe(took.as_secs_f64());
    }

    /// Newest event time seen on the bus (lags are measured against it).
    pub fn clock(&self) -> EventClock {
        self.clock.clone()
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; an encoder error would be a
        // bug in a collector, and a partial page is still worth serving.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!("metrics encoding failed: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_zero_when_caught_up_and_grows_with_the_gap() {
        let clock = EventClock::default();
        assert_eq!(clock.lag_seconds(0), 0.0, "no event yet: no lag");
        clock.advance(5_000_000);
        clock.advance(4_000_000);
        assert_eq!(clock.micros(), 5_000_000, "the clock never goes back");
        assert_eq!(clock.lag_seconds(5_000_000), 0.0);
        assert_eq!(clock.lag_seconds(3_500_000), 1.5);
    }

    #[test]
    fn store_writes_land_in_the_histogram() {
        let m = Metrics::new();
        m.observe_store_write(Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("decnet_store_write_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("decnet_store_write_seconds_bucket{le=\"0.0032\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("decnet_store_write_seconds_bucket{le=\"0.0016\"} 0"),
            "{text}"
        );
    }
}
