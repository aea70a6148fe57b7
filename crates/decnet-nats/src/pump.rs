//! JetStream → store: the server side of the scale-out path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use decnet_bus::{Bus, Envelope};
use decnet_core::Event;
use decnet_store::Store;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{ensure_stream, NatsError, DURABLE, STREAM};

/// Longest a stopping pump waits for its batch in hand to commit.
pub const FINISH_GRACE: Duration = Duration::from_secs(3);

/// The event in a stream message, if it is one and it is what its subject
/// says (a sensor cannot store an event of another decky, service or kind
/// than its subject names, nor anything under another topic).
fn checked_event(m: &jetstream::Message) -> Option<Event> {
    let env = serde_json::from_slice::<Envelope>(&m.payload).ok()?;
    let e = env.as_event()?;
    if !crate::scope::accepts(m.subject.as_str(), &env.topic) || e.subject() != env.topic {
        tracing::warn!(
            subject = m.subject.as_str(),
            topic = env.topic,
            "dropped an event that does not match its subject"
        );
        return None;
    }
    Some((**e).clone())
}

/// Inserts `events`, retrying every 500 ms until it works or `stop` fires;
/// true once committed. An attempt under way is not cut short by `stop`
/// (a live store finishes it); [`Pump::finish`] bounds a hung one.
async fn commit(
    store: &dyn Store,
    events: &[Event],
    inserted: &AtomicU64,
    stop: &CancellationToken,
) -> bool {
    loop {
        match store.insert_events(events).await {
            Ok(n) => {
                inserted.fetch_add(n, Ordering::Relaxed);
                return true;
            }
            Err(e) => {
                tracing::warn!("store insert failed ({e}); retrying before acking");
                if stop.is_cancelled() {
                    return false;
                }
                tokio::select! {
                    _ = stop.cancelled() => return false,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

/// How long one pull request waits for messages: 200–300 ms, drawn anew
/// for each fetch.
///
/// Not a constant, because nats-server before 2.10 hands every message to
/// the oldest waiting pull request until it is full or expires. With equal
/// expiries, the pumps of several servers fall into step: the same one
/// re-asks first after every expiry, stays oldest, and takes nearly all
/// of the stream while the others idle (seen in the scale-out test as
/// "0 + 180"). Random expiries keep changing which request is oldest, so
/// every server takes a share.
fn fetch_expiry() -> Duration {
    let jitter = (uuid::Uuid::new_v4().as_u128() % 101) as u64;
    Duration::from_millis(200 + jitter)
}

/// Counters of a pump.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PumpStats {
    /// Messages received from JetStream.
    pub received: u64,
    /// Events committed (including duplicates the store ignored).
    pub committed: u64,
    /// Events new to the store.
    pub inserted: u64,
}

/// Consumes the durable consumer: commit a batch, then ack it, then hand
/// the events to the local bus.
pub struct Pump {
    stop: CancellationToken,
    task: JoinHandle<()>,
    alive: watch::Receiver<()>,
    received: Arc<AtomicU64>,
    committed: Arc<AtomicU64>,
    inserted: Arc<AtomicU64>,
}

impl Pump {
    /// Starts consuming (creating the stream and durable consumer if missing).
    /// `ack_wait` is how long JetStream waits for an ack before
    /// redelivering (to any server) what a crashed server had fetched.
    pub async fn start(
        client: async_nats::Client,
        store: Arc<dyn Store>,
        local: Arc<dyn Bus>,
        batch: usize,
        ack_wait: Duration,
    ) -> Result<Pump, NatsError> {
        let js = jetstream::new(client);
        ensure_stream(&js, crate::DEFAULT_STREAM_MAX_BYTES).await?;
        let stream = js
            .get_stream(STREAM)
            .await
            .map_err(|e| NatsError::Nats(e.to_string()))?;
        let consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_or_create_consumer(
                DURABLE,
                pull::Config {
                    durable_name: Some(DURABLE.into()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| NatsError::Nats(e.to_string()))?;
        let stop = CancellationToken::new();
        let (received, committed, inserted) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, r, c, i) = (
            stop.clone(),
            received.clone(),
            committed.clone(),
            inserted.clone(),
        );
        let (alive_tx, alive) = watch::channel(());
        let task = tokio::spawn(async move {
            let _alive = alive_tx;
            while !s.is_cancelled() {
                let fetched = tokio::select! {
                    _ = s.cancelled() => break,
                    f = consumer
                        .fetch()
                        .max_messages(batch)
                        .expires(fetch_expiry())
                        .messages() => f,
                };
                let msgs = match fetched {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!("JetStream fetch: {e}");
                        tokio::select! {
                            _ = s.cancelled() => {}
                            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        }
                        continue;
                    }
                };
                let got: Vec<_> = msgs.filter_map(|m| async move { m.ok() }).collect().await;
                if got.is_empty() {
                    continue;
                }
                r.fetch_add(got.len() as u64, Ordering::Relaxed);
                let events: Vec<Event> = got.iter().filter_map(checked_event).collect();
                // Commit first; only then ack (at-least-once). Stopping
                // gives up on a store that does not answer: the batch is
                // not acked, so JetStream redelivers it to a live server.
                if !commit(&*store, &events, &i, &s).await {
                    break;
                }
                for m in &got {
                    let _ = m.ack().await;
                }
                c.fetch_add(events.len() as u64, Ordering::Relaxed);
                for e in events {
                    local.publish_event(e);
                }
            }
        });
        Ok(Pump {
            stop,
            task,
            alive,
            received,
            committed,
            inserted,
        })
    }

    /// Open while the pump's task runs, closed once it ended (health checks).
    pub fn alive(&self) -> watch::Receiver<()> {
        self.alive.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> PumpStats {
        PumpStats {
            received: self.received.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
            inserted: self.inserted.load(Ordering::Relaxed),
        }
    }

    /// Stops after the batch in hand is committed and acked, or, when the
    /// store or NATS does not answer, after [`FINISH_GRACE`] with that
    /// batch unacked (JetStream redelivers it).
    pub async fn finish(mut self) -> PumpStats {
        self.stop.cancel();
        if tokio::time::timeout(FINISH_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("JetStream pump did not stop in {FINISH_GRACE:?}; its batch in hand is left to redelivery");
            self.task.abort();
        }
        PumpStats {
            received: self.received.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
            inserted: self.inserted.load(Ordering::Relaxed),
        }
    }
}
