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

pub mod intel;
pub mod pump;
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

pub use intel::{IntelSingleton, SingletonConfig, SingletonStats};
pub use pump::{Pump, PumpStats};
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

/// Errors of the NATS layer.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Connecting or talking to NATS failed.
    #[error("nats: {0}")]
    Nats(String),
    /// Spool file trouble.
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// `nats://host:port` (or `tls://…`).
    pub url: String,
    /// Optional user/password.
    pub user: Option<(String, String)>,
    /// Optional CA file for TLS.
    pub ca_file: Option<PathBuf>,
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
            ca_file: std::env::var_os("DECNET_NATS_CA").map(PathBuf::from),
            stream_max_bytes: std::env::var("DECNET_NATS_STREAM_MAX_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_STREAM_MAX_BYTES),
            spool_dir,
            spool_max_bytes: 256 << 20,
        }
    }
}

/// Connects (retrying in the background when the server is not up yet).
pub async fn connect(cfg: &NatsConfig) -> Result<async_nats::Client, NatsError> {
    let mut opts = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .event_callback(|ev| async move {
            match ev {
                async_nats::Event::Disconnected => tracing::warn!(
                    "NATS disconnected; events go to the local spool until it returns"
                ),
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                other => tracing::debug!("NATS event: {other}"),
            }
        });
    if let Some((u, p)) = &cfg.user {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(ca) = &cfg.ca_file {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    opts.connect(cfg.url.as_str())
        .await
        .map_err(|e| NatsError::Nats(e.to_string()))
}

/// Creates the events stream if missing.
pub async fn ensure_stream(js: &jetstream::Context, max_bytes: i64) -> Result<(), NatsError> {
    js.get_or_create_stream(jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["events.>".into()],
        storage: jetstream::stream::StorageType::File,
        max_bytes,
        ..Default::default()
    })
    .await
    .map_err(|e| NatsError::Nats(e.to_string()))?;
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

/// A [`Bus`] over NATS (see the crate docs).
pub struct NatsBus {
    client: async_nats::Client,
    tx: mpsc::UnboundedSender<Envelope>,
    counters: Arc<Counters>,
    subscribers: AtomicU64,
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
        let pattern_owned = pattern.to_owned();
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let subscribed = match group {
                None => client.subscribe(pattern_owned.clone()).await,
                Some(g) => client.queue_subscribe(pattern_owned.clone(), g).await,
            };
            let mut sub = match subscribed {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("NATS subscribe {pattern_owned}: {e}");
                    q.close();
                    return;
                }
            };
            let weak = Arc::downgrade(&q);
            drop(q);
            while let Some(msg) = sub.next().await {
                let Some(q) = weak.upgrade() else { break };
                if let Ok(env) = serde_json::from_slice::<Envelope>(&msg.payload) {
                    q.push(Arc::new(env));
                }
            }
            let _ = sub.unsubscribe().await;
        });
        Ok(Subscription::from_queue(pattern, queue))
    }

    /// Connects and starts the publisher (and spool replayer).
    pub async fn start(cfg: &NatsConfig) -> Result<Arc<Self>, NatsError> {
        let client = connect(cfg).await?;
        let js = jetstream::new(client.clone());
        if let Err(e) = ensure_stream(&js, cfg.stream_max_bytes).await {
            tracing::warn!("cannot create the JetStream stream yet ({e}); will spool until it can");
        }
        let spool = Arc::new(Spool::open(&cfg.spool_dir, cfg.spool_max_bytes)?);
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(publisher(
            client.clone(),
            js.clone(),
            rx,
            spool.clone(),
            counters.clone(),
            cfg.stream_max_bytes,
        ));
        tokio::spawn(replayer(js, spool, counters.clone()));
        Ok(Arc::new(NatsBus {
            client,
            tx,
            counters,
            subscribers: AtomicU64::new(0),
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

    /// Waits until every event handed to `publish` so far is acked or spooled.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let c = &self.counters;
            let settled = c.acked.load(Ordering::Relaxed)
                + c.spooled.load(Ordering::Relaxed)
                + c.dropped.load(Ordering::Relaxed);
            if settled >= c.published.load(Ordering::Relaxed) {
                let _ = self.client.flush().await;
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Publishes events to JetStream with up to 512 acks in flight; a failed or
/// late ack sends the event to the spool. Non-event messages go to core NATS.
async fn publisher(
    client: async_nats::Client,
    js: jetstream::Context,
    mut rx: mpsc::UnboundedReceiver<Envelope>,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    max_bytes: i64,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut stream_ready = false;
    loop {
        tokio::select! {
            biased;
            Some((env_bytes, ok)) = in_flight.next(), if !in_flight.is_empty() => {
                let env_bytes: bytes::Bytes = env_bytes;
                if ok {
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                    if counters.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!("NATS acknowledges events again; leaving degraded mode");
                    }
                } else {
                    spool_one(&spool, &counters, &env_bytes);
                }
            }
            msg = rx.recv(), if in_flight.len() < 512 => {
                let Some(env) = msg else { break };
                let Ok(body) = serde_json::to_vec(&env) else { continue };
                let body = bytes::Bytes::from(body);
                if !env.topic.starts_with("events.") {
                    let _ = client.publish(env.topic.clone(), body).await;
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if !stream_ready {
                    stream_ready = ensure_stream(&js, max_bytes).await.is_ok();
                }
                let js = js.clone();
                let subject = env.topic.clone();
                in_flight.push(async move {
                    let sent = tokio::time::timeout(Duration::from_secs(3), async {
                        js.publish(subject, body.clone()).await.map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())
                    })
                    .await;
                    (body, matches!(sent, Ok(Ok(_))))
                });
            }
        }
    }
    while let Some((b, ok)) = in_flight.next().await {
        if ok {
            counters.acked.fetch_add(1, Ordering::Relaxed);
        } else {
            spool_one(&spool, &counters, &b);
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
async fn replayer(js: jetstream::Context, spool: Arc<Spool>, counters: Arc<Counters>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if spool.is_empty() {
            continue;
        }
        let replayed = spool
            .replay(|body| {
                let js = js.clone();
                async move {
                    let env: Envelope = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                    let ack = tokio::time::timeout(Duration::from_secs(3), async {
                        js.publish(env.topic, body.into())
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
