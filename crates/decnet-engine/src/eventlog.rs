//! The event log writer: the event journal, `DATA_DIR/decnet.log` (RFC
//! 5424) and syslog forwarding, fed by a lossless bus subscription.
//!
//! Each batch is first appended to the event journal and synced
//! (`decnet_store::journal`), then handed to the store ingester, then its
//! lines are appended to `decnet.log`: every line in the log is in the
//! journal, and every journaled event reaches the store, after a crash
//! too (ARCHITECTURE.md, "Durability").
//!
//! When the disk refuses writes (full, read-only, I/O errors) the writer
//! keeps draining the bus into a bounded backlog and retries (backoff up
//! to 2 s, one log line per 30 s); events beyond the backlog are dropped
//! and counted. [`EventLogMonitor`] reports all of it for `/health`, and
//! [`EventLog::finish`] gives up after a bounded time and says what it
//! could not write.

mod file;
mod forward;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Delivery};
use decnet_core::syslog::{format_event_styled, LogStyle};
use decnet_core::Event;
use decnet_store::ingest::{JournalSink, JournaledBatch};
use decnet_store::journal::JournalWriter;
use decnet_store::outage::Outage;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use file::{parse_size, rotated_files, Rotation, LOG_MODE};
use forward::ForwardQueue;
pub use forward::SyslogTarget;

/// Most events taken off the bus per wake-up.
const LOG_BATCH: usize = 4096;
/// Longest an event waits for its batch: under load one journal sync and
/// one write per batch instead of per event; when idle, this is most of
/// the time between a decky's answer and its event being on disk.
const LOG_WAIT: Duration = Duration::from_millis(10);
/// Most events per journal append (one sync).
const WRITE_CHUNK: usize = 4096;
/// Longest wait between two attempts while the disk refuses writes.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Default bound of the backlog kept in memory while the disk refuses
/// writes (~0.5–1 KiB per event).
pub const DEFAULT_BACKLOG: usize = 100_000;

/// How the writer is set up.
pub struct EventLogConfig {
    /// `decnet.log`.
    pub path: PathBuf,
    /// Syslog collector to copy every line to.
    pub forward: Option<SyslogTarget>,
    /// Size-based rotation.
    pub rotation: Rotation,
    /// The event journal and the ingester's end of the hand-off; `None`
    /// where events are already durable before they reach the log (a
    /// sensor's NATS spool, a server fed by JetStream after commit).
    pub journal: Option<(JournalWriter, JournalSink)>,
    /// Events kept in memory while the disk refuses writes; more are dropped.
    pub max_backlog: usize,
    /// How long [`EventLog::finish`] keeps retrying a refusing disk.
    pub finish_within: Duration,
    /// MSGID of the lines (`[general] log_compat`).
    pub style: LogStyle,
}

impl EventLogConfig {
    /// Defaults for `path`: no forwarding, no journal, 100 MiB × 10 rotation.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        EventLogConfig {
            path: path.into(),
            forward: None,
            rotation: Rotation::default(),
            journal: None,
            max_backlog: DEFAULT_BACKLOG,
            finish_within: Duration::from_secs(3),
            style: LogStyle::Native,
        }
    }
}

/// What [`EventLog::finish`] reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventLogReport {
    /// Lines written to `decnet.log`.
    pub written: u64,
    /// Events appended to the journal.
    pub journaled: u64,
    /// Events dropped because the backlog was full.
    pub dropped: u64,
    /// Events still waiting when the writer gave up (the disk kept refusing).
    pub unwritten: u64,
    /// Of those, events already in the journal (stored at the next start,
    /// missing from `decnet.log`).
    pub unlogged_but_journaled: u64,
    /// The last write error, if the writer stopped while failing.
    pub error: Option<String>,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    journaled: AtomicU64,
    dropped: AtomicU64,
    /// Events waiting (backlog), for health.
    waiting: AtomicUsize,
}

struct Shared {
    counters: Counters,
    outage: Outage,
    forward_dropped: Arc<AtomicU64>,
    reopen: Arc<AtomicBool>,
    reopen_wake: Notify,
    compressors: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

/// Handle of the running writer.
pub struct EventLog {
    cancel: CancellationToken,
    task: JoinHandle<EventLogReport>,
    forwarder: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    finish_within: Duration,
}

/// What `/health` shows for the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLogHealth {
    /// False while the journal or `decnet.log` refuses writes.
    pub ok: bool,
    /// Why, and the counters an operator needs (dropped events included).
    pub detail: String,
}

/// A cheap, cloneable view of the writer: health, and reopening the log.
#[derive(Clone)]
pub struct EventLogMonitor(Arc<Shared>);

impl EventLogMonitor {
    /// Current state.
    pub fn health(&self) -> EventLogHealth {
        let c = &self.0.counters;
        let mut counts = format!(
            "{} lines written, {} waiting, {} dropped",
            c.written.load(Ordering::Relaxed),
            c.waiting.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed)
        );
        let not_forwarded = self.0.forward_dropped.load(Ordering::Relaxed);
        if not_forwarded > 0 {
            counts.push_str(&format!(", {not_forwarded} not forwarded to syslog"));
        }
        let (ok, detail) = self.0.outage.health(counts);
        EventLogHealth { ok, detail }
    }

    /// Events dropped so far (backlog full while the disk refused writes).
    pub fn dropped(&self) -> u64 {
        self.0.counters.dropped.load(Ordering::Relaxed)
    }

    /// Reopens `decnet.log` by its path (after logrotate moved it; what
    /// `serve` does on SIGHUP).
    pub fn reopen(&self) {
        self.0.reopen.store(true, Ordering::Release);
        self.0.reopen_wake.notify_one();
    }
}

impl EventLog {
    /// Subscribes to `events.>` and starts writing `path` (appending),
    /// without a journal; rotation by default.
    pub async fn start(
        bus: &Arc<dyn Bus>,
        path: &Path,
        forward: Option<SyslogTarget>,
    ) -> std::io::Result<Self> {
        let mut config = EventLogConfig::new(path);
        config.forward = forward;
        Self::start_with(bus, config).await
    }

    /// Subscribes to `events.>` and starts the writer.
    pub async fn start_with(bus: &Arc<dyn Bus>, config: EventLogConfig) -> std::io::Result<Self> {
        let reopen = Arc::new(AtomicBool::new(false));
        let compressors = Arc::new(Mutex::new(Vec::new()));
        let (path, rotation) = (config.path.clone(), config.rotation);
        let (r, c) = (reopen.clone(), compressors.clone());
        let log = tokio::task::spawn_blocking(move || file::LogFile::open(&path, rotation, r, c))
            .await
            .map_err(std::io::Error::other)??;
        let sub = bus
            .subscribe("events.>", Delivery::Lossless)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (queue, forwarder) = match config.forward {
            Some(t) => {
                let (q, task) = ForwardQueue::start(t);
                (q, Some(task))
            }
            None => (ForwardQueue::none(), None),
        };
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            outage: Outage::new("event log writes"),
            forward_dropped: queue.dropped(),
            reopen,
            reopen_wake: Notify::new(),
            compressors,
        });
        let (journal, sink) = match config.journal {
            Some((w, s)) => (Some(w), Some(s)),
            None => (None, None),
        };
        let writer = Writer {
            log,
            journal,
            sink,
            forward: queue,
            pending: VecDeque::new(),
            unlogged: String::new(),
            unlogged_n: 0,
            line: String::new(),
            style: config.style,
        };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(
            sub,
            writer,
            shared.clone(),
            cancel.clone(),
            config.max_backlog.max(1),
            config.finish_within,
        ));
        Ok(EventLog {
            cancel,
            task,
            forwarder,
            shared,
            finish_within: config.finish_within,
        })
    }

    /// A view for health reporting and reopening that outlives [`EventLog::finish`].
    pub fn monitor(&self) -> EventLogMonitor {
        EventLogMonitor(self.shared.clone())
    }

    /// Writes whatever is queued and stops; while the disk refuses writes
    /// it gives up after `finish_within` and reports what was left.
    pub async fn finish(self) -> EventLogReport {
        self.cancel.cancel();
        // A write that never returns (a hung network file system) must not
        // hold shutdown up either.
        let bound = self.finish_within + Duration::from_secs(2);
        let report = match tokio::time::timeout(bound, self.task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => EventLogReport {
                error: Some(format!("event log writer failed: {e}")),
                ..Default::default()
            },
            Err(_) => {
                let c = &self.shared.counters;
                EventLogReport {
                    error: Some(format!(
                        "a disk write did not return within {} s",
                        bound.as_secs()
                    )),
                    ..report(c, c.waiting.load(Ordering::Relaxed) as u64, 0)
                }
            }
        };
        // The forwarding task ends once its queue (dropped with the
        // writer) is empty; a dead collector may not hold shutdown up.
        if let Some(f) = self.forwarder {
            let _ = tokio::time::timeout(Duration::from_secs(2), f).await;
        }
        // Let a rotation's compression finish, within the same bound.
        let deadline = Instant::now() + self.finish_within;
        while Instant::now() < deadline
            && !self
                .shared
                .compressors
                .lock()
                .iter()
                .all(|h| h.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        report
    }
}

/// The writer's state; moved into `spawn_blocking` for each write step.
struct Writer {
    log: file::LogFile,
    journal: Option<JournalWriter>,
    sink: Option<JournalSink>,
    forward: ForwardQueue,
    /// Events not yet journaled (or, without a journal, not yet rendered).
    pending: VecDeque<Arc<Event>>,
    /// Rendered lines not yet in `decnet.log`.
    unlogged: String,
    unlogged_n: usize,
    line: String,
    style: LogStyle,
}

/// Why a write step stopped short.
enum StepError {
    Journal(std::io::Error),
    Log(std::io::Error),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Journal(e) => write!(f, "event journal: {e}"),
            StepError::Log(e) => write!(f, "decnet.log: {e}"),
        }
    }
}

impl Writer {
    fn waiting(&self) -> usize {
        self.pending.len() + self.unlogged_n
    }

    fn idle(&self) -> bool {
        self.waiting() == 0
    }

    /// Journals and renders what is pending, then appends the rendered
    /// lines to the log. Returns events journaled and lines written.
    fn step(&mut self) -> (u64, u64, Option<StepError>) {
        let mut journaled = 0u64;
        let mut error = None;
        while !self.pending.is_empty() {
            let n = self.pending.len().min(WRITE_CHUNK);
            let chunk: Vec<Arc<Event>> = self.pending.iter().take(n).cloned().collect();
            if let (Some(j), Some(sink)) = (self.journal.as_mut(), self.sink.as_ref()) {
                match j.append(chunk.iter().map(|e| &**e)) {
                    Ok(range) => {
                        journaled += n as u64;
                        sink.publish(JournaledBatch {
                            events: chunk.clone(),
                            range,
                        });
                    }
                    Err(e) => {
                        error = Some(StepError::Journal(e));
                        break;
                    }
                }
            }
            let from = self.unlogged.len();
            for e in &chunk {
                self.line.clear();
                format_event_styled(&mut self.line, e, self.style);
                self.unlogged.push_str(&self.line);
                self.unlogged.push('\n');
            }
            self.unlogged_n += n;
            // Copied only for a collector: most fleets forward nothing.
            if self.forward.active() {
                self.forward
                    .send(self.unlogged[from..].to_owned(), n as u64);
            }
            self.pending.drain(..n);
        }
        let mut written = 0;
        if self.unlogged_n > 0 {
            match self.log.append(&self.unlogged) {
                Ok(()) => {
                    written = self.unlogged_n as u64;
                    self.unlogged.clear();
                    self.unlogged_n = 0;
                }
                // The journal's error, if any, is the one to show: it is
                // what keeps events from the store.
                Err(e) => error = error.or(Some(StepError::Log(e))),
            }
        }
        (journaled, written, error)
    }
}

/// The writer's consume loop: batches off the bus into the backlog (while
/// one waits, only until the next attempt is due), a write step whenever
/// one is due, and on stop a drain bounded by `finish_within`.
async fn run(
    mut sub: decnet_bus::Subscription,
    writer: Writer,
    shared: Arc<Shared>,
    stop: CancellationToken,
    cap: usize,
    finish_within: Duration,
) -> EventLogReport {
    let mut state = WriteLoop {
        writer,
        shared,
        cap,
        retry_at: None,
        backoff: FIRST_BACKOFF,
    };
    let mut batch = Vec::with_capacity(LOG_BATCH);
    let mut stopping: Option<Instant> = None;
    loop {
        batch.clear();
        if stopping.is_none() && !state.next_batch(&mut sub, &stop, &mut batch).await {
            stopping = Some(Instant::now());
        }
        if stopping.is_some() {
            while let Some(e) = sub.try_recv() {
                batch.push(e);
            }
        }
        state.take(&batch);
        state = match state.write_if_due().await {
            Ok(state) => state,
            Err(panicked) => return panicked,
        };
        let Some(since) = stopping else {
            continue;
        };
        if state.writer.idle() || since.elapsed() >= finish_within {
            return state.final_report();
        }
        if let Some(t) = state.retry_at {
            let give_up = tokio::time::Instant::from_std(since + finish_within);
            tokio::time::sleep_until(t.min(give_up)).await;
        }
    }
}

/// First wait after a failed write; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The writer with its retry clock, between two batches.
struct WriteLoop {
    writer: Writer,
    shared: Arc<Shared>,
    cap: usize,
    /// When the next write may be tried while the disk refuses writes.
    retry_at: Option<tokio::time::Instant>,
    backoff: Duration,
}

impl WriteLoop {
    /// Fills `batch` from the bus: while idle, the next batch (or a reopen
    /// request); while a backlog waits, what is queued until the next
    /// attempt is due. False once a stop was asked for or the bus closed.
    async fn next_batch(
        &self,
        sub: &mut decnet_bus::Subscription,
        stop: &CancellationToken,
        batch: &mut Vec<Arc<decnet_bus::Envelope>>,
    ) -> bool {
        if self.writer.idle() {
            tokio::select! {
                biased;
                got = sub.next_batch(LOG_BATCH, LOG_WAIT, batch) => got,
                _ = stop.cancelled() => false,
                _ = self.shared.reopen_wake.notified() => true,
            }
        } else {
            let due = self.retry_at.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                biased;
                _ = sub.fill_batch(LOG_BATCH, due, batch) => true,
                _ = stop.cancelled() => false,
            }
        }
    }

    /// Queues a batch's events, dropping (and counting) those beyond the
    /// backlog bound.
    fn take(&mut self, envs: &[Arc<decnet_bus::Envelope>]) {
        let c = &self.shared.counters;
        for env in envs {
            if let Some(e) = env.as_event() {
                if self.writer.waiting() < self.cap {
                    self.writer.pending.push_back(e.clone());
                } else {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        c.waiting.store(self.writer.waiting(), Ordering::Relaxed);
    }

    /// Runs a write step (off the async threads) if there is something to
    /// write or reopen and no backoff is pending; the error is the final
    /// report of a writer that panicked.
    async fn write_if_due(mut self) -> Result<WriteLoop, EventLogReport> {
        let due = self
            .retry_at
            .is_none_or(|t| tokio::time::Instant::now() >= t);
        let wanted = !self.writer.idle() || self.shared.reopen.load(Ordering::Acquire);
        if due && wanted {
            let shared = self.shared.clone();
            let (state, (journaled, written, error)) = tokio::task::spawn_blocking(move || {
                let r = self.writer.step();
                let _ = self.writer.log.reopen_if_requested();
                (self, r)
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "event log writer panicked");
                EventLogReport {
                    error: Some(e.to_string()),
                    ..report(&shared.counters, 0, 0)
                }
            })?;
            self = state;
            let c = &self.shared.counters;
            c.journaled.fetch_add(journaled, Ordering::Relaxed);
            c.written.fetch_add(written, Ordering::Relaxed);
            self.after_write(error);
        }
        let waiting = self.writer.waiting();
        self.shared
            .counters
            .waiting
            .store(waiting, Ordering::Relaxed);
        Ok(self)
    }

    /// Resets or advances the backoff after a write step, and tells the
    /// outage tracker.
    fn after_write(&mut self, error: Option<StepError>) {
        let c = &self.shared.counters;
        match error {
            None => {
                self.retry_at = None;
                self.backoff = FIRST_BACKOFF;
                self.shared.outage.recovered(|| {
                    format!(
                        "{} events dropped while failing",
                        c.dropped.load(Ordering::Relaxed)
                    )
                });
            }
            Some(e) => {
                self.shared.outage.failed(
                    &e.to_string(),
                    &format!(
                        "{} events waiting, {} dropped; backlog limit {}",
                        self.writer.waiting(),
                        c.dropped.load(Ordering::Relaxed),
                        self.cap
                    ),
                );
                self.retry_at = Some(tokio::time::Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// What the writer reports when it stops: what it could not write and
    /// the last error if it was still failing.
    fn final_report(&self) -> EventLogReport {
        let w = &self.writer;
        let error = (!w.idle())
            .then(|| self.shared.outage.last_error())
            .flatten();
        let journaled_only = if w.journal.is_some() {
            w.unlogged_n as u64
        } else {
            0
        };
        EventLogReport {
            error,
            ..report(&self.shared.counters, w.waiting() as u64, journaled_only)
        }
    }
}

fn report(c: &Counters, unwritten: u64, unlogged_but_journaled: u64) -> EventLogReport {
    EventLogReport {
        written: c.written.load(Ordering::Relaxed),
        journaled: c.journaled.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
        unwritten,
        unlogged_but_journaled,
        error: None,
    }
}
