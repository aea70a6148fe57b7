//! Campaigns: identities grouped by shared infrastructure (payload hash, C2
//! URL) or by shared targets (at least two common deckies, Jaccard ≥ 0.5)
//! within a time window. Campaign ids are kept stable across recomputation
//! by matching each new group to the previous campaign it overlaps most.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use decnet_store::CampaignRow;
use uuid::Uuid;

/// What the grouping looks at for one active identity.
#[derive(Clone, Debug)]
pub struct IdentitySummary {
    /// Identity id.
    pub id: Uuid,
    /// Deckies its members touched.
    pub deckies: BTreeSet<String>,
    /// Infrastructure tokens of its members.
    pub infra: BTreeSet<String>,
    /// Earliest activity.
    pub first_seen: DateTime<Utc>,
    /// Latest activity.
    pub last_seen: DateTime<Utc>,
}

/// Identities compared pairwise by targets at most (beyond this, only
/// shared infrastructure groups them, which is indexed).
pub const MAX_PAIRWISE: usize = 3000;

/// Union-find over identity indices, with why each one was joined.
struct Unions {
    parent: Vec<usize>,
    why: Vec<BTreeSet<String>>,
}

impl Unions {
    fn new(n: usize) -> Self {
        Unions {
            parent: (0..n).collect(),
            why: vec![BTreeSet::new(); n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        let p = &mut self.parent;
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }

    fn join(&mut self, i: usize, j: usize, reason: String) {
        let (a, b) = (self.find(i), self.find(j));
        self.parent[a] = b;
        self.why[i].insert(reason.clone());
        self.why[j].insert(reason);
    }

    /// Groups of two identities or more, in a stable order.
    fn groups(&mut self) -> Vec<Vec<usize>> {
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..self.parent.len() {
            let r = self.find(i);
            groups.entry(r).or_default().push(i);
        }
        let mut groups: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() >= 2).collect();
        groups.sort();
        groups
    }
}

/// Identities sharing an infrastructure token (payload hash, C2 URL).
fn join_shared_infra(ids: &[IdentitySummary], u: &mut Unions) {
    let mut by_token: HashMap<&str, usize> = HashMap::new();
    for (i, s) in ids.iter().enumerate() {
        for t in &s.infra {
            if let Some(&j) = by_token.get(t.as_str()) {
                u.join(i, j, format!("shared {t}"));
            } else {
                by_token.insert(t, i);
            }
        }
    }
}

/// Identities hitting mostly the same deckies (≥ 2 in common, Jaccard ≥
/// 0.5) within `window` of each other.
fn join_same_targets(ids: &[IdentitySummary], window: Duration, u: &mut Unions) {
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            let (a, b) = (&ids[i], &ids[j]);
            let common = a.deckies.intersection(&b.deckies).count();
            if common < 2 {
                continue;
            }
            let union = a.deckies.len() + b.deckies.len() - common;
            let jac = common as f64 / union as f64;
            let gap = if a.last_seen < b.first_seen {
                b.first_seen - a.last_seen
            } else if b.last_seen < a.first_seen {
                a.first_seen - b.last_seen
            } else {
                Duration::zero()
            };
            if jac >= 0.5 && gap <= window {
                let r = format!(
                    "same targets (decky jaccard {jac:.2}) within {}h",
                    window.num_hours()
                );
                u.join(i, j, r);
            }
        }
    }
}

/// Stable ids: each group takes the id of the previous campaign it shares
/// most identities with (greedy, each id once). Returns group → id and
/// the ids taken.
fn reuse_ids(
    groups: &[Vec<usize>],
    ids: &[IdentitySummary],
    previous: &[CampaignRow],
) -> (HashMap<usize, Uuid>, BTreeSet<Uuid>) {
    let mut pairs = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        let set: BTreeSet<Uuid> = g.iter().map(|&i| ids[i].id).collect();
        for p in previous {
            let ov = p.identities.iter().filter(|x| set.contains(x)).count();
            if ov > 0 {
                pairs.push((ov, p.id, gi));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut gid: HashMap<usize, Uuid> = HashMap::new();
    let mut used: BTreeSet<Uuid> = BTreeSet::new();
    for (_, pid, gi) in pairs {
        if gid.contains_key(&gi) || used.contains(&pid) {
            continue;
        }
        gid.insert(gi, pid);
        used.insert(pid);
    }
    (gid, used)
}

/// The row of campaign `id` made of the identities of group `g`.
fn campaign_row(
    id: Uuid,
    g: &[usize],
    ids: &[IdentitySummary],
    why: &[BTreeSet<String>],
    now: DateTime<Utc>,
) -> CampaignRow {
    let mut identities: Vec<Uuid> = g.iter().map(|&i| ids[i].id).collect();
    identities.sort();
    let deckies: BTreeSet<String> = g
        .iter()
        .flat_map(|&i| ids[i].deckies.iter().cloned())
        .collect();
    let mut infra_count: HashMap<&String, usize> = HashMap::new();
    for &i in g {
        for t in &ids[i].infra {
            *infra_count.entry(t).or_default() += 1;
        }
    }
    let mut infrastructure: Vec<String> = infra_count
        .into_iter()
        .filter(|(_, c)| *c >= 2)
        .map(|(t, _)| t.clone())
        .collect();
    infrastructure.sort();
    let reasons: BTreeSet<String> = g.iter().flat_map(|&i| why[i].iter().cloned()).collect();
    CampaignRow {
        id,
        identities,
        deckies: deckies.into_iter().collect(),
        infrastructure,
        reasons: reasons.into_iter().collect(),
        first_seen: g.iter().map(|&i| ids[i].first_seen).min().unwrap_or(now),
        last_seen: g.iter().map(|&i| ids[i].last_seen).max().unwrap_or(now),
        updated_at: now,
    }
}

/// Groups identities; returns campaigns (ids reused from `previous` where
/// the membership overlaps) and the ids of previous campaigns that vanished.
pub fn group(
    ids: &[IdentitySummary],
    previous: &[CampaignRow],
    window: Duration,
    now: DateTime<Utc>,
) -> (Vec<CampaignRow>, Vec<Uuid>) {
    let mut u = Unions::new(ids.len());
    join_shared_infra(ids, &mut u);
    if ids.len() <= MAX_PAIRWISE {
        join_same_targets(ids, window, &mut u);
    }
    let groups = u.groups();
    let (gid, used) = reuse_ids(&groups, ids, previous);
    let out = groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let id = gid.get(&gi).copied().unwrap_or_else(Uuid::now_v7);
            campaign_row(id, g, ids, &u.why, now)
        })
        .collect();
    let gone = previous
        .iter()
        .map(|p| p.id)
        .filter(|id| !used.contains(id))
        .collect();
    (out, gone)
}
