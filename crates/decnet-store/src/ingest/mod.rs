//! Batched, lossless store ingest (DESIGN §4, §7).
//!
//! Two sources, one commit path:
//! * [`Ingester::start_journaled`] (what `serve` runs): batches handed over
//!   by the event log writer after they are in the event journal
//!   ([`crate::journal`]). The ingester records its committed journal
//!   position and, at start, stores whatever a previous run journaled but
//!   did not commit; a batch that the hand-off could not hold (the store
//!   is slow or down) is read back from the journal instead, so memory
//!   stays bounded while the store is away.
//! * [`Ingester::start`]: a lossless bus subscription (tests, benchmarks).
//!
//! A batch is committed when it holds `batch_size` events or `batch_wait`
//! has passed since its first event. Inserts are idempotent by event id,
//! so replays create no duplicates. A failed insert is retried with the
//! same batch for as long as it takes (backoff up to 2 s, one log line per
//! 30 s while it fails, one when it recovers), and [`IngestMonitor`] says
//! so for `/health`. [`IngestHandle::finish`] commits what it holds and
//! returns; while the store keeps failing it gives up after
//! [`IngestConfig::finish_within`] and reports what it left (in the
//! journal: stored at the next start).

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{BatchLoop, Step, Subscription};
use decnet_core::Event;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod search_indexer;

use crate::journal::{self, JournalPos, JournalWriter};
use crate::outage::Outage;
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
    /// How long [`IngestHandle::finish`] keeps retrying a failing store
    /// before it gives up (and reports what it did not store).
    pub finish_within: Duration,
    /// Told how long each committed batch took (metrics).
    pub observer: Option<CommitObserver>,
    /// Keep the store's search index caught up behind ingest (SQLite's
    /// trigram index; nothing on PostgreSQL).
    pub search_index: bool,
}

/// Called once per committed batch with the time its insert took; kept
/// cheap by its owner (a histogram observation).
#[derive(Clone)]
pub struct CommitObserver(pub Arc<dyn Fn(Duration) + Send + Sync>);

impl std::fmt::Debug for CommitObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitObserver")
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            // Under load batches fill by size long before this; it bounds
            // how long a lone event (a canary trigger, a first login) waits
            // before it is stored and visible through the API.
            batch_wait: Duration::from_millis(50),
            retention: None,
            finish_within: Duration::from_secs(4),
            observer: None,
            search_index: true,
        }
    }
}

/// Default batch size. DECNET uses 100; measured here (BENCH.md, Store)
/// 2000-event transactions ingest ~1.3–1.5× faster on SQLite and larger
/// ones gain nothing reliable, while the 250 ms wait still bounds latency
/// at low rates.
pub const DEFAULT_BATCH_SIZE: usize = 2000;

/// Most events the journal hand-off holds in memory; beyond it, batches
/// stay only in the journal and the ingester reads them back from there.
pub const HANDOFF_EVENTS: usize = 20_000;

/// Longest one insert attempt may take before it counts as failed: a
/// store that never answers must show up in `/health`, not hang ingest.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

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
    /// Events taken in (from the bus, the hand-off or the journal).
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
    /// Events read back from the journal (catch-up after a restart, or
    /// batches the hand-off could not hold).
    pub replayed: u64,
    /// Journal lines that were not an event (skipped).
    pub corrupt: u64,
    /// Events not stored when [`IngestHandle::finish`] gave up on a
    /// failing store (journaled ones are stored at the next start).
    pub unstored: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    committed: AtomicU64,
    inserted: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
    pruned: AtomicU64,
    replayed: AtomicU64,
    corrupt: AtomicU64,
    unstored: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> IngestStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IngestStats {
            received: get(&self.received),
            committed: get(&self.committed),
            inserted: get(&self.inserted),
            batches: get(&self.batches),
            retries: get(&self.retries),
            pruned: get(&self.pruned),
            replayed: get(&self.replayed),
            corrupt: get(&self.corrupt),
            unstored: get(&self.unstored),
        }
    }
}

/// State shared by the worker, its handle and monitors.
struct Shared {
    counters: Counters,
    outage: Outage,
    /// Events taken in and not yet committed.
    holding: AtomicUsize,
    /// Journal positions: committed cursor and durable end (journaled mode).
    journal: Mutex<Option<(JournalPos, JournalPos)>>,
    /// Newest event time committed, µs since the epoch (0: none yet).
    newest_committed: AtomicI64,
}

/// What `/health` shows for the ingester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestHealth {
    /// False while inserts fail.
    pub ok: bool,
    /// Why, and the counters that matter to an operator.
    pub detail: String,
}

/// A cheap, cloneable view of a running ingester for health reporting.
#[derive(Clone)]
pub struct IngestMonitor(Arc<Shared>);

impl IngestMonitor {
    /// Current state.
    pub fn health(&self) -> IngestHealth {
        let s = self.0.counters.snapshot();
        let holding = self.0.holding.load(Ordering::Relaxed);
        let journal = match *self.0.journal.lock() {
            Some((cursor, end)) if cursor < end => {
                format!("; journal committed to {cursor}, written to {end}")
            }
            _ => String::new(),
        };
        let counts = format!(
            "{} committed, {} replayed from the journal, {holding} waiting{journal}",
            s.committed, s.replayed
        );
        let (ok, detail) = self.0.outage.health(counts);
        IngestHealth { ok, detail }
    }

    /// Current counters.
    pub fn stats(&self) -> IngestStats {
        self.0.counters.snapshot()
    }

    /// Newest event time committed so far, µs since the epoch (0: none):
    /// how far behind the fleet the store is.
    pub fn newest_committed_micros(&self) -> i64 {
        self.0.newest_committed.load(Ordering::Relaxed)
    }
}

/// The store consumer.
pub struct Ingester;

/// Handle on a running ingester.
pub struct IngestHandle {
    stop: watch::Sender<bool>,
    committed: watch::Receiver<u64>,
    shared: Arc<Shared>,
    task: JoinHandle<StoreResult<()>>,
    pruner: Option<JoinHandle<()>>,
    indexer: Option<JoinHandle<()>>,
}

/// One journaled batch, handed from the event log writer to the ingester.
pub struct JournaledBatch {
    /// The events, shared with the bus.
    pub events: Vec<Arc<Event>>,
    /// Where they are in the journal (`previous end..end`).
    pub range: std::ops::Range<JournalPos>,
}

/// The writer's end of the journal hand-off. Never blocks: a batch it
/// cannot hold is left for the ingester to read from the journal.
pub struct JournalSink {
    tx: mpsc::UnboundedSender<JournaledBatch>,
    end: watch::Sender<JournalPos>,
    in_flight: Arc<AtomicUsize>,
}

impl JournalSink {
    /// Hands over a batch that is now in the journal.
    pub fn publish(&self, batch: JournaledBatch) {
        let n = batch.events.len();
        let end = batch.range.end;
        if self.in_flight.load(Ordering::Acquire) + n <= HANDOFF_EVENTS {
            self.in_flight.fetch_add(n, Ordering::AcqRel);
            if self.tx.send(batch).is_err() {
                self.in_flight.fetch_sub(n, Ordering::AcqRel);
            }
        }
        // After the send: an ingester that sees the new end also sees the
        // batch (or knows it must read it from the journal).
        self.end.send_replace(end);
    }
}

/// The ingester's end of the journal hand-off.
pub struct JournalFeed {
    rx: mpsc::UnboundedReceiver<JournaledBatch>,
    end: watch::Receiver<JournalPos>,
    in_flight: Arc<AtomicUsize>,
    dir: std::path::PathBuf,
    resume_to: JournalPos,
}

/// The hand-off between the journal's writer (just opened) and the ingester.
pub fn journal_channel(writer: &JournalWriter) -> (JournalSink, JournalFeed) {
    let (tx, rx) = mpsc::unbounded_channel();
    let start = writer.position();
    let (end_tx, end_rx) = watch::channel(start);
    let in_flight = Arc::new(AtomicUsize::new(0));
    (
        JournalSink {
            tx,
            end: end_tx,
            in_flight: in_flight.clone(),
        },
        JournalFeed {
            rx,
            end: end_rx,
            in_flight,
            dir: writer.dir().to_path_buf(),
            resume_to: start,
        },
    )
}

impl Ingester {
    /// Starts the ingest task on the current runtime, fed by a lossless bus
    /// subscription.
    pub fn start(store: Arc<dyn Store>, sub: Subscription, config: IngestConfig) -> IngestHandle {
        Self::spawn(store, config, |ctx| Box::pin(run_bus(sub, ctx)))
    }

    /// Starts the ingest task fed by the event journal: first stores what a
    /// previous run journaled and did not commit, then the live batches.
    pub fn start_journaled(
        store: Arc<dyn Store>,
        feed: JournalFeed,
        config: IngestConfig,
    ) -> IngestHandle {
        Self::spawn(store, config, |ctx| Box::pin(run_journaled(feed, ctx)))
    }

    fn spawn(
        store: Arc<dyn Store>,
        config: IngestConfig,
        body: impl FnOnce(Ctx) -> WorkerFuture,
    ) -> IngestHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (committed_tx, committed_rx) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            outage: Outage::new("store writes"),
            holding: AtomicUsize::new(0),
            journal: Mutex::new(None),
            newest_committed: AtomicI64::new(0),
        });
        let pruner = config
            .retention
            .clone()
            .map(|r| tokio::spawn(prune(store.clone(), r, shared.clone(), stop_rx.clone())));
        let indexer = config.search_index.then(|| {
            tokio::spawn(search_indexer::run(
                store.clone(),
                committed_rx.clone(),
                stop_rx.clone(),
            ))
        });
        let task = tokio::spawn(body(Ctx {
            store,
            config: config.clone(),
            committer: Committer {
                shared: shared.clone(),
                stop: stop_rx,
                stop_seen: None,
                within: config.finish_within,
                observer: config.observer.clone(),
            },
            committed_tx,
        }));
        IngestHandle {
            stop: stop_tx,
            committed: committed_rx,
            shared,
            task,
            pruner,
            indexer,
        }
    }
}

/// Either worker body, boxed so both share [`Ingester::spawn`].
type WorkerFuture = std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<()>> + Send>>;

/// True once a stop was requested, or the handle is gone (nobody can
/// request one any more).
fn stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

async fn prune(
    store: Arc<dyn Store>,
    r: Retention,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
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
                shared.counters.pruned.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "retention pruning failed"),
        }
    }
}

impl IngestHandle {
    /// Current counters.
    pub fn stats(&self) -> IngestStats {
        self.shared.counters.snapshot()
    }

    /// A view for health reporting that outlives [`IngestHandle::finish`].
    pub fn monitor(&self) -> IngestMonitor {
        IngestMonitor(self.shared.clone())
    }

    /// Watches the acknowledged (committed) event count.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Stops after committing everything already received (everything
    /// queued on the subscription or hand-off included). Returns the final
    /// counters; `unstored` says what a failing store kept out.
    pub async fn finish(self) -> StoreResult<IngestStats> {
        let _ = self.stop.send(true);
        if let Some(p) = self.pruner {
            let _ = p.await;
        }
        if let Some(i) = self.indexer {
            let _ = i.await;
        }
        match self.task.await {
            Ok(r) => r?,
            Err(e) => return Err(StoreError::Database(format!("ingest task failed: {e}"))),
        }
        Ok(self.shared.counters.snapshot())
    }
}

/// What both worker bodies share.
struct Ctx {
    store: Arc<dyn Store>,
    config: IngestConfig,
    committer: Committer,
    committed_tx: watch::Sender<u64>,
}

impl Ctx {
    fn stop_requested(&self) -> bool {
        stop_requested(&self.committer.stop)
    }

    /// Commits one batch (retrying); false when it gave up at shutdown.
    async fn commit(&mut self, batch: &[&Event]) -> bool {
        if batch.is_empty() {
            return true;
        }
        let shared = self.committer.shared.clone();
        let c = &shared.counters;
        c.received.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if !self.committer.commit(&*self.store, batch).await {
            return false;
        }
        c.batches.fetch_add(1, Ordering::Relaxed);
        let total =
            c.committed.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
        let _ = self.committed_tx.send(total);
        true
    }

    fn last_error(&self) -> String {
        self.committer
            .shared
            .outage
            .last_error()
            .unwrap_or_default()
    }
}

/// Inserts batches, retrying until they commit; records and rate-limits
/// failures. Once a stop is requested it gives up `within` after it, so
/// shutdown cannot hang on a dead or full database.
struct Committer {
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    stop_seen: Option<Instant>,
    within: Duration,
    observer: Option<CommitObserver>,
}

impl Committer {
    fn give_up_at(&mut self) -> Option<Instant> {
        if stop_requested(&self.stop) {
            Some(*self.stop_seen.get_or_insert_with(Instant::now) + self.within)
        } else {
            None
        }
    }

    async fn commit(&mut self, store: &dyn Store, batch: &[&Event]) -> bool {
        let mut backoff = Duration::from_millis(50);
        self.shared.holding.store(batch.len(), Ordering::Relaxed);
        loop {
            let give_up = self.give_up_at();
            let limit = give_up
                .map_or(ATTEMPT_TIMEOUT, |t| {
                    t.saturating_duration_since(Instant::now())
                })
                .clamp(Duration::from_millis(100), ATTEMPT_TIMEOUT);
            let attempt = Instant::now();
            let outcome = tokio::time::timeout(limit, store.insert_event_refs(batch))
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Database(format!(
                        "insert did not finish within {:.1} s",
                        limit.as_secs_f32()
                    )))
                });
            match outcome {
                Ok(new) => {
                    if let Some(o) = &self.observer {
                        (o.0)(attempt.elapsed());
                    }
                    let newest = batch.iter().map(|e| e.ts.timestamp_micros()).max();
                    self.shared
                        .newest_committed
                        .fetch_max(newest.unwrap_or(0), Ordering::Relaxed);
                    let c = &self.shared.counters;
                    c.inserted.fetch_add(new, Ordering::Relaxed);
                    self.shared.holding.store(0, Ordering::Relaxed);
                    self.shared
                        .outage
                        .recovered(|| format!("{} events in this batch", batch.len()));
                    return true;
                }
                Err(e) => {
                    self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
                    self.record_failure(&e, batch.len());
                    if give_up.is_some_and(|t| Instant::now() >= t) {
                        self.shared.holding.store(0, Ordering::Relaxed);
                        return false;
                    }
                    let sleep = give_up.map_or(backoff, |t| {
                        backoff.min(t.saturating_duration_since(Instant::now()))
                    });
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(sleep) => {}
                        // A stop starts the give-up clock at once.
                        _ = stop.changed(), if give_up.is_none() => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn record_failure(&self, e: &StoreError, events: usize) {
        self.shared
            .outage
            .failed(&e.to_string(), &format!("{events} events in the batch"));
    }
}

/// Bus-fed worker.
async fn run_bus(sub: Subscription, mut ctx: Ctx) -> StoreResult<()> {
    let stop = ctx.committer.stop.clone();
    let mut batches = BatchLoop::new(sub, stop, ctx.config.batch_size, ctx.config.batch_wait);
    // What was taken before a stop is handed over and committed.
    while let Step::Batch(envs) = batches.next().await {
        // Borrow the bus's shared events: copying each (its field map
        // included) cost more than rendering it for the INSERT.
        let batch: Vec<&Event> = envs
            .iter()
            .filter_map(|e| e.as_event())
            .map(|e| &**e)
            .collect();
        if !ctx.commit(&batch).await {
            // Without a journal, what is not stored now is lost: say so.
            let left = (batch.len() + batches.backlog()) as u64;
            let c = &ctx.committer.shared.counters;
            c.unstored.fetch_add(left, Ordering::Relaxed);
            return Err(StoreError::Database(format!(
                "giving up at shutdown: {left} events not stored: {}",
                ctx.last_error()
            )));
        }
    }
    Ok(())
}

/// Journal-fed worker: keeps `cursor` (everything before it is committed)
/// and stores the journal up to the writer's durable end, from the
/// hand-off when it holds the next batch, from the journal files otherwise.
async fn run_journaled(mut feed: JournalFeed, mut ctx: Ctx) -> StoreResult<()> {
    let dir = feed.dir.clone();
    let size = ctx.config.batch_size.max(1);
    let mut cursor = start_cursor(&dir, feed.resume_to).await;
    if cursor < feed.resume_to {
        tracing::info!(from = %cursor, to = %feed.resume_to, "event journal: storing what the previous run did not");
    }
    let started = Instant::now();
    let mut caught_up = cursor >= feed.resume_to;
    let mut held: Option<JournaledBatch> = None;
    let mut closed = false;
    let mut stop = ctx.committer.stop.clone();
    loop {
        let durable = *feed.end.borrow();
        *ctx.committer.shared.journal.lock() = Some((cursor, durable));
        if !caught_up && cursor >= feed.resume_to {
            caught_up = true;
            let s = ctx.committer.shared.counters.snapshot();
            tracing::info!(
                events = s.replayed,
                new = s.inserted,
                millis = started.elapsed().as_millis() as u64,
                "event journal: caught up"
            );
        }
        if held.is_none() {
            held = take(&mut feed, &mut closed);
        }
        let outcome = match held.take() {
            Some(m) if m.range.end <= cursor => continue,
            Some(m) if m.range.start > cursor => {
                // The hand-off dropped batches before this one: read them.
                let to = m.range.start;
                held = Some(m);
                replay(&mut ctx, &dir, &mut cursor, to, size).await
            }
            Some(m) => {
                let (events, end) = gather(&mut feed, &mut closed, &mut held, m, size, &ctx).await;
                let refs: Vec<&Event> = events.iter().map(|e| &**e).collect();
                if ctx.commit(&refs).await {
                    advance(&dir, &mut cursor, end).await;
                    Ok(())
                } else {
                    Err(())
                }
            }
            None if cursor < durable => replay(&mut ctx, &dir, &mut cursor, durable, size).await,
            None if closed || ctx.stop_requested() => return Ok(()),
            None => {
                tokio::select! {
                    m = feed.rx.recv() => match m {
                        Some(m) => {
                            feed.in_flight.fetch_sub(m.events.len(), Ordering::AcqRel);
                            held = Some(m);
                        }
                        None => closed = true,
                    },
                    r = feed.end.changed() => closed |= r.is_err(),
                    _ = stop.changed() => {}
                }
                Ok(())
            }
        };
        if outcome.is_err() {
            // Gave up at shutdown: what is left is in the journal.
            let end = *feed.end.borrow();
            let left = journal_events_after(&dir, cursor, end).await;
            ctx.committer
                .shared
                .counters
                .unstored
                .fetch_add(left, Ordering::Relaxed);
            tracing::warn!(
                events = left,
                error = %ctx.last_error(),
                "store unavailable at shutdown; these events stay in the event journal and are stored at the next start"
            );
            return Ok(());
        }
    }
}

/// The saved cursor, or the oldest segment; a cursor past the writer's
/// start (the journal was emptied by hand) restarts from the oldest.
async fn start_cursor(dir: &std::path::Path, resume_to: JournalPos) -> JournalPos {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let oldest = journal::oldest(&dir).ok().flatten().unwrap_or(resume_to);
        let cursor = match journal::load_cursor(&dir) {
            Some(c) if c <= resume_to => c,
            _ => oldest,
        };
        if let Err(e) = journal::remove_before(&dir, cursor.segment) {
            tracing::warn!(error = %e, "event journal: cannot remove committed segments");
        }
        cursor
    })
    .await
    .unwrap_or(resume_to)
}

/// Next hand-off batch without waiting.
fn take(feed: &mut JournalFeed, closed: &mut bool) -> Option<JournaledBatch> {
    match feed.rx.try_recv() {
        Ok(m) => {
            feed.in_flight.fetch_sub(m.events.len(), Ordering::AcqRel);
            Some(m)
        }
        Err(mpsc::error::TryRecvError::Empty) => None,
        Err(mpsc::error::TryRecvError::Disconnected) => {
            *closed = true;
            None
        }
    }
}

/// `first` plus the batches that follow it without a gap, up to `size`
/// events or `batch_wait`. A batch after a gap is left in `held`.
async fn gather(
    feed: &mut JournalFeed,
    closed: &mut bool,
    held: &mut Option<JournaledBatch>,
    first: JournaledBatch,
    size: usize,
    ctx: &Ctx,
) -> (Vec<Arc<Event>>, JournalPos) {
    let mut end = first.range.end;
    let mut events = first.events;
    let deadline = tokio::time::Instant::now() + ctx.config.batch_wait;
    while events.len() < size {
        let next = match take(feed, closed) {
            Some(m) => Some(m),
            None if *closed || ctx.stop_requested() => None,
            None => match tokio::time::timeout_at(deadline, feed.rx.recv()).await {
                Ok(Some(m)) => {
                    feed.in_flight.fetch_sub(m.events.len(), Ordering::AcqRel);
                    Some(m)
                }
                Ok(None) => {
                    *closed = true;
                    None
                }
                Err(_) => None,
            },
        };
        let Some(m) = next else { break };
        if m.range.end <= end {
            continue;
        }
        if m.range.start != end {
            *held = Some(m);
            break;
        }
        end = m.range.end;
        events.extend(m.events);
    }
    (events, end)
}

/// Stores one chunk read from the journal between `cursor` and `to`.
async fn replay(
    ctx: &mut Ctx,
    dir: &std::path::Path,
    cursor: &mut JournalPos,
    to: JournalPos,
    size: usize,
) -> Result<(), ()> {
    let (d, from) = (dir.to_path_buf(), *cursor);
    let read = tokio::task::spawn_blocking(move || journal::read(&d, from, to, size)).await;
    let chunk = match read {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            // Unreadable journal (permissions, I/O error): say so and retry.
            ctx.committer.record_failure(
                &StoreError::Database(format!("reading the event journal: {e}")),
                0,
            );
            tokio::time::sleep(MAX_BACKOFF).await;
            return if ctx.stop_requested() {
                Err(())
            } else {
                Ok(())
            };
        }
        Err(e) => {
            tracing::error!(error = %e, "event journal reader panicked");
            return Err(());
        }
    };
    let c = &ctx.committer.shared.counters;
    c.corrupt.fetch_add(chunk.corrupt, Ordering::Relaxed);
    if chunk.corrupt > 0 {
        tracing::warn!(
            lines = chunk.corrupt,
            "event journal: skipped lines that are not events"
        );
    }
    c.replayed
        .fetch_add(chunk.events.len() as u64, Ordering::Relaxed);
    let refs: Vec<&Event> = chunk.events.iter().collect();
    if !ctx.commit(&refs).await {
        return Err(());
    }
    advance(dir, cursor, chunk.end).await;
    Ok(())
}

/// Moves the cursor after a commit: saves it and removes the segments it left.
async fn advance(dir: &std::path::Path, cursor: &mut JournalPos, to: JournalPos) {
    let left_segment = to.segment > cursor.segment;
    *cursor = to;
    let dir = dir.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        // A cursor that could not be saved (disk full) only means more
        // re-reading after a crash: inserts are idempotent.
        if let Err(e) = journal::save_cursor(&dir, to) {
            tracing::debug!(error = %e, "event journal: cursor not saved");
        }
        if left_segment {
            if let Err(e) = journal::remove_before(&dir, to.segment) {
                tracing::warn!(error = %e, "event journal: cannot remove committed segments");
            }
        }
    })
    .await;
}

/// How many events lie in the journal between `from` and `to`.
async fn journal_events_after(dir: &std::path::Path, from: JournalPos, to: JournalPos) -> u64 {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        journal::read(&dir, from, to, usize::MAX).map_or(0, |c| c.events.len() as u64)
    })
    .await
    .unwrap_or(0)
}
