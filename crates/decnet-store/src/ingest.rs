//! Batched, lossless store ingest (DESIGN §4, §7).
//!
//! The ingester owns a [`Delivery::Lossless`](decnet_bus::Delivery)
//! subscription on `events.>` and writes events in batches: a batch is
//! committed when it holds `batch_size` events or `batch_wait` has passed
//! since its first event. Inserts are idempotent by event id, so
//! at-least-once redelivery creates no duplicates. A failed insert is
//! retried (with backoff) with the same batch: nothing is dropped.
//! [`IngestHandle::finish`] drains everything received and returns only
//! once it is committed. An optional retention job prunes raw events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::Subscription;
use decnet_core::Event;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Store, StoreError, StoreResult};

/// Ingest tuning.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    /// Events per transaction (upper bound).
    pub batch_size: usize,
    /// Longest an event waits for its batch to fill.
    pub batch_wait: Duration,
    /// Raw-event retention; `None` keeps everything.
    pub retention: Option<Retention>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            batch_wait: Duration::from_millis(250),
            retention: None,
        }
    }
}

/// Default batch size. DECNET uses 100; measured here (BENCH.md, Store)
/// 2000-event transactions ingest ~1.3–1.5× faster on SQLite and larger
/// ones gain nothing reliable, while the 250 ms wait still bounds latency
/// at low rates.
pub const DEFAULT_BATCH_SIZE: usize = 2000;

/// Retention policy for raw events.
#[derive(Clone, Debug)]
pub struct Retention {
    /// Delete events older than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many events.
    pub max_rows: Option<u64>,
    /// How often the pruning job runs.
    pub interval: Duration,
}

/// Counters of an ingester.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    /// Events taken off the bus.
    pub received: u64,
    /// Events in committed transactions (acknowledged).
    pub committed: u64,
    /// Of those, rows that were new (not duplicates).
    pub inserted: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Failed insert attempts (each retried).
    pub retries: u64,
    /// Events removed by retention.
    pub pruned: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    committed: AtomicU64,
    inserted: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
    pruned: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> IngestStats {
        IngestStats {
            received: self.received.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
            inserted: self.inserted.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            pruned: self.pruned.load(Ordering::Relaxed),
        }
    }
}

/// The store consumer.
pub struct Ingester;

/// Handle on a running ingester.
pub struct IngestHandle {
    stop: watch::Sender<bool>,
    committed: watch::Receiver<u64>,
    counters: Arc<Counters>,
    task: JoinHandle<StoreResult<()>>,
    pruner: Option<JoinHandle<()>>,
}

impl Ingester {
    /// Starts the ingest task on the current runtime.
    pub fn start(store: Arc<dyn Store>, sub: Subscription, config: IngestConfig) -> IngestHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (committed_tx, committed_rx) = watch::channel(0u64);
        let counters = Arc::new(Counters::default());
        let pruner = config.retention.clone().map(|r| {
            let store = store.clone();
            let counters = counters.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(r.interval.max(Duration::from_millis(10)));
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.changed() => return,
                    }
                    let older = r
                        .max_age
                        .and_then(|a| chrono::Duration::from_std(a).ok())
                        .map(|a| chrono::Utc::now() - a);
                    match store.prune_events(older, r.max_rows).await {
                        Ok(n) => {
                            counters.pruned.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => tracing::warn!(error = %e, "retention pruning failed"),
                    }
                }
            })
        });
        let task = tokio::spawn(run(
            store,
            sub,
            config,
            stop_rx,
            committed_tx,
            counters.clone(),
        ));
        IngestHandle {
            stop: stop_tx,
            committed: committed_rx,
            counters,
            task,
            pruner,
        }
    }
}

impl IngestHandle {
    /// Current counters.
    pub fn stats(&self) -> IngestStats {
        self.counters.snapshot()
    }

    /// Watches the acknowledged (committed) event count.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Stops after committing everything already received (everything
    /// queued on the subscription included). Returns the final counters.
    pub async fn finish(self) -> StoreResult<IngestStats> {
        let _ = self.stop.send(true);
        if let Some(p) = self.pruner {
            let _ = p.await;
        }
        match self.task.await {
            Ok(r) => r?,
            Err(e) => return Err(StoreError::Database(format!("ingest task failed: {e}"))),
        }
        Ok(self.counters.snapshot())
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut sub: Subscription,
    config: IngestConfig,
    mut stop: watch::Receiver<bool>,
    committed_tx: watch::Sender<u64>,
    counters: Arc<Counters>,
) -> StoreResult<()> {
    let size = config.batch_size.max(1);
    let mut envs = Vec::with_capacity(size);
    let mut stopping = false;
    loop {
        envs.clear();
        if stopping {
            // Drain without waiting: the producers are gone.
            while envs.len() < size {
                match sub.try_recv() {
                    Some(e) => envs.push(e),
                    None => break,
                }
            }
            if envs.is_empty() {
                return Ok(());
            }
        } else {
            // What was taken before a stop stays in `envs` and is committed.
            tokio::select! {
                got = sub.next_batch(size, config.batch_wait, &mut envs) => {
                    if !got {
                        stopping = true;
                        continue;
                    }
                }
                _ = stop.changed() => {
                    stopping = true;
                    if envs.is_empty() {
                        continue;
                    }
                }
            }
        }
        counters
            .received
            .fetch_add(envs.len() as u64, Ordering::Relaxed);
        // Borrow the bus's shared events: copying each (its field map
        // included) cost more than rendering it for the INSERT.
        let batch: Vec<&Event> = envs
            .iter()
            .filter_map(|e| e.as_event())
            .map(|e| &**e)
            .collect();
        if batch.is_empty() {
            continue;
        }
        commit(&*store, &batch, &counters, stopping || *stop.borrow()).await?;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        let total = counters
            .committed
            .fetch_add(batch.len() as u64, Ordering::Relaxed)
            + batch.len() as u64;
        let _ = committed_tx.send(total);
    }
}

/// Inserts one batch, retrying until it commits. While stopping, gives up
/// after a bounded number of attempts so shutdown cannot hang forever on a
/// dead database (the error says how many events were not saved).
async fn commit(
    store: &dyn Store,
    batch: &[&Event],
    counters: &Counters,
    stopping: bool,
) -> StoreResult<()> {
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0u32;
    loop {
        match store.insert_event_refs(batch).await {
            Ok(new) => {
                counters.inserted.fetch_add(new, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => {
                attempts += 1;
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, attempts, events = batch.len(), "event batch insert failed; retrying");
                if stopping && attempts >= 20 {
                    return Err(StoreError::Database(format!(
                        "giving up at shutdown: {} events not stored: {e}",
                        batch.len()
                    )));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
