//! decnet-intel: turns raw events into what an analyst reads (DESIGN §9).
//!
//! [`Intel`] consumes decky events from its own lossless bus subscription
//! and maintains, incrementally and restart-safely:
//!
//! * attackers — one row per source address ([`profile`]), with a behaviour
//!   class and the rule and numbers that decided it;
//! * credentials (dedupe key ip, decky, service, secret kind, secret hash,
//!   principal) and bounty (uploaded payload hashes, download URLs);
//! * identities ([`identity`]): addresses linked into actors, soft-merged
//!   and unmerged, announced on the bus as `identity.formed`,
//!   `identity.observation.linked`, `identity.merged`, `identity.unmerged`;
//! * campaigns ([`campaign`]).
//!
//! Each batch is applied in one store transaction together with the ids of
//! the events it consumed, so replays and at-least-once delivery never count
//! twice, and a restart reloads the rows and continues counting.

pub mod campaign;
pub mod identity;
pub mod profile;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_bus::{Bus, Envelope, Subscription};
use decnet_core::{Event, EventKind};
use decnet_store::{
    AttackerRow, BountyRow, CampaignRow, CredentialRow, IdentityEventRow, IdentityLink,
    IdentityRow, IntelBatch, IntelSnapshot, Store, StoreError, StoreResult,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::identity::{Identity, IdentityEvent, Linker, Status};
use crate::profile::AttackerState;

/// Intel tuning.
#[derive(Clone, Debug)]
pub struct IntelConfig {
    /// Events per batch (upper bound).
    pub batch_size: usize,
    /// Longest an event waits for its batch.
    pub batch_wait: Duration,
    /// A fingerprint held by more addresses than this is common, not evidence.
    pub max_fanout: usize,
    /// Campaign time window.
    pub campaign_window: chrono::Duration,
    /// Lease tenure every batch is committed under (scale-out singleton):
    /// once another server took the lease, this worker stops instead of
    /// overwriting the new holder's rows.
    pub fence: Option<decnet_store::lease::Fence>,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            batch_size: 1000,
            batch_wait: Duration::from_millis(250),
            max_fanout: 16,
            campaign_window: chrono::Duration::hours(24),
            fence: None,
        }
    }
}

/// The in-memory intelligence state (mirrors the stored rows).
pub struct IntelState {
    cfg: IntelConfig,
    attackers: HashMap<String, (AttackerRow, AttackerState)>,
    linker: Linker,
    campaigns: Vec<CampaignRow>,
    identity_campaign: HashMap<Uuid, Uuid>,
    identity_rows: HashMap<Uuid, IdentityRow>,
    pending: Vec<IdentityEvent>,
    last_campaigns: Option<std::time::Instant>,
}

/// Longest campaigns wait for a refresh when only activity times change.
pub const CAMPAIGN_REFRESH: Duration = Duration::from_secs(30);

fn cred_key(c: &CredentialRow) -> (String, String, String, String, String, String) {
    (
        c.ip.clone(),
        c.decky.clone(),
        c.service.clone(),
        c.secret_kind.clone(),
        c.secret_hash.clone(),
        c.principal.clone(),
    )
}

impl IntelState {
    /// Empty state.
    pub fn new(cfg: IntelConfig) -> Self {
        IntelState {
            linker: Linker::new(cfg.max_fanout),
            cfg,
            attackers: HashMap::new(),
            campaigns: Vec::new(),
            identity_campaign: HashMap::new(),
            identity_rows: HashMap::new(),
            pending: Vec::new(),
            last_campaigns: None,
        }
    }

    /// State continuing from stored rows (no event is re-read).
    pub fn restore(snap: IntelSnapshot, cfg: IntelConfig) -> Self {
        let mut s = IntelState::new(cfg);
        let mut nodes = BTreeSet::new();
        for (row, state) in snap.attackers {
            let st: AttackerState = serde_json::from_value(state).unwrap_or_default();
            s.linker.update(&row.ip, st.signals.clone());
            nodes.insert(row.ip.clone());
            s.attackers.insert(row.ip.clone(), (row, st));
        }
        for (row, _) in snap.identities {
            s.linker.graph.restore(Identity {
                id: row.id,
                status: Status::parse(&row.status).unwrap_or(Status::Dissolved),
                merged_into: row.merged_into,
                members: row.members.iter().cloned().collect(),
                created_at: row.created_at,
            });
            if let Some(c) = row.campaign_id {
                s.identity_campaign.insert(row.id, c);
            }
            s.identity_rows.insert(row.id, row);
        }
        s.campaigns = snap.campaigns;
        // Normally a no-op; if the configuration changed, the differences
        // are published with the next batch.
        s.pending = s
            .linker
            .graph
            .reconcile(nodes, Utc::now(), &mut Uuid::now_v7);
        s
    }

    /// One attacker row.
    pub fn attacker(&self, ip: &str) -> Option<&AttackerRow> {
        self.attackers.get(ip).map(|(r, _)| r)
    }

    /// The linker (graph, identities).
    pub fn linker(&self) -> &Linker {
        &self.linker
    }

    fn identity_row(&self, id: Uuid, now: DateTime<Utc>) -> Option<IdentityRow> {
        let ident = self.linker.graph.get(id)?;
        let members: Vec<String> = ident.members.iter().cloned().collect();
        let mut links = Vec::new();
        if ident.status == Status::Active {
            for a in &members {
                for b in self.linker.graph.neighbours(a) {
                    if a < b && ident.members.contains(b) {
                        if let Some((score, reasons)) = self.linker.link(a, b) {
                            links.push(IdentityLink {
                                a: a.clone(),
                                b: b.clone(),
                                score: (score * 1000.0).round() / 1000.0,
                                reasons,
                            });
                        }
                    }
                }
            }
        }
        let rows: Vec<&AttackerRow> = members.iter().filter_map(|m| self.attacker(m)).collect();
        Some(IdentityRow {
            id,
            status: ident.status.as_str().to_owned(),
            merged_into: ident.merged_into,
            first_seen: rows
                .iter()
                .map(|r| r.first_seen)
                .min()
                .unwrap_or(ident.created_at),
            last_seen: rows
                .iter()
                .map(|r| r.last_seen)
                .max()
                .unwrap_or(ident.created_at),
            event_count: rows.iter().map(|r| r.event_count).sum(),
            members,
            links,
            campaign_id: self.identity_campaign.get(&id).copied(),
            created_at: ident.created_at,
            updated_at: now,
        })
    }

    /// Applies new (never seen) events; returns everything to store.
    pub fn process(&mut self, events: &[&Event], now: DateTime<Utc>) -> IntelBatch {
        let mut events: Vec<&Event> = events.to_vec();
        events.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.id.cmp(&b.id)));
        let mut batch = IntelBatch::default();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut sig_changed: BTreeSet<String> = BTreeSet::new();
        let mut creds: BTreeMap<(String, String, String, String, String, String), CredentialRow> =
            BTreeMap::new();
        let mut bounty: BTreeMap<(String, String, String), BountyRow> = BTreeMap::new();
        for e in events {
            batch.seen.push((e.id, e.ts));
            // The attacker address comes from the event (never "Unknown").
            let ip = e.attacker_ip().unwrap_or(e.src_ip).to_string();
            let (row, st) = self.attackers.entry(ip.clone()).or_insert_with(|| {
                (
                    AttackerRow {
                        ip: ip.clone(),
                        first_seen: e.ts,
                        last_seen: e.ts,
                        ..Default::default()
                    },
                    AttackerState::default(),
                )
            });
            if profile::apply(row, st, e) {
                sig_changed.insert(ip.clone());
            }
            touched.insert(ip.clone());
            match e.kind {
                EventKind::AuthAttempt => {
                    let secret = profile::secret_bytes(e).unwrap_or_default();
                    let c = CredentialRow {
                        ip: ip.clone(),
                        decky: e.decky.clone(),
                        service: e.service.clone(),
                        secret_kind: e.field_str("secret_kind").unwrap_or("password").to_owned(),
                        secret_hash: profile::sha256_hex(&secret),
                        principal: profile::principal(e),
                        secret_printable: e
                            .field_str("secret_printable")
                            .map(str::to_owned)
                            .unwrap_or_else(|| decnet_core::event::printable(&secret)),
                        secret_b64: e.field_str("secret_b64").map(str::to_owned).unwrap_or_else(
                            || {
                                use base64::Engine;
                                base64::engine::general_purpose::STANDARD.encode(&secret)
                            },
                        ),
                        first_seen: e.ts,
                        last_seen: e.ts,
                        count: 1,
                    };
                    creds
                        .entry(cred_key(&c))
                        .and_modify(|x| {
                            x.count += 1;
                            x.first_seen = x.first_seen.min(e.ts);
                            x.last_seen = x.last_seen.max(e.ts);
                        })
                        .or_insert(c);
                }
                EventKind::FileUpload | EventKind::FileDownload => {
                    let (kind, value, details) = if e.kind == EventKind::FileUpload {
                        let Some(h) = e.field_str("sha256") else {
                            continue;
                        };
                        (
                            "file",
                            h.to_owned(),
                            serde_json::json!({
                                "filename": e.fields.get("filename").cloned().unwrap_or_default(),
                                "size": e.fields.get("size").cloned().unwrap_or_default(),
                            }),
                        )
                    } else {
                        let Some(u) = e.field_str("url") else {
                            continue;
                        };
                        ("url", u.to_owned(), serde_json::json!({}))
                    };
                    bounty
                        .entry((kind.to_owned(), value.clone(), ip.clone()))
                        .and_modify(|x| {
                            x.count += 1;
                            if e.ts < x.first_seen {
                                x.first_seen = e.ts;
                                x.decky = e.decky.clone();
                                x.service = e.service.clone();
                                x.details = details.clone();
                            }
                            x.last_seen = x.last_seen.max(e.ts);
                        })
                        .or_insert(BountyRow {
                            kind: kind.to_owned(),
                            value,
                            ip: ip.clone(),
                            decky: e.decky.clone(),
                            service: e.service.clone(),
                            first_seen: e.ts,
                            last_seen: e.ts,
                            count: 1,
                            details,
                        });
                }
                _ => {}
            }
        }
        batch.credentials = creds.into_values().collect();
        batch.bounty = bounty.into_values().collect();
        // Identities.
        let mut nodes: BTreeSet<String> = BTreeSet::new();
        for ip in &sig_changed {
            let sig = self.attackers[ip].1.signals.clone();
            nodes.extend(self.linker.update(ip, sig));
        }
        let mut id_events = std::mem::take(&mut self.pending);
        if !nodes.is_empty() {
            id_events.extend(self.linker.graph.reconcile(nodes, now, &mut Uuid::now_v7));
        }
        let mut changed_ids: BTreeSet<Uuid> =
            id_events.iter().flat_map(|e| e.identities()).collect();
        for ip in &touched {
            if let Some(id) = self.linker.graph.identity_of(ip) {
                changed_ids.insert(id);
            }
        }
        // Attackers whose identity changed.
        let mut affected_ips: BTreeSet<String> = touched.clone();
        for id in &changed_ids {
            if let Some(i) = self.linker.graph.get(*id) {
                affected_ips.extend(i.members.iter().cloned());
            }
        }
        for e in &id_events {
            if let IdentityEvent::Unmerged { detached, .. } = e {
                affected_ips.extend(detached.iter().cloned());
            }
        }
        let mut out_ips: BTreeSet<String> = touched.clone();
        for ip in &affected_ips {
            let now_id = self.linker.graph.identity_of(ip);
            if let Some((row, _)) = self.attackers.get_mut(ip) {
                if row.identity_id != now_id {
                    row.identity_id = now_id;
                    out_ips.insert(ip.clone());
                }
            }
        }
        // Campaigns: at once when identity membership changed, otherwise
        // (activity times moving) at most every CAMPAIGN_REFRESH — grouping
        // is pairwise over identities and too costly for every batch.
        let refresh = self
            .last_campaigns
            .is_none_or(|t| t.elapsed() >= CAMPAIGN_REFRESH);
        if !id_events.is_empty() || (refresh && !changed_ids.is_empty()) {
            self.last_campaigns = Some(std::time::Instant::now());
            let summaries: Vec<campaign::IdentitySummary> = self
                .linker
                .graph
                .identities()
                .filter(|i| i.status == Status::Active)
                .map(|i| {
                    let rows: Vec<&(AttackerRow, AttackerState)> = i
                        .members
                        .iter()
                        .filter_map(|m| self.attackers.get(m))
                        .collect();
                    campaign::IdentitySummary {
                        id: i.id,
                        deckies: rows
                            .iter()
                            .flat_map(|(r, _)| r.deckies.keys().cloned())
                            .collect(),
                        infra: rows
                            .iter()
                            .flat_map(|(_, s)| s.signals.infra.iter().cloned())
                            .collect(),
                        first_seen: rows
                            .iter()
                            .map(|(r, _)| r.first_seen)
                            .min()
                            .unwrap_or(i.created_at),
                        last_seen: rows
                            .iter()
                            .map(|(r, _)| r.last_seen)
                            .max()
                            .unwrap_or(i.created_at),
                    }
                })
                .collect();
            let (camps, gone) =
                campaign::group(&summaries, &self.campaigns, self.cfg.campaign_window, now);
            let old: HashMap<Uuid, &CampaignRow> =
                self.campaigns.iter().map(|c| (c.id, c)).collect();
            let mut new_map: HashMap<Uuid, Uuid> = HashMap::new();
            for c in &camps {
                for i in &c.identities {
                    new_map.insert(*i, c.id);
                }
                let same = old.get(&c.id).is_some_and(|o| {
                    o.identities == c.identities
                        && o.deckies == c.deckies
                        && o.infrastructure == c.infrastructure
                        && o.reasons == c.reasons
                        && o.first_seen == c.first_seen
                        && o.last_seen == c.last_seen
                });
                if !same {
                    batch.campaigns.push(c.clone());
                }
            }
            let all_ids: BTreeSet<Uuid> = self
                .identity_campaign
                .keys()
                .chain(new_map.keys())
                .copied()
                .collect();
            for id in all_ids {
                if self.identity_campaign.get(&id) != new_map.get(&id) {
                    changed_ids.insert(id);
                }
            }
            self.identity_campaign = new_map;
            self.campaigns = camps;
            batch.campaigns_deleted = gone;
        }
        for id in &changed_ids {
            if let Some(row) = self.identity_row(*id, now) {
                self.identity_rows.insert(*id, row.clone());
                batch.identities.push((row, serde_json::Value::Null));
            }
        }
        for ip in &out_ips {
            let (row, st) = self.attackers.get_mut(ip).expect("touched attacker exists");
            profile::classify(row, st);
            batch.attackers.push((
                row.clone(),
                serde_json::to_value(&*st).unwrap_or(serde_json::Value::Null),
            ));
        }
        batch.identity_events = id_events
            .iter()
            .map(|e| IdentityEventRow {
                id: Uuid::now_v7(),
                ts: now,
                kind: e.kind().to_owned(),
                payload: e.payload(),
            })
            .collect();
        batch
    }
}

/// Counters of the intel worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntelStats {
    /// Events taken off the bus.
    pub received: u64,
    /// Events applied (new).
    pub processed: u64,
    /// Events skipped because already consumed (replays).
    pub duplicates: u64,
    /// Batches committed.
    pub batches: u64,
    /// Identity events published.
    pub identity_events: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    processed: AtomicU64,
    duplicates: AtomicU64,
    batches: AtomicU64,
    identity_events: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> IntelStats {
        IntelStats {
            received: self.received.load(Ordering::Relaxed),
            processed: self.processed.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            identity_events: self.identity_events.load(Ordering::Relaxed),
        }
    }
}

/// The intel worker.
pub struct Intel;

/// Handle on a running intel worker.
pub struct IntelHandle {
    stop: watch::Sender<bool>,
    counters: Arc<Counters>,
    committed: watch::Receiver<u64>,
    task: JoinHandle<StoreResult<()>>,
}

impl Intel {
    /// Loads the stored state and starts consuming `sub` (subscribe it
    /// `Lossless` to `events.>` before the fleet starts).
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        sub: Subscription,
        cfg: IntelConfig,
    ) -> StoreResult<IntelHandle> {
        let snap = store.intel_load().await?;
        let state = IntelState::restore(snap, cfg.clone());
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let (done, committed) = watch::channel(0);
        let task = tokio::spawn(run(
            store,
            bus,
            sub,
            cfg,
            state,
            Signals {
                stop: stop_rx,
                counters: counters.clone(),
                done,
            },
        ));
        Ok(IntelHandle {
            stop,
            counters,
            committed,
            task,
        })
    }
}

impl IntelHandle {
    /// Current counters.
    pub fn stats(&self) -> IntelStats {
        self.counters.snapshot()
    }

    /// How many envelopes, in the order the subscription delivered them,
    /// are fully handled (their effects committed, or already seen): a
    /// source with acknowledgements acks exactly that prefix. Closed when
    /// the worker ends.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Processes and commits everything received, then stops.
    pub async fn finish(self) -> StoreResult<IntelStats> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(r) => r?,
            Err(e) => return Err(StoreError::Database(format!("intel task failed: {e}"))),
        }
        Ok(self.counters.snapshot())
    }
}

async fn retry<T, F, Fut>(what: &str, stopping: bool, mut f: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            // Fenced out (another server took the lease): retrying cannot help.
            Err(e @ StoreError::Conflict(_)) => {
                tracing::warn!(error = %e, "intel: {what} refused; stopping");
                return Err(e);
            }
            Err(e) => {
                attempts += 1;
                tracing::warn!(error = %e, attempts, "intel: {what} failed; retrying");
                if stopping && attempts >= 20 {
                    return Err(e);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The worker's links to its handle: stop request in, counters and
/// committed prefix out.
struct Signals {
    stop: watch::Receiver<bool>,
    counters: Arc<Counters>,
    done: watch::Sender<u64>,
}

async fn run(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    mut sub: Subscription,
    cfg: IntelConfig,
    mut state: IntelState,
    signals: Signals,
) -> StoreResult<()> {
    let Signals {
        mut stop,
        counters,
        done,
    } = signals;
    let size = cfg.batch_size.max(1);
    let mut envs = Vec::with_capacity(size);
    let mut stopping = false;
    loop {
        envs.clear();
        if stopping {
            while envs.len() < size {
                match sub.try_recv() {
                    Some(e) => envs.push(e),
                    None => break,
                }
            }
            if envs.is_empty() && state.pending.is_empty() {
                return Ok(());
            }
        } else {
            // What was taken before a stop stays in `envs` and is processed.
            tokio::select! {
                got = sub.next_batch(size, cfg.batch_wait, &mut envs) => if !got { stopping = true; continue; },
                _ = stop.changed() => { stopping = true; if envs.is_empty() { continue; } }
            }
        }
        counters
            .received
            .fetch_add(envs.len() as u64, Ordering::Relaxed);
        let events: Vec<&Event> = envs
            .iter()
            .filter_map(|e| e.as_event())
            .map(|e| &**e)
            .collect();
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let unseen: BTreeSet<Uuid> = retry("unseen lookup", stopping, || store.intel_unseen(&ids))
            .await?
            .into_iter()
            .collect();
        let mut taken = BTreeSet::new();
        let fresh: Vec<&Event> = events
            .iter()
            .copied()
            .filter(|e| unseen.contains(&e.id) && taken.insert(e.id))
            .collect();
        counters
            .duplicates
            .fetch_add((events.len() - fresh.len()) as u64, Ordering::Relaxed);
        if fresh.is_empty() && state.pending.is_empty() {
            done.send_modify(|n| *n += envs.len() as u64);
            continue;
        }
        let mut batch = state.process(&fresh, Utc::now());
        batch.fence = cfg.fence.clone();
        retry("apply", stopping, || store.intel_apply(&batch)).await?;
        counters
            .processed
            .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        done.send_modify(|n| *n += envs.len() as u64);
        for ev in &batch.identity_events {
            let mut env = Envelope::json(
                format!("identity.{}", ev.kind),
                ev.kind.clone(),
                ev.payload.clone(),
            );
            env.id = ev.id;
            env.ts = ev.ts;
            bus.publish(env);
            counters.identity_events.fetch_add(1, Ordering::Relaxed);
        }
    }
}
