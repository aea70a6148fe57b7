//! Fills a data dir's SQLite store with N synthetic events directly through
//! the `Store` API (batched multi-row inserts, as the ingester commits),
//! timestamps spread over the past week, so `decnet serve --data-dir` can
//! be measured on a large store.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;

/// Outcome of a fill.
#[derive(serde::Serialize)]
pub struct Filled {
    pub events: u64,
    /// Rows in the store afterwards (counted).
    pub stored: u64,
    pub seconds: f64,
    pub per_sec: f64,
}

/// Inserts `n` events into `DATA_DIR/decnet.db` in batches of `batch`.
pub async fn fill(data_dir: &Path, n: u64, batch: usize) -> anyhow::Result<Filled> {
    std::fs::create_dir_all(data_dir)?;
    let url = format!("sqlite://{}", data_dir.join("decnet.db").display());
    let store = decnet_store::open(&url).await?;
    let now = Utc::now();
    let week = Duration::from_secs(7 * 86_400).as_micros() as i64;
    let t = Instant::now();
    let mut i = 0u64;
    while i < n {
        let end = (i + batch as u64).min(n);
        let events: Vec<_> = (i..end)
            .map(|k| {
                let mut e = decnet_store::testing::synthetic_event(k as usize);
                // Oldest first, the last one now.
                let back = week * (n - 1 - k) as i64 / n.max(1) as i64;
                e.ts = now - chrono::Duration::microseconds(back);
                e
            })
            .collect();
        store.insert_events(&events).await?;
        i = end;
    }
    let seconds = t.elapsed().as_secs_f64();
    Ok(Filled {
        events: n,
        stored: store.count_events().await?,
        seconds,
        per_sec: n as f64 / seconds,
    })
}
