//! At-least-once delivery of alerts (and, for channels configured with
//! `subjects`, of bus messages) to channels.
//!
//! [`Delivery::submit`] routes each alert to the channels that want it
//! ([`Delivery::submit_envelopes`] each bus message likewise),
//! writes one spool record per (alert, channel) and fsyncs them **before**
//! any channel sees them, then hands them to each channel's lane (see
//! [`lane`]). A lane acks a message in the spool once it is sent, refused
//! for good or given up; on start, [`Delivery::open`] replays every record
//! without an ack. So a crash or a restart loses nothing: at worst a
//! message whose ack was not yet on disk is sent twice (channels that can,
//! carry the alert id so receivers can drop the copy).

pub mod backoff;
pub mod breaker;
pub mod history;
pub mod lane;
pub mod spool;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::alert::Alert;
use crate::channels::Channel;
use crate::config::{ChannelConfig, DeliveryConfig};
use decnet_bus::Envelope;
use history::{History, HistoryPage};
use lane::{Command, Lane, LaneState, Message};
use spool::{AckRecord, Final, Item, Opened, Spool, SpoolError, SpoolStats};

/// A delivery failure.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The spool could not be read or written.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The blocking writer task died.
    #[error("spool writer task failed: {0}")]
    Task(String),
}

/// A channel's configuration with the channel built from it.
pub type ConfiguredChannel = (ChannelConfig, Arc<dyn Channel>);

/// Spool and history, shared by the lanes.
pub struct Shared {
    /// The spool.
    pub spool: Mutex<Spool>,
    /// The history.
    pub history: Mutex<History>,
}

struct LaneHandle {
    config: ChannelConfig,
    channel: Arc<dyn Channel>,
    state: Arc<LaneState>,
    tx: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

/// One channel's delivery state, as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelState {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Taking alerts?
    pub enabled: bool,
    /// Where it points (host only).
    pub target: String,
    /// `closed`, `open` or `half_open`.
    pub circuit: &'static str,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// Times the breaker opened.
    pub breaker_opened: u64,
    /// Queue and outcome counters.
    #[serde(flatten)]
    pub counters: lane::Counters,
}

/// See the module doc.
pub struct Delivery {
    shared: Arc<Shared>,
    cfg: DeliveryConfig,
    lanes: Mutex<BTreeMap<String, LaneHandle>>,
}

fn spawn_lane(
    shared: &Arc<Shared>,
    cfg: &DeliveryConfig,
    config: ChannelConfig,
    channel: Arc<dyn Channel>,
    state: Option<Arc<LaneState>>,
) -> LaneHandle {
    let state = state.unwrap_or_else(|| LaneState::new(cfg));
    let (tx, rx) = mpsc::unbounded_channel();
    let lane = Arc::new(Lane {
        channel: channel.clone(),
        state: state.clone(),
        shared: shared.clone(),
        cfg: cfg.clone(),
    });
    let task = tokio::spawn(lane.run(rx));
    LaneHandle {
        config,
        channel,
        state,
        tx,
        task,
    }
}

impl Delivery {
    /// Opens the spool in `dir`, starts one lane per channel and replays
    /// what the spool still holds. Records for channels that no longer
    /// exist are acked as dropped.
    pub fn open(
        dir: &Path,
        cfg: DeliveryConfig,
        channels: Vec<ConfiguredChannel>,
    ) -> Result<Delivery, DeliveryError> {
        Self::open_with(dir, cfg, channels, None)
    }

    /// [`Delivery::open`], with every history change (the replayed ones
    /// included) also handed to `sink`.
    pub fn open_with(
        dir: &Path,
        cfg: DeliveryConfig,
        channels: Vec<ConfiguredChannel>,
        sink: Option<Arc<dyn history::HistorySink>>,
    ) -> Result<Delivery, DeliveryError> {
        let Opened { spool, pending } =
            Spool::open(dir, cfg.spool_segment_bytes, cfg.spool_max_messages)?;
        let mut history = History::new(cfg.history);
        if let Some(sink) = sink {
            history.set_sink(sink);
        }
        let shared = Arc::new(Shared {
            spool: Mutex::new(spool),
            history: Mutex::new(history),
        });
        let lanes: BTreeMap<String, LaneHandle> = channels
            .into_iter()
            .map(|(c, ch)| (c.name.clone(), spawn_lane(&shared, &cfg, c, ch, None)))
            .collect();
        let now = Utc::now();
        for r in pending {
            match lanes.get(&r.channel) {
                Some(l) => {
                    if let Some(a) = r.item.alert() {
                        shared
                            .history
                            .lock()
                            .add(a.clone(), &[(r.seq, r.channel.clone())], now);
                    }
                    let _ = l.tx.send(Command::Push(Message {
                        seq: r.seq,
                        item: r.item,
                        queued_at: r.queued_at,
                    }));
                }
                None => {
                    shared.spool.lock().ack(&AckRecord {
                        seq: r.seq,
                        state: Final::Dropped,
                        attempts: 0,
                        at: now,
                        error: Some(format!("channel {} is no longer configured", r.channel)),
                    })?;
                }
            }
        }
        Ok(Delivery {
            shared,
            cfg,
            lanes: Mutex::new(lanes),
        })
    }

    /// Queues alerts on every channel that wants them (spooled and fsync'd
    /// first). If the spool cannot be written the alerts are still
    /// delivered, from memory, and the error is returned so it is seen.
    pub async fn submit(&self, alerts: &[Arc<Alert>]) -> Result<(), DeliveryError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let items: Vec<(String, Item)> = {
            let lanes = self.lanes.lock();
            alerts
                .iter()
                .flat_map(|a| {
                    lanes
                        .values()
                        .filter(|l| l.config.wants(&a.rule, a.severity, &a.kind))
                        .map(|l| (l.config.name.clone(), Item::Alert(a.clone())))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        self.enqueue(items, alerts).await
    }

    /// Queues bus messages on every channel whose `subjects` match them,
    /// exactly as [`Delivery::submit`] queues alerts.
    pub async fn submit_envelopes(&self, envs: &[Arc<Envelope>]) -> Result<(), DeliveryError> {
        let items: Vec<(String, Item)> = {
            let lanes = self.lanes.lock();
            envs.iter()
                .flat_map(|e| {
                    lanes
                        .values()
                        .filter(|l| l.config.wants_subject(&e.topic))
                        .map(|l| (l.config.name.clone(), Item::Envelope(e.clone())))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        if items.is_empty() {
            return Ok(());
        }
        self.enqueue(items, &[]).await
    }

    /// Spools `items`, records `alerts` (the alerts among them) in the
    /// history, and hands each item to its channel's lane.
    async fn enqueue(
        &self,
        items: Vec<(String, Item)>,
        alerts: &[Arc<Alert>],
    ) -> Result<(), DeliveryError> {
        let now = Utc::now();
        let shared = self.shared.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut spool = shared.spool.lock();
            let r = spool.append(&items, now);
            r.map_err(|e| (e, spool.unspooled(&items, now)))
        })
        .await
        .map_err(|e| DeliveryError::Task(e.to_string()))?;
        let (records, dropped, failure) = match written {
            Ok((records, dropped)) => (records, dropped, None),
            Err((e, records)) => (records, Vec::new(), Some(e)),
        };
        if !alerts.is_empty() {
            let mut by_alert: BTreeMap<uuid::Uuid, Vec<(u64, String)>> = BTreeMap::new();
            for r in &records {
                if let Some(a) = r.item.alert() {
                    by_alert
                        .entry(a.id)
                        .or_default()
                        .push((r.seq, r.channel.clone()));
                }
            }
            let mut h = self.shared.history.lock();
            for a in alerts {
                let d = by_alert.remove(&a.id).unwrap_or_default();
                h.add(a.clone(), &d, now);
            }
        }
        let lanes = self.lanes.lock();
        for r in records {
            if let Some(l) = lanes.get(&r.channel) {
                let _ = l.tx.send(Command::Push(Message {
                    seq: r.seq,
                    item: r.item,
                    queued_at: r.queued_at,
                }));
            }
        }
        for seq in dropped {
            for l in lanes.values() {
                let _ = l.tx.send(Command::Cancel(seq));
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => Err(DeliveryError::Spool(e)),
        }
    }

    /// A page of the history, newest first.
    pub fn history(&self, limit: usize, offset: usize) -> HistoryPage {
        self.shared.history.lock().page(limit, offset)
    }

    /// One alert and its deliveries.
    pub fn alert(&self, id: uuid::Uuid) -> Option<history::AlertRecord> {
        self.shared.history.lock().get(id)
    }

    /// Spool counters.
    pub fn spool_stats(&self) -> SpoolStats {
        self.shared.spool.lock().stats()
    }

    /// Every channel's state.
    pub fn channels_state(&self) -> Vec<ChannelState> {
        let now = Instant::now();
        self.lanes
            .lock()
            .values()
            .map(|l| {
                let b = l.state.breaker.lock();
                ChannelState {
                    name: l.config.name.clone(),
                    kind: l.config.kind(),
                    enabled: l.config.enabled,
                    target: l.config.target(),
                    circuit: b.name(now),
                    consecutive_failures: b.consecutive_failures(),
                    breaker_opened: b.times_opened(),
                    counters: l.state.counters.lock().clone(),
                }
            })
            .collect()
    }

    /// The running channel named `name`.
    pub fn channel(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.lanes.lock().get(name).map(|l| l.channel.clone())
    }

    async fn stop_lane(l: LaneHandle, grace: Duration) -> Vec<Message> {
        let (done, rx) = oneshot::channel();
        if l.tx.send(Command::Stop { grace, done }).is_err() {
            return Vec::new();
        }
        let left = rx.await.unwrap_or_default();
        let _ = l.task.await;
        left
    }

    /// Applies a new channel list: unchanged channels keep running; a
    /// changed one restarts with its unfinished messages; a removed one's
    /// unfinished messages are acked as dropped.
    pub async fn reconfigure(&self, channels: Vec<ConfiguredChannel>) -> Result<(), DeliveryError> {
        let mut old = std::mem::take(&mut *self.lanes.lock());
        let mut next = BTreeMap::new();
        for (cfg, ch) in channels {
            match old.remove(&cfg.name) {
                Some(l) if l.config == cfg => {
                    next.insert(cfg.name.clone(), l);
                }
                Some(l) => {
                    let state = l.state.clone();
                    let left = Self::stop_lane(l, Duration::ZERO).await;
                    *state.breaker.lock() = breaker::Breaker::new(
                        self.cfg.breaker_threshold,
                        self.cfg.breaker_open_for,
                    );
                    let h = spawn_lane(&self.shared, &self.cfg, cfg.clone(), ch, Some(state));
                    for m in left {
                        let _ = h.tx.send(Command::Push(m));
                    }
                    next.insert(cfg.name.clone(), h);
                }
                None => {
                    next.insert(
                        cfg.name.clone(),
                        spawn_lane(&self.shared, &self.cfg, cfg, ch, None),
                    );
                }
            }
        }
        let removed: Vec<LaneHandle> = old.into_values().collect();
        *self.lanes.lock() = next;
        let now = Utc::now();
        for l in removed {
            let name = l.config.name.clone();
            for m in Self::stop_lane(l, Duration::ZERO).await {
                self.shared.spool.lock().ack(&AckRecord {
                    seq: m.seq,
                    state: Final::Dropped,
                    attempts: 0,
                    at: now,
                    error: Some(format!("channel {name} was removed")),
                })?;
                self.shared.history.lock().update(
                    m.seq,
                    history::DeliveryState::Dropped,
                    0,
                    Some("channel removed"),
                    now,
                );
            }
        }
        Ok(())
    }

    /// Keeps delivering for the configured grace period, then stops every
    /// lane; what is left stays in the spool for the next start.
    pub async fn shutdown(&self) -> Result<(), DeliveryError> {
        let lanes = std::mem::take(&mut *self.lanes.lock());
        let grace = self.cfg.shutdown_grace;
        let stops = lanes.into_values().map(|l| Self::stop_lane(l, grace));
        futures::future::join_all(stops).await;
        self.shared.spool.lock().sync()?;
        Ok(())
    }
}
