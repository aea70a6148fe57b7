//! `ban_issued`: the response policy banned a source (`response.ban` from
//! decnet-response: `{node, ban: {value, reason, origin, expires_at,
//! offence, dry_run}}`).

use super::{BuiltinRule, Hit};
use crate::alert::Severity;
use crate::signal::{value_text, Signal};

/// See the module doc.
pub struct BanIssued;

impl BuiltinRule for BanIssued {
    fn id(&self) -> &'static str {
        "ban_issued"
    }
    fn description(&self) -> &'static str {
        "The response policy banned a source"
    }
    fn default_severity(&self) -> Severity {
        Severity::Low
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.topic() != "response.ban" {
            return None;
        }
        let value = s.field_str("ban.value")?;
        let net: Option<ipnet::IpNet> = value.parse().ok();
        let dry = s.field("ban.dry_run").and_then(|v| v.as_bool()) == Some(true);
        let mut h = Hit::on(
            self.id(),
            self.default_severity(),
            s,
            format!(
                "{}Banned {value}: {}",
                if dry { "[dry run] " } else { "" },
                super::clip(s.field_str("ban.reason").unwrap_or("policy"))
            ),
        )
        .fact("value", value)
        .field_fact(s, "origin", "ban.origin")
        .field_fact(s, "until", "ban.expires_at")
        .field_fact(s, "offence", "ban.offence")
        .field_fact(s, "node", "node")
        .summary("Active response blocked this source on the configured backends.".into());
        h.source_ip = net
            .filter(|n| n.prefix_len() == n.max_prefix_len())
            .map(|n| n.addr());
        if h.source_ip.is_none() {
            h.subject_key = Some(format!("ban:{value}"));
        }
        if let Some(v) = s.field("ban.actor").filter(|v| !v.is_null()) {
            h = h.fact("by", &value_text(v));
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::Envelope;
    use serde_json::json;

    #[test]
    fn bans_of_hosts_and_ranges() {
        let env = Envelope::json(
            "response.ban",
            "ban",
            json!({"node": "n1", "ban": {"value": "198.51.100.9/32", "reason": "auth_attempt on web01/ssh", "origin": "policy", "offence": 2, "dry_run": false}}),
        );
        let h = BanIssued.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(h.title, "Banned 198.51.100.9/32: auth_attempt on web01/ssh");
        assert_eq!(h.source_ip, Some("198.51.100.9".parse().unwrap()));
        let env = Envelope::json(
            "response.ban",
            "ban",
            json!({"ban": {"value": "198.51.100.0/24", "dry_run": true}}),
        );
        let h = BanIssued.evaluate(&Signal::new(&env)).unwrap();
        assert!(h.title.starts_with("[dry run]"));
        assert_eq!(h.subject_key.as_deref(), Some("ban:198.51.100.0/24"));
        let env = Envelope::json(
            "response.unban",
            "unban",
            json!({"ban": {"value": "1.2.3.4/32"}}),
        );
        assert!(BanIssued.evaluate(&Signal::new(&env)).is_none());
    }
}
