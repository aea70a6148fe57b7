//! Keeps the store's search index caught up with the stored events,
//! behind the ingest path: while events are being committed it adds a
//! little per pause (ingest keeps the writer), and once ingest is quiet it
//! catches up in steps back to back. When it has caught up it sleeps until
//! the ingester commits again: a step opens a write transaction, so
//! polling an idle store would take its writer for nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::{SearchIndexStep, Store, StoreResult};

/// Pause between steps while ingest is busy.
const PAUSE: Duration = Duration::from_millis(500);
/// Events indexed per pause while ingest commits: a few ms of the writer.
const BUSY_ROWS: u64 = 1_000;
/// Events per step while ingest is quiet (one short write transaction).
const IDLE_ROWS: u64 = 5_000;

/// What the indexer drives: one step of the store's search index.
pub(super) trait IndexSteps: Send + Sync + 'static {
    /// Adds at most `max_rows` events to the index.
    fn step(&self, max_rows: u64) -> impl Future<Output = StoreResult<SearchIndexStep>> + Send;
}

impl IndexSteps for Arc<dyn Store> {
    fn step(&self, max_rows: u64) -> impl Future<Output = StoreResult<SearchIndexStep>> + Send {
        self.index_search(max_rows)
    }
}

/// Runs until `stop` changes (or the ingester is gone); `committed` is the
/// ingester's committed count: a change wakes the indexer, and one during
/// a pause means ingest is busy.
pub(super) async fn run(
    index: impl IndexSteps,
    mut committed: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = false;
    // Unknown at start (a previous run may have stored events it did not
    // index), so the first round checks without waiting for a commit.
    let mut caught_up = false;
    loop {
        if caught_up {
            tokio::select! {
                r = committed.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
        committed.borrow_and_update();
        tokio::select! {
            _ = tokio::time::sleep(PAUSE) => {}
            _ = stop.changed() => return,
        }
        loop {
            let busy = committed.has_changed().unwrap_or(true);
            match index.step(if busy { BUSY_ROWS } else { IDLE_ROWS }).await {
                Ok(s) => {
                    if failing {
                        tracing::info!("search index: catching up again");
                        failing = false;
                    }
                    caught_up = s.behind == 0;
                    if busy || caught_up || *stop.borrow() {
                        break;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "search index: cannot add events (searches scan the newest rows meanwhile)");
                        failing = true;
                    }
                    // Retried after the next pause, commit or not.
                    caught_up = false;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use decnet_core::{Event, EventKind};

    use super::*;

    /// The real SQLite store's steps, counted.
    struct Counted {
        store: Arc<dyn Store>,
        steps: Arc<AtomicU64>,
    }

    impl IndexSteps for Counted {
        fn step(&self, max_rows: u64) -> impl Future<Output = StoreResult<SearchIndexStep>> + Send {
            self.steps.fetch_add(1, Ordering::SeqCst);
            self.store.index_search(max_rows)
        }
    }

    /// The index's mark, read on a connection of its own.
    async fn mark(url: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let (upto,): (i64,) = sqlx::query_as("SELECT upto FROM events_fts_progress WHERE id = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        upto
    }

    #[tokio::test]
    async fn sleeps_while_nothing_is_committed_and_wakes_on_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/i.db", dir.path().display());
        let store = crate::open(&url).await.unwrap();
        let steps = Arc::new(AtomicU64::new(0));
        let (committed_tx, committed_rx) = watch::channel(0u64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let counted = Counted {
            store: store.clone(),
            steps: steps.clone(),
        };
        let task = tokio::spawn(run(counted, committed_rx, stop_rx));

        // One check at start, then nothing for several pauses.
        tokio::time::sleep(PAUSE * 4).await;
        assert_eq!(steps.load(Ordering::SeqCst), 1, "no polling while idle");

        let e = Event::new("web01", "ssh", EventKind::Command).with("cmd", "wake-marker");
        assert_eq!(store.insert_event_refs(&[&e]).await.unwrap(), 1);
        let mut waited = Duration::ZERO;
        assert_eq!(mark(&url).await, 0, "nothing indexed before the commit");
        committed_tx.send(1).unwrap();
        while mark(&url).await < 1 {
            assert!(waited < PAUSE * 6, "the commit woke the indexer");
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        let after_wake = steps.load(Ordering::SeqCst);
        assert!(after_wake >= 2, "{after_wake}");

        // Caught up again: back to sleep.
        tokio::time::sleep(PAUSE * 3).await;
        assert_eq!(steps.load(Ordering::SeqCst), after_wake);

        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
