//! The alert history in the store: the engine hands every history change
//! to [`StoreHistory`] (never blocking: a bounded queue, overflow counted),
//! one task writes them in batches (a failing store is retried with
//! backoff; what waits stays queued) and keeps the table to `keep` alerts.
//! `GET /alerts/history` pages from the store, so the history survives a
//! restart and servers sharing a store show the same one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_alerts::delivery::history::{HistoryChange, HistorySink};
use decnet_store::alerts_sql::{AlertHistoryWrite, AlertRow, DeliveryRow};
use decnet_store::Store;
use tokio::sync::mpsc;

/// Changes waiting for the store; beyond, new ones are dropped (counted).
const QUEUE: usize = 65_536;
/// Changes per transaction.
const BATCH: usize = 512;
/// How often the table is cut back to `keep` alerts.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Longest wait between two attempts on a failing store.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The engine's [`HistorySink`] writing to the store.
pub struct StoreHistory {
    tx: mpsc::Sender<HistoryChange>,
    dropped: AtomicU64,
    /// Queued and not yet committed.
    pending: AtomicU64,
}

impl HistorySink for StoreHistory {
    fn record(&self, change: HistoryChange) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(change).is_err() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "alerts: history changes not stored (queue full: the store is too slow or down)"
                );
            }
        }
    }
}

/// The writing task.
pub struct HistoryWriter {
    sink: Arc<StoreHistory>,
    task: tokio::task::JoinHandle<()>,
}

fn write_of(change: HistoryChange) -> AlertHistoryWrite {
    match change {
        HistoryChange::Raised {
            alert,
            channels,
            at,
        } => {
            let source = alert
                .identity
                .map(|i| i.to_string())
                .or_else(|| alert.source_ip.map(|ip| ip.to_string()));
            let row = AlertRow {
                alert_id: alert.id,
                ts: alert.ts,
                rule: alert.rule.clone(),
                source,
                alert: serde_json::to_value(&*alert).unwrap_or_default(),
            };
            let deliveries = channels
                .into_iter()
                .map(|channel| DeliveryRow {
                    channel,
                    state: "queued".into(),
                    attempts: 0,
                    last_error: None,
                    updated_at: at,
                })
                .collect();
            AlertHistoryWrite::Raised(row, deliveries)
        }
        HistoryChange::Delivery {
            alert_id,
            channel,
            state,
            attempts,
            last_error,
            at,
        } => AlertHistoryWrite::Delivery(
            alert_id,
            DeliveryRow {
                channel,
                state: state.as_str().into(),
                attempts,
                last_error,
                updated_at: at,
            },
        ),
    }
}

impl StoreHistory {
    /// The sink and its writer, keeping the newest `keep` alerts.
    pub fn start(store: Arc<dyn Store>, keep: u64) -> (Arc<StoreHistory>, HistoryWriter) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sink = Arc::new(StoreHistory {
            tx,
            dropped: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        });
        let task = tokio::spawn(write_loop(store, rx, keep, sink.clone()));
        (sink.clone(), HistoryWriter { sink, task })
    }

    /// Changes lost to a full queue.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<HistoryChange>,
    keep: u64,
    sink: Arc<StoreHistory>,
) {
    let mut changes = Vec::with_capacity(BATCH);
    let mut last_prune = tokio::time::Instant::now();
    while rx.recv_many(&mut changes, BATCH).await > 0 {
        let writes: Vec<AlertHistoryWrite> = changes.drain(..).map(write_of).collect();
        let mut wait = Duration::from_millis(200);
        while let Err(e) = store.alert_history_write(&writes).await {
            tracing::warn!("alerts: cannot store history changes ({e}); retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
        sink.pending
            .fetch_sub(writes.len() as u64, Ordering::Relaxed);
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            if let Err(e) = store.alert_history_prune(None, Some(keep)).await {
                tracing::warn!("alerts: history retention failed: {e}");
            }
        }
    }
}

impl HistoryWriter {
    /// Lets what is queued reach the store (call after the engine stopped),
    /// for at most `bound`, then stops.
    pub async fn finish(self, bound: Duration) {
        let deadline = tokio::time::Instant::now() + bound;
        while self.sink.pending.load(Ordering::Relaxed) > 0 && !self.task.is_finished() {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("alerts: history changes still pending at exit are not stored");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.task.abort();
    }
}
