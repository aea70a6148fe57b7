//! `new_identity`: intel linked several source addresses into one actor
//! (`identity.formed` from decnet-intel: `{identity_id, members}`).

use serde_json::Value;

use super::{BuiltinRule, Hit};
use crate::alert::Severity;
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct NewIdentity;

/// Members listed in a message at most.
const MAX_LISTED: usize = 10;

impl BuiltinRule for NewIdentity {
    fn id(&self) -> &'static str {
        "new_identity"
    }
    fn description(&self) -> &'static str {
        "Intel linked source addresses into a new attacker identity"
    }
    fn default_severity(&self) -> Severity {
        Severity::Medium
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Identity || s.kind() != "formed" {
            return None;
        }
        let id = s.field_str("identity_id")?;
        let members: Vec<&str> = s
            .field("members")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut listed = members
            .iter()
            .take(MAX_LISTED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if members.len() > MAX_LISTED {
            listed.push_str(&format!(" (+{} more)", members.len() - MAX_LISTED));
        }
        let mut h = Hit::on(
            self.id(),
            self.default_severity(),
            s,
            format!("New attacker identity: {} addresses", members.len()),
        )
        .keyed(format!("identity:{id}"))
        .fact("identity", id)
        .fact("members", &listed)
        .summary("Evidence (fingerprints, payloads, commands, credentials) ties these addresses to one actor.".into());
        h.source_ip = members.first().and_then(|m| m.parse().ok());
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::Envelope;
    use serde_json::json;

    #[test]
    fn formed_identities() {
        let members: Vec<String> = (1..=12).map(|i| format!("192.0.2.{i}")).collect();
        let env = Envelope::json(
            "identity.formed",
            "formed",
            json!({"identity_id": "0190f000-0000-7000-8000-000000000001", "members": members}),
        );
        let h = NewIdentity.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(h.title, "New attacker identity: 12 addresses");
        assert_eq!(
            h.subject_key.as_deref(),
            Some("identity:0190f000-0000-7000-8000-000000000001")
        );
        assert!(h
            .facts
            .iter()
            .any(|f| f.name == "members" && f.value.ends_with("(+2 more)")));
        let env = Envelope::json("identity.merged", "merged", json!({"identity_id": "x"}));
        assert!(NewIdentity.evaluate(&Signal::new(&env)).is_none());
    }
}
