//! Subject scoping: what a sensor may publish and read on NATS.
//!
//! A sensor publishes everything under its own prefix, `sensor.<name>.`
//! followed by the topic it had on its local bus (`sensor.edge1.events.web1.ssh.auth_attempt`,
//! `sensor.edge1.system.edge1.health`). Its NATS user may publish only
//! `sensor.<name>.>` and read only its own control subjects and its own
//! reply inbox, so a stolen sensor's credentials cannot publish as another
//! sensor nor read anyone's events. The events stream captures both the
//! servers' `events.>` and every sensor's `sensor.*.events.>`; a server's
//! subscription to `P` also listens on `sensor.*.P`, and whatever arrives
//! is checked against the subject it came on ([`accepts`]) before anyone
//! sees it, so a sensor cannot smuggle a message for another topic (or
//! another sensor's health) inside its own subject.

use std::fmt;

/// First token of every subject a sensor publishes on.
pub const SENSOR_PREFIX: &str = "sensor";

/// Subjects held by the events stream.
pub fn stream_subjects() -> Vec<String> {
    vec!["events.>".into(), format!("{SENSOR_PREFIX}.*.events.>")]
}

/// A sensor's name as it appears in subjects and in the server's
/// authorization config: 1–64 ASCII letters, digits, `-` or `_`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SensorName(String);

/// Why a name cannot name a sensor.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sensor name {0:?}: use 1-64 ASCII letters, digits, '-' or '_'")]
pub struct BadSensorName(pub String);

impl SensorName {
    /// Checks `name` (no rewriting: a name that differs from what the
    /// operator enrolled would silently lose every publish to permissions).
    pub fn new(name: &str) -> Result<Self, BadSensorName> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(SensorName(name.to_owned()))
        } else {
            Err(BadSensorName(name.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `sensor.<name>.<topic>`: where this sensor publishes `topic`.
    pub fn subject(&self, topic: &str) -> String {
        format!("{SENSOR_PREFIX}.{}.{topic}", self.0)
    }

    /// Inbox prefix of this sensor's client: replies (JetStream publish
    /// acks among them) come to subjects only it may read.
    pub fn inbox_prefix(&self) -> String {
        format!("_INBOX.{SENSOR_PREFIX}.{}", self.0)
    }

    /// Subjects this sensor listens on for commands (`control.<name>.deploy`).
    pub fn control_subjects(&self) -> String {
        format!("control.{}.>", self.0)
    }

    /// The least a sensor needs: publish its own subjects; read its
    /// control subjects and its inbox; answer requests made to it.
    /// No `$JS.API` subject at all: a JetStream publish is a plain publish
    /// whose ack comes back to the inbox, and the stream is created by the
    /// servers.
    pub fn permissions(&self) -> Permissions {
        Permissions {
            publish: vec![format!("{SENSOR_PREFIX}.{}.>", self.0)],
            subscribe: vec![self.control_subjects(), format!("{}.>", self.inbox_prefix())],
            allow_responses: true,
        }
    }
}

impl fmt::Display for SensorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A NATS user's permissions (nats-server config terms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions {
    /// `publish.allow`.
    pub publish: Vec<String>,
    /// `subscribe.allow`.
    pub subscribe: Vec<String>,
    /// `allow_responses`: may publish once to the reply subject of a request it received.
    pub allow_responses: bool,
}

impl Permissions {
    /// Everything (the servers).
    pub fn all() -> Self {
        Permissions {
            publish: vec![">".into()],
            subscribe: vec![">".into()],
            allow_responses: false,
        }
    }
}

/// Splits `sensor.<name>.<topic>` into the name and the topic; any other
/// subject is a server's own and comes back whole.
pub fn split_sensor(subject: &str) -> (Option<&str>, &str) {
    let Some(rest) = subject
        .strip_prefix(SENSOR_PREFIX)
        .and_then(|r| r.strip_prefix('.'))
    else {
        return (None, subject);
    };
    match rest.split_once('.') {
        Some((name, topic)) if !name.is_empty() && !topic.is_empty() => (Some(name), topic),
        _ => (None, subject),
    }
}

/// True when a message that came on `subject` may be taken as `topic`:
/// the topic is the subject (without a sensor's prefix), and a sensor's
/// `system.<name>.…` messages name that sensor.
pub fn accepts(subject: &str, topic: &str) -> bool {
    let (sensor, inner) = split_sensor(subject);
    if inner != topic {
        return false;
    }
    match (sensor, topic.strip_prefix("system.")) {
        (Some(name), Some(rest)) => rest.split('.').next() == Some(name),
        _ => true,
    }
}

/// The subscriptions behind a server's subscription to `pattern`: the
/// pattern itself and, unless it already covers them, the same pattern
/// under every sensor's prefix.
pub fn server_patterns(pattern: &str) -> Vec<String> {
    if pattern == ">" {
        vec![pattern.to_owned()]
    } else {
        vec![pattern.to_owned(), format!("{SENSOR_PREFIX}.*.{pattern}")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::subject::matches;

    #[test]
    fn names_are_checked_not_rewritten() {
        assert!(SensorName::new("edge-1_b").is_ok());
        for bad in ["", "a.b", "a*", "a>", "a b", "é", &"x".repeat(65)] {
            assert_eq!(SensorName::new(bad), Err(BadSensorName(bad.to_owned())));
        }
    }

    #[test]
    fn a_sensor_may_publish_only_under_its_own_name() {
        let s = SensorName::new("edge1").unwrap();
        let p = s.permissions();
        let may_publish = |subj: &str| p.publish.iter().any(|a| matches(a, subj));
        assert!(may_publish(&s.subject("events.web1.ssh.auth_attempt")));
        assert!(may_publish(&s.subject("system.edge1.health")));
        assert!(!may_publish("sensor.edge2.events.web1.ssh.auth_attempt"));
        assert!(!may_publish("events.web1.ssh.auth_attempt"));
        assert!(!may_publish("$JS.API.STREAM.CREATE.DECNET_EVENTS"));
        let may_read = |subj: &str| p.subscribe.iter().any(|a| matches(a, subj));
        assert!(may_read("control.edge1.deploy"));
        assert!(may_read(&format!("{}.abc", s.inbox_prefix())));
        assert!(!may_read("control.edge2.deploy"));
        assert!(!may_read("events.web1.ssh.auth_attempt"));
        assert!(!may_read("sensor.edge2.events.x.y.z"));
        assert!(!may_read("_INBOX.abc"));
        assert!(!may_read("_INBOX.sensor.edge2.abc"));
    }

    #[test]
    fn stream_holds_server_and_sensor_events_only() {
        let subjects = stream_subjects();
        let held = |s: &str| subjects.iter().any(|p| matches(p, s));
        assert!(held("events.a.ssh.connect"));
        assert!(held("sensor.edge1.events.a.ssh.connect"));
        assert!(!held("sensor.edge1.system.edge1.health"));
        assert!(!held("sensor.edge1.decky.a.state"));
    }

    #[test]
    fn accepts_only_the_topic_of_the_subject() {
        assert!(accepts("events.a.ssh.connect", "events.a.ssh.connect"));
        assert!(accepts(
            "sensor.e1.events.a.ssh.connect",
            "events.a.ssh.connect"
        ));
        assert!(!accepts(
            "sensor.e1.events.a.ssh.connect",
            "events.b.ssh.connect"
        ));
        assert!(!accepts("sensor.e1.events.a.ssh.connect", "topology.x.y"));
        assert!(accepts("sensor.e1.system.e1.health", "system.e1.health"));
        assert!(!accepts("sensor.e1.system.e2.health", "system.e2.health"));
        assert!(accepts("system.e2.health", "system.e2.health"));
        assert_eq!(split_sensor("sensor."), (None, "sensor."));
        assert_eq!(split_sensor("sensor.x"), (None, "sensor.x"));
    }

    #[test]
    fn server_subscriptions_cover_sensor_subjects_once() {
        assert_eq!(server_patterns(">"), vec![">"]);
        let p = server_patterns("system.*.health");
        assert!(p
            .iter()
            .any(|p| matches(p, "sensor.e1.system.e1.health")));
        assert!(p.iter().any(|p| matches(p, "system.e1.health")));
    }
}
