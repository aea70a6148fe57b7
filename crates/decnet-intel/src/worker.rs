//! The intel worker: its own lossless subscription, batches of new events
//! (already consumed ids skipped) applied to [`IntelState`] and committed
//! in one transaction, identity events published after the commit.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use decnet_bus::{BatchLoop, Bus, Envelope, Retry, Step, Subscription};
use decnet_core::Event;
use decnet_store::{Store, StoreError, StoreResult};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::enrich::{EnrichQueue, EnrichStats, Enricher};
use crate::{IntelConfig, IntelState};

/// Counters of the intel worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntelStats {
    /// Events taken off the bus.
    pub received: u64,
    /// Events applied (new).
    pub processed: u64,
    /// Events skipped because already consumed (replays).
    pub duplicates: u64,
    /// Batches committed.
    pub batches: u64,
    /// Identity events published.
    pub identity_events: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    processed: AtomicU64,
    duplicates: AtomicU64,
    batches: AtomicU64,
    identity_events: AtomicU64,
    /// Newest event time handled (applied or already seen), µs.
    newest: AtomicI64,
}

impl Counters {
    fn snapshot(&self) -> IntelStats {
        IntelStats {
            received: self.received.load(Ordering::Relaxed),
            processed: self.processed.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            identity_events: self.identity_events.load(Ordering::Relaxed),
        }
    }
}

/// A cheap view of a running intel worker for metrics.
#[derive(Clone)]
pub struct IntelMonitor(Arc<Counters>);

impl IntelMonitor {
    /// Newest event time intel has handled, µs since the epoch (0: none):
    /// how far behind the fleet the profiles are.
    pub fn newest_handled_micros(&self) -> i64 {
        self.0.newest.load(Ordering::Relaxed)
    }
}

/// The intel worker.
pub struct Intel;

/// Handle on a running intel worker.
pub struct IntelHandle {
    stop: watch::Sender<bool>,
    enricher: Option<Enricher>,
    counters: Arc<Counters>,
    committed: watch::Receiver<u64>,
    task: JoinHandle<StoreResult<()>>,
}

impl Intel {
    /// Loads the stored state and starts consuming `sub` (subscribe it
    /// `Lossless` to `events.>` before the fleet starts).
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        sub: Subscription,
        cfg: IntelConfig,
    ) -> StoreResult<IntelHandle> {
        let snap = store.intel_load().await?;
        let state = IntelState::restore(snap, cfg.clone());
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let (done, committed) = watch::channel(0);
        let enricher = cfg
            .enrich
            .as_ref()
            .filter(|e| !e.providers.is_empty())
            .map(|e| Enricher::start(store.clone(), e));
        let task = tokio::spawn(run(
            store,
            bus,
            sub,
            cfg,
            state,
            Signals {
                stop: stop_rx,
                counters: counters.clone(),
                done,
                enrich: enricher.as_ref().map(Enricher::queue),
            },
        ));
        Ok(IntelHandle {
            stop,
            enricher,
            counters,
            committed,
            task,
        })
    }
}

impl IntelHandle {
    /// Current counters.
    pub fn stats(&self) -> IntelStats {
        self.counters.snapshot()
    }

    /// A view that outlives nothing it watches (for metrics).
    pub fn monitor(&self) -> IntelMonitor {
        IntelMonitor(self.counters.clone())
    }

    /// How many envelopes, in the order the subscription delivered them,
    /// are fully handled (their effects committed, or already seen): a
    /// source with acknowledgements acks exactly that prefix. Closed when
    /// the worker ends.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// The enrichment counters, when `[enrich]` is on.
    pub fn enrich_stats(&self) -> Option<EnrichStats> {
        self.enricher.as_ref().map(Enricher::stats)
    }

    /// Processes and commits everything received, then stops.
    pub async fn finish(self) -> StoreResult<IntelStats> {
        let _ = self.stop.send(true);
        if let Some(e) = self.enricher {
            e.stop();
        }
        match self.task.await {
            Ok(r) => r?,
            Err(e) => return Err(StoreError::Database(format!("intel task failed: {e}"))),
        }
        Ok(self.counters.snapshot())
    }
}

/// Retries of intel's store calls; a fenced-out write (another server took
/// the lease) is not retried: retrying cannot help.
const RETRY: Retry = Retry::new("intel");

fn fenced(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(_))
}

/// The worker's links to its handle: stop request in, counters and
/// committed prefix out.
struct Signals {
    stop: watch::Receiver<bool>,
    counters: Arc<Counters>,
    done: watch::Sender<u64>,
    /// Where committed attackers' addresses go for enrichment, if on.
    enrich: Option<EnrichQueue>,
}

async fn run(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    sub: Subscription,
    cfg: IntelConfig,
    mut state: IntelState,
    signals: Signals,
) -> StoreResult<()> {
    let Signals {
        stop,
        counters,
        done,
        enrich,
    } = signals;
    let mut batches = BatchLoop::new(sub, stop, cfg.batch_size, cfg.batch_wait);
    loop {
        // What was taken before a stop is handed over and processed.
        let envs = match batches.next().await {
            Step::Batch(envs) => envs,
            Step::Drained if state.nothing_pending() => return Ok(()),
            // Stopping with work still in the state: an empty batch flushes it.
            Step::Drained | Step::Woken(()) => Vec::new(),
        };
        let stopping = batches.stopping();
        counters
            .received
            .fetch_add(envs.len() as u64, Ordering::Relaxed);
        let events: Vec<&Event> = envs
            .iter()
            .filter_map(|e| e.as_event())
            .map(|e| &**e)
            .collect();
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let unseen: BTreeSet<Uuid> = RETRY
            .run("unseen lookup", stopping, fenced, || {
                store.intel_unseen(&ids)
            })
            .await?
            .into_iter()
            .collect();
        let mut taken = BTreeSet::new();
        let fresh: Vec<&Event> = events
            .iter()
            .copied()
            .filter(|e| unseen.contains(&e.id) && taken.insert(e.id))
            .collect();
        counters
            .duplicates
            .fetch_add((events.len() - fresh.len()) as u64, Ordering::Relaxed);
        let newest = events.iter().map(|e| e.ts.timestamp_micros()).max();
        if fresh.is_empty() && state.nothing_pending() {
            counters
                .newest
                .fetch_max(newest.unwrap_or(0), Ordering::Relaxed);
            done.send_modify(|n| *n += envs.len() as u64);
            continue;
        }
        let mut batch = state.process(&fresh, Utc::now());
        batch.fence = cfg.fence.clone();
        RETRY
            .run("apply", stopping, fenced, || store.intel_apply(&batch))
            .await?;
        counters
            .processed
            .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .newest
            .fetch_max(newest.unwrap_or(0), Ordering::Relaxed);
        done.send_modify(|n| *n += envs.len() as u64);
        // After the commit: the rows exist when their answers are shown.
        if let Some(q) = &enrich {
            q.offer(batch.attackers.iter().map(|(row, _)| row.ip.as_str()))
                .await;
        }
        for ev in &batch.identity_events {
            let mut env = Envelope::json(
                format!("identity.{}", ev.kind),
                ev.kind.clone(),
                ev.payload.clone(),
            );
            env.id = ev.id;
            env.ts = ev.ts;
            bus.publish(env);
            counters.identity_events.fetch_add(1, Ordering::Relaxed);
        }
    }
}
