//! A value computed once for every caller and reused for a short TTL
//! (`/stats`: four aggregate scans at 1M events cost ~0.5 s, so every
//! dashboard polling them must share one computation).
//!
//! Callers get a value at most `ttl` old; between `ttl` and `2 × ttl` they
//! get the previous value at once while one background task recomputes it
//! (so no caller waits on the scan); older than that, the caller computes
//! (one at a time; the others then reuse its result).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

struct Slot<T> {
    value: Option<(Instant, T)>,
    refreshing: bool,
}

/// Shared, briefly cached value.
pub struct SharedValue<T> {
    ttl: Duration,
    slot: Arc<Mutex<Slot<T>>>,
    cold: tokio::sync::Mutex<()>,
}

impl<T: Clone + Send + 'static> SharedValue<T> {
    /// Empty cache with this freshness.
    pub fn new(ttl: Duration) -> Self {
        SharedValue {
            ttl,
            slot: Arc::new(Mutex::new(Slot {
                value: None,
                refreshing: false,
            })),
            cold: tokio::sync::Mutex::new(()),
        }
    }

    /// A fresh-enough value, computing it with `compute` when needed.
    pub async fn get<E, Fut, F>(&self, compute: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let mut compute = Some(compute);
        {
            let mut s = self.slot.lock();
            if let Some((at, v)) = &s.value {
                let age = at.elapsed();
                if age < self.ttl {
                    return Ok(v.clone());
                }
                if age < self.ttl * 2 {
                    let v = v.clone();
                    if !s.refreshing {
                        s.refreshing = true;
                        let started = Instant::now();
                        let fut = (compute.take().expect("unused"))();
                        let slot = self.slot.clone();
                        tokio::spawn(async move {
                            let r = fut.await;
                            let mut s = slot.lock();
                            s.refreshing = false;
                            match r {
                                Ok(v) => s.value = Some((started, v)),
                                // Callers compute (and see the error) once
                                // the old value is past 2 × ttl.
                                Err(e) => tracing::warn!(error = %e, "background refresh failed"),
                            }
                        });
                    }
                    return Ok(v);
                }
            }
        }
        let _one = self.cold.lock().await;
        if let Some((at, v)) = &self.slot.lock().value {
            if at.elapsed() < self.ttl {
                return Ok(v.clone());
            }
        }
        let started = Instant::now();
        let v = (compute.take().expect("unused"))().await?;
        self.slot.lock().value = Some((started, v.clone()));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn count(c: &SharedValue<u32>, n: &Arc<AtomicU32>) -> u32 {
        let n = n.clone();
        c.get(move || async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, String>(n.fetch_add(1, Ordering::SeqCst) + 1)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn computed_once_for_concurrent_callers_then_refreshed() {
        let c = Arc::new(SharedValue::new(Duration::from_millis(200)));
        let n = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (c, n) = (c.clone(), n.clone());
            tasks.push(tokio::spawn(async move { count(&c, &n).await }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1);
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // Stale: the old value at once, one background recomputation.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(count(&c, &n).await, 1);
        assert_eq!(count(&c, &n).await, 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert_eq!(count(&c, &n).await, 2);
        // Past 2 × ttl nobody gets the old value.
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(count(&c, &n).await, 3);
    }

    #[tokio::test]
    async fn errors_reach_the_caller() {
        let c: SharedValue<u32> = SharedValue::new(Duration::from_secs(1));
        let r = c
            .get(|| async { Err::<u32, _>("db down".to_string()) })
            .await;
        assert_eq!(r.unwrap_err(), "db down");
        assert_eq!(c.get(|| async { Ok::<_, String>(7) }).await.unwrap(), 7);
    }
}
