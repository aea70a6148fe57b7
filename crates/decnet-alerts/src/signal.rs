//! [`Signal`]: one bus message seen the way rules look at it, whatever
//! produced it. Decky events keep their typed [`Event`]; everything else
//! (`identity.*`, `campaign.*`, `response.*`, `system.*`, `canary.*`) is
//! read from its JSON payload. Nothing is copied: a signal borrows the
//! envelope, so looking at 10,000 events a second costs no allocation.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use decnet_bus::{Envelope, Payload};
use decnet_core::Event;
use serde_json::{Map, Value};

/// Who published it, by subject prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `events.<decky>.<service>.<kind>`.
    Event,
    /// `identity.*` (decnet-intel).
    Identity,
    /// `campaign.*`.
    Campaign,
    /// `response.*` (decnet-response).
    Response,
    /// `system.<component>.*`.
    System,
    /// `canary.*`.
    Canary,
    /// `attack.*` (technique tags).
    Attack,
    /// Anything else.
    Other,
}

/// Event-field names that carry ATT&CK technique ids.
pub const TECHNIQUE_FIELDS: [&str; 3] = ["techniques", "technique_id", "attack_techniques"];

/// A borrowed view of one bus message.
#[derive(Clone, Copy, Debug)]
pub struct Signal<'a> {
    env: &'a Envelope,
    event: Option<&'a Event>,
    payload: Option<&'a Map<String, Value>>,
    family: Family,
}

impl<'a> Signal<'a> {
    /// Views an envelope.
    pub fn new(env: &'a Envelope) -> Self {
        let (event, payload) = match &env.payload {
            Payload::Event(e) => (Some(&**e), None),
            Payload::Json(Value::Object(m)) => (None, Some(m)),
            Payload::Json(_) => (None, None),
        };
        let family = match env.topic.split('.').next().unwrap_or("") {
            "events" => Family::Event,
            "identity" => Family::Identity,
            "campaign" => Family::Campaign,
            "response" => Family::Response,
            "system" => Family::System,
            "canary" => Family::Canary,
            "attack" => Family::Attack,
            _ => Family::Other,
        };
        Signal {
            env,
            event,
            payload,
            family,
        }
    }

    /// The envelope.
    pub fn envelope(&self) -> &'a Envelope {
        self.env
    }

    /// The decky event, for `events.*` messages.
    pub fn event(&self) -> Option<&'a Event> {
        self.event
    }

    /// Publisher family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Subject.
    pub fn topic(&self) -> &'a str {
        &self.env.topic
    }

    /// Event kind (`auth_attempt`, `canary_trigger`) or envelope type
    /// (`formed`, `ban`, `offline`, `health`). Read from the envelope so a
    /// kind this crate was built without still matches by name.
    pub fn kind(&self) -> &'a str {
        &self.env.kind
    }

    /// Message id.
    pub fn id(&self) -> uuid::Uuid {
        self.env.id
    }

    /// Event time (the envelope's for non-events).
    pub fn ts(&self) -> DateTime<Utc> {
        self.event.map(|e| e.ts).unwrap_or(self.env.ts)
    }

    /// The fields: an event's `fields`, or a JSON payload's top level.
    pub fn fields(&self) -> Option<&'a Map<String, Value>> {
        match self.event {
            Some(e) => Some(&e.fields),
            None => self.payload,
        }
    }

    /// A field by name, or by dotted path into nested objects
    /// (`ban.reason`); an exact key with dots wins.
    pub fn field(&self, path: &str) -> Option<&'a Value> {
        let f = self.fields()?;
        if let Some(v) = f.get(path) {
            return Some(v);
        }
        let mut parts = path.split('.');
        let mut cur = f.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    /// A string field.
    pub fn field_str(&self, path: &str) -> Option<&'a str> {
        self.field(path).and_then(Value::as_str)
    }

    /// Decky name.
    pub fn decky(&self) -> Option<&'a str> {
        match self.event {
            Some(e) => Some(&e.decky),
            None => self.field_str("decky"),
        }
    }

    /// Service name.
    pub fn service(&self) -> Option<&'a str> {
        match self.event {
            Some(e) => Some(&e.service),
            None => self.field_str("service"),
        }
    }

    /// The attacker address: an event's (DECNET's fallbacks included), or a
    /// payload's `src_ip`/`ip`.
    pub fn src_ip(&self) -> Option<IpAddr> {
        match self.event {
            Some(e) => e.attacker_ip(),
            None => ["src_ip", "ip"]
                .iter()
                .filter_map(|k| self.field_str(k))
                .find_map(|v| v.parse().ok()),
        }
    }

    /// True when an auth attempt succeeded (`success: true` as the services
    /// emit it, or DECNET's `outcome = success`).
    pub fn succeeded(&self) -> bool {
        self.field("success").and_then(Value::as_bool) == Some(true)
            || self.field_str("outcome") == Some("success")
    }

    /// ATT&CK technique ids carried by the message (fields
    /// [`TECHNIQUE_FIELDS`], a string or an array of strings).
    pub fn techniques(&self) -> Vec<&'a str> {
        let mut out = Vec::new();
        for k in TECHNIQUE_FIELDS {
            match self.field(k) {
                Some(Value::String(s)) => out.push(s.as_str()),
                Some(Value::Array(a)) => out.extend(a.iter().filter_map(Value::as_str)),
                _ => {}
            }
        }
        out
    }
}

/// A JSON value as text for matching and display (strings unquoted).
pub fn value_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::EventKind;
    use serde_json::json;

    #[test]
    fn views_events_and_json() {
        let mut e = Event::new("web01", "ssh", EventKind::AuthAttempt)
            .with("username", "root")
            .with("success", true)
            .with("techniques", json!(["T1110.001"]));
        e.src_ip = "203.0.113.7".parse().unwrap();
        let env = Envelope::event(e);
        let s = Signal::new(&env);
        assert_eq!(s.family(), Family::Event);
        assert_eq!(s.kind(), "auth_attempt");
        assert_eq!(s.decky(), Some("web01"));
        assert_eq!(s.src_ip(), Some("203.0.113.7".parse().unwrap()));
        assert!(s.succeeded());
        assert_eq!(s.techniques(), vec!["T1110.001"]);

        let env = Envelope::json(
            "response.ban",
            "ban",
            json!({"node": "n1", "ban": {"value": "198.51.100.9/32", "reason": "auth_attempt"}}),
        );
        let s = Signal::new(&env);
        assert_eq!(s.family(), Family::Response);
        assert_eq!(s.field_str("ban.reason"), Some("auth_attempt"));
        assert_eq!(s.field_str("ban.missing"), None);
        assert_eq!(s.decky(), None);
        assert!(!s.succeeded());
    }
}
