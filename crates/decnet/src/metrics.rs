//! Wiring of Prometheus metrics into `serve`/`sensor`: the registry, the
//! bus event counter, the store commit observer, the lags of the store
//! and intel behind the fleet, and the optional separate listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use decnet_api::metrics::{EventCounter, Metrics, Reader, Sample};
use decnet_api::routes::metrics::MetricsEndpoint;
use decnet_bus::Bus;
use decnet_core::secret::Secret;
use decnet_engine::eventlog::EventLogMonitor;
use decnet_store::ingest::{CommitObserver, IngestMonitor};
use tokio_util::sync::CancellationToken;

/// Metrics options shared by `serve` and `sensor`.
#[derive(clap::Args, Clone, Debug)]
pub struct MetricsArgs {
    /// Also serve /metrics alone on this address (e.g. 0.0.0.0:9108), for
    /// a scraper that must not reach the API.
    #[arg(long, env = "DECNET_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Turn metrics off (no bus consumer; /metrics answers 404).
    #[arg(long, env = "DECNET_NO_METRICS",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub no_metrics: bool,
}

/// Bearer token `/metrics` requires (`DECNET_METRICS_TOKEN`; an
/// environment variable only, so it never shows in `ps`).
pub(crate) fn token() -> Option<Secret> {
    std::env::var("DECNET_METRICS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(Secret::new)
}

/// Running metrics of one process.
pub(crate) struct MetricsRun {
    pub(crate) metrics: Arc<Metrics>,
    counter: EventCounter,
    stop: CancellationToken,
    listener: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl MetricsRun {
    /// Starts counting the events of `bus` (before any decky emits), and
    /// the separate listener if asked for. `None` with `--no-metrics`.
    pub(crate) async fn start(
        args: &MetricsArgs,
        bus: &Arc<dyn Bus>,
    ) -> anyhow::Result<Option<MetricsRun>> {
        if args.no_metrics {
            return Ok(None);
        }
        let metrics = Metrics::new();
        let counter = EventCounter::start(metrics.clone(), bus)?;
        let stop = CancellationToken::new();
        let listener = match args.metrics_listen {
            Some(bind) => {
                let endpoint = MetricsEndpoint {
                    metrics: Some(metrics.clone()),
                    token: token(),
                };
                let s = stop.clone();
                let (addr, task) =
                    decnet_api::routes::metrics::serve_separately(bind, endpoint, async move {
                        s.cancelled().await
                    })
                    .await
                    .with_context(|| format!("cannot bind --metrics-listen {bind}"))?;
                println!("metrics: http://{addr}/metrics");
                Some(task)
            }
            None => None,
        };
        Ok(Some(MetricsRun {
            metrics,
            counter,
            stop,
            listener,
        }))
    }

    /// What the store ingester reports each commit to.
    pub(crate) fn commit_observer(&self) -> CommitObserver {
        let m = self.metrics.clone();
        CommitObserver(Arc::new(move |took| m.observe_store_write(took)))
    }

    /// Lags of the store and intel behind the newest event, and the event
    /// log's losses.
    pub(crate) fn watch_workers(
        &self,
        log: EventLogMonitor,
        ingest: Option<IngestMonitor>,
        intel: Option<decnet_intel::IntelMonitor>,
    ) {
        let m = &self.metrics;
        m.add_reader(Reader::counter(
            "decnet_event_log_dropped",
            "Events dropped while the disk refused writes (backlog full)",
            move || vec![Sample::plain(log.dropped() as f64)],
        ));
        if let Some(ingest) = ingest {
            self.lag_reader(
                "decnet_ingest_lag_seconds",
                "How far the newest stored event is behind the newest published one",
                move || ingest.newest_committed_micros(),
            );
        }
        if let Some(intel) = intel {
            self.lag_reader(
                "decnet_intel_lag_seconds",
                "How far the newest profiled event is behind the newest published one",
                move || intel.newest_handled_micros(),
            );
        }
    }

    /// A gauge: how far a consumer's newest finished event (µs, from
    /// `newest`) is behind the newest event published.
    fn lag_reader(
        &self,
        name: &'static str,
        help: &'static str,
        newest: impl Fn() -> i64 + Send + Sync + 'static,
    ) {
        let clock = self.metrics.clock();
        self.metrics.add_reader(Reader::gauge(name, help, move || {
            vec![Sample::plain(clock.lag_seconds(newest()))]
        }));
    }

    /// Counts what is queued and closes the separate listener.
    pub(crate) async fn finish(self) {
        self.stop.cancel();
        self.counter.finish().await;
        if let Some(l) = self.listener {
            let _ = l.await;
        }
    }
}
