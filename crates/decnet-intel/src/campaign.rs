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

fn find(p: &mut [usize], mut x: usize) -> usize {
    while p[x] != x {
        p[x] = p[p[x]];
        x = p[x];
    }
    x
}

/// Groups identities; returns campaigns (ids reused from `previous` where
/// the membership overlaps) and the ids of previous campaigns that vanished.
pub fn group(
    ids: &[IdentitySummary],
    previous: &[CampaignRow],
    window: Duration,
    now: DateTime<Utc>,
) -> (Vec<CampaignRow>, Vec<Uuid>) {
    let n = ids.len();
    let mut parent: Vec<usize> = (0..n).collect();
    let mut why: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
    let mut by_token: HashMap<&str, usize> = HashMap::new();
    for (i, s) in ids.iter().enumerate() {
        for t in &s.infra {
            if let Some(&j) = by_token.get(t.as_str()) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
                why[i].insert(format!("shared {t}"));
                why[j].insert(format!("shared {t}"));
            } else {
                by_token.insert(t, i);
            }
        }
    }
    if n <= MAX_PAIRWISE {
        for i in 0..n {
            for j in i + 1..n {
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
                    let (x, y) = (find(&mut parent, i), find(&mut parent, j));
                    parent[x] = y;
                    let r = format!(
                        "same targets (decky jaccard {jac:.2}) within {}h",
                        window.num_hours()
                    );
                    why[i].insert(r.clone());
                    why[j].insert(r);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() >= 2).collect();
    groups.sort();
    // Stable ids: greedy by overlap with previous campaigns.
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
    let mut out = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        let id = gid.get(&gi).copied().unwrap_or_else(Uuid::now_v7);
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
        out.push(CampaignRow {
            id,
            identities,
            deckies: deckies.into_iter().collect(),
            infrastructure,
            reasons: reasons.into_iter().collect(),
            first_seen: g.iter().map(|&i| ids[i].first_seen).min().unwrap_or(now),
            last_seen: g.iter().map(|&i| ids[i].last_seen).max().unwrap_or(now),
            updated_at: now,
        });
    }
    let gone = previous
        .iter()
        .map(|p| p.id)
        .filter(|id| !used.contains(id))
        .collect();
    (out, gone)
}
