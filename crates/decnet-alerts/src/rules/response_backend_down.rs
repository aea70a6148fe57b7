//! `response_backend_down`: a ban backend (nftables, fail2ban…) went
//! offline, or crashed right after an activation (`pending_recovery`);
//! resolved when it is back (`online` / `recovered`). Published by
//! decnet-response as `response.backend.<transition>` with
//! `{node, backend, state, record}`.

use super::{BuiltinRule, Hit};
use crate::alert::Severity;
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct ResponseBackendDown;

impl BuiltinRule for ResponseBackendDown {
    fn id(&self) -> &'static str {
        "response_backend_down"
    }
    fn description(&self) -> &'static str {
        "A response backend went offline or crashed after an activation (resolved when back)"
    }
    fn default_severity(&self) -> Severity {
        Severity::High
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Response || !s.topic().starts_with("response.backend.") {
            return None;
        }
        let backend = s.field_str("backend")?;
        let node = s.field_str("node").unwrap_or("-");
        let (title, resolve) = match s.kind() {
            "offline" => (format!("Response backend {backend} offline"), false),
            "pending_recovery" => (
                format!("Response backend {backend} crashed after an activation"),
                false,
            ),
            "online" | "recovered" => (format!("Response backend {backend} back online"), true),
            _ => return None,
        };
        let mut h = Hit::on(self.id(), self.default_severity(), s, title)
            .keyed(format!("backend:{node}/{backend}"))
            .fact("backend", backend)
            .fact("node", node)
            .field_fact(s, "detail", "state.detail")
            .summary("Bans are not being enforced on this backend while it is down.".into());
        h.resolve = resolve;
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::Envelope;
    use serde_json::json;

    #[test]
    fn down_and_back() {
        let down = Envelope::json(
            "response.backend.offline",
            "offline",
            json!({"node": "n1", "backend": "nftables", "state": {"detail": "nft: not found"}}),
        );
        let h = ResponseBackendDown.evaluate(&Signal::new(&down)).unwrap();
        assert!(!h.resolve);
        assert_eq!(h.subject_key.as_deref(), Some("backend:n1/nftables"));
        assert!(h.facts.iter().any(|f| f.value == "nft: not found"));
        let crash = Envelope::json(
            "response.backend.pending_recovery",
            "pending_recovery",
            json!({"node": "n1", "backend": "nftables"}),
        );
        assert!(ResponseBackendDown
            .evaluate(&Signal::new(&crash))
            .unwrap()
            .title
            .contains("crashed"));
        let up = Envelope::json(
            "response.backend.online",
            "online",
            json!({"node": "n1", "backend": "nftables"}),
        );
        let h = ResponseBackendDown.evaluate(&Signal::new(&up)).unwrap();
        assert!(h.resolve);
        assert_eq!(h.subject_key.as_deref(), Some("backend:n1/nftables"));
    }
}
