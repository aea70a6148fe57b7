//! The in-memory intelligence state and how one batch of new events moves
//! it: attacker rows, credentials and bounty, identity links, campaigns.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_core::Event;
use decnet_store::{
    AttackerRow, CampaignRow, IdentityEventRow, IdentityLink, IdentityRow, IntelBatch,
    IntelSnapshot,
};
use uuid::Uuid;

use crate::campaign;
use crate::harvest::Harvest;
use crate::identity::{Identity, IdentityEvent, Linker, Status};
use crate::profile::{self, AttackerState};
use crate::IntelConfig;

/// Addresses a batch moved.
struct Touched {
    /// Every address with an event in the batch.
    all: BTreeSet<String>,
    /// Those whose identity signals changed (re-link them).
    signals: BTreeSet<String>,
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
    /// Restored rows stored before geolocation databases were configured:
    /// located a few per batch ([`LOCATE_PER_BATCH`]), so turning `[geoip]`
    /// on places the attackers already known too.
    unlocated: Vec<String>,
}

/// Restored rows located (and rewritten) per batch: bounded so enabling
/// geolocation on a store of many attackers never makes one huge batch.
pub const LOCATE_PER_BATCH: usize = 500;

/// Longest campaigns wait for a refresh when only activity times change.
pub const CAMPAIGN_REFRESH: Duration = Duration::from_secs(30);

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
            unlocated: Vec::new(),
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
        if s.cfg.geo.is_some() {
            s.unlocated = s
                .attackers
                .values()
                .filter(|(r, _)| r.geo.is_none())
                .map(|(r, _)| r.ip.clone())
                .collect();
        }
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
            geo: member_places(&rows),
        })
    }

    /// Applies new (never seen) events; returns everything to store.
    pub fn process(&mut self, events: &[&Event], now: DateTime<Utc>) -> IntelBatch {
        let mut events: Vec<&Event> = events.to_vec();
        events.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.id.cmp(&b.id)));
        let mut batch = IntelBatch::default();
        let mut touched = self.absorb(&events, &mut batch);
        let take = self.unlocated.len().min(LOCATE_PER_BATCH);
        touched.all.extend(self.unlocated.drain(..take));
        // Located before identity rows are built, which summarise members' places.
        for ip in &touched.all {
            if let Some((row, _)) = self.attackers.get_mut(ip) {
                locate(row, self.cfg.geo.as_deref());
            }
        }
        let id_events = self.relink(&touched.signals, now);
        let mut changed_ids: BTreeSet<Uuid> =
            id_events.iter().flat_map(|e| e.identities()).collect();
        for ip in &touched.all {
            if let Some(id) = self.linker.graph.identity_of(ip) {
                changed_ids.insert(id);
            }
        }
        let out_ips = self.retag_attackers(&touched.all, &changed_ids, &id_events);
        // Campaigns: at once when identity membership changed, otherwise
        // (activity times moving) at most every CAMPAIGN_REFRESH — grouping
        // is pairwise over identities and too costly for every batch.
        let refresh = self
            .last_campaigns
            .is_none_or(|t| t.elapsed() >= CAMPAIGN_REFRESH);
        if !id_events.is_empty() || (refresh && !changed_ids.is_empty()) {
            self.regroup_campaigns(now, &mut changed_ids, &mut batch);
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

    /// Folds each event into its attacker's row, and its credential or
    /// bounty into the batch.
    fn absorb(&mut self, events: &[&Event], batch: &mut IntelBatch) -> Touched {
        let mut touched = Touched {
            all: BTreeSet::new(),
            signals: BTreeSet::new(),
        };
        let mut harvest = Harvest::default();
        for e in events {
            batch.seen.push((e.id, e.ts));
            // The attacker address comes from the event (never "Unknown").
            let ip = e.attacker_ip().unwrap_or(e.src_ip).to_string();
            let (row, st) = self
                .attackers
                .entry(ip.clone())
                .or_insert_with(|| (AttackerRow::new(&ip, e.ts), AttackerState::default()));
            if profile::apply(row, st, e) {
                touched.signals.insert(ip.clone());
            }
            harvest.add(e, &ip);
            touched.all.insert(ip);
        }
        (batch.credentials, batch.bounty) = harvest.into_rows();
        touched
    }

    /// Re-links addresses whose signals changed; the identity events that
    /// follow (with any left pending by a restore).
    fn relink(&mut self, changed: &BTreeSet<String>, now: DateTime<Utc>) -> Vec<IdentityEvent> {
        let mut nodes: BTreeSet<String> = BTreeSet::new();
        for ip in changed {
            let sig = self.attackers[ip].1.signals.clone();
            nodes.extend(self.linker.update(ip, sig));
        }
        let mut id_events = std::mem::take(&mut self.pending);
        if !nodes.is_empty() {
            id_events.extend(self.linker.graph.reconcile(nodes, now, &mut Uuid::now_v7));
        }
        id_events
    }

    /// Points every attacker of a changed identity (or detached from one)
    /// at its identity now; returns the addresses whose rows must be
    /// written: the touched ones and those re-pointed.
    fn retag_attackers(
        &mut self,
        touched: &BTreeSet<String>,
        changed_ids: &BTreeSet<Uuid>,
        id_events: &[IdentityEvent],
    ) -> BTreeSet<String> {
        let mut affected_ips: BTreeSet<String> = touched.clone();
        for id in changed_ids {
            if let Some(i) = self.linker.graph.get(*id) {
                affected_ips.extend(i.members.iter().cloned());
            }
        }
        for e in id_events {
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
        out_ips
    }

    /// What campaign grouping knows of each active identity.
    fn campaign_summaries(&self) -> Vec<campaign::IdentitySummary> {
        self.linker
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
            .collect()
    }

    /// Regroups identities into campaigns: changed and deleted campaigns go
    /// into the batch, identities whose campaign changed into `changed_ids`.
    fn regroup_campaigns(
        &mut self,
        now: DateTime<Utc>,
        changed_ids: &mut BTreeSet<Uuid>,
        batch: &mut IntelBatch,
    ) {
        self.last_campaigns = Some(std::time::Instant::now());
        let summaries = self.campaign_summaries();
        let (camps, gone) =
            campaign::group(&summaries, &self.campaigns, self.cfg.campaign_window, now);
        let old: HashMap<Uuid, &CampaignRow> = self.campaigns.iter().map(|c| (c.id, c)).collect();
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

    /// True once nothing is left to publish (identity events held back by
    /// a restore go out with the next batch).
    pub(crate) fn nothing_pending(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Looks a row's address up once (rows keep the answer; rows stored
/// before the databases were configured are queued by `restore`).
fn locate(row: &mut AttackerRow, geo: Option<&crate::geo::GeoDb>) {
    if let (None, Some(db), Ok(ip)) = (&row.geo, geo, row.ip.parse()) {
        row.geo = Some(db.lookup(ip));
    }
}

/// The distinct places (country and network owner; the city left out) of
/// an identity's located members, most common first: what the identity
/// page shows.
fn member_places(rows: &[&AttackerRow]) -> Vec<decnet_store::Geo> {
    let mut counts: Vec<(decnet_store::Geo, usize)> = Vec::new();
    for g in rows.iter().filter_map(|r| r.geo.as_ref()) {
        let place = decnet_store::Geo {
            city: None,
            ..g.clone()
        };
        match counts.iter_mut().find(|(p, _)| *p == place) {
            Some((_, n)) => *n += 1,
            None => counts.push((place, 1)),
        }
    }
    counts.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.country_key().cmp(&b.0.country_key()))
    });
    counts.into_iter().map(|(p, _)| p).take(32).collect()
}
