//! decnet-bus: subjects with wildcards, bounded per-subscriber queues.
//!
//! Publishing never blocks and never fails: it appends to each matching
//! subscriber's queue. Live viewers use [`Delivery::Lossy`] queues that drop
//! their oldest entry when full (and count it); the store ingester uses
//! [`Delivery::Lossless`], which never drops and exposes its depth so the
//! health endpoint can tell when the consumer falls behind.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use decnet_core::subject;
use decnet_core::Event;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

pub mod consumer;
pub use consumer::{BatchLoop, Retry, Step};

/// Envelope version.
pub const ENVELOPE_VERSION: u8 = 1;

/// What travels on the bus: `{v, id, topic, type, ts, payload}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// Envelope format version.
    pub v: u8,
    /// Unique id (the event id for decky events).
    pub id: Uuid,
    /// Subject it was published on.
    pub topic: String,
    /// Message type (`auth_attempt`, `mutation.applied`, `formed`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// Publication time.
    pub ts: DateTime<Utc>,
    /// Body.
    pub payload: Payload,
}

/// Envelope body: decky events stay typed (no re-serialisation in process).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// A decky event.
    Event(Arc<Event>),
    /// Anything else.
    Json(serde_json::Value),
}

impl Envelope {
    /// Envelope for a decky event on `events.<decky>.<service>.<kind>`.
    pub fn event(e: Event) -> Self {
        Envelope {
            v: ENVELOPE_VERSION,
            id: e.id,
            topic: e.subject(),
            kind: e.kind.as_str().to_owned(),
            ts: e.ts,
            payload: Payload::Event(Arc::new(e)),
        }
    }

    /// Envelope for a JSON message.
    pub fn json(
        topic: impl Into<String>,
        kind: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        Envelope {
            v: ENVELOPE_VERSION,
            id: Uuid::now_v7(),
            topic: topic.into(),
            kind: kind.into(),
            ts: Utc::now(),
            payload: Payload::Json(payload),
        }
    }

    /// The decky event inside, if this is one.
    pub fn as_event(&self) -> Option<&Arc<Event>> {
        match &self.payload {
            Payload::Event(e) => Some(e),
            Payload::Json(_) => None,
        }
    }
}

/// Why a subscription could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The subject pattern is malformed.
    #[error("invalid subject pattern: {0}")]
    InvalidPattern(String),
    /// The backend (e.g. NATS) failed.
    #[error("bus backend error: {0}")]
    Backend(String),
}

/// How a subscriber wants messages delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Bounded queue; the oldest message is dropped (and counted) on overflow.
    Lossy {
        /// Maximum queued messages.
        capacity: usize,
    },
    /// Unbounded queue that never drops; for the store ingester only.
    Lossless,
}

/// Counters of a bus.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BusStats {
    /// Messages published.
    pub published: u64,
    /// Live subscriptions.
    pub subscribers: usize,
    /// Messages dropped from lossy queues, all subscribers.
    pub dropped: u64,
    /// Deepest lossless queue right now.
    pub lossless_backlog: usize,
}

/// A publish/subscribe bus.
pub trait Bus: Send + Sync + 'static {
    /// Publishes; never blocks, never fails.
    fn publish(&self, env: Envelope);
    /// Subscribes to a pattern (`events.>`, `topology.42.*`).
    fn subscribe(&self, pattern: &str, delivery: Delivery) -> Result<Subscription, BusError>;
    /// Counters.
    fn stats(&self) -> BusStats;

    /// Publishes a decky event.
    fn publish_event(&self, e: Event) {
        self.publish(Envelope::event(e));
    }
}

/// A subscriber's queue.
#[derive(Debug)]
pub struct Queue {
    items: Mutex<VecDeque<Arc<Envelope>>>,
    capacity: Option<usize>,
    notify: Notify,
    /// Queue length at which a push wakes the consumer. 1 except while the
    /// consumer fills a batch ([`Subscription::fill_batch`]): then it wants
    /// one wake-up for the whole batch, not one per message.
    wake_at: AtomicUsize,
    dropped: AtomicU64,
    closed: AtomicBool,
}

impl Queue {
    /// New queue for the given delivery mode.
    pub fn new(delivery: Delivery) -> Arc<Self> {
        let capacity = match delivery {
            Delivery::Lossy { capacity } => Some(capacity.max(1)),
            Delivery::Lossless => None,
        };
        Arc::new(Queue {
            items: Mutex::new(VecDeque::with_capacity(capacity.unwrap_or(1024).min(1024))),
            capacity,
            notify: Notify::new(),
            wake_at: AtomicUsize::new(1),
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// Appends, dropping the oldest entry of a full lossy queue. Returns true if one was dropped.
    pub fn push(&self, env: Arc<Envelope>) -> bool {
        let mut dropped = false;
        let len = {
            let mut q = self.items.lock();
            if let Some(cap) = self.capacity {
                if q.len() >= cap {
                    q.pop_front();
                    dropped = true;
                }
            }
            q.push_back(env);
            q.len()
        };
        if dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if len >= self.wake_at.load(Ordering::Acquire) {
            self.notify.notify_one();
        }
        dropped
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the queue closed; `recv` returns `None` once drained.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}

/// The receiving end of a subscription; dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    queue: Arc<Queue>,
    pattern: String,
}

impl Subscription {
    /// Wraps a queue (used by bus implementations).
    pub fn from_queue(pattern: &str, queue: Arc<Queue>) -> Self {
        Subscription {
            queue,
            pattern: pattern.to_owned(),
        }
    }

    /// Next message; `None` when the bus closed the subscription.
    pub async fn recv(&mut self) -> Option<Arc<Envelope>> {
        loop {
            let notified = self.queue.notify.notified();
            if let Some(env) = self.queue.items.lock().pop_front() {
                return Some(env);
            }
            if self.queue.closed.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    /// Waits for at least one message, then takes up to `max` without waiting.
    pub async fn recv_batch(&mut self, max: usize, out: &mut Vec<Arc<Envelope>>) -> bool {
        let Some(first) = self.recv().await else {
            return false;
        };
        out.push(first);
        let mut q = self.queue.items.lock();
        while out.len() < max {
            match q.pop_front() {
                Some(e) => out.push(e),
                None => break,
            }
        }
        true
    }

    /// A batching consumer's next batch: waits for a first message, then
    /// tops `out` up to `max` for at most `wait` (one wake-up per batch).
    /// False when the subscription closed with nothing taken. Messages taken
    /// stay in `out` if the future is dropped (e.g. a stop signal won a
    /// `select!`).
    pub async fn next_batch(
        &mut self,
        max: usize,
        wait: std::time::Duration,
        out: &mut Vec<Arc<Envelope>>,
    ) -> bool {
        if !self.recv_batch(max, out).await {
            return false;
        }
        if out.len() < max {
            let deadline = tokio::time::Instant::now() + wait;
            self.fill_batch(max, deadline, out).await;
        }
        true
    }

    /// Tops `out` up to `max` messages, waiting until `deadline` at most;
    /// returns early once `max` are taken or the subscription is closed.
    /// The consumer is woken once when enough messages are queued (or at the
    /// deadline), not once per message: a batching consumer (store ingester,
    /// intel, event log) then costs one wake-up per batch.
    pub async fn fill_batch(
        &mut self,
        max: usize,
        deadline: tokio::time::Instant,
        out: &mut Vec<Arc<Envelope>>,
    ) {
        let queue = self.queue.clone();
        // Back to one wake-up per message however this returns (also when
        // the caller's select! drops this future).
        struct Reset<'a>(&'a Queue);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.wake_at.store(1, Ordering::Release);
            }
        }
        let _reset = Reset(&queue);
        loop {
            let notified = queue.notify.notified();
            {
                let mut q = queue.items.lock();
                while out.len() < max {
                    match q.pop_front() {
                        Some(e) => out.push(e),
                        None => break,
                    }
                }
                if out.len() >= max || queue.closed.load(Ordering::Acquire) {
                    return;
                }
                // Set under the lock: a push after this sees the new
                // threshold, one before it was drained above.
                // A lossy queue never grows past its capacity.
                let want = (max - out.len()).min(queue.capacity.unwrap_or(usize::MAX));
                queue.wake_at.store(want, Ordering::Release);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let mut q = queue.items.lock();
                while out.len() < max {
                    match q.pop_front() {
                        Some(e) => out.push(e),
                        None => break,
                    }
                }
                return;
            }
        }
    }

    /// Takes one message if present.
    pub fn try_recv(&mut self) -> Option<Arc<Envelope>> {
        self.queue.items.lock().pop_front()
    }

    /// Messages this subscription lost to overflow.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }

    /// Messages waiting.
    pub fn backlog(&self) -> usize {
        self.queue.len()
    }

    /// The pattern subscribed to.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.queue.close();
    }
}

struct Sub {
    pattern: String,
    queue: Weak<Queue>,
    lossless: bool,
}

/// In-process bus: one process, no persistence.
#[derive(Default)]
pub struct MemoryBus {
    subs: RwLock<Vec<Sub>>,
    published: AtomicU64,
    dropped: AtomicU64,
    live: AtomicUsize,
}

impl MemoryBus {
    /// New empty bus.
    pub fn new() -> Arc<Self> {
        Arc::new(MemoryBus::default())
    }

    fn prune(&self) {
        let mut subs = self.subs.write();
        subs.retain(|s| {
            s.queue
                .upgrade()
                .is_some_and(|q| !q.closed.load(Ordering::Acquire))
        });
        self.live.store(subs.len(), Ordering::Relaxed);
    }
}

impl Bus for MemoryBus {
    fn publish(&self, env: Envelope) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let env = Arc::new(env);
        let mut stale = false;
        {
            let subs = self.subs.read();
            for s in subs.iter() {
                if !subject::matches(&s.pattern, &env.topic) {
                    continue;
                }
                match s.queue.upgrade() {
                    Some(q) if !q.closed.load(Ordering::Acquire) => {
                        if q.push(env.clone()) {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => stale = true,
                }
            }
        }
        if stale {
            self.prune();
        }
    }

    fn subscribe(&self, pattern: &str, delivery: Delivery) -> Result<Subscription, BusError> {
        subject::validate_pattern(pattern).map_err(BusError::InvalidPattern)?;
        let queue = Queue::new(delivery);
        {
            let mut subs = self.subs.write();
            subs.push(Sub {
                pattern: pattern.to_owned(),
                queue: Arc::downgrade(&queue),
                lossless: delivery == Delivery::Lossless,
            });
            self.live.store(subs.len(), Ordering::Relaxed);
        }
        Ok(Subscription::from_queue(pattern, queue))
    }

    fn stats(&self) -> BusStats {
        let subs = self.subs.read();
        let backlog = subs
            .iter()
            .filter(|s| s.lossless)
            .filter_map(|s| s.queue.upgrade())
            .map(|q| q.len())
            .max()
            .unwrap_or(0);
        BusStats {
            published: self.published.load(Ordering::Relaxed),
            subscribers: subs.iter().filter(|s| s.queue.strong_count() > 0).count(),
            dropped: self.dropped.load(Ordering::Relaxed),
            lossless_backlog: backlog,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::EventKind;

    fn ev(decky: &str, service: &str, kind: EventKind) -> Envelope {
        Envelope::event(Event::new(decky, service, kind))
    }

    #[tokio::test]
    async fn routes_by_wildcards() {
        let bus = MemoryBus::new();
        let mut all = bus.subscribe("events.>", Delivery::Lossless).unwrap();
        let mut ssh = bus
            .subscribe("events.*.ssh.*", Delivery::Lossy { capacity: 8 })
            .unwrap();
        let mut topo = bus
            .subscribe("topology.7.>", Delivery::Lossy { capacity: 8 })
            .unwrap();
        bus.publish(ev("web01", "ssh", EventKind::Connect));
        bus.publish(ev("web01", "http", EventKind::Request));
        bus.publish(Envelope::json(
            "topology.7.status",
            "status",
            serde_json::json!({"status":"active"}),
        ));
        bus.publish(Envelope::json(
            "topology.8.status",
            "status",
            serde_json::json!({}),
        ));
        assert_eq!(all.recv().await.unwrap().kind, "connect");
        assert_eq!(all.recv().await.unwrap().kind, "request");
        assert!(all.try_recv().is_none());
        assert_eq!(ssh.recv().await.unwrap().topic, "events.web01.ssh.connect");
        assert!(ssh.try_recv().is_none());
        assert_eq!(topo.recv().await.unwrap().topic, "topology.7.status");
        assert!(topo.try_recv().is_none());
        assert_eq!(bus.stats().published, 4);
    }

    #[tokio::test]
    async fn lossy_drops_oldest_and_counts_lossless_keeps_all() {
        let bus = MemoryBus::new();
        let mut lossy = bus
            .subscribe("events.>", Delivery::Lossy { capacity: 3 })
            .unwrap();
        let mut lossless = bus.subscribe("events.>", Delivery::Lossless).unwrap();
        let ids: Vec<_> = (0..10)
            .map(|_| {
                let e = ev("d", "s", EventKind::Scan);
                let id = e.id;
                bus.publish(e);
                id
            })
            .collect();
        assert_eq!(lossy.dropped(), 7);
        assert_eq!(bus.stats().dropped, 7);
        let got: Vec<_> = std::iter::from_fn(|| lossy.try_recv())
            .map(|e| e.id)
            .collect();
        assert_eq!(got, ids[7..]);
        assert_eq!(bus.stats().lossless_backlog, 10);
        let mut batch = Vec::new();
        assert!(lossless.recv_batch(100, &mut batch).await);
        assert_eq!(batch.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    }

    #[tokio::test]
    async fn dropping_subscription_unsubscribes_and_recv_wakes() {
        let bus = MemoryBus::new();
        let sub = bus
            .subscribe("a.>", Delivery::Lossy { capacity: 1 })
            .unwrap();
        drop(sub);
        bus.publish(Envelope::json("a.b", "x", serde_json::json!(1)));
        assert_eq!(bus.stats().subscribers, 0);
        let mut s2 = bus.subscribe("a.>", Delivery::Lossless).unwrap();
        let b2 = bus.clone();
        let h = tokio::spawn(async move { s2.recv().await.map(|e| e.topic.clone()) });
        tokio::task::yield_now().await;
        b2.publish(Envelope::json("a.c", "x", serde_json::json!(1)));
        assert_eq!(h.await.unwrap().as_deref(), Some("a.c"));
        assert!(bus.subscribe("a.>.b", Delivery::Lossless).is_err());
    }

    /// Counts how often a consumer task is polled while `fill_batch` waits.
    struct CountPolls<F> {
        inner: std::pin::Pin<Box<F>>,
        polls: Arc<AtomicUsize>,
    }

    impl<F: std::future::Future> std::future::Future for CountPolls<F> {
        type Output = F::Output;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<F::Output> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.inner.as_mut().poll(cx)
        }
    }

    #[tokio::test]
    async fn fill_batch_wakes_once_when_full_not_per_message() {
        let bus = MemoryBus::new();
        let mut sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
        let polls = Arc::new(AtomicUsize::new(0));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        let task = tokio::spawn(CountPolls {
            inner: Box::pin(async move {
                let mut out = Vec::new();
                sub.fill_batch(100, deadline, &mut out).await;
                out
            }),
            polls: polls.clone(),
        });
        tokio::task::yield_now().await;
        let mut ids = Vec::new();
        for _ in 0..100 {
            let e = ev("d", "s", EventKind::Scan);
            ids.push(e.id);
            bus.publish(e);
            tokio::task::yield_now().await;
        }
        let out = tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("woken when the batch was full, long before the deadline")
            .unwrap();
        assert_eq!(out.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
        // First poll parks; one wake when the 100th message arrives (a
        // spurious extra poll is tolerated, one per message is not).
        assert!(polls.load(Ordering::Relaxed) <= 3, "{polls:?}");
        // Back to waking per message for plain recv.
        let mut sub = bus.subscribe("x.>", Delivery::Lossless).unwrap();
        let b = bus.clone();
        let h = tokio::spawn(async move { sub.recv().await.map(|e| e.topic.clone()) });
        tokio::task::yield_now().await;
        b.publish(Envelope::json("x.y", "x", serde_json::json!(1)));
        assert_eq!(h.await.unwrap().as_deref(), Some("x.y"));
    }

    #[tokio::test]
    async fn fill_batch_returns_what_arrived_at_the_deadline_and_resets() {
        let bus = MemoryBus::new();
        let mut sub = bus
            .subscribe("events.>", Delivery::Lossy { capacity: 4 })
            .unwrap();
        for _ in 0..3 {
            bus.publish(ev("d", "s", EventKind::Scan));
        }
        let mut out = Vec::new();
        let t = tokio::time::Instant::now();
        sub.fill_batch(1000, t + std::time::Duration::from_millis(50), &mut out)
            .await;
        assert_eq!(out.len(), 3);
        assert!(t.elapsed() >= std::time::Duration::from_millis(50));
        // A lossy queue caps the threshold at its capacity: a full queue
        // wakes the consumer, which moves it into the batch before it drops.
        out.clear();
        let b = bus.clone();
        let h = tokio::spawn(async move {
            let mut out = Vec::new();
            let end = tokio::time::Instant::now() + std::time::Duration::from_millis(300);
            sub.fill_batch(1000, end, &mut out).await;
            (out.len(), sub)
        });
        tokio::task::yield_now().await;
        for _ in 0..12 {
            b.publish(ev("d", "s", EventKind::Scan));
            tokio::task::yield_now().await;
        }
        let (n, mut sub) = h.await.unwrap();
        assert_eq!((n, sub.dropped()), (12, 0));
        // A closed subscription ends the wait.
        sub.queue.close();
        let mut out = Vec::new();
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sub.fill_batch(10, far, &mut out),
        )
        .await
        .expect("close ends fill_batch");
    }

    #[test]
    fn envelope_serialises_with_type_field() {
        let env = ev("web01", "ssh", EventKind::AuthAttempt);
        let v: serde_json::Value = serde_json::to_value(&env).unwrap();
        assert_eq!(v["type"], "auth_attempt");
        assert_eq!(v["v"], 1);
        assert_eq!(v["payload"]["decky"], "web01");
        let back: Envelope = serde_json::from_value(v).unwrap();
        assert!(back.as_event().is_some());
    }
}
