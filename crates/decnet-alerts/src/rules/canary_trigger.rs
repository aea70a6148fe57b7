//! `canary_trigger`: a canary token was used. Nobody legitimate ever opens
//! the document, resolves the name or uses the key, so this is always an
//! intruder. Matched by name (`canary_trigger` events, or any `canary.*`
//! trigger message) so it works whichever way the receivers publish.

use super::{BuiltinRule, Hit};
use crate::alert::{Severity, Stage};
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct CanaryTrigger;

impl BuiltinRule for CanaryTrigger {
    fn id(&self) -> &'static str {
        "canary_trigger"
    }
    fn description(&self) -> &'static str {
        "A canary token was triggered"
    }
    fn default_severity(&self) -> Severity {
        Severity::Critical
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        let is_trigger = match s.family() {
            Family::Event => s.kind() == "canary_trigger",
            Family::Canary => s.kind() == "trigger" || s.kind() == "canary_trigger",
            _ => false,
        };
        if !is_trigger {
            return None;
        }
        let label = s
            .field_str("label")
            .or_else(|| s.field_str("token_kind"))
            .unwrap_or("unnamed token");
        let from = s
            .src_ip()
            .map(|ip| format!(" from {ip}"))
            .unwrap_or_default();
        Some(
            Hit::on(
                self.id(),
                self.default_severity(),
                s,
                format!("Canary token triggered: {}{from}", super::clip(label)),
            )
            .stage(Stage::Canary)
            .field_fact(s, "token", "token_id")
            .field_fact(s, "kind", "token_kind")
            .field_fact(s, "label", "label")
            .field_fact(s, "decky", "decky")
            .field_fact(s, "path", "path")
            .field_fact(s, "user agent", "user_agent")
            .field_fact(s, "resolver", "resolver")
            .summary("A canary token reported back: someone found it and used it.".into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::Envelope;
    use serde_json::json;

    #[test]
    fn event_kind_or_canary_subject() {
        // An event of a kind this build may not know: matched by wire name.
        let env = Envelope {
            v: 1,
            id: uuid::Uuid::now_v7(),
            topic: "events.canary.canary-http.canary_trigger".into(),
            kind: "canary_trigger".into(),
            ts: chrono::Utc::now(),
            payload: decnet_bus::Payload::Json(
                json!({"token_id": "t1", "label": "AWS keys on fs01", "src_ip": "198.51.100.4"}),
            ),
        };
        let h = CanaryTrigger.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(
            h.title,
            "Canary token triggered: AWS keys on fs01 from 198.51.100.4"
        );
        assert_eq!(h.stage, Some(Stage::Canary));
        let env = Envelope::json("canary.trigger", "trigger", json!({"token_kind": "dns"}));
        assert!(CanaryTrigger.evaluate(&Signal::new(&env)).is_some());
        let env = Envelope::json("canary.created", "created", json!({}));
        assert!(CanaryTrigger.evaluate(&Signal::new(&env)).is_none());
    }
}
