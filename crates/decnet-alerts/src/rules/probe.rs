//! `probe` (opt-in): connections, scans and requests. Off by default —
//! alerting on connections is the noise this crate exists to avoid — but
//! when on, it puts sources on the first rung of the escalation ladder.

use super::{place, BuiltinRule, Hit};
use crate::alert::{Severity, Stage};
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct Probe;

impl BuiltinRule for Probe {
    fn id(&self) -> &'static str {
        "probe"
    }
    fn description(&self) -> &'static str {
        "Connections, scans and requests (opt-in: [alerts] enable = probe)"
    }
    fn default_severity(&self) -> Severity {
        Severity::Info
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Event || !matches!(s.kind(), "connect" | "scan" | "request") {
            return None;
        }
        Some(
            Hit::on(
                self.id(),
                self.default_severity(),
                s,
                format!("Probe on {}", place(s)),
            )
            .stage(Stage::Scan)
            .event_facts(s)
            .field_fact(s, "path", "path")
            .field_fact(s, "user agent", "user_agent"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::event;
    use decnet_core::EventKind;
    use serde_json::json;

    #[test]
    fn probes() {
        let env = event("http", EventKind::Request, json!({"path": "/admin"}));
        let h = Probe.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(h.stage, Some(Stage::Scan));
        assert!(!Probe.enabled_by_default());
        let env = event("http", EventKind::Disconnect, json!({}));
        assert!(Probe.evaluate(&Signal::new(&env)).is_none());
    }
}
