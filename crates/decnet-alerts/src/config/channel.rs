//! `[alerts.<name>]`: one notification channel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::keys::{ms, secs, Keys};
use crate::alert::{AlertKind, Severity};
use crate::secret::Secret;

/// Channel types (`type = …`; defaults to the section name when that is one).
pub const CHANNEL_TYPES: [&str; 8] = [
    "smtp",
    "slack",
    "teams",
    "mattermost",
    "discord",
    "pagerduty",
    "webhook",
    "syslog",
];

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// How SMTP is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, never optional).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No TLS (a local relay only).
    None,
}

/// SMTP settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SmtpSpec {
    /// Server host.
    pub host: String,
    /// Port (587 STARTTLS, 465 TLS, 25 none by default).
    pub port: u16,
    /// TLS mode.
    pub tls: SmtpTls,
    /// AUTH user.
    pub username: Option<String>,
    /// AUTH password.
    pub password: Option<Secret>,
    /// Envelope and header sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject prefix.
    pub subject_prefix: String,
    /// EHLO name.
    pub hello_name: Option<String>,
}

/// A chat webhook (Mattermost, Discord, Slack, Teams).
#[derive(Clone, Debug, PartialEq)]
pub struct ChatSpec {
    /// Incoming-webhook URL (its path is the credential).
    pub url: Secret,
    /// Display name override, where the platform allows it.
    pub username: Option<String>,
    /// Channel override (Mattermost).
    pub channel: Option<String>,
}

/// PagerDuty Events API v2.
#[derive(Clone, Debug, PartialEq)]
pub struct PagerDutySpec {
    /// Integration (routing) key.
    pub routing_key: Secret,
    /// Endpoint.
    pub url: Secret,
    /// `payload.source` (default: the node name).
    pub source: Option<String>,
    /// Send `resolve` when a condition clears.
    pub resolve: bool,
}

/// A generic signed webhook (as `/api/v1/webhooks` signs).
#[derive(Clone, Debug, PartialEq)]
pub struct SignedHookSpec {
    /// Target.
    pub url: Secret,
    /// HMAC-SHA256 key.
    pub secret: Secret,
}

/// Syslog transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// One datagram per message.
    Udp,
    /// Octet-counted frames (RFC 6587).
    Tcp,
    /// Octet-counted frames over TLS (RFC 5425).
    Tls,
}

/// Syslog CEF.
#[derive(Clone, Debug, PartialEq)]
pub struct SyslogSpec {
    /// `host:port`.
    pub address: String,
    /// Transport.
    pub protocol: SyslogProtocol,
    /// HOSTNAME field (default: the node name).
    pub hostname: Option<String>,
    /// APP-NAME field.
    pub app_name: String,
    /// Facility number (0–23).
    pub facility: u8,
    /// TLS server name (default: the address host).
    pub server_name: Option<String>,
}

/// What kind of channel, with its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelSpec {
    /// E-mail.
    Smtp(SmtpSpec),
    /// Slack incoming webhook (Block Kit).
    Slack(ChatSpec),
    /// Microsoft Teams workflow/incoming webhook (Adaptive Card).
    Teams(ChatSpec),
    /// Mattermost incoming webhook.
    Mattermost(ChatSpec),
    /// Discord webhook (embeds).
    Discord(ChatSpec),
    /// PagerDuty Events API v2.
    PagerDuty(PagerDutySpec),
    /// Signed generic webhook.
    Webhook(SignedHookSpec),
    /// Syslog with CEF.
    Syslog(SyslogSpec),
}

/// One channel.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelConfig {
    /// Section suffix.
    pub name: String,
    /// Delivering?
    pub enabled: bool,
    /// Alerts below this are not sent here.
    pub min_severity: Severity,
    /// Only these rules (empty: all).
    pub rules: Vec<String>,
    /// Only these alert kinds (`first`, `escalation`, `digest`, `resolve`; empty: all).
    pub kinds: Vec<String>,
    /// Bus subject patterns: when given, the channel is sent the bus
    /// messages matching them (alerts only as `alert.<rule>` messages) and
    /// no alert through the rule/severity/kind routing.
    pub subjects: Vec<String>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Extra trusted CA (PEM) for TLS to this channel.
    pub ca_file: Option<PathBuf>,
    /// Type and settings.
    pub spec: ChannelSpec,
}

/// A channel as the API shows it: no secret, only where it points.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelView {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Delivering?
    pub enabled: bool,
    /// Minimum severity.
    pub min_severity: Severity,
    /// Rule filter.
    pub rules: Vec<String>,
    /// Kind filter.
    pub kinds: Vec<String>,
    /// Bus subjects it is sent (empty: it is sent alerts).
    pub subjects: Vec<String>,
    /// Host (and port) it talks to, never the path or credentials.
    pub target: String,
    /// A secret (URL with its token, key, password) is configured; secrets
    /// are write-only and never shown.
    pub secret_set: bool,
}

/// Channel keys whose values are secrets: accepted, never shown; an API
/// edit that leaves one out keeps the current value.
pub const SECRET_KEYS: &[&str] = &["url", "secret", "routing_key", "password"];

impl ChannelConfig {
    /// Type name.
    pub fn kind(&self) -> &'static str {
        match self.spec {
            ChannelSpec::Smtp(_) => "smtp",
            ChannelSpec::Slack(_) => "slack",
            ChannelSpec::Teams(_) => "teams",
            ChannelSpec::Mattermost(_) => "mattermost",
            ChannelSpec::Discord(_) => "discord",
            ChannelSpec::PagerDuty(_) => "pagerduty",
            ChannelSpec::Webhook(_) => "webhook",
            ChannelSpec::Syslog(_) => "syslog",
        }
    }

    /// Where it points, safe to show.
    pub fn target(&self) -> String {
        let host_of = |s: &Secret| {
            reqwest::Url::parse(s.expose())
                .ok()
                .and_then(|u| {
                    u.host_str().map(|h| match u.port() {
                        Some(p) => format!("{}://{h}:{p}", u.scheme()),
                        None => format!("{}://{h}", u.scheme()),
                    })
                })
                .unwrap_or_default()
        };
        match &self.spec {
            ChannelSpec::Smtp(s) => {
                format!("smtp://{}:{} ({} recipients)", s.host, s.port, s.to.len())
            }
            ChannelSpec::Slack(c)
            | ChannelSpec::Teams(c)
            | ChannelSpec::Mattermost(c)
            | ChannelSpec::Discord(c) => host_of(&c.url),
            ChannelSpec::PagerDuty(p) => host_of(&p.url),
            ChannelSpec::Webhook(w) => host_of(&w.url),
            ChannelSpec::Syslog(s) => format!("{:?}://{}", s.protocol, s.address).to_lowercase(),
        }
    }

    /// The API view.
    pub fn view(&self) -> ChannelView {
        ChannelView {
            name: self.name.clone(),
            kind: self.kind(),
            enabled: self.enabled,
            min_severity: self.min_severity,
            rules: self.rules.clone(),
            kinds: self.kinds.clone(),
            subjects: self.subjects.clone(),
            target: self.target(),
            secret_set: match &self.spec {
                ChannelSpec::Smtp(s) => s.password.is_some(),
                ChannelSpec::Syslog(_) => false,
                _ => true,
            },
        }
    }

    /// Does this channel take this alert?
    pub fn wants(&self, rule: &str, severity: Severity, kind: &AlertKind) -> bool {
        self.enabled
            && self.subjects.is_empty()
            && (severity >= self.min_severity || matches!(kind, AlertKind::Resolve))
            && (self.rules.is_empty() || self.rules.iter().any(|r| r == rule))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind.name()))
    }

    /// Does this channel take the bus message published on `topic`?
    pub fn wants_subject(&self, topic: &str) -> bool {
        self.enabled
            && self
                .subjects
                .iter()
                .any(|p| decnet_core::subject::matches(p, topic))
    }
}

fn facility(v: &str) -> Option<u8> {
    const NAMES: [&str; 12] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp",
    ];
    if let Ok(n) = v.parse::<u8>() {
        return (n <= 23).then_some(n);
    }
    if let Some(i) = NAMES.iter().position(|n| *n == v) {
        return Some(i as u8);
    }
    let local = v.strip_prefix("local")?.parse::<u8>().ok()?;
    (local <= 7).then_some(16 + local)
}

fn mailbox_ok(s: &str) -> bool {
    s.parse::<lettre::message::Mailbox>().is_ok()
}

fn chat(k: &mut Keys<'_>, with_channel: bool) -> Option<ChatSpec> {
    let url = k.url_secret("url", true);
    let username = k.opt_string("username");
    let channel = if with_channel {
        k.opt_string("channel")
    } else {
        None
    };
    Some(ChatSpec {
        url: url?,
        username,
        channel,
    })
}

fn smtp(k: &mut Keys<'_>) -> Option<SmtpSpec> {
    let host = k.required("host");
    let tls = match k.choice("tls", "starttls", &["starttls", "tls", "none"]) {
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        _ => SmtpTls::Starttls,
    };
    let default_port = match tls {
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    };
    let port = k.u64_in("port", default_port, 1, 65535) as u16;
    let username = k.opt_string("username");
    let password = k.secret("password");
    if username.is_some() != password.is_some() {
        k.err("password", "username and password go together");
    }
    if tls == SmtpTls::None && username.is_some() && !k.bool("allow_plaintext_auth", false) {
        k.err(
            "tls",
            "AUTH without TLS would send the password in clear (set allow_plaintext_auth = true for a local relay)",
        );
    } else {
        k.known("allow_plaintext_auth");
    }
    let from = k.required("from");
    if let Some(f) = &from {
        if !mailbox_ok(f) {
            k.err("from", format!("{f:?} is not an e-mail address"));
        }
    }
    let to = k.list("to");
    if to.is_empty() {
        k.err("to", "at least one recipient is required");
    }
    for t in &to {
        if !mailbox_ok(t) {
            k.err("to", format!("{t:?} is not an e-mail address"));
        }
    }
    let subject_prefix = k.string("subject_prefix", "[decnet]");
    let hello_name = k.opt_string("hello_name");
    Some(SmtpSpec {
        host: host?,
        port,
        tls,
        username,
        password,
        from: from?,
        to,
        subject_prefix,
        hello_name,
    })
}

fn syslog(k: &mut Keys<'_>) -> Option<SyslogSpec> {
    let address = k.address("address");
    let protocol = match k.choice("protocol", "udp", &["udp", "tcp", "tls"]) {
        "tcp" => SyslogProtocol::Tcp,
        "tls" => SyslogProtocol::Tls,
        _ => SyslogProtocol::Udp,
    };
    let fac = k.string("facility", "local0");
    let facility = facility(&fac).unwrap_or_else(|| {
        k.err("facility", format!("unknown facility {fac:?}"));
        16
    });
    Some(SyslogSpec {
        address: address?,
        protocol,
        hostname: k.opt_string("hostname"),
        app_name: k.string("app_name", "decnet"),
        facility,
        server_name: k.opt_string("server_name"),
    })
}

/// Parses `[alerts.<name>]`.
pub fn parse(name: &str, k: &mut Keys<'_>) -> Option<ChannelConfig> {
    let default_type = CHANNEL_TYPES.contains(&name).then_some(name);
    let kind = match (k.opt_string("type"), default_type) {
        (Some(t), _) => t.to_ascii_lowercase(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => {
            k.err(
                "type",
                format!("is required ({})", CHANNEL_TYPES.join(", ")),
            );
            return None;
        }
    };
    let enabled = k.bool("enabled", true);
    let min_severity = k.severity("min_severity", Severity::Low);
    let rules = k.list("rules");
    let kinds = k.list("kinds");
    for kd in &kinds {
        if !AlertKind::NAMES.contains(&kd.as_str()) {
            k.err("kinds", format!("unknown alert kind {kd:?}"));
        }
    }
    let subjects = k.subjects("subjects");
    if !subjects.is_empty() && kind != "webhook" {
        k.err(
            "subjects",
            "only webhook channels carry bus messages (their body is the message itself)",
        );
    }
    let timeout = k.duration("timeout", secs(10), ms(100), secs(300));
    let ca_file = k.file("ca_file");
    let spec = match kind.as_str() {
        "smtp" => ChannelSpec::Smtp(smtp(k)?),
        "slack" => ChannelSpec::Slack(chat(k, false)?),
        "teams" => ChannelSpec::Teams(chat(k, false)?),
        "mattermost" => ChannelSpec::Mattermost(chat(k, true)?),
        "discord" => ChannelSpec::Discord(chat(k, false)?),
        "pagerduty" => {
            let routing_key = k.required_secret("routing_key");
            let url = match k.url_secret("url", false) {
                Some(u) => Some(u),
                None if k.raw("url").is_some() => None,
                None => Some(Secret::new(PAGERDUTY_URL)),
            };
            let source = k.opt_string("source");
            let resolve = k.bool("resolve", true);
            ChannelSpec::PagerDuty(PagerDutySpec {
                routing_key: routing_key?,
                url: url?,
                source,
                resolve,
            })
        }
        "webhook" => {
            let url = k.url_secret("url", true);
            let secret = k.required_secret("secret");
            if let Some(s) = &secret {
                if !(16..=256).contains(&s.expose().len()) {
                    k.err("secret", "must be 16-256 characters");
                }
            }
            ChannelSpec::Webhook(SignedHookSpec {
                url: url?,
                secret: secret?,
            })
        }
        "syslog" => ChannelSpec::Syslog(syslog(k)?),
        other => {
            k.err(
                "type",
                format!(
                    "unknown channel type {other:?} ({})",
                    CHANNEL_TYPES.join(", ")
                ),
            );
            return None;
        }
    };
    Some(ChannelConfig {
        name: name.to_owned(),
        enabled,
        min_severity,
        rules,
        kinds,
        subjects,
        timeout,
        ca_file,
        spec,
    })
}

/// Channel configs by name, for reload comparisons.
pub fn by_name(list: &[ChannelConfig]) -> BTreeMap<&str, &ChannelConfig> {
    list.iter().map(|c| (c.name.as_str(), c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_make_a_webhook_carry_bus_messages_only() {
        let hook =
            "[alerts.h]\ntype = webhook\nurl = https://h.example/x\nsecret = 0123456789abcdef\n";
        let cfg =
            crate::AlertsConfig::from_ini(&format!("{hook}subjects = events.>, identity.*\n"))
                .unwrap();
        let c = &cfg.channels[0];
        assert!(c.wants_subject("events.web01.ssh.connect"));
        assert!(c.wants_subject("identity.formed"));
        assert!(!c.wants_subject("response.ban"));
        assert!(
            !c.wants("login_success", Severity::Critical, &AlertKind::First),
            "a subjects channel is sent no alert through the rule routing"
        );
        assert_eq!(c.view().subjects, vec!["events.>", "identity.*"]);
        let plain = crate::AlertsConfig::from_ini(hook).unwrap();
        assert!(!plain.channels[0].wants_subject("events.web01.ssh.connect"));
        assert!(plain.channels[0].wants("login_success", Severity::High, &AlertKind::First));
        let errs = crate::AlertsConfig::from_ini(&format!(
            "{hook}subjects = bad.>.x\n[alerts.s]\ntype = slack\nurl = https://hooks.slack.example/T\nsubjects = events.>\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(errs.contains("[alerts.h] subjects:"), "{errs}");
        assert!(
            errs.contains("[alerts.s] subjects: only webhook channels"),
            "{errs}"
        );
    }

    #[test]
    fn facilities() {
        assert_eq!(facility("local0"), Some(16));
        assert_eq!(facility("local7"), Some(23));
        assert_eq!(facility("authpriv"), Some(10));
        assert_eq!(facility("4"), Some(4));
        assert_eq!(facility("local8"), None);
        assert_eq!(facility("24"), None);
    }
}
