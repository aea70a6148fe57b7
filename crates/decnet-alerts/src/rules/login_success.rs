//! `login_success`: an attacker got in (a decky accepted the credentials).

use super::{place, BuiltinRule, Hit};
use crate::alert::{Severity, Stage};
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct LoginSuccess;

impl BuiltinRule for LoginSuccess {
    fn id(&self) -> &'static str {
        "login_success"
    }
    fn description(&self) -> &'static str {
        "Successful login on any decky"
    }
    fn default_severity(&self) -> Severity {
        Severity::High
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Event || s.kind() != "auth_attempt" || !s.succeeded() {
            return None;
        }
        Some(
            Hit::on(
                self.id(),
                self.default_severity(),
                s,
                format!("Successful login on {}", place(s)),
            )
            .stage(Stage::Login)
            .event_facts(s)
            .field_fact(s, "username", "username")
            .summary("A decky accepted a login: the attacker now has an interactive foothold on a decoy.".into()),
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
    fn success_field_or_outcome() {
        for f in [
            json!({"success": true, "username": "root"}),
            json!({"outcome": "success"}),
        ] {
            let env = event("ssh", EventKind::AuthAttempt, f);
            let h = LoginSuccess.evaluate(&Signal::new(&env)).unwrap();
            assert_eq!(h.stage, Some(Stage::Login));
            assert_eq!(h.source_ip, Some("203.0.113.7".parse().unwrap()));
        }
        let env = event("ssh", EventKind::AuthAttempt, json!({"success": false}));
        assert!(LoginSuccess.evaluate(&Signal::new(&env)).is_none());
    }
}
