//! decnet-nats: the distributed engine (DESIGN §11).
//!
//! * [`NatsBus`] implements [`decnet_bus::Bus`] over NATS. `events.>` go to a
//!   JetStream stream with publisher acks; an event whose ack does not come
//!   (NATS down, timeout) is appended to a bounded on-disk spool and
//!   replayed when NATS answers again, so a sensor loses nothing while it
//!   is cut off. Other subjects (topology, identity, health…) are core NATS
//!   messages. Subscriptions are core NATS subscriptions feeding the same
//!   bounded local queues as the in-process bus.
//! * [`Pump`] is the server side: one durable pull consumer shared by every
//!   `serve` process (queue semantics), explicit ack only after the batch
//!   is committed to the store (at-least-once; the store deduplicates by
//!   event id → effectively once), then the events are handed to the
//!   process-local bus for response and the event log.
//! * [`IntelSingleton`]: intel runs on one server at a time (a store lease),
//!   fed by its own durable consumer; see [`intel`].

pub mod auth;
pub mod enroll;
pub mod intel;
pub mod pump;
pub mod scope;
pub mod spool;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use decnet_bus::{Bus, BusError, BusStats, Delivery, Envelope, Queue, Subscription};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use auth::{Credentials, CredentialsError, Secret};
pub use intel::{HolderRun, HolderTask, IntelSingleton, SingletonConfig, SingletonStats};
pub use pump::{Pump, PumpStats};
pub use scope::SensorName;
pub use spool::Spool;

/// JetStream stream holding decky events.
pub const STREAM: &str = "DECNET_EVENTS";
/// Default size cap of the events stream: none of our own (-1), so the
/// nats-server's JetStream storage limit applies. A fixed cap is reserved up
/// front by the server and makes stream creation fail on a small disk.
/// `DECNET_NATS_STREAM_MAX_BYTES` sets one.
pub const DEFAULT_STREAM_MAX_BYTES: i64 = -1;

/// Durable consumer shared by `serve` processes.
pub const DURABLE: &str = "decnet-serve";

/// How long a JetStream publish may wait for its ack before the event goes
/// to the spool.
const ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// Errors of the NATS layer.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Connecting or talking to NATS failed.
    #[error("nats: {0}")]
    Nats(String),
    /// Credentials could not be loaded.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Spool file trouble.
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// `nats://host:port` or `tls://host:port` (TLS required).
    pub url: String,
    /// Optional user/password (`DECNET_NATS_USER`, `DECNET_NATS_PASSWORD`).
    pub user: Option<(String, String)>,
    /// NKEY seed or `.creds` file (`DECNET_NATS_CREDS`); wins over `user`.
    pub creds_file: Option<PathBuf>,
    /// CA file the server's certificate must chain to (`DECNET_NATS_CA`);
    /// setting it requires TLS.
    pub ca_file: Option<PathBuf>,
    /// Set on a sensor: it publishes under `sensor.<name>.` and never
    /// manages the stream (see [`scope`]).
    pub sensor: Option<SensorName>,
    /// Stream size cap in bytes.
    pub stream_max_bytes: i64,
    /// Spool directory (sensor side).
    pub spool_dir: PathBuf,
    /// Spool size cap in bytes.
    pub spool_max_bytes: u64,
}

impl NatsConfig {
    /// Defaults for a URL and a spool directory.
    pub fn new(url: &str, spool_dir: PathBuf) -> Self {
        NatsConfig {
            url: url.to_owned(),
            user: std::env::var("DECNET_NATS_USER")
                .ok()
                .zip(std::env::var("DECNET_NATS_PASSWORD").ok()),
            creds_file: std::env::var_os("DECNET_NATS_CREDS").map(PathBuf::from),
            ca_file: std::env::var_os("DECNET_NATS_CA").map(PathBuf::from),
            sensor: None,
            stream_max_bytes: std::env::var("DECNET_NATS_STREAM_MAX_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_STREAM_MAX_BYTES),
            spool_dir,
            spool_max_bytes: 256 << 20,
        }
    }

    /// The credentials this configuration presents (files read now).
    pub fn credentials(&self) -> Result<Credentials, CredentialsError> {
        if let Some(path) = &self.creds_file {
            return Credentials::from_file(path);
        }
        Ok(match &self.user {
            Some((u, p)) => Credentials::UserPassword(u.clone(), Secret::new(p.clone())),
            None => Credentials::None,
        })
    }

    /// The subject `topic` is published on from this process.
    fn subject(&self, topic: &str) -> String {
        match &self.sensor {
            Some(name) => name.subject(topic),
            None => topic.to_owned(),
        }
    }
}

/// Connects (retrying in the background when the server is not up yet).
/// Credentials are loaded first: a missing or damaged file is an error now.
pub async fn connect(cfg: &NatsConfig) -> Result<async_nats::Client, NatsError> {
    let creds = cfg.credentials()?;
    let mut opts = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .event_callback(|ev| async move {
            match ev {
                async_nats::Event::Disconnected => tracing::warn!(
                    "NATS disconnected; events go to the local spool until it returns"
                ),
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                // Authorization and permission violations: the operator must see them.
                async_nats::Event::ServerError(e) => tracing::error!("NATS server error: {e}"),
                async_nats::Event::ClientError(e) => tracing::error!("NATS client error: {e}"),
                other => tracing::debug!("NATS event: {other}"),
            }
        });
    opts = creds
        .apply(opts)
        .map_err(|e| NatsError::Nats(format!("credentials: {e}")))?;
    if let Some(ca) = &cfg.ca_file {
        if !ca.is_file() {
            return Err(NatsError::Nats(format!(
                "CA file {} does not exist",
                ca.display()
            )));
        }
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    if cfg.url.starts_with("tls://") {
        opts = opts.require_tls(true);
    }
    if let Some(name) = &cfg.sensor {
        opts = opts
            .custom_inbox_prefix(name.inbox_prefix())
            .name(format!("decnet-sensor-{name}"));
    }
    opts.connect(cfg.url.as_str())
        .await
        .map_err(|e| NatsError::Nats(e.to_string()))
}

/// Creates the events stream if missing, and gives an existing one the
/// subjects it lacks (a stream made before sensors had their own prefix
/// holds only `events.>`).
pub async fn ensure_stream(js: &jetstream::Context, max_bytes: i64) -> Result<(), NatsError> {
    let wanted = scope::stream_subjects();
    let mut stream = js
        .get_or_create_stream(jetstream::stream::Config {
            name: STREAM.into(),
            subjects: wanted.clone(),
            storage: jetstream::stream::StorageType::File,
            max_bytes,
            ..Default::default()
        })
        .await
        .map_err(|e| NatsError::Nats(e.to_string()))?;
    let info = stream
        .info()
        .await
        .map_err(|e| NatsError::Nats(e.to_string()))?;
    let mut config = info.config.clone();
    let missing: Vec<String> = wanted
        .into_iter()
        .filter(|s| !config.subjects.contains(s))
        .collect();
    if !missing.is_empty() {
        tracing::info!(?missing, "adding subjects to the events stream");
        config.subjects.extend(missing);
        js.update_stream(config)
            .await
            .map_err(|e| NatsError::Nats(e.to_string()))?;
    }
    Ok(())
}

/// Counters of a [`NatsBus`].
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    acked: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
    degraded: AtomicBool,
}

impl Counters {
    /// Everything handed to `publish` is acked, spooled or lost.
    fn settled(&self) -> bool {
        self.acked.load(Ordering::Relaxed)
            + self.spooled.load(Ordering::Relaxed)
            + self.dropped.load(Ordering::Relaxed)
            >= self.published.load(Ordering::Relaxed)
    }
}

/// A [`Bus`] over NATS (see the crate docs).
pub struct NatsBus {
    client: async_nats::Client,
    tx: mpsc::UnboundedSender<Envelope>,
    counters: Arc<Counters>,
    subscribers: AtomicU64,
    sensor: Option<SensorName>,
    spool: Arc<Spool>,
    /// Cancelled by [`NatsBus::close`]: the publisher spools what it holds and ends.
    spool_now: CancellationToken,
    tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

/// Snapshot of a NATS bus' publishing state.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NatsStats {
    /// Envelopes handed to `publish`.
    pub published: u64,
    /// Events acknowledged by JetStream.
    pub acked: u64,
    /// Events written to the spool.
    pub spooled: u64,
    /// Spooled events replayed and acknowledged.
    pub replayed: u64,
    /// True while events are being spooled.
    pub degraded: bool,
}

/// What [`NatsBus::close`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Every event was acknowledged by JetStream or is in the spool.
    Settled,
    /// The grace period ran out: what was still in flight went to the spool.
    Spooled,
}

impl NatsBus {
    /// A subscription shared by every process subscribing with the same
    /// `group` (a NATS queue group): each message reaches one of them.
    /// Used for work that must happen once per cluster, like webhooks.
    pub fn subscribe_shared(
        &self,
        pattern: &str,
        group: &str,
        delivery: Delivery,
    ) -> Result<Subscription, BusError> {
        self.subscribe_in(pattern, Some(group.to_owned()), delivery)
    }

    fn subscribe_in(
        &self,
        pattern: &str,
        group: Option<String>,
        delivery: Delivery,
    ) -> Result<Subscription, BusError> {
        decnet_core::subject::validate_pattern(pattern).map_err(BusError::InvalidPattern)?;
        let queue = Queue::new(delivery);
        let q = queue.clone();
        let client = self.client.clone();
        // A server also hears sensors (their subjects carry a prefix); a
        // sensor's user may read nothing of the kind.
        let patterns = match self.sensor {
            Some(_) => vec![pattern.to_owned()],
            None => scope::server_patterns(pattern),
        };
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut subs = Vec::with_capacity(patterns.len());
            for p in &patterns {
                let subscribed = match &group {
                    None => client.subscribe(p.clone()).await,
                    Some(g) => client.queue_subscribe(p.clone(), g.clone()).await,
                };
                match subscribed {
                    Ok(s) => subs.push(s),
                    Err(e) => {
                        tracing::warn!("NATS subscribe {p}: {e}");
                        q.close();
                        return;
                    }
                }
            }
            let weak = Arc::downgrade(&q);
            drop(q);
            let mut merged = futures::stream::select_all(subs);
            while let Some(msg) = merged.next().await {
                let Some(q) = weak.upgrade() else { break };
                match serde_json::from_slice::<Envelope>(&msg.payload) {
                    Ok(env) if scope::accepts(msg.subject.as_str(), &env.topic) => {
                        q.push(Arc::new(env));
                    }
                    Ok(env) => tracing::warn!(
                        subject = msg.subject.as_str(),
                        topic = env.topic,
                        "dropped a message whose topic does not match its subject"
                    ),
                    Err(_) => {}
                }
            }
            for mut s in merged.into_iter() {
                let _ = s.unsubscribe().await;
            }
        });
        Ok(Subscription::from_queue(pattern, queue))
    }

    /// Connects and starts the publisher (and spool replayer). A server
    /// creates the events stream; a sensor leaves that to the servers (its
    /// user may not touch the JetStream API) and spools until one has.
    pub async fn start(cfg: &NatsConfig) -> Result<Arc<Self>, NatsError> {
        let client = connect(cfg).await?;
        let js = jetstream::new(client.clone());
        if cfg.sensor.is_none() {
            match tokio::time::timeout(
                Duration::from_secs(5),
                ensure_stream(&js, cfg.stream_max_bytes),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    "cannot create the JetStream stream yet ({e}); will spool until it can"
                ),
                Err(_) => {
                    tracing::warn!("NATS does not answer yet; events will spool until it does")
                }
            }
        }
        let spool = Arc::new(Spool::open(&cfg.spool_dir, cfg.spool_max_bytes)?);
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let spool_now = CancellationToken::new();
        let publisher = tokio::spawn(
            Publisher {
                client: client.clone(),
                js: js.clone(),
                spool: spool.clone(),
                counters: counters.clone(),
                cfg: cfg.clone(),
            }
            .run(rx, spool_now.clone()),
        );
        let replayer = tokio::spawn(replayer(js, cfg.clone(), spool.clone(), counters.clone()));
        Ok(Arc::new(NatsBus {
            client,
            tx,
            counters,
            subscribers: AtomicU64::new(0),
            sensor: cfg.sensor.clone(),
            spool,
            spool_now,
            tasks: parking_lot::Mutex::new(vec![publisher, replayer]),
        }))
    }

    /// Publishing state.
    pub fn nats_stats(&self) -> NatsStats {
        let c = &self.counters;
        NatsStats {
            published: c.published.load(Ordering::Relaxed),
            acked: c.acked.load(Ordering::Relaxed),
            spooled: c.spooled.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
            degraded: c.degraded.load(Ordering::Relaxed),
        }
    }

    /// The underlying client (for request/reply control messages).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Waits (at most `timeout`) until every event handed to `publish` so
    /// far is acked or spooled and the client has written what it buffered.
    /// Never longer: with NATS gone the client's own flush would wait for
    /// a reconnection that may never come.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.counters.settled() {
                let left = deadline.saturating_duration_since(Instant::now());
                // Core messages buffered while disconnected are lost with
                // the process anyway; events are safe (acked or spooled).
                let _ = tokio::time::timeout(left, self.client.flush()).await;
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Shuts publishing down within `grace`: waits for acks while they can
    /// still come, then puts every event not acknowledged into the spool,
    /// stops the replayer and syncs the spool to disk. Whatever NATS is
    /// doing, this returns within `grace` plus the time to write the spool.
    pub async fn close(&self, grace: Duration) -> Closed {
        let settled = self.flush(grace).await;
        self.spool_now.cancel();
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            // The replayer may be waiting on acks: it stops where it is
            // (its file is rewritten only after a replay round, so nothing
            // is lost, at worst re-sent).
            t.abort();
            let _ = t.await;
        }
        if let Err(e) = self.spool.sync() {
            tracing::error!("spool not synced to disk: {e}");
        }
        if settled {
            Closed::Settled
        } else {
            Closed::Spooled
        }
    }
}

/// The publishing side of a [`NatsBus`].
struct Publisher {
    client: async_nats::Client,
    js: jetstream::Context,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    cfg: NatsConfig,
}

impl Publisher {
    /// Publishes events to JetStream with up to 512 acks in flight; a
    /// failed or late ack sends the event to the spool. Non-event messages
    /// go to core NATS. When `spool_now` fires, every event in hand or in
    /// flight goes to the spool at once and the task ends.
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Envelope>, spool_now: CancellationToken) {
        let mut in_flight = FuturesUnordered::new();
        // Bodies of in-flight publishes, so a shutdown can spool them.
        let mut bodies: std::collections::HashMap<u64, bytes::Bytes> = Default::default();
        let mut seq = 0u64;
        let mut stream_ready = self.cfg.sensor.is_some();
        let mut last_stream_try: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                _ = spool_now.cancelled() => break,
                Some((id, ok)) = in_flight.next(), if !in_flight.is_empty() => {
                    let Some(body) = bodies.remove(&id) else { continue };
                    if ok {
                        self.counters.acked.fetch_add(1, Ordering::Relaxed);
                        if self.counters.degraded.swap(false, Ordering::Relaxed) {
                            tracing::info!("NATS acknowledges events again; leaving degraded mode");
                        }
                    } else {
                        spool_one(&self.spool, &self.counters, &body);
                    }
                }
                msg = rx.recv(), if in_flight.len() < 512 => {
                    let Some(env) = msg else { break };
                    let Ok(body) = serde_json::to_vec(&env) else { continue };
                    let body = bytes::Bytes::from(body);
                    let subject = self.cfg.subject(&env.topic);
                    if !env.topic.starts_with("events.") {
                        let _ = self.client.publish(subject, body).await;
                        self.counters.acked.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    // A server whose stream could not be made at start tries
                    // again, but not for every event while NATS is away.
                    if !stream_ready && last_stream_try.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                        last_stream_try = Some(Instant::now());
                        stream_ready = matches!(
                            tokio::time::timeout(Duration::from_secs(2), ensure_stream(&self.js, self.cfg.stream_max_bytes)).await,
                            Ok(Ok(()))
                        );
                    }
                    seq += 1;
                    bodies.insert(seq, body.clone());
                    let js = self.js.clone();
                    let id = seq;
                    in_flight.push(async move {
                        let sent = tokio::time::timeout(ACK_TIMEOUT, async {
                            js.publish(subject, body).await.map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())
                        })
                        .await;
                        (id, matches!(sent, Ok(Ok(_))))
                    });
                }
            }
        }
        if spool_now.is_cancelled() {
            // Shutdown past its grace: nothing more is awaited.
            drop(in_flight);
            for body in bodies.into_values() {
                spool_one(&self.spool, &self.counters, &body);
            }
            while let Ok(env) = rx.try_recv() {
                if env.topic.starts_with("events.") {
                    if let Ok(body) = serde_json::to_vec(&env) {
                        spool_one(&self.spool, &self.counters, &body);
                    }
                }
            }
            return;
        }
        while let Some((id, ok)) = in_flight.next().await {
            let Some(body) = bodies.remove(&id) else {
                continue;
            };
            if ok {
                self.counters.acked.fetch_add(1, Ordering::Relaxed);
            } else {
                spool_one(&self.spool, &self.counters, &body);
            }
        }
    }
}

fn spool_one(spool: &Spool, counters: &Counters, body: &[u8]) {
    if !counters.degraded.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "NATS did not acknowledge an event; spooling to disk until it does (degraded)"
        );
    }
    match spool.append(body) {
        Ok(()) => {
            counters.spooled.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!("event lost: spool full or unwritable: {e}");
        }
    }
}

/// Replays the spool whenever it is non-empty and NATS acknowledges.
async fn replayer(
    js: jetstream::Context,
    cfg: NatsConfig,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if spool.is_empty() {
            continue;
        }
        let replayed = spool
            .replay(|body| {
                let js = js.clone();
                let cfg = &cfg;
                async move {
                    let env: Envelope = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                    let ack = tokio::time::timeout(ACK_TIMEOUT, async {
                        js.publish(cfg.subject(&env.topic), body.into())
                            .await
                            .map_err(|e| e.to_string())?
                            .await
                            .map_err(|e| e.to_string())
                    })
                    .await
                    .map_err(|_| "ack timeout".to_string())?;
                    ack.map(|_| ())
                }
            })
            .await;
        match replayed {
            Ok(n) if n > 0 => {
                counters.replayed.fetch_add(n, Ordering::Relaxed);
                tracing::info!(events = n, "spool replayed to NATS");
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("spool replay paused: {e}"),
        }
    }
}

impl Bus for NatsBus {
    fn publish(&self, env: Envelope) {
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(env);
    }

    fn subscribe(&self, pattern: &str, delivery: Delivery) -> Result<Subscription, BusError> {
        self.subscribe_in(pattern, None, delivery)
    }

    fn stats(&self) -> BusStats {
        BusStats {
            published: self.counters.published.load(Ordering::Relaxed),
            subscribers: self.subscribers.load(Ordering::Relaxed) as usize,
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            lossless_backlog: 0,
        }
    }
}
