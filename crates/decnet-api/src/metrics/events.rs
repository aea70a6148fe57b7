//! Events and connections counted from the bus, a batch at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::consumer::{BatchLoop, Step};
use decnet_bus::{Bus, BusError, Delivery, Envelope, Subscription};
use decnet_core::EventKind;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ConnectionLabels, EventLabels, Metrics};

/// Messages the counter's subscription holds before it drops the oldest
/// (counted in `decnet_metrics_events_dropped_total`): a metrics consumer
/// must never hold memory without bound behind a burst.
const QUEUE: usize = 65_536;
/// Events folded per batch.
const BATCH: usize = 4_096;
/// Longest a batch waits to fill: scrapes are seconds apart.
const BATCH_WAIT: Duration = Duration::from_millis(200);

/// The running counter: a task reading `events.>`.
pub struct EventCounter {
    stop: watch::Sender<bool>,
    dropped: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl EventCounter {
    /// Subscribes now (so nothing published after this call is missed) and
    /// counts in a task until [`EventCounter::finish`].
    pub fn start(metrics: Arc<Metrics>, bus: &Arc<dyn Bus>) -> Result<Self, BusError> {
        let sub = bus.subscribe("events.>", Delivery::Lossy { capacity: QUEUE })?;
        let (stop, stop_rx) = watch::channel(false);
        let dropped = Arc::new(AtomicU64::new(0));
        metrics.add_reader(super::Reader::counter(
            "decnet_metrics_events_dropped",
            "Events the metrics counter lost because it fell behind",
            {
                let dropped = dropped.clone();
                move || vec![super::Sample::plain(dropped.load(Ordering::Relaxed) as f64)]
            },
        ));
        let task = tokio::spawn(run(metrics, sub, stop_rx, dropped.clone()));
        Ok(EventCounter {
            stop,
            dropped,
            task,
        })
    }

    /// Events lost to overflow so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts what is queued, then stops.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(
    metrics: Arc<Metrics>,
    sub: Subscription,
    stop: watch::Receiver<bool>,
    dropped: Arc<AtomicU64>,
) {
    let mut batches = BatchLoop::new(sub, stop, BATCH, BATCH_WAIT);
    loop {
        match batches.next().await {
            Step::Batch(batch) => {
                count(&metrics, &batch);
                dropped.store(batches.dropped(), Ordering::Relaxed);
            }
            Step::Woken(()) => {}
            Step::Drained => return,
        }
    }
}

pub(super) fn count(metrics: &Metrics, batch: &[Arc<Envelope>]) {
    let mut events: HashMap<(&str, &str, &str), u64> = HashMap::new();
    let mut newest = 0i64;
    for env in batch {
        let Some(e) = env.as_event() else { continue };
        *events
            .entry((&e.decky, &e.service, e.kind.as_str()))
            .or_default() += 1;
        newest = newest.max(e.ts.timestamp_micros());
    }
    for ((decky, service, kind), n) in events {
        if kind == EventKind::Connect.as_str() {
            metrics
                .connections
                .get_or_create(&ConnectionLabels {
                    decky: decky.to_owned(),
                    service: service.to_owned(),
                })
                .inc_by(n);
        }
        metrics
            .events
            .get_or_create(&EventLabels {
                decky: decky.to_owned(),
                service: service.to_owned(),
                kind: kind.to_owned(),
            })
            .inc_by(n);
    }
    metrics.clock.advance(newest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::MemoryBus;
    use decnet_core::Event;

    #[tokio::test]
    async fn events_published_on_the_bus_are_counted_per_label_set() {
        let metrics = Metrics::new();
        let bus: Arc<dyn Bus> = MemoryBus::new();
        let counter = EventCounter::start(metrics.clone(), &bus).unwrap();
        for _ in 0..3 {
            bus.publish_event(Event::new("web01", "ssh", EventKind::Connect));
        }
        bus.publish_event(Event::new("web01", "ssh", EventKind::AuthAttempt));
        bus.publish_event(Event::new("db01", "mysql", EventKind::Connect));
        counter.finish().await;
        let text = metrics.render();
        for line in [
            "decnet_connections_total{decky=\"web01\",service=\"ssh\"} 3",
            "decnet_connections_total{decky=\"db01\",service=\"mysql\"} 1",
            "decnet_events_total{decky=\"web01\",service=\"ssh\",kind=\"connect\"} 3",
            "decnet_events_total{decky=\"web01\",service=\"ssh\",kind=\"auth_attempt\"} 1",
            "decnet_metrics_events_dropped_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(metrics.clock().micros() > 0, "the event clock moved");
    }
}
