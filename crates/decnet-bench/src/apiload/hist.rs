//! Lock-free latency histogram: 50 µs buckets up to 20 s (beyond: the last
//! bucket), exact maximum; shared by every subscriber task.

use std::sync::atomic::{AtomicU64, Ordering};

const BUCKET_NS: u64 = 50_000;
const BUCKETS: usize = 400_000;

/// Counts of latencies in fixed-width buckets.
pub struct LatencyHist {
    buckets: Vec<AtomicU64>,
    max_ns: AtomicU64,
}

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_ns: AtomicU64::new(0),
        }
    }
}

impl LatencyHist {
    /// Records one latency.
    pub fn record(&self, ns: u64) {
        let i = ((ns / BUCKET_NS) as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Upper edge of the bucket holding quantile `q` (0..=1), in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let want = ((n as f64 * q).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= want {
                let edge = (i as u64 + 1) * BUCKET_NS;
                return edge.min(self.max_ns.load(Ordering::Relaxed)) as f64 / 1e6;
            }
        }
        self.max_ms()
    }

    /// Largest latency recorded, in ms.
    pub fn max_ms(&self) -> f64 {
        self.max_ns.load(Ordering::Relaxed) as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_the_samples() {
        let h = LatencyHist::default();
        for ms in 1..=100u64 {
            h.record(ms * 1_000_000);
        }
        assert_eq!(h.count(), 100);
        assert!((h.quantile_ms(0.5) - 50.0).abs() < 0.1);
        assert!((h.quantile_ms(0.99) - 99.0).abs() < 0.1);
        assert_eq!(h.max_ms(), 100.0);
    }
}
