//! The tag worker: its own lossless subscription to `events.>`, every event
//! through the [`Tagger`], new tags stored (keyed by event × technique ×
//! rule, so a replay stores and announces nothing twice) and published on
//! the bus as `attack.tag`; attackers with new tags get their STIX objects
//! rebuilt for TAXII every `stix_every`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{BatchLoop, Bus, Envelope, Retry, Step, Subscription};
use decnet_store::attack_sql::TagRow;
use decnet_store::{Store, StoreError, StoreResult};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::stix_feed::{self, FeedConfig};
use crate::catalogue::Catalogue;
use crate::engine::{Limits, Tagger};
use crate::rules::RuleHandle;
use crate::tag::Tag;

/// Topic of a new tag on the bus.
pub const TAG_TOPIC: &str = "attack.tag";
/// Attackers awaiting a STIX rebuild; more are counted and left out until
/// they are tagged again.
const MAX_PENDING_STIX: usize = 10_000;
/// Attackers rebuilt per tick (and at shutdown), so a burst of new
/// attackers costs a bounded amount of store work at a time.
const MAX_STIX_PER_TICK: usize = 200;

/// Tag worker settings.
#[derive(Clone, Debug)]
pub struct TagWorkerConfig {
    /// Events per batch (one store transaction).
    pub batch_size: usize,
    /// Longest wait to fill a batch.
    pub batch_wait: Duration,
    /// How often attackers with new tags get their STIX objects rebuilt.
    pub stix_every: Duration,
    /// STIX publishing.
    pub feed: FeedConfig,
    /// Tagger state caps.
    pub limits: Limits,
}

impl Default for TagWorkerConfig {
    fn default() -> Self {
        TagWorkerConfig {
            batch_size: 512,
            batch_wait: Duration::from_millis(100),
            stix_every: Duration::from_secs(10),
            feed: FeedConfig::default(),
            limits: Limits::default(),
        }
    }
}

/// Counters of the tag worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TagStats {
    /// Events taken off the bus.
    pub events: u64,
    /// Tags the rules yielded.
    pub tags: u64,
    /// Tags stored for the first time (and published).
    pub new_tags: u64,
    /// STIX object versions added.
    pub stix_objects: u64,
    /// Attackers left out of a STIX rebuild because too many were pending.
    pub stix_skipped: u64,
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    tags: AtomicU64,
    new_tags: AtomicU64,
    stix_objects: AtomicU64,
    stix_skipped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> TagStats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TagStats {
            events: l(&self.events),
            tags: l(&self.tags),
            new_tags: l(&self.new_tags),
            stix_objects: l(&self.stix_objects),
            stix_skipped: l(&self.stix_skipped),
        }
    }
}

/// Starts tag workers.
pub struct TagWorker;

/// A running tag worker.
pub struct TagHandle {
    stop: watch::Sender<bool>,
    counters: Arc<Counters>,
    committed: watch::Receiver<u64>,
    task: JoinHandle<StoreResult<()>>,
}

impl TagWorker {
    /// Starts consuming `sub` (subscribe it `Lossless` to `events.>` before
    /// the fleet starts) with the rules of `rules`.
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        sub: Subscription,
        rules: RuleHandle,
        cfg: TagWorkerConfig,
    ) -> TagHandle {
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            tagger: Tagger::with_limits(rules, cfg.limits),
            store,
            bus,
            cfg,
            counters: counters.clone(),
            pending_stix: BTreeSet::new(),
        };
        let (done, committed) = watch::channel(0);
        let task = tokio::spawn(worker.run(sub, stop_rx, done));
        TagHandle {
            stop,
            counters,
            committed,
            task,
        }
    }
}

impl TagHandle {
    /// Current counters.
    pub fn stats(&self) -> TagStats {
        self.counters.snapshot()
    }

    /// How many envelopes, in the order the subscription delivered them,
    /// are tagged and their tags stored: a source with acknowledgements
    /// (the NATS lease holder's feed) acks no further. Closed when the
    /// worker ends.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Tags what was received, rebuilds pending STIX objects, then stops.
    pub async fn finish(self) -> StoreResult<TagStats> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(r) => r?,
            Err(e) => return Err(StoreError::Database(format!("tag task failed: {e}"))),
        }
        Ok(self.counters.snapshot())
    }
}

/// The stored form of a tag.
pub fn tag_row(t: &Tag) -> TagRow {
    TagRow {
        event_id: t.event_id,
        technique_id: t.technique_id.to_string(),
        rule_id: t.rule_id.to_string(),
        confidence: t.confidence,
        ts: t.ts,
        src_ip: t.src_ip.to_string(),
        session_id: t.session_id,
        decky: t.decky.clone(),
        evidence: serde_json::to_value(&t.evidence).unwrap_or_default(),
    }
}

/// The `attack.tag` message body: the stored tag with the technique's name
/// and tactics, so consumers (alerts, dashboards) need no catalogue.
pub fn tag_message(row: &TagRow) -> serde_json::Value {
    let t = Catalogue::builtin().technique(&row.technique_id);
    let mut v = serde_json::to_value(row).unwrap_or_default();
    v["technique_name"] = json!(t.map(|t| t.name.as_str()));
    v["tactics"] = json!(t.map(|t| t.tactics.clone()).unwrap_or_default());
    v
}

/// Retries of the tagger's store writes (tags are keyed, so a retried
/// write never stores one twice).
const RETRY: Retry = Retry::new("attack tagging");

struct Worker {
    tagger: Tagger,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    cfg: TagWorkerConfig,
    counters: Arc<Counters>,
    pending_stix: BTreeSet<String>,
}

impl Worker {
    async fn run(
        mut self,
        sub: Subscription,
        stop: watch::Receiver<bool>,
        done: watch::Sender<u64>,
    ) -> StoreResult<()> {
        let mut batches = BatchLoop::new(sub, stop, self.cfg.batch_size, self.cfg.batch_wait);
        let mut tick = tokio::time::interval(self.cfg.stix_every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // What a batch took before a stop or a tick is handed over and
            // tagged.
            match batches.next_or(tick.tick()).await {
                Step::Batch(envs) => {
                    self.tag_batch(&envs, batches.stopping()).await?;
                    done.send_modify(|n| *n += envs.len() as u64);
                }
                Step::Woken(_) => self.publish_stix(false).await?,
                Step::Drained => return self.publish_stix(true).await,
            }
        }
    }

    async fn tag_batch(&mut self, envs: &[Arc<Envelope>], stopping: bool) -> StoreResult<()> {
        let mut rows = Vec::new();
        for env in envs {
            if let Some(e) = env.as_event() {
                self.counters.events.fetch_add(1, Ordering::Relaxed);
                rows.extend(self.tagger.process(e).iter().map(tag_row));
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.counters
            .tags
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        let store = self.store.clone();
        let fresh = RETRY
            .run(
                "storing tags",
                stopping,
                |_| false,
                || store.attack_insert_tags(&rows),
            )
            .await?;
        self.counters
            .new_tags
            .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        for i in fresh {
            let row = &rows[i];
            if self.pending_stix.len() < MAX_PENDING_STIX {
                self.pending_stix.insert(row.src_ip.clone());
            } else if !self.pending_stix.contains(&row.src_ip) {
                self.counters.stix_skipped.fetch_add(1, Ordering::Relaxed);
            }
            self.bus.publish(Envelope::json(
                TAG_TOPIC,
                row.technique_id.clone(),
                tag_message(row),
            ));
        }
        Ok(())
    }

    /// Rebuilds the STIX objects of up to [`MAX_STIX_PER_TICK`] attackers
    /// with new tags. A failure keeps them pending for the next tick (tags
    /// are already stored, so nothing is lost); at shutdown what is left is
    /// given up (the next tag of each attacker rebuilds it).
    async fn publish_stix(&mut self, stopping: bool) -> StoreResult<()> {
        for _ in 0..MAX_STIX_PER_TICK {
            let Some(ip) = self.pending_stix.first().cloned() else {
                break;
            };
            match stix_feed::publish_attacker(self.store.as_ref(), &ip, &self.cfg.feed).await {
                Ok(n) => {
                    self.counters.stix_objects.fetch_add(n, Ordering::Relaxed);
                    self.pending_stix.remove(&ip);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "attack tagging: STIX objects not rebuilt; retrying later");
                    break;
                }
            }
        }
        if stopping && !self.pending_stix.is_empty() {
            tracing::info!(
                attackers = self.pending_stix.len(),
                "attack tagging: STIX objects of some attackers not rebuilt at shutdown"
            );
            self.pending_stix.clear();
        }
        Ok(())
    }
}
