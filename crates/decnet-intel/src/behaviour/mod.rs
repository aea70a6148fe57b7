//! Behaviour classes (DESIGN §9): what an address did, decided by rules
//! over its order-independent aggregates, each rule's threshold derived
//! from what the real tools and people do (the reasons sit beside each
//! rule in its own file).
//!
//! Every matching primary rule names a class; two or more different
//! classes make `mixed`. Fallback rules are asked only when no primary
//! rule matched, so a light reconnaissance probe does not turn a brute
//! force or a beacon into `mixed`. Nothing matching is `unknown`.

mod beaconing;
mod brute_force;
mod interactive;
mod measures;
mod port_scan;
mod probe;
#[cfg(test)]
mod tool_shapes;

use decnet_store::AttackerRow;

use crate::profile::AttackerState;
pub use measures::Measures;

/// Mean seconds between probes at or above which a scan is slow: nmap's
/// `-T2` (polite) waits 0.4 s between probes, `-T1` (sneaky) 15 s and
/// `-T0` (paranoid) 5 min; masscan at its default 100 packets/s spreads a
/// range over a fleet in well under a second per decky. 10 s separates the
/// timing templates meant to evade detection from the rest.
pub const SLOW_SCAN_GAP_S: f64 = 10.0;

/// Probes needed before a pace is judged: one gap between two
/// connections is as likely a pause between two tools as a timing template.
pub const MIN_PACED_PROBES: u64 = 3;

/// One behaviour rule.
pub trait Rule: Sync {
    /// Short name (tests, docs).
    fn name(&self) -> &'static str;
    /// The class and the human-readable reason when the rule matches.
    fn check(&self, m: &Measures) -> Option<(&'static str, String)>;
    /// Asked only when no primary rule matched.
    fn fallback(&self) -> bool {
        false
    }
}

/// Every rule, primary ones first.
pub static RULES: &[&dyn Rule] = &[
    &interactive::Interactive,
    &brute_force::BruteForce,
    &port_scan::PortScan,
    &beaconing::Beaconing,
    &probe::Probe,
];

/// `scanning` or `slow_scan` by the mean gap between probes, with the
/// comparison for the reason text.
fn scan_pace(m: &Measures) -> (&'static str, String) {
    if m.probes < MIN_PACED_PROBES {
        (
            "scanning",
            format!(
                "probes={} < {MIN_PACED_PROBES}, too few to judge the pace",
                m.probes
            ),
        )
    } else if m.mean_gap_s >= SLOW_SCAN_GAP_S {
        (
            "slow_scan",
            format!("mean_gap={:.1}s >= {SLOW_SCAN_GAP_S}s", m.mean_gap_s),
        )
    } else {
        (
            "scanning",
            format!("mean_gap={:.1}s < {SLOW_SCAN_GAP_S}s", m.mean_gap_s),
        )
    }
}

/// The rules that match, in registry order.
pub fn matched(m: &Measures) -> Vec<(&'static str, String)> {
    let primary: Vec<_> = RULES
        .iter()
        .filter(|r| !r.fallback())
        .filter_map(|r| r.check(m))
        .collect();
    if !primary.is_empty() {
        return primary;
    }
    RULES
        .iter()
        .filter(|r| r.fallback())
        .filter_map(|r| r.check(m))
        .collect()
}

/// Decides the behaviour class; sets `behavior`, `behavior_rule`, `behavior_numbers`.
pub fn classify(row: &mut AttackerRow, st: &AttackerState) {
    let m = Measures::of(row, st);
    let matched = matched(&m);
    let classes: std::collections::BTreeSet<&str> = matched.iter().map(|(c, _)| *c).collect();
    let (class, rule) = match (classes.len(), matched.first()) {
        (0, _) | (_, None) => ("unknown".to_owned(), "no rule matched".to_owned()),
        (1, Some((c, _))) => (
            (*c).to_owned(),
            matched
                .iter()
                .map(|(_, r)| r.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => (
            "mixed".to_owned(),
            matched
                .iter()
                .map(|(c, r)| format!("{c}: {r}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    row.behavior = class;
    row.behavior_rule = rule;
    row.behavior_numbers = m.to_json();
}
