//! Intel as a cluster-wide singleton.
//!
//! Intel keeps whole attacker/identity/campaign rows in memory and upserts
//! them, so it must see every event and be the only writer: two servers
//! each profiling the share their pump committed overwrite each other's
//! counts. Every `serve` process runs an [`IntelSingleton`]; they contend
//! for the store lease `lease/intel` ([`decnet_store::lease`]). The holder
//! loads intel's rows from the store and feeds it from its own durable
//! consumer ([`DURABLE`], all of `events.>`, independent of the pumps'
//! shared `decnet-serve`), acking a message only once intel reports the
//! batch holding it committed. A dead holder stops renewing; once the lease
//! expires another server takes it and resumes from the consumer's unacked
//! messages — the ack wait is shorter than the lease TTL, so by then they
//! are all redeliverable — and intel's consumed-id table makes a message
//! committed but not acked before the crash count once.
//!
//! Other consumers that must run once per fleet ride on the same lease as
//! [`HolderTask`]s: started with intel on each tenure, fed the same local
//! bus, and a message is acked only once all of them are past it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, Message};
use decnet_bus::{Bus, Delivery, Envelope, MemoryBus};
use decnet_intel::{Intel, IntelConfig};
use decnet_store::lease::Lease;
use decnet_store::Store;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{ensure_stream, NatsError, STREAM};

/// Durable consumer read by the intel lease holder.
pub const DURABLE: &str = "decnet-intel";
/// Longest a stopping singleton waits for intel's last commit and the
/// lease release.
pub const FINISH_GRACE: Duration = Duration::from_secs(4);
/// Name of the store lease.
pub const LEASE: &str = decnet_store::lease::INTEL;

/// Timings of the singleton.
#[derive(Clone, Debug)]
pub struct SingletonConfig {
    /// How often the holder renews the lease.
    pub renew: Duration,
    /// How long a lease lives without renewal.
    pub ttl: Duration,
    /// How often a non-holder tries to take the lease.
    pub retry: Duration,
    /// JetStream redelivery delay of unacked messages; below `ttl`.
    pub ack_wait: Duration,
    /// Most messages in hand (fetched, not yet acked).
    pub window: usize,
    /// Intel's own tuning.
    pub intel: IntelConfig,
}

impl Default for SingletonConfig {
    fn default() -> Self {
        SingletonConfig {
            renew: Duration::from_secs(5),
            ttl: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            ack_wait: Duration::from_secs(10),
            window: 1000,
            intel: IntelConfig::default(),
        }
    }
}

/// What this process' singleton did.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct SingletonStats {
    /// Times this process took the lease.
    pub tenures: u64,
    /// Events intel applied here (new to the store's intel).
    pub processed: u64,
}

/// Another consumer that must run once per fleet, started with intel on
/// the lease holder and fed the same events (the ATT&CK tag worker: its
/// sequence and aggregate rules need every event of a source, and one
/// writer per fleet).
pub trait HolderTask: Send + Sync {
    /// What it is, for log lines.
    fn name(&self) -> &'static str;
    /// Starts it for one tenure: subscribe to `events` (the holder's local
    /// bus, carrying every `events.>` message the holder fetches) before
    /// returning.
    fn start(&self, events: &Arc<dyn Bus>) -> Result<Box<dyn HolderRun>, String>;
}

/// A [`HolderTask`] running for one tenure.
pub trait HolderRun: Send {
    /// How many envelopes of its subscription, in order, it has fully
    /// handled: the holder acks no message before every consumer is past it.
    fn committed(&self) -> watch::Receiver<u64>;
    /// Handles what it received and stops (called when the tenure ends).
    fn finish(self: Box<Self>) -> futures::future::BoxFuture<'static, ()>;
}

/// One process' contender for the intel lease (see the module docs).
pub struct IntelSingleton {
    stop: CancellationToken,
    task: JoinHandle<()>,
    alive: watch::Receiver<()>,
    holding: watch::Receiver<bool>,
    tenures: Arc<AtomicU64>,
    processed: Arc<AtomicU64>,
}

/// A holder id unique to this process: host, pid and a random suffix.
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &tag[..8])
}

impl IntelSingleton {
    /// Starts contending; identity events of intel go to `api_bus`.
    pub fn start(
        client: async_nats::Client,
        store: Arc<dyn Store>,
        api_bus: Arc<dyn Bus>,
        holder: String,
        cfg: SingletonConfig,
    ) -> IntelSingleton {
        Self::start_with(client, store, api_bus, holder, cfg, Vec::new())
    }

    /// Like [`start`](Self::start), and each tenure also runs `also` beside
    /// intel.
    pub fn start_with(
        client: async_nats::Client,
        store: Arc<dyn Store>,
        api_bus: Arc<dyn Bus>,
        holder: String,
        cfg: SingletonConfig,
        also: Vec<Arc<dyn HolderTask>>,
    ) -> IntelSingleton {
        let stop = CancellationToken::new();
        let tenures = Arc::new(AtomicU64::new(0));
        let processed = Arc::new(AtomicU64::new(0));
        let ctx = Ctx {
            js: jetstream::new(client),
            store: store.clone(),
            api_bus,
            cfg: cfg.clone(),
            stop: stop.clone(),
            processed: processed.clone(),
            also,
        };
        let t = tenures.clone();
        let (alive_tx, alive) = watch::channel(());
        let (holding_tx, holding) = watch::channel(false);
        let task = tokio::spawn(async move {
            let _alive = alive_tx;
            let mut lease = Lease::new(store, LEASE, &holder, cfg.ttl);
            while !ctx.stop.is_cancelled() {
                match lease.acquire_or_renew().await {
                    Ok(true) => {
                        t.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(holder, "intel lease taken: this server runs intel");
                        holding_tx.send_replace(true);
                        ctx.tenure(&mut lease).await;
                        holding_tx.send_replace(false);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!("intel lease: {e}"),
                }
                tokio::select! {
                    _ = ctx.stop.cancelled() => {}
                    _ = tokio::time::sleep(cfg.retry) => {}
                }
            }
            if let Err(e) = lease.release().await {
                tracing::warn!("intel lease not released ({e}); it expires by itself");
            }
        });
        IntelSingleton {
            stop,
            task,
            alive,
            holding,
            tenures,
            processed,
        }
    }

    /// Open while this contender's task runs (holding the lease or
    /// waiting for it), closed once it ended (health checks).
    pub fn alive(&self) -> watch::Receiver<()> {
        self.alive.clone()
    }

    /// True while this process holds the lease (other cluster-wide
    /// singletons, e.g. the alerts engine's emitting, follow it).
    pub fn holding(&self) -> watch::Receiver<bool> {
        self.holding.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> SingletonStats {
        SingletonStats {
            tenures: self.tenures.load(Ordering::Relaxed),
            processed: self.processed.load(Ordering::Relaxed),
        }
    }

    /// If holding: stops fetching, lets intel commit what it has, acks it
    /// and releases the lease so another server takes over at once.
    /// Bounded by [`FINISH_GRACE`]: a store or NATS that does not answer
    /// cannot hold the process; the lease then expires by itself and what
    /// was not acked is redelivered to the next holder.
    pub async fn finish(mut self) -> SingletonStats {
        self.stop.cancel();
        if tokio::time::timeout(FINISH_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("intel did not stop in {FINISH_GRACE:?}; its lease expires by itself");
            self.task.abort();
        }
        SingletonStats {
            tenures: self.tenures.load(Ordering::Relaxed),
            processed: self.processed.load(Ordering::Relaxed),
        }
    }
}

struct Ctx {
    js: jetstream::Context,
    store: Arc<dyn Store>,
    api_bus: Arc<dyn Bus>,
    cfg: SingletonConfig,
    stop: CancellationToken,
    processed: Arc<AtomicU64>,
    also: Vec<Arc<dyn HolderTask>>,
}

impl Ctx {
    async fn consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, NatsError> {
        ensure_stream(&self.js, crate::DEFAULT_STREAM_MAX_BYTES).await?;
        let stream = self
            .js
            .get_stream(STREAM)
            .await
            .map_err(|e| NatsError::Nats(e.to_string()))?;
        stream
            .get_or_create_consumer(
                DURABLE,
                pull::Config {
                    durable_name: Some(DURABLE.into()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.cfg.ack_wait,
                    max_ack_pending: i64::try_from(self.cfg.window).unwrap_or(i64::MAX),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| NatsError::Nats(e.to_string()))
    }

    /// Runs intel while the lease holds (or until stopped).
    async fn tenure(&self, lease: &mut Lease) {
        let consumer = match self.consumer().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "intel: cannot open its JetStream consumer ({e}); giving the lease up"
                );
                let _ = lease.release().await;
                return;
            }
        };
        let local: Arc<dyn Bus> = MemoryBus::new();
        let sub = match local.subscribe("events.>", Delivery::Lossless) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("intel: local subscription: {e}");
                let _ = lease.release().await;
                return;
            }
        };
        // Loaded now, not at process start: the previous holder's rows are
        // the starting point.
        let intel_cfg = IntelConfig {
            fence: lease.fence(),
            ..self.cfg.intel.clone()
        };
        let intel =
            match Intel::start(self.store.clone(), self.api_bus.clone(), sub, intel_cfg).await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!("intel: cannot load its state ({e}); giving the lease up");
                    let _ = lease.release().await;
                    return;
                }
            };
        let mut others = Vec::new();
        for task in &self.also {
            match task.start(&local) {
                Ok(run) => others.push(run),
                Err(e) => tracing::error!(
                    "{}: not started on the intel lease holder: {e}",
                    task.name()
                ),
            }
        }
        let mut committed = Committed(
            std::iter::once(intel.committed())
                .chain(others.iter().map(|r| r.committed()))
                .collect(),
        );
        let feed_stop = CancellationToken::new();
        let feed = tokio::spawn(feed(
            consumer,
            local,
            committed.clone(),
            self.cfg.window.max(1),
            feed_stop.clone(),
        ));
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => break,
                _ = tokio::time::sleep(self.cfg.renew) => {}
            }
            match lease.acquire_or_renew().await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    tracing::warn!("intel lease lost to another server; stopping intel here");
                    break;
                }
                Err(e) if renewed.elapsed() >= self.cfg.ttl => {
                    tracing::warn!(
                        "intel lease not renewed for a whole TTL ({e}); stopping intel here"
                    );
                    break;
                }
                Err(e) => tracing::warn!("intel lease renewal failed ({e}); retrying"),
            }
        }
        // Stop fetching first so intel's final drain sees everything in hand.
        feed_stop.cancel();
        let mut pending = feed.await.unwrap_or_default();
        match intel.finish().await {
            Ok(s) => {
                self.processed.fetch_add(s.processed, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!("intel stopped with an error ({e}); unacked events are redelivered")
            }
        }
        for run in others {
            run.finish().await;
        }
        pending.ack_upto(committed.done()).await;
    }
}

/// The committed prefixes of intel and the other holder tasks: a message
/// is done once all of them are past it.
#[derive(Clone)]
struct Committed(Vec<watch::Receiver<u64>>);

impl Committed {
    /// Messages every consumer has handled.
    fn done(&mut self) -> u64 {
        self.0
            .iter_mut()
            .map(|c| *c.borrow_and_update())
            .min()
            .unwrap_or(0)
    }

    /// Waits until one of them moves; false once one has ended (nothing
    /// more will be acked in this tenure).
    async fn changed(&mut self) -> bool {
        let moves = self.0.iter_mut().map(|c| Box::pin(c.changed()));
        futures::future::select_all(moves).await.0.is_ok()
    }
}

/// Messages fetched and handed to intel, oldest first, not yet acked.
#[derive(Default)]
struct Pending {
    msgs: VecDeque<Message>,
    /// Messages of this tenure acked so far (index of `msgs[0]`).
    acked: u64,
}

impl Pending {
    /// Acks the first `done` messages of the tenure.
    async fn ack_upto(&mut self, done: u64) {
        while self.acked < done {
            let Some(m) = self.msgs.pop_front() else {
                break;
            };
            if let Err(e) = m.ack().await {
                tracing::debug!("intel ack: {e} (redelivered, then skipped as seen)");
            }
            self.acked += 1;
        }
    }
}

/// Fetches into `local` (at most `window` unacked) and acks what intel has
/// committed; returns what is still unacked when stopped.
async fn feed(
    consumer: jetstream::consumer::Consumer<pull::Config>,
    local: Arc<dyn Bus>,
    mut committed: Committed,
    window: usize,
    stop: CancellationToken,
) -> Pending {
    let mut pending = Pending::default();
    loop {
        pending.ack_upto(committed.done()).await;
        if stop.is_cancelled() {
            return pending;
        }
        if pending.msgs.len() >= window {
            tokio::select! {
                alive = committed.changed() => if !alive { return pending },
                _ = stop.cancelled() => {}
            }
            continue;
        }
        let msgs = match consumer
            .fetch()
            .max_messages(window - pending.msgs.len())
            .expires(Duration::from_millis(250))
            .messages()
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("intel: JetStream fetch: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.cancelled() => {}
                }
                continue;
            }
        };
        let got: Vec<Message> = msgs.filter_map(|m| async move { m.ok() }).collect().await;
        for m in got {
            match serde_json::from_slice::<Envelope>(&m.payload) {
                Ok(env)
                    if env.topic.starts_with("events.")
                        && crate::scope::accepts(m.subject.as_str(), &env.topic) =>
                {
                    local.publish(env);
                    pending.msgs.push_back(m);
                }
                // Nothing intel would count: done with it.
                _ => {
                    let _ = m.ack().await;
                }
            }
        }
    }
}
