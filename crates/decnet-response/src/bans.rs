//! The ban table: active decisions, offence counts (escalation), deletions
//! kept for bouncer delta streams, and the audit trail.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Deletions remembered for `/v1/decisions/stream` deltas.
pub const MAX_TOMBSTONES: usize = 100_000;
/// Audit entries kept.
pub const MAX_AUDIT: usize = 10_000;
/// Sources whose offence count is remembered.
pub const MAX_OFFENDERS: usize = 1_000_000;

/// One ban decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// Decision id (monotonic; also the stream cursor).
    pub id: u64,
    /// Address or range.
    pub value: IpNet,
    /// Why (`auth_attempt on web01/ssh`, `identity 42`, an admin's text).
    pub reason: String,
    /// `policy`, `identity` or `manual`.
    pub origin: String,
    /// Who decided (username for manual bans).
    #[serde(default)]
    pub actor: Option<String>,
    /// Decided at.
    pub created_at: DateTime<Utc>,
    /// Ends at.
    pub expires_at: DateTime<Utc>,
    /// 1 for a first ban, 2 for the next one…
    pub offence: u32,
    /// Recorded only, never enforced.
    pub dry_run: bool,
}

impl Ban {
    /// Seconds left at `now` (≥ 1 while active).
    pub fn remaining_secs(&self, now: DateTime<Utc>) -> u64 {
        (self.expires_at - now).num_seconds().max(1) as u64
    }
}

/// An audit record: who did what, when, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub ts: DateTime<Utc>,
    /// Username (or `policy`).
    pub actor: String,
    /// `ban`, `unban`, `policy`, `bouncer_key.create`, `bouncer_key.delete`, `activate`.
    pub action: String,
    /// Address, range, key name or backend.
    pub target: String,
    /// Free text.
    pub reason: String,
}

/// Active bans and their history.
#[derive(Debug, Default)]
pub struct BanTable {
    active: HashMap<IpNet, Arc<Ban>>,
    /// Non-host ranges among `active` (checked by containment).
    ranges: Vec<IpNet>,
    offences: HashMap<IpNet, u32>,
    tombstones: VecDeque<(u64, Arc<Ban>)>,
    next_id: u64,
}

/// What is persisted.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BanSnapshot {
    /// Next decision id.
    pub next_id: u64,
    /// Active bans.
    pub active: Vec<Ban>,
    /// Offence counts.
    pub offences: Vec<(IpNet, u32)>,
}

impl BanTable {
    /// Empty table.
    pub fn new() -> Self {
        BanTable {
            next_id: 1,
            ..Default::default()
        }
    }

    /// Restores a persisted table (expired bans are dropped by the next sweep).
    pub fn restore(s: BanSnapshot) -> Self {
        let mut t = BanTable::new();
        t.next_id = s.next_id.max(1);
        for b in s.active {
            t.next_id = t.next_id.max(b.id + 1);
            t.insert(Arc::new(b));
        }
        t.offences = s.offences.into_iter().collect();
        t
    }

    /// Snapshot for persistence.
    pub fn snapshot(&self) -> BanSnapshot {
        BanSnapshot {
            next_id: self.next_id,
            active: self.active.values().map(|b| (**b).clone()).collect(),
            offences: self.offences.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    fn insert(&mut self, b: Arc<Ban>) {
        if b.value.prefix_len() != b.value.max_prefix_len() && !self.ranges.contains(&b.value) {
            self.ranges.push(b.value);
        }
        self.active.insert(b.value, b);
    }

    /// Next decision id to hand out.
    pub fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Highest id handed out so far.
    pub fn cursor(&self) -> u64 {
        self.next_id - 1
    }

    /// The active ban covering `ip`, if any.
    pub fn covering(&self, ip: IpAddr) -> Option<&Arc<Ban>> {
        if let Some(b) = self.active.get(&IpNet::from(ip)) {
            return Some(b);
        }
        self.ranges
            .iter()
            .find(|r| r.contains(&ip))
            .and_then(|r| self.active.get(r))
    }

    /// The ban on exactly `net`.
    pub fn get(&self, net: &IpNet) -> Option<&Arc<Ban>> {
        self.active.get(net)
    }

    /// Offences so far for `net`.
    pub fn offences(&self, net: &IpNet) -> u32 {
        self.offences.get(net).copied().unwrap_or(0)
    }

    /// Records a new ban (bumping the offence count). Replaces an existing
    /// ban on the same value (its replacement is reported as a deletion
    /// followed by the new decision).
    pub fn add(
        &mut self,
        value: IpNet,
        make: impl FnOnce(u64, u32) -> Ban,
    ) -> (Arc<Ban>, Option<Arc<Ban>>) {
        let replaced = self.remove(&value);
        let offence = self
            .offences
            .get(&value)
            .copied()
            .unwrap_or(0)
            .saturating_add(1);
        if self.offences.len() >= MAX_OFFENDERS && !self.offences.contains_key(&value) {
            // Forget the least-repeated offenders first.
            self.offences.retain(|_, n| *n > 1);
            if self.offences.len() >= MAX_OFFENDERS {
                self.offences.clear();
            }
        }
        self.offences.insert(value, offence);
        let id = self.alloc_id();
        let ban = Arc::new(make(id, offence));
        self.insert(ban.clone());
        (ban, replaced)
    }

    /// Removes the ban on exactly `value`, keeping a tombstone.
    pub fn remove(&mut self, value: &IpNet) -> Option<Arc<Ban>> {
        let b = self.active.remove(value)?;
        if let Some(i) = self.ranges.iter().position(|r| r == value) {
            self.ranges.swap_remove(i);
        }
        let seq = self.alloc_id();
        if self.tombstones.len() >= MAX_TOMBSTONES {
            self.tombstones.pop_front();
        }
        self.tombstones.push_back((seq, b.clone()));
        Some(b)
    }

    /// Removes every ban expired at `now`; returns them.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> Vec<Arc<Ban>> {
        let expired: Vec<IpNet> = self
            .active
            .values()
            .filter(|b| b.expires_at <= now)
            .map(|b| b.value)
            .collect();
        expired.iter().filter_map(|v| self.remove(v)).collect()
    }

    /// Active bans (any order).
    pub fn active(&self) -> impl Iterator<Item = &Arc<Ban>> {
        self.active.values()
    }

    /// Number of active bans.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// True when nothing is banned.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Bans created after `cursor` and deletions after `cursor`.
    pub fn delta(&self, cursor: u64) -> (Vec<Arc<Ban>>, Vec<Arc<Ban>>) {
        let new = self
            .active
            .values()
            .filter(|b| b.id > cursor)
            .cloned()
            .collect();
        let start = self.tombstones.partition_point(|(s, _)| *s <= cursor);
        let deleted = self
            .tombstones
            .iter()
            .skip(start)
            .map(|(_, b)| b.clone())
            .collect();
        (new, deleted)
    }

    /// Oldest deletion still remembered (a cursor older than this may miss some).
    pub fn oldest_tombstone(&self) -> Option<u64> {
        self.tombstones.front().map(|(s, _)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(value: IpNet, at: DateTime<Utc>, secs: i64) -> impl FnOnce(u64, u32) -> Ban {
        move |id, offence| Ban {
            id,
            value,
            reason: "t".into(),
            origin: "policy".into(),
            actor: None,
            created_at: at,
            expires_at: at + chrono::Duration::seconds(secs),
            offence,
            dry_run: false,
        }
    }

    #[test]
    fn ranges_cover_and_delta_tracks_changes() {
        let now = Utc::now();
        let mut t = BanTable::new();
        let r: IpNet = "10.1.0.0/16".parse().unwrap();
        let h: IpNet = "192.0.2.1/32".parse().unwrap();
        t.add(r, mk(r, now, 60));
        let c = t.cursor();
        t.add(h, mk(h, now, 1));
        assert!(t.covering("10.1.2.3".parse().unwrap()).is_some());
        assert!(t.covering("10.2.0.1".parse().unwrap()).is_none());
        let (new, del) = t.delta(c);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].value, h);
        assert!(del.is_empty());
        let c2 = t.cursor();
        let gone = t.sweep(now + chrono::Duration::seconds(2));
        assert_eq!(gone.len(), 1);
        let (new, del) = t.delta(c2);
        assert!(new.is_empty());
        assert_eq!(del[0].value, h);
        // Offences survive the ban: the next one is the second.
        let (b, _) = t.add(h, mk(h, now, 1));
        assert_eq!(b.offence, 2);
        let snap = t.snapshot();
        let back = BanTable::restore(
            serde_json::from_value(serde_json::to_value(&snap).unwrap()).unwrap(),
        );
        assert_eq!(back.len(), 2);
        assert_eq!(back.offences(&h), 2);
        assert!(back.cursor() >= t.cursor());
        assert!(back.covering("10.1.9.9".parse().unwrap()).is_some());
    }
}
