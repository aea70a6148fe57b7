//! One shared producer for every unfiltered `/stream` viewer (the
//! dashboard's default feed).
//!
//! With a bus subscription per viewer, 1,000 viewers at 5,000 events/s
//! meant 5 M queue pushes and 5 M tiny frames a second: the bus, not the
//! sockets, was the limit, and the load generator could not even keep its
//! rate (bench/history.md). The hub holds the only subscription, renders each batch
//! of events once into finished SSE bytes and hands the same `Bytes` to
//! every viewer through a bounded broadcast ring. A viewer costs one ring
//! read and one socket write per batch; a viewer that falls a whole ring
//! behind is told so and disconnected, and nobody else waits for it.
//!
//! Batching: a batch is flushed at once when the previous flush is older
//! than the coalescing window (no added latency at low rates); otherwise
//! events gather until the window has passed, so the frame rate per viewer
//! is bounded by `1 / window` whatever the event rate. The window grows
//! with the number of viewers ([`PER_VIEWER`] each, up to [`MAX_WINDOW`]):
//! every flush costs one socket write per viewer, so the writes per second
//! stay bounded (≈ 50,000) instead of growing with viewers × flushes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use decnet_bus::{Bus, Delivery, Envelope, Subscription};
use decnet_core::Event;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Most events in one `logs` frame (DECNET's batch).
pub const LOGS_BATCH: usize = 50;
/// Batches kept for slow viewers (≈ 1.3 s at the default window under load).
pub const RING: usize = 128;
/// A viewer further behind than this many events is cut as too slow
/// (≈ 0.8 s at 5,000 events/s); it reconnects and starts from a snapshot.
pub const MAX_BEHIND: u64 = 4_096;
/// Window added per attached viewer.
pub const PER_VIEWER: Duration = Duration::from_micros(20);
/// Largest window the viewer count can ask for.
pub const MAX_WINDOW: Duration = Duration::from_millis(25);
/// Queue of the hub's own bus subscription.
const HUB_QUEUE: usize = 65_536;
/// Most events rendered into one broadcast batch (bounds the ring's memory).
const MAX_BATCH: usize = 512;

/// The shared producer; cheap to clone through `Arc`.
pub struct StreamHub {
    tx: broadcast::Sender<Batch>,
    /// Events rendered so far (the `end_seq` of the newest batch).
    seq: Arc<AtomicU64>,
    /// Viewers cut as too slow.
    cuts: AtomicU64,
}

/// One flush: finished SSE bytes and the running event count at its end.
#[derive(Clone, Debug)]
pub struct Batch {
    /// `event: message` frames, ready for the socket.
    pub bytes: Bytes,
    /// Events rendered by the hub up to and including this batch.
    pub end_seq: u64,
}

/// What a viewer reads from the hub.
pub type HubReceiver = broadcast::Receiver<Batch>;

/// Why a viewer's stream must end.
#[derive(Debug, PartialEq, Eq)]
pub enum ViewerEnd {
    /// It fell too far behind; tell it to reconnect.
    TooSlow,
    /// The hub stopped (shutdown or bus closed).
    Closed,
}

impl StreamHub {
    /// Subscribes to every decky event on `bus` and starts the producer;
    /// it stops on `shutdown` or when the bus closes.
    pub fn start(
        bus: &Arc<dyn Bus>,
        window: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, decnet_bus::BusError> {
        let sub = bus.subscribe(
            "events.*.*.*",
            Delivery::Lossy {
                capacity: HUB_QUEUE,
            },
        )?;
        let (tx, _) = broadcast::channel(RING);
        let seq = Arc::new(AtomicU64::new(0));
        let hub = Arc::new(StreamHub {
            tx: tx.clone(),
            seq: seq.clone(),
            cuts: AtomicU64::new(0),
        });
        tokio::spawn(produce(sub, tx, seq, window, shutdown));
        Ok(hub)
    }

    /// A new viewer: receives every batch flushed from now on.
    pub fn subscribe(&self) -> HubReceiver {
        self.tx.subscribe()
    }

    /// The viewer's next batch, or why its stream ends.
    pub async fn next(&self, rx: &mut HubReceiver) -> Result<Bytes, ViewerEnd> {
        match rx.recv().await {
            Ok(b) => {
                let behind = self.seq.load(Ordering::Relaxed).saturating_sub(b.end_seq);
                if behind > MAX_BEHIND {
                    self.cuts.fetch_add(1, Ordering::Relaxed);
                    return Err(ViewerEnd::TooSlow);
                }
                Ok(b.bytes)
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.cuts.fetch_add(1, Ordering::Relaxed);
                Err(ViewerEnd::TooSlow)
            }
            Err(broadcast::error::RecvError::Closed) => Err(ViewerEnd::Closed),
        }
    }

    /// Viewers cut as too slow since start.
    pub fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }

    /// Viewers attached now.
    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }
}

async fn produce(
    mut sub: Subscription,
    tx: broadcast::Sender<Batch>,
    seq: Arc<AtomicU64>,
    window: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut held: Vec<Arc<Envelope>> = Vec::with_capacity(256);
    let mut last_flush = Instant::now() - window;
    let mut lost_reported = 0;
    loop {
        let first = tokio::select! {
            env = sub.recv() => env,
            _ = shutdown.wait_for(|v| *v) => None,
        };
        let Some(first) = first else { return };
        held.push(first);
        // Inside the window this gathers until it ends; past it, it only
        // takes what is already queued (one wake-up either way).
        let due = last_flush + effective_window(window, tx.receiver_count());
        sub.fill_batch(MAX_BATCH, due, &mut held).await;
        last_flush = Instant::now();
        let lost = sub.dropped();
        if lost > lost_reported {
            tracing::warn!(
                lost = lost - lost_reported,
                "stream hub fell behind the bus; live viewers missed events"
            );
            lost_reported = lost;
        }
        if tx.receiver_count() > 0 {
            let events: Vec<&Event> = held
                .iter()
                .filter_map(|e| e.as_event().map(|a| a.as_ref()))
                .collect();
            if !events.is_empty() {
                let bytes = render_logs(&events);
                let end_seq =
                    seq.fetch_add(events.len() as u64, Ordering::Relaxed) + events.len() as u64;
                // An error only means every viewer left meanwhile.
                let _ = tx.send(Batch { bytes, end_seq });
            }
        }
        held.clear();
    }
}

/// The coalescing window for `viewers` attached viewers.
pub fn effective_window(base: Duration, viewers: usize) -> Duration {
    let by_viewers = PER_VIEWER.saturating_mul(u32::try_from(viewers).unwrap_or(u32::MAX));
    base.max(by_viewers.min(MAX_WINDOW))
}

/// Finished SSE bytes: `event: message` frames of `{"data":[…],"type":"logs"}`,
/// at most [`LOGS_BATCH`] events each (DECNET's batch size).
pub fn render_logs(events: &[&Event]) -> Bytes {
    let mut out = BytesMut::with_capacity(events.len() * 512 + 64);
    for chunk in events.chunks(LOGS_BATCH) {
        out.put_slice(b"event: message\ndata: {\"data\":[");
        for (i, e) in chunk.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            crate::sse_json::write_event(&mut (&mut out).writer(), e);
        }
        out.put_slice(b"],\"type\":\"logs\"}\n\n");
    }
    out.freeze()
}

/// One finished SSE frame `event: <name>` with a JSON body (no newlines in
/// compact JSON, so one `data:` line).
pub fn frame_bytes(name: &str, data: &impl serde::Serialize) -> Bytes {
    let body = serde_json::to_value(data)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_else(|_| b"{}".to_vec());
    raw_frame(name, &body)
}

/// One finished SSE frame `event: <name>` around an already rendered
/// one-line body.
pub fn raw_frame(name: &str, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + name.len() + 16);
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(body);
    out.put_slice(b"\n\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::EventKind;

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event::new("web01", "http", EventKind::Request).with("path", format!("/{i}")))
            .collect()
    }

    #[test]
    fn rendered_frames_carry_the_serialised_events_in_batches_of_fifty() {
        let evs = events(120);
        let refs: Vec<&Event> = evs.iter().collect();
        let bytes = render_logs(&refs);
        let text = std::str::from_utf8(&bytes).unwrap();
        let frames: Vec<&str> = text.split_terminator("\n\n").collect();
        assert_eq!(frames.len(), 3);
        let mut seen = 0;
        for (f, chunk) in frames.iter().zip(refs.chunks(LOGS_BATCH)) {
            let data = f
                .strip_prefix("event: message\ndata: ")
                .expect("frame head");
            let want =
                serde_json::to_string(&serde_json::json!({"type": "logs", "data": chunk})).unwrap();
            assert_eq!(data, want);
            seen += chunk.len();
        }
        assert_eq!(seen, 120);
    }

    #[test]
    fn the_window_grows_with_viewers_up_to_its_cap() {
        let base = Duration::from_millis(10);
        assert_eq!(effective_window(base, 0), base);
        assert_eq!(effective_window(base, 100), base);
        assert_eq!(effective_window(base, 1000), Duration::from_millis(20));
        assert_eq!(effective_window(base, 100_000), MAX_WINDOW);
        assert_eq!(
            effective_window(Duration::from_millis(100), 1000),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn frame_bytes_match_a_json_frame() {
        let b = frame_bytes(
            "message",
            &serde_json::json!({"type": "stats", "data": {"b": 1, "a": 2}}),
        );
        assert_eq!(
            &b[..],
            b"event: message\ndata: {\"data\":{\"a\":2,\"b\":1},\"type\":\"stats\"}\n\n"
        );
    }

    #[tokio::test]
    async fn every_viewer_gets_every_event_once_and_frames_are_coalesced() {
        let bus: Arc<dyn Bus> = decnet_bus::MemoryBus::new();
        let (_stop, rx) = watch::channel(false);
        let hub = StreamHub::start(&bus, Duration::from_millis(20), rx).unwrap();
        let mut a = hub.subscribe();
        let mut b = hub.subscribe();
        assert_eq!(hub.viewers(), 2);
        for e in events(500) {
            bus.publish_event(e);
        }
        for rx in [&mut a, &mut b] {
            let mut got = 0;
            let mut writes = 0;
            while got < 500 {
                let bytes = tokio::time::timeout(Duration::from_secs(5), hub.next(rx))
                    .await
                    .expect("batch in time")
                    .expect("open");
                writes += 1;
                got += bytes.windows(7).filter(|w| w == b"\"path\":").count();
            }
            assert_eq!(got, 500);
            // 500 events published at once: a few coalesced writes, not 500.
            assert!(writes <= 5, "{writes} writes for 500 events");
        }
    }

    #[tokio::test]
    async fn a_viewer_too_far_behind_is_cut_and_others_are_not() {
        let bus: Arc<dyn Bus> = decnet_bus::MemoryBus::new();
        let (_stop, rx) = watch::channel(false);
        let hub = StreamHub::start(&bus, Duration::from_millis(1), rx).unwrap();
        let mut slow = hub.subscribe();
        let mut fast = hub.subscribe();
        let total = MAX_BEHIND as usize + 1_000;
        let mut got = 0;
        for chunk in events(total).chunks(100) {
            for e in chunk {
                bus.publish_event(e.clone());
            }
            // The fast viewer keeps up batch by batch.
            let mut n = 0;
            while n < chunk.len() {
                let b = tokio::time::timeout(Duration::from_secs(5), hub.next(&mut fast))
                    .await
                    .expect("in time")
                    .expect("fast viewer not cut");
                n += b.windows(7).filter(|w| w == b"\"path\":").count();
            }
            got += n;
        }
        assert_eq!(got, total);
        assert_eq!(hub.next(&mut slow).await, Err(ViewerEnd::TooSlow));
        assert_eq!(hub.cuts(), 1);
    }
}
