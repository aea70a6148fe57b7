//! `campaign_formed`: identities grouped into a campaign (shared
//! infrastructure or targets in a time window). Expects `campaign.formed`
//! with `{campaign_id, name?, identities?: [...], deckies?: [...]}`.

use serde_json::Value;

use super::{BuiltinRule, Hit};
use crate::alert::Severity;
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct CampaignFormed;

impl BuiltinRule for CampaignFormed {
    fn id(&self) -> &'static str {
        "campaign_formed"
    }
    fn description(&self) -> &'static str {
        "Intel grouped identities into a new campaign"
    }
    fn default_severity(&self) -> Severity {
        Severity::High
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Campaign || s.kind() != "formed" {
            return None;
        }
        let id = s.field_str("campaign_id").or_else(|| s.field_str("id"))?;
        let count = |k: &str| s.field(k).and_then(Value::as_array).map(Vec::len);
        let name = s.field_str("name").unwrap_or(id);
        let mut h = Hit::on(
            self.id(),
            self.default_severity(),
            s,
            format!("Campaign formed: {}", super::clip(name)),
        )
        .keyed(format!("campaign:{id}"))
        .fact("campaign", id)
        .summary(
            "Several identities share infrastructure or targets: this looks coordinated.".into(),
        );
        if let Some(n) = count("identities") {
            h = h.fact("identities", &n.to_string());
        }
        if let Some(n) = count("deckies") {
            h = h.fact("deckies", &n.to_string());
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
    fn formed_campaigns() {
        let env = Envelope::json(
            "campaign.formed",
            "formed",
            json!({"campaign_id": "c1", "identities": ["a", "b", "c"]}),
        );
        let h = CampaignFormed.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(h.title, "Campaign formed: c1");
        assert!(h
            .facts
            .iter()
            .any(|f| f.name == "identities" && f.value == "3"));
        let env = Envelope::json("campaign.formed", "formed", json!({}));
        assert!(CampaignFormed.evaluate(&Signal::new(&env)).is_none());
    }
}
