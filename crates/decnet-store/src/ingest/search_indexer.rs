//! Keeps the store's search index caught up with the stored events,
//! behind the ingest path: while events are being committed it adds a
//! little per pause (ingest keeps the writer), and once ingest is quiet it
//! catches up in steps back to back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::Store;

/// Pause between steps while ingest is busy (and between checks when idle).
const PAUSE: Duration = Duration::from_millis(500);
/// Events indexed per pause while ingest commits: a few ms of the writer.
const BUSY_ROWS: u64 = 1_000;
/// Events per step while ingest is quiet (one short write transaction).
const IDLE_ROWS: u64 = 5_000;

/// Runs until `stop` changes; `committed` is the ingester's committed
/// count (a change means ingest is busy).
pub(super) async fn run(
    store: Arc<dyn Store>,
    mut committed: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        committed.borrow_and_update();
        tokio::select! {
            _ = tokio::time::sleep(PAUSE) => {}
            _ = stop.changed() => return,
        }
        loop {
            let busy = committed.has_changed().unwrap_or(true);
            let step = store
                .index_search(if busy { BUSY_ROWS } else { IDLE_ROWS })
                .await;
            match step {
                Ok(s) => {
                    if failing {
                        tracing::info!("search index: catching up again");
                        failing = false;
                    }
                    if busy || s.behind == 0 || *stop.borrow() {
                        break;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "search index: cannot add events (searches scan the newest rows meanwhile)");
                        failing = true;
                    }
                    break;
                }
            }
        }
    }
}
