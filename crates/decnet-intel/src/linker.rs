//! The identity linker (DESIGN §9): per-address signals → edges of an
//! [`IdentityGraph`].
//!
//! Weights: exact evidence — a tool fingerprint (SSH client banner, HASSH,
//! JA3, JA4), shared infrastructure (payload hash, C2 URL) or a shared
//! credential (password or SSH key) — 1.0 *scaled by its rarity*
//! ([`crate::rarity`]): a value held by a handful of addresses is one
//! actor's, a value held by many, or known to be what a stock client or a
//! wordlist sends, is nobody's in particular and weighs nothing. Plus
//! command-set Jaccard × 0.6, credential-set Jaccard × 0.2, same ASN 0.05;
//! link at ≥ 1.0. Correlated fingerprints of one client (its banner and
//! its HASSH) are one piece of evidence: the strongest counts, they do not
//! add up. As a value spreads its weight falls, and the links it made are
//! re-scored (retracted when they no longer reach 1.0). Shared
//! infrastructure does not link two addresses whose tool fingerprints
//! fully disagree (cooperating operators are a campaign, not one actor).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::identity::{IdentityGraph, Node};
use crate::rarity;

/// Per-address signals the linker compares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Tool fingerprints: `hassh:…`, `ssh_banner:…`, `ja3:…`, `ja4:…`.
    pub tool: BTreeSet<String>,
    /// Infrastructure: `payload:<sha256>`, `c2:<url>`.
    pub infra: BTreeSet<String>,
    /// Commands run.
    pub commands: BTreeSet<String>,
    /// Credentials tried (`principal` NUL `secret hash`).
    pub credentials: BTreeSet<String>,
    /// Autonomous system, when events carry one.
    pub asn: Option<String>,
}

fn slot(token: &str) -> &str {
    token.split_once(':').map(|(k, _)| k).unwrap_or("")
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    inter as f64 / union as f64
}

/// Signal weights and the link threshold.
pub mod weights {
    /// Exact fingerprint, shared infrastructure or shared credential, at
    /// full rarity ([`crate::rarity::weight`] scales it).
    pub const EXACT: f64 = 1.0;
    /// Command-set Jaccard multiplier.
    pub const COMMANDS: f64 = 0.6;
    /// Credential-set Jaccard multiplier.
    pub const CREDENTIALS: f64 = 0.2;
    /// Same ASN.
    pub const ASN: f64 = 0.05;
    /// Link when the score reaches this.
    pub const LINK: f64 = 1.0;
}

/// Prefix of a credential in the holders index (tool and infrastructure
/// tokens carry their own `slot:` prefixes).
const CREDENTIAL: &str = "credential:";

/// Turns signals into edges of an [`IdentityGraph`].
#[derive(Clone, Debug)]
pub struct Linker {
    /// The graph and identities.
    pub graph: IdentityGraph,
    signals: HashMap<Node, Signals>,
    /// Evidence value → addresses holding it, at most `max_fanout + 1`
    /// (past the floor the exact count no longer matters).
    holders: HashMap<String, BTreeSet<Node>>,
    links: HashMap<(Node, Node), (f64, Vec<String>)>,
    max_fanout: usize,
}

fn key(a: &str, b: &str) -> (Node, Node) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// Every exact-evidence value of an address, as holders-index keys.
fn evidence(s: &Signals) -> impl Iterator<Item = String> + '_ {
    s.tool
        .iter()
        .chain(s.infra.iter())
        .cloned()
        .chain(s.credentials.iter().map(|c| format!("{CREDENTIAL}{c}")))
}

fn stock_client(s: &Signals) -> bool {
    s.tool
        .iter()
        .filter_map(|t| t.strip_prefix("ssh_banner:"))
        .any(rarity::is_stock_banner)
}

/// The strongest piece of evidence among `shared`, and a reason for each
/// one that weighs anything.
fn strongest<'a>(
    shared: impl Iterator<Item = (&'a String, f64, usize)>,
    reasons: &mut Vec<String>,
    label: impl Fn(&str) -> String,
) -> f64 {
    let mut best = 0.0f64;
    for (value, w, n) in shared {
        if w > 0.0 {
            reasons.push(format!("{} (weight {w:.2}, {n} sources)", label(value)));
            best = best.max(w);
        }
    }
    best
}

impl Linker {
    /// A linker; values held by more than `max_fanout` addresses are common
    /// (weight 0), fewer weigh by their rarity.
    pub fn new(max_fanout: usize) -> Self {
        Linker {
            graph: IdentityGraph::new(),
            signals: HashMap::new(),
            holders: HashMap::new(),
            links: HashMap::new(),
            max_fanout: max_fanout.max(2),
        }
    }

    /// Addresses known to hold an evidence value (capped past the floor).
    fn holder_count(&self, value: &str) -> usize {
        self.holders.get(value).map_or(0, BTreeSet::len)
    }

    /// The rarity weight of an evidence value (0 for a stock one).
    pub fn weight_of(&self, value: &str) -> f64 {
        let stock = match value.split_once(':') {
            Some(("ssh_banner", b)) => rarity::is_stock_banner(b),
            Some(("credential", c)) => rarity::is_common_secret(c),
            _ => false,
        };
        if stock {
            0.0
        } else {
            rarity::weight(self.holder_count(value), self.max_fanout)
        }
    }

    /// Score and reasons for a pair.
    pub fn score(&self, a: &str, b: &str) -> (f64, Vec<String>) {
        let (Some(sa), Some(sb)) = (self.signals.get(a), self.signals.get(b)) else {
            return (0.0, Vec::new());
        };
        let mut reasons = Vec::new();
        // Two stock clients share their HASSH with every install of the
        // same version: it says no more than their banners do.
        let stock_pair = stock_client(sa) && stock_client(sb);
        let tool = strongest(
            sa.tool.intersection(&sb.tool).map(|t| {
                let w = if stock_pair && slot(t) == "hassh" {
                    0.0
                } else {
                    self.weight_of(t)
                };
                (t, w, self.holder_count(t))
            }),
            &mut reasons,
            str::to_owned,
        );
        let infra_shared: Vec<(&String, f64, usize)> = sa
            .infra
            .intersection(&sb.infra)
            .map(|t| (t, self.weight_of(t), self.holder_count(t)))
            .filter(|(_, w, _)| *w > 0.0)
            .collect();
        let mut infra = 0.0;
        if tool == 0.0 && !infra_shared.is_empty() && fingerprints_disagree(sa, sb) {
            reasons.push("infrastructure shared but tool fingerprints disagree (veto)".into());
        } else {
            infra = strongest(infra_shared.into_iter(), &mut reasons, str::to_owned);
        }
        let credential = strongest(
            sa.credentials.intersection(&sb.credentials).map(|c| {
                let k = format!("{CREDENTIAL}{c}");
                (c, self.weight_of(&k), self.holder_count(&k))
            }),
            &mut reasons,
            // The principal only: a reason never carries a secret or its hash.
            |c| format!("credential:{}", c.split('\0').next().unwrap_or("")),
        );
        let mut score = weights::EXACT * tool.max(infra).max(credential);
        let jc = jaccard(&sa.commands, &sb.commands);
        if jc > 0.0 {
            score += weights::COMMANDS * jc;
            reasons.push(format!("command_jaccard={jc:.2}"));
        }
        let jr = jaccard(&sa.credentials, &sb.credentials);
        if jr > 0.0 {
            score += weights::CREDENTIALS * jr;
            reasons.push(format!("credential_jaccard={jr:.2}"));
        }
        if sa.asn.is_some() && sa.asn == sb.asn {
            score += weights::ASN;
            reasons.push(format!("asn={}", sa.asn.as_deref().unwrap_or("")));
        }
        (score, reasons)
    }

    /// Evidence for an existing edge.
    pub fn link(&self, a: &str, b: &str) -> Option<(f64, Vec<String>)> {
        self.links.get(&key(a, b)).cloned()
    }

    /// Signals of an address.
    pub fn signals(&self, ip: &str) -> Option<&Signals> {
        self.signals.get(ip)
    }

    fn reevaluate(&mut self, a: &str, b: &str, touched: &mut BTreeSet<Node>) {
        let (score, reasons) = self.score(a, b);
        let on = score >= weights::LINK;
        if on {
            self.links.insert(key(a, b), (score, reasons));
        } else {
            self.links.remove(&key(a, b));
        }
        if self.graph.set_edge(a, b, on) {
            touched.insert(a.to_owned());
            touched.insert(b.to_owned());
        }
    }

    /// Replaces an address's signals and updates its edges. Returns the
    /// addresses whose edges changed (pass them to `reconcile`).
    pub fn update(&mut self, ip: &str, new: Signals) -> BTreeSet<Node> {
        let mut touched = BTreeSet::new();
        let old = self
            .signals
            .insert(ip.to_owned(), new.clone())
            .unwrap_or_default();
        let old_values: BTreeSet<String> = evidence(&old).collect();
        // Values one more address holds now: their weight fell.
        let mut spread = Vec::new();
        for v in evidence(&new) {
            if old_values.contains(&v) {
                continue;
            }
            let h = self.holders.entry(v.clone()).or_default();
            if h.len() <= self.max_fanout && h.insert(ip.to_owned()) {
                spread.push(v);
            }
        }
        // Candidates: holders of this address's values that still weigh
        // something, and its current neighbours.
        let mut cands: BTreeSet<Node> = self.graph.neighbours(ip).cloned().collect();
        for v in evidence(&new) {
            if self.weight_of(&v) > 0.0 {
                cands.extend(self.holders[&v].iter().cloned());
            }
        }
        cands.remove(ip);
        for c in cands {
            self.reevaluate(ip, &c, &mut touched);
        }
        // Links the spread values made are re-scored (and retracted when
        // they no longer reach the threshold).
        for v in spread {
            let hs: Vec<Node> = self.holders[&v].iter().cloned().collect();
            for h in &hs {
                let ns: Vec<Node> = self.graph.neighbours(h).cloned().collect();
                for n in ns {
                    self.reevaluate(h, &n, &mut touched);
                }
            }
        }
        touched
    }
}

/// True when the two addresses have comparable fingerprints (HASSH, JA3,
/// JA4) and none of them agree: different tools.
fn fingerprints_disagree(sa: &Signals, sb: &Signals) -> bool {
    let mut comparable = false;
    for s in ["hassh", "ja3", "ja4"] {
        let xa: BTreeSet<&String> = sa.tool.iter().filter(|t| slot(t) == s).collect();
        let xb: BTreeSet<&String> = sb.tool.iter().filter(|t| slot(t) == s).collect();
        if !xa.is_empty() && !xb.is_empty() {
            comparable = true;
            if xa.intersection(&xb).next().is_some() {
                return false;
            }
        }
    }
    comparable
}
