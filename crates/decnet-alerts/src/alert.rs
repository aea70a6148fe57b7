//! What the engine produces: an [`Alert`], with its [`Severity`], the
//! escalation [`Stage`] it stands for and why it was sent ([`AlertKind`]).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How bad it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Probably nothing to do.
    Low,
    /// Someone should look today.
    Medium,
    /// Someone should look now.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// All, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The escalation ladder: how far a source has gone. An alert for a stage
/// above everything a source was alerted for before is an escalation and is
/// never throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Probing: connections, scans, requests.
    Scan,
    /// Presenting credentials.
    Auth,
    /// A login that succeeded.
    Login,
    /// Running commands.
    Command,
    /// Moving files in or out.
    FileTransfer,
    /// Touching a canary token.
    Canary,
}

impl Stage {
    /// All, lowest first.
    pub const ALL: [Stage; 6] = [
        Stage::Scan,
        Stage::Auth,
        Stage::Login,
        Stage::Command,
        Stage::FileTransfer,
        Stage::Canary,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Scan => "scan",
            Stage::Auth => "auth",
            Stage::Login => "login",
            Stage::Command => "command",
            Stage::FileTransfer => "file_transfer",
            Stage::Canary => "canary",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Why this alert was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertKind {
    /// The first match of a rule for a source (or after it went quiet).
    First,
    /// The source went further up the ladder than ever before.
    Escalation {
        /// The highest stage it had been alerted for, if any.
        from: Option<Stage>,
    },
    /// What one throttle window suppressed.
    Digest {
        /// Matches suppressed (every one counted).
        suppressed: u64,
        /// First suppressed match.
        since: DateTime<Utc>,
        /// Last suppressed match.
        until: DateTime<Utc>,
    },
    /// A condition alerted earlier is over (backend back online…).
    Resolve,
    /// A channel test.
    Test,
}

impl AlertKind {
    /// Wire name of the variant.
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::First => "first",
            AlertKind::Escalation { .. } => "escalation",
            AlertKind::Digest { .. } => "digest",
            AlertKind::Resolve => "resolve",
            AlertKind::Test => "test",
        }
    }

    /// Every variant name, for config validation.
    pub const NAMES: [&'static str; 5] = ["first", "escalation", "digest", "resolve", "test"];
}

/// One labelled value shown in a message (`username`, `command`…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Label.
    pub name: String,
    /// Value (attacker-controlled text: channels escape it).
    pub value: String,
}

impl Fact {
    /// A fact.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Fact {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// An alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// UUIDv7.
    pub id: Uuid,
    /// When the engine raised it.
    pub ts: DateTime<Utc>,
    /// Rule id (`login_success`, a custom rule's id).
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// First, escalation, digest, resolve or test.
    pub kind: AlertKind,
    /// One line.
    pub title: String,
    /// A few sentences.
    pub summary: String,
    /// Attacker address, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    /// The identity the source belongs to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Uuid>,
    /// Decky involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decky: Option<String>,
    /// Service involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Ladder stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Same for every alert about one (rule, source): PagerDuty's dedup key.
    pub dedup_key: String,
    /// Details, in display order.
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Ids of the bus messages behind it (first and last for a digest).
    #[serde(default)]
    pub signals: Vec<Uuid>,
    /// ATT&CK technique ids the inputs carried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
}

impl Alert {
    /// `[HIGH] Successful login on web01/ssh from 203.0.113.7`.
    pub fn headline(&self) -> String {
        let mut s = format!("[{}] {}", self.severity.as_str().to_uppercase(), self.title);
        match &self.kind {
            AlertKind::Digest { suppressed, .. } => {
                s.push_str(&format!(" ({suppressed} more)"));
            }
            AlertKind::Escalation { .. } => s.push_str(" (escalation)"),
            AlertKind::Resolve => s.push_str(" (resolved)"),
            AlertKind::Test => s.push_str(" (test)"),
            AlertKind::First => {}
        }
        s
    }

    /// How many rule hits this alert stands for: a digest its suppressed
    /// count, any other alert one.
    pub fn hits(&self) -> u64 {
        match self.kind {
            AlertKind::Digest { suppressed, .. } => suppressed,
            _ => 1,
        }
    }

    /// A channel test alert.
    pub fn test(channel: &str) -> Alert {
        Alert {
            id: Uuid::now_v7(),
            ts: Utc::now(),
            rule: "channel_test".into(),
            severity: Severity::Info,
            kind: AlertKind::Test,
            title: format!("decnet test message for channel {channel}"),
            summary: "If you can read this, decnet can deliver alerts here.".into(),
            source_ip: None,
            identity: None,
            decky: None,
            service: None,
            stage: None,
            dedup_key: format!("channel_test/{channel}"),
            facts: vec![Fact::new("channel", channel)],
            signals: Vec::new(),
            techniques: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_and_stages_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Info < Severity::Low);
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert_eq!(Severity::parse(" HIGH "), Some(Severity::High));
        assert_eq!(Severity::parse("urgent"), None);
        assert!(Stage::Canary > Stage::FileTransfer && Stage::Login > Stage::Auth);
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn alert_roundtrips_json() {
        let mut a = Alert::test("slack");
        a.kind = AlertKind::Digest {
            suppressed: 9,
            since: a.ts,
            until: a.ts,
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["kind"]["type"], "digest");
        assert_eq!(v["kind"]["suppressed"], 9);
        let back: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
        assert!(a.headline().starts_with("[INFO] decnet test message"));
        assert!(a.headline().ends_with("(9 more)"));
    }
}
