//! Figures read at scrape time from counters their owners already keep
//! (bus, workers, responder, alerts): nothing is updated for them between
//! scrapes.

use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// One value of a figure and its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// `(name, value)` label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A value without labels.
    pub fn plain(value: f64) -> Self {
        Sample {
            labels: Vec::new(),
            value,
        }
    }

    /// A value with one label.
    pub fn labelled(name: &'static str, label: impl Into<String>, value: f64) -> Self {
        Sample {
            labels: vec![(name, label.into())],
            value,
        }
    }
}

type Read = dyn Fn() -> Vec<Sample> + Send + Sync;

/// A named figure and how to read it.
#[derive(Clone)]
pub struct Reader {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    read: Arc<Read>,
}

impl Reader {
    /// A value that goes up and down (queue depth, viewers, bans).
    pub fn gauge(
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> Vec<Sample> + Send + Sync + 'static,
    ) -> Self {
        Reader::of(MetricType::Gauge, name, help, Arc::new(read))
    }

    /// A total that only grows (exposed as `NAME_total`).
    pub fn counter(
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> Vec<Sample> + Send + Sync + 'static,
    ) -> Self {
        Reader::of(MetricType::Counter, name, help, Arc::new(read))
    }

    fn of(kind: MetricType, name: &'static str, help: &'static str, read: Arc<Read>) -> Self {
        Reader {
            name,
            help,
            kind,
            read,
        }
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let samples = (self.read)();
        if samples.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(self.name, self.help, None, self.kind)?;
        for s in &samples {
            let metric = family.encode_family(&s.labels)?;
            encode_value(self.kind, s.value, metric)?;
        }
        Ok(())
    }
}

/// One value; whole numbers (most figures are counts) print without `.0`.
pub(super) fn encode_value(
    kind: MetricType,
    value: f64,
    metric: MetricEncoder,
) -> Result<(), std::fmt::Error> {
    let whole = value.fract() == 0.0 && value.abs() < 9e15;
    match (kind, whole) {
        (MetricType::Counter, true) => ConstCounter::new(value as u64).encode(metric),
        (MetricType::Counter, false) => ConstCounter::new(value).encode(metric),
        (_, true) => ConstGauge::new(value as i64).encode(metric),
        (_, false) => ConstGauge::new(value).encode(metric),
    }
}

/// Encodes every registered reader.
#[derive(Debug)]
pub(super) struct ReaderCollector(pub(super) Arc<RwLock<Vec<Reader>>>);

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("name", &self.name).finish()
    }
}

impl Collector for ReaderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Cloned out so a slow reader never holds the lock against
        // `add_reader`.
        let readers = self.0.read().clone();
        for r in &readers {
            r.encode(&mut encoder)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Metrics;
    use super::*;

    #[test]
    fn readers_are_read_at_every_scrape_with_their_labels() {
        let m = Metrics::new();
        let depth = Arc::new(std::sync::atomic::AtomicU64::new(7));
        let d = depth.clone();
        m.add_reader(Reader::gauge("decnet_test_depth", "Depth", move || {
            vec![Sample::labelled(
                "queue",
                "ingest",
                d.load(std::sync::atomic::Ordering::Relaxed) as f64,
            )]
        }));
        m.add_reader(Reader::counter("decnet_test_sent", "Sent", || {
            vec![Sample::plain(3.0)]
        }));
        assert!(m.render().contains("decnet_test_depth{queue=\"ingest\"} 7"));
        depth.store(9, std::sync::atomic::Ordering::Relaxed);
        let text = m.render();
        assert!(
            text.contains("decnet_test_depth{queue=\"ingest\"} 9"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE decnet_test_sent_total counter"),
            "{text}"
        );
        assert!(text.contains("decnet_test_sent_total 3"), "{text}");
    }
}
