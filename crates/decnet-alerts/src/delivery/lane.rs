//! One channel's worker. Messages wait in one FIFO per rule (per subject
//! for bus messages); the rule whose
//! head is oldest goes next, at most one message per rule is in flight (so
//! order is kept per rule) and at most `concurrency` in all. A message is
//! retried with backoff until the channel takes it, refuses it for good, or
//! `give_up_after` passes; the breaker keeps a dead channel from being
//! hammered. Finished messages are acked in the spool and their state
//! recorded in the history.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use parking_lot::Mutex;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot};

use super::backoff;
use super::breaker::{Admit, Breaker};
use super::history::DeliveryState;
use super::spool::{AckRecord, Final, Item};
use super::Shared;
use crate::channels::Channel;
use crate::clock::after;
use crate::config::DeliveryConfig;

/// One message for this channel.
#[derive(Clone, Debug)]
pub struct Message {
    /// Spool sequence number.
    pub seq: u64,
    /// An alert, or a bus message.
    pub item: Item,
    /// When it was queued (for `give_up_after`).
    pub queued_at: DateTime<Utc>,
}

/// Orders to a lane.
pub enum Command {
    /// Deliver this.
    Push(Message),
    /// Forget this one (dropped by the spool).
    Cancel(u64),
    /// Keep delivering for `grace`, then stop and hand back what is left.
    Stop {
        /// How long to keep going.
        grace: Duration,
        /// Unfinished messages, in sequence order.
        done: oneshot::Sender<Vec<Message>>,
    },
}

/// Counters of a lane (also what the API shows of it).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counters {
    /// Waiting.
    pub queued: usize,
    /// Being sent or waiting to retry.
    pub in_flight: usize,
    /// Delivered.
    pub sent: u64,
    /// Failed for good.
    pub failed: u64,
    /// Dropped unsent.
    pub dropped: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Last error.
    pub last_error: Option<String>,
    /// HTTP status (or SMTP reply code) of the last attempt, when it got one.
    pub last_status: Option<u16>,
    /// Last delivery.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last failed attempt.
    pub last_failure_at: Option<DateTime<Utc>>,
}

/// What the API reads of a lane.
pub struct LaneState {
    /// Breaker.
    pub breaker: Mutex<Breaker>,
    /// Counters.
    pub counters: Mutex<Counters>,
}

impl LaneState {
    /// Fresh state.
    pub fn new(cfg: &DeliveryConfig) -> Arc<Self> {
        Arc::new(LaneState {
            breaker: Mutex::new(Breaker::new(cfg.breaker_threshold, cfg.breaker_open_for)),
            counters: Mutex::new(Counters::default()),
        })
    }
}

enum Outcome {
    Sent,
    Failed(String),
}

/// Everything a delivery attempt needs.
pub struct Lane {
    /// The channel.
    pub channel: Arc<dyn Channel>,
    /// Its state.
    pub state: Arc<LaneState>,
    /// Spool and history.
    pub shared: Arc<Shared>,
    /// Retry settings.
    pub cfg: DeliveryConfig,
}

impl Lane {
    fn record(&self, seq: u64, state: DeliveryState, attempts: u32, error: Option<&str>) {
        self.shared
            .history
            .lock()
            .update(seq, state, attempts, error, Utc::now());
    }

    async fn deliver(self: Arc<Self>, msg: Message) -> (Message, u32, Outcome) {
        let mut rng = rand::rngs::StdRng::from_entropy();
        let mut attempts = 0u32;
        loop {
            loop {
                let admit = self.state.breaker.lock().admit(Instant::now());
                match admit {
                    Admit::Go | Admit::Probe => break,
                    Admit::Wait(t) => tokio::time::sleep_until(t.into()).await,
                }
            }
            attempts += 1;
            self.record(msg.seq, DeliveryState::Sending, attempts, None);
            let sent = match &msg.item {
                Item::Alert(a) => self.channel.send(a).await,
                Item::Envelope(e) => self.channel.send_envelope(e).await,
            };
            self.state.counters.lock().last_status = match &sent {
                Ok(s) => s.status,
                Err(e) => e.status,
            };
            match sent {
                Ok(_) => {
                    self.state.breaker.lock().success();
                    return (msg, attempts, Outcome::Sent);
                }
                Err(e) if !e.retryable => {
                    // The channel answered: it is up, the message is bad.
                    self.state.breaker.lock().success();
                    return (msg, attempts, Outcome::Failed(e.message));
                }
                Err(e) => {
                    let now = Utc::now();
                    self.state.breaker.lock().failure(Instant::now());
                    {
                        let mut c = self.state.counters.lock();
                        c.retries += 1;
                        c.last_error = Some(e.message.clone());
                        c.last_failure_at = Some(now);
                    }
                    if now >= after(msg.queued_at, self.cfg.give_up_after) {
                        let why = format!("gave up after {attempts} attempts: {}", e.message);
                        return (msg, attempts, Outcome::Failed(why));
                    }
                    self.record(msg.seq, DeliveryState::Retrying, attempts, Some(&e.message));
                    let d =
                        backoff::delay(attempts, self.cfg.retry_base, self.cfg.retry_max, &mut rng);
                    tokio::time::sleep(d).await;
                }
            }
        }
    }

    fn finish(&self, msg: &Message, attempts: u32, outcome: Outcome) {
        let now = Utc::now();
        let (state, fin, error) = match outcome {
            Outcome::Sent => (DeliveryState::Sent, Final::Sent, None),
            Outcome::Failed(e) => (DeliveryState::Failed, Final::Failed, Some(e)),
        };
        let ack = AckRecord {
            seq: msg.seq,
            state: fin,
            attempts,
            at: now,
            error: error.clone(),
        };
        if let Err(e) = self.shared.spool.lock().ack(&ack) {
            tracing::warn!(channel = self.channel.name(), error = %e, "alerts: spool ack failed; the message will be sent again after a restart");
        }
        self.record(msg.seq, state, attempts, error.as_deref());
        let mut c = self.state.counters.lock();
        match fin {
            Final::Sent => {
                c.sent += 1;
                c.last_success_at = Some(now);
            }
            _ => {
                c.failed += 1;
                c.last_error = error;
                c.last_failure_at = Some(now);
            }
        }
    }

    /// The worker loop.
    pub async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut queues: HashMap<Arc<str>, VecDeque<Message>> = HashMap::new();
        let mut ready: BTreeSet<(u64, Arc<str>)> = BTreeSet::new();
        let mut busy: BTreeMap<u64, Message> = BTreeMap::new();
        let mut busy_rules: BTreeSet<Arc<str>> = BTreeSet::new();
        let mut inflight = FuturesUnordered::new();
        let mut stopping: Option<(tokio::time::Instant, oneshot::Sender<Vec<Message>>)> = None;
        let mut open = true;
        let concurrency = self.cfg.concurrency.max(1);
        loop {
            while inflight.len() < concurrency {
                let Some((_, rule)) = ready.pop_first() else {
                    break;
                };
                let q = queues.get_mut(&rule).expect("ready rules have a queue");
                let msg = q.pop_front().expect("ready queues are not empty");
                if q.is_empty() {
                    queues.remove(&rule);
                }
                busy_rules.insert(rule);
                busy.insert(msg.seq, msg.clone());
                inflight.push(self.clone().deliver(msg));
            }
            {
                let mut c = self.state.counters.lock();
                c.queued = queues.values().map(VecDeque::len).sum();
                c.in_flight = inflight.len();
            }
            let idle = queues.is_empty() && inflight.is_empty();
            if let Some((deadline, _)) = &stopping {
                if idle || tokio::time::Instant::now() >= *deadline {
                    break;
                }
            } else if !open && idle {
                break;
            }
            let deadline = stopping.as_ref().map(|(d, _)| *d);
            tokio::select! {
                cmd = rx.recv(), if open => match cmd {
                    Some(Command::Push(m)) => {
                        let rule: Arc<str> = Arc::from(m.item.order_key());
                        let q = queues.entry(rule.clone()).or_default();
                        if q.is_empty() && !busy_rules.contains(&rule) {
                            ready.insert((m.seq, rule));
                        }
                        q.push_back(m);
                    }
                    Some(Command::Cancel(seq)) => {
                        let mut cancelled = false;
                        for (rule, q) in queues.iter_mut() {
                            let Some(i) = q.iter().position(|m| m.seq == seq) else { continue };
                            q.remove(i);
                            cancelled = true;
                            if i == 0 {
                                ready.remove(&(seq, rule.clone()));
                                if let Some(next) = q.front() {
                                    if !busy_rules.contains(rule) {
                                        ready.insert((next.seq, rule.clone()));
                                    }
                                }
                            }
                            break;
                        }
                        queues.retain(|_, q| !q.is_empty());
                        if cancelled {
                            self.state.counters.lock().dropped += 1;
                            self.record(seq, DeliveryState::Dropped, 0, Some("spool full"));
                        }
                    }
                    Some(Command::Stop { grace, done }) => {
                        stopping = Some((tokio::time::Instant::now() + grace, done));
                        open = false;
                    }
                    None => open = false,
                },
                Some((msg, attempts, outcome)) = inflight.next(), if !inflight.is_empty() => {
                    let rule: Arc<str> = Arc::from(msg.item.order_key());
                    busy.remove(&msg.seq);
                    busy_rules.remove(&rule);
                    if let Some(next) = queues.get(&rule).and_then(|q| q.front()) {
                        ready.insert((next.seq, rule));
                    }
                    self.finish(&msg, attempts, outcome);
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {}
            }
        }
        // Whatever is unfinished stays in the spool; hand it back in order.
        let mut left: Vec<Message> = busy.into_values().collect();
        left.extend(queues.into_values().flatten());
        left.sort_by_key(|m| m.seq);
        {
            let mut c = self.state.counters.lock();
            c.queued = left.len();
            c.in_flight = 0;
        }
        if let Some((_, done)) = stopping {
            let _ = done.send(left);
        }
    }
}
