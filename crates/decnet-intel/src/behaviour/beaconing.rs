//! `beaconing`: sessions at a steady interval to one or two ports, the
//! shape of an implant calling home.

use super::measures::BEACON_SESSIONS;
use super::{brute_force, interactive, Measures, Rule};

/// Largest coefficient of variation of the intervals: C2 frameworks
/// default to a fixed sleep with 0–20 % jitter (Cobalt Strike's jitter
/// is a percentage of the sleep; Sliver and Mythic the same), which keeps
/// the CV under ~0.12; people and scanners are far more irregular.
pub const MAX_CV: f64 = 0.25;
/// Most distinct ports a beacon talks to (more is a scan).
pub const MAX_PORTS: u64 = 2;
/// Shortest mean interval, seconds: faster repetition is a flood or a
/// retry loop, not a sleep between check-ins.
pub const MIN_INTERVAL_S: f64 = 5.0;

/// The rule.
pub struct Beaconing;

impl Rule for Beaconing {
    fn name(&self) -> &'static str {
        "beaconing"
    }

    fn check(&self, m: &Measures) -> Option<(&'static str, String)> {
        let regular = m.beacon_cv <= MAX_CV && m.beacon_mean >= MIN_INTERVAL_S;
        let quiet_otherwise = m.commands < interactive::MIN_COMMANDS
            && m.auth_attempts < brute_force::MIN_ATTEMPTS
            && m.ports <= MAX_PORTS;
        (regular && quiet_otherwise).then(|| {
            (
                "beaconing",
                format!(
                    "sessions={} >= {BEACON_SESSIONS} with interval {:.1}s, cv={:.2} <= {MAX_CV}",
                    m.timed_sessions, m.beacon_mean, m.beacon_cv
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_check_ins_beacon_jittery_ones_do_not() {
        let mut m = Measures {
            timed_sessions: 8,
            beacon_mean: 60.0,
            beacon_cv: 0.1,
            ports: 1,
            ..Default::default()
        };
        assert_eq!(Beaconing.check(&m).unwrap().0, "beaconing");
        m.beacon_cv = 0.6;
        assert!(Beaconing.check(&m).is_none());
        m.beacon_cv = 0.1;
        m.beacon_mean = 1.0;
        assert!(Beaconing.check(&m).is_none());
        m.beacon_mean = 60.0;
        m.ports = 3;
        assert!(Beaconing.check(&m).is_none());
    }
}
