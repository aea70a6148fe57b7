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
                let msgs = match consumer
                    .fetch()
                    .max_messages(batch)
                    .expires(Duration::from_millis(250))
                    .messages()
                    .await
                {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!("JetStream fetch: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let got: Vec<_> = msgs.filter_map(|m| async move { m.ok() }).collect().await;
                if got.is_empty() {
                    continue;
                }
                r.fetch_add(got.len() as u64, Ordering::Relaxed);
                let mut events: Vec<Event> = Vec::with_capacity(got.len());
                for m in &got {
                    if let Ok(env) = serde_json::from_slice::<Envelope>(&m.payload) {
                        if let Some(e) = env.as_event() {
                            events.push((**e).clone());
                        }
                    }
                }
                // Commit first; only then ack (at-least-once).
                loop {
                    match store.insert_events(&events).await {
                        Ok(n) => {
                            i.fetch_add(n, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!("store insert failed ({e}); retrying before acking");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
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

    /// Stops after the batch in hand is committed and acked.
    pub async fn finish(self) -> PumpStats {
        self.stop.cancel();
        let _ = self.task.await;
        PumpStats {
            received: self.received.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
            inserted: self.inserted.load(Ordering::Relaxed),
        }
    }
}
