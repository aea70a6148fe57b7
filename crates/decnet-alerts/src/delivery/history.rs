//! The alerts the API shows, newest first, each with the delivery state of
//! every channel it went to. Bounded: the oldest records go first.
//!
//! Every change is also handed to a [`HistorySink`] when one is set: the
//! binary's sink writes them to the store, so the history outlives the
//! process and is shared by servers using the same store (this crate knows
//! no store).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::alert::Alert;

/// Where one message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting its turn (or its channel's breaker).
    Queued,
    /// Being sent.
    Sending,
    /// Failed, will be retried.
    Retrying,
    /// The channel took it.
    Sent,
    /// Refused for good, or given up.
    Failed,
    /// Dropped unsent (spool full, channel removed).
    Dropped,
}

/// One channel's delivery of one alert.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    /// Spool sequence number.
    pub seq: u64,
    /// Channel.
    pub channel: String,
    /// State.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// Last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An alert and its deliveries.
#[derive(Clone, Debug, Serialize)]
pub struct AlertRecord {
    /// The alert.
    pub alert: Arc<Alert>,
    /// One per channel it was routed to.
    pub deliveries: Vec<DeliveryRecord>,
}

/// `{total, limit, offset, data}`, newest first.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryPage {
    /// Records held.
    pub total: usize,
    /// Page size.
    pub limit: usize,
    /// Skipped.
    pub offset: usize,
    /// The page.
    pub data: Vec<AlertRecord>,
}

impl DeliveryState {
    /// No further change will follow.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Sent | DeliveryState::Failed | DeliveryState::Dropped
        )
    }

    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Dropped => "dropped",
        }
    }
}

/// A change to the history, as a [`HistorySink`] receives it.
#[derive(Clone, Debug)]
pub enum HistoryChange {
    /// An alert was raised (or replayed from the spool) and queued on
    /// these channels.
    Raised {
        /// The alert.
        alert: Arc<Alert>,
        /// Channels it was queued on.
        channels: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A delivery changed state.
    Delivery {
        /// The alert.
        alert_id: Uuid,
        /// The channel.
        channel: String,
        /// New state.
        state: DeliveryState,
        /// Attempts so far.
        attempts: u32,
        /// Last error (scrubbed of secrets like every channel error).
        last_error: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Where history changes go besides memory. Called with the history's lock
/// held: implementations must not block (queue and return).
pub trait HistorySink: Send + Sync + 'static {
    /// Takes one change.
    fn record(&self, change: HistoryChange);
}

/// See the module doc.
pub struct History {
    cap: usize,
    records: VecDeque<AlertRecord>,
    base: u64,
    by_alert: HashMap<Uuid, u64>,
    by_seq: HashMap<u64, u64>,
    /// (alert, channel) of every unfinished delivery, kept even when its
    /// record left memory so the sink still hears how it ended.
    open: HashMap<u64, (Uuid, String)>,
    sink: Option<Arc<dyn HistorySink>>,
}

impl History {
    /// At most `cap` alerts.
    pub fn new(cap: usize) -> Self {
        History {
            cap: cap.max(1),
            records: VecDeque::new(),
            base: 0,
            by_alert: HashMap::new(),
            by_seq: HashMap::new(),
            open: HashMap::new(),
            sink: None,
        }
    }

    /// Also hands every change to `sink`.
    pub fn set_sink(&mut self, sink: Arc<dyn HistorySink>) {
        self.sink = Some(sink);
    }

    fn index(&self, n: u64) -> Option<usize> {
        n.checked_sub(self.base).map(|i| i as usize)
    }

    /// Adds an alert with its queued deliveries `(seq, channel)`; an alert
    /// already present (replayed from the spool) gets the deliveries added.
    pub fn add(&mut self, alert: Arc<Alert>, deliveries: &[(u64, String)], now: DateTime<Utc>) {
        for (seq, ch) in deliveries {
            self.open.insert(*seq, (alert.id, ch.clone()));
        }
        if let Some(sink) = &self.sink {
            sink.record(HistoryChange::Raised {
                alert: alert.clone(),
                channels: deliveries.iter().map(|(_, c)| c.clone()).collect(),
                at: now,
            });
        }
        let recs = deliveries.iter().map(|(seq, ch)| DeliveryRecord {
            seq: *seq,
            channel: ch.clone(),
            state: DeliveryState::Queued,
            attempts: 0,
            last_error: None,
            updated_at: now,
        });
        let n = match self.by_alert.get(&alert.id).copied() {
            Some(n) => n,
            None => {
                if self.records.len() >= self.cap {
                    if let Some(old) = self.records.pop_front() {
                        self.by_alert.remove(&old.alert.id);
                        for d in &old.deliveries {
                            self.by_seq.remove(&d.seq);
                        }
                    }
                    self.base += 1;
                }
                let n = self.base + self.records.len() as u64;
                self.by_alert.insert(alert.id, n);
                self.records.push_back(AlertRecord {
                    alert,
                    deliveries: Vec::new(),
                });
                n
            }
        };
        let Some(i) = self.index(n) else { return };
        for d in recs {
            self.by_seq.insert(d.seq, n);
            self.records[i].deliveries.push(d);
        }
    }

    /// Updates the delivery with sequence number `seq`.
    pub fn update(
        &mut self,
        seq: u64,
        state: DeliveryState,
        attempts: u32,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let key = if state.is_final() {
            self.open.remove(&seq)
        } else {
            self.open.get(&seq).cloned()
        };
        if let (Some(sink), Some((alert_id, channel))) = (&self.sink, key) {
            sink.record(HistoryChange::Delivery {
                alert_id,
                channel,
                state,
                attempts,
                last_error: error.map(str::to_owned),
                at: now,
            });
        }
        let Some(i) = self.by_seq.get(&seq).and_then(|n| self.index(*n)) else {
            return;
        };
        if let Some(d) = self
            .records
            .get_mut(i)
            .and_then(|r| r.deliveries.iter_mut().find(|d| d.seq == seq))
        {
            d.state = state;
            d.attempts = attempts;
            if let Some(e) = error {
                d.last_error = Some(e.to_owned());
            }
            d.updated_at = now;
        }
    }

    /// A page, newest first.
    pub fn page(&self, limit: usize, offset: usize) -> HistoryPage {
        HistoryPage {
            total: self.records.len(),
            limit,
            offset,
            data: self
                .records
                .iter()
                .rev()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect(),
        }
    }

    /// One alert.
    pub fn get(&self, id: Uuid) -> Option<AlertRecord> {
        let i = self.by_alert.get(&id).and_then(|n| self.index(*n))?;
        self.records.get(i).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_newest_first_with_updates() {
        let mut h = History::new(3);
        let now = Utc::now();
        let mut ids = Vec::new();
        for i in 0..5u64 {
            let a = Arc::new(Alert::test(&format!("c{i}")));
            ids.push(a.id);
            h.add(
                a,
                &[(i * 2, "slack".into()), (i * 2 + 1, "mail".into())],
                now,
            );
        }
        let p = h.page(10, 0);
        assert_eq!(p.total, 3);
        assert_eq!(p.data[0].alert.id, ids[4]);
        assert_eq!(p.data[2].alert.id, ids[2]);
        assert!(h.get(ids[0]).is_none());
        h.update(9, DeliveryState::Retrying, 2, Some("HTTP 503"), now);
        h.update(9, DeliveryState::Sent, 3, None, now);
        h.update(1, DeliveryState::Sent, 1, None, now); // evicted: ignored
        let r = h.get(ids[4]).unwrap();
        let mail = r.deliveries.iter().find(|d| d.channel == "mail").unwrap();
        assert_eq!((mail.state, mail.attempts), (DeliveryState::Sent, 3));
        assert_eq!(mail.last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(h.page(1, 1).data[0].alert.id, ids[3]);
    }

    struct Collect(parking_lot::Mutex<Vec<HistoryChange>>);

    impl HistorySink for Collect {
        fn record(&self, change: HistoryChange) {
            self.0.lock().push(change);
        }
    }

    #[test]
    fn the_sink_hears_every_change_even_of_records_evicted_from_memory() {
        let sink = Arc::new(Collect(parking_lot::Mutex::new(Vec::new())));
        let mut h = History::new(1);
        h.set_sink(sink.clone());
        let now = Utc::now();
        let first = Arc::new(Alert::test("a"));
        h.add(first.clone(), &[(1, "hook".into())], now);
        h.add(Arc::new(Alert::test("b")), &[(2, "hook".into())], now);
        assert!(h.get(first.id).is_none(), "evicted from memory");
        h.update(1, DeliveryState::Retrying, 1, Some("HTTP 503"), now);
        h.update(1, DeliveryState::Sent, 2, None, now);
        // Finished: later updates of that seq are not reported.
        h.update(1, DeliveryState::Sent, 3, None, now);
        let got = sink.0.lock();
        assert_eq!(got.len(), 4);
        match &got[2] {
            HistoryChange::Delivery {
                alert_id,
                channel,
                state,
                last_error,
                ..
            } => {
                assert_eq!((*alert_id, channel.as_str()), (first.id, "hook"));
                assert_eq!(*state, DeliveryState::Retrying);
                assert_eq!(last_error.as_deref(), Some("HTTP 503"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            got[3],
            HistoryChange::Delivery {
                state: DeliveryState::Sent,
                attempts: 2,
                ..
            }
        ));
    }
}
