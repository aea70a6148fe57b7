//! `brute_force`: credentials tried faster or more varied than a person
//! who forgot a password.

use super::{Measures, Rule};

/// Attempts that are a list, not a person: the OpenSSH client asks for a
/// password three times per connection (`NumberOfPasswordPrompts 3`) and
/// a person who mistyped rarely opens a second connection, while hydra,
/// medusa and ncrack work through whole lists (hydra with `-t 4`, as its
/// own SSH advice says, tries 4 at a time; 8 passwords in 17 s is a
/// typical short hydra run).
pub const MIN_ATTEMPTS: u64 = 5;
/// Fewer attempts still count as a list when they name this many users
/// (a person retries their own name; tools walk `root`, `admin`, `pi`…)…
pub const SPRAY_PRINCIPALS: u64 = 3;
/// …or come faster than anyone types: a person needs seconds per password
/// prompt, hydra/medusa/ncrack send several a second.
pub const MACHINE_GAP_S: f64 = 1.0;
/// Attempts the two refinements above need.
pub const MIN_REFINED_ATTEMPTS: u64 = 3;

/// The rule.
pub struct BruteForce;

impl Rule for BruteForce {
    fn name(&self) -> &'static str {
        "brute_force"
    }

    fn check(&self, m: &Measures) -> Option<(&'static str, String)> {
        let n = m.auth_attempts;
        let reason = if n >= MIN_ATTEMPTS {
            format!("auth_attempts={n} >= {MIN_ATTEMPTS}")
        } else if n >= MIN_REFINED_ATTEMPTS && m.principals >= SPRAY_PRINCIPALS {
            format!(
                "auth_attempts={n} over principals={} >= {SPRAY_PRINCIPALS}",
                m.principals
            )
        } else if n >= MIN_REFINED_ATTEMPTS && m.auth_gap_s.is_some_and(|g| g < MACHINE_GAP_S) {
            format!(
                "auth_attempts={n} at {:.2}s apart < {MACHINE_GAP_S}s",
                m.auth_gap_s.unwrap_or_default()
            )
        } else {
            return None;
        };
        Some(("brute_force", reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempts(n: u64, principals: u64, gap: f64) -> Measures {
        Measures {
            auth_attempts: n,
            principals,
            auth_gap_s: Some(gap),
            ..Default::default()
        }
    }

    #[test]
    fn thresholds() {
        // (attempts, principals, mean gap s, brute force?)
        let table = [
            (8, 1, 2.1, true),  // hydra: 8 passwords in 17 s
            (5, 1, 10.0, true), // a list, slowly
            (4, 1, 6.0, false), // a person: 3 prompts, then one more try
            (3, 3, 6.0, true),  // root, admin, pi
            (3, 1, 0.3, true),  // faster than typing
            (2, 2, 0.1, false), // too few to tell
        ];
        for (n, p, gap, want) in table {
            assert_eq!(
                BruteForce.check(&attempts(n, p, gap)).is_some(),
                want,
                "{n} attempts, {p} principals, {gap}s"
            );
        }
    }
}
