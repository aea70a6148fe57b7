//! `auth_attempt`: credentials presented to a decky (and refused). Nobody
//! legitimate logs in to a decoy, so the first attempt from a source is
//! worth a message; the rest of a brute force lands in the digest.

use super::{place, BuiltinRule, Hit};
use crate::alert::{Severity, Stage};
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct AuthAttempt;

impl BuiltinRule for AuthAttempt {
    fn id(&self) -> &'static str {
        "auth_attempt"
    }
    fn description(&self) -> &'static str {
        "Credentials tried on any decky (failed attempts; successes are login_success)"
    }
    fn default_severity(&self) -> Severity {
        Severity::Low
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Event || s.kind() != "auth_attempt" || s.succeeded() {
            return None;
        }
        let mut h = Hit::on(
            self.id(),
            self.default_severity(),
            s,
            format!("Credentials tried on {}", place(s)),
        )
        .stage(Stage::Auth)
        .event_facts(s)
        .field_fact(s, "username", "username");
        if s.field_str("secret_kind") == Some("password") {
            h = h.field_fact(s, "password", "secret_printable");
        } else {
            h = h.field_fact(s, "secret kind", "secret_kind");
        }
        Some(h.summary("Someone presented credentials to a decoy; no legitimate user has an account there.".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::event;
    use decnet_core::EventKind;
    use serde_json::json;

    #[test]
    fn failed_attempts_only() {
        let env = event(
            "ssh",
            EventKind::AuthAttempt,
            json!({"username": "root", "secret_kind": "password", "secret_printable": "123456", "success": false}),
        );
        let h = AuthAttempt.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(h.stage, Some(Stage::Auth));
        assert_eq!(h.title, "Credentials tried on web01/ssh from 203.0.113.7");
        assert!(h
            .facts
            .iter()
            .any(|f| f.name == "password" && f.value == "123456"));
        let ok = event("ssh", EventKind::AuthAttempt, json!({"success": true}));
        assert!(AuthAttempt.evaluate(&Signal::new(&ok)).is_none());
        let other = event("ssh", EventKind::Command, json!({}));
        assert!(AuthAttempt.evaluate(&Signal::new(&other)).is_none());
    }
}
