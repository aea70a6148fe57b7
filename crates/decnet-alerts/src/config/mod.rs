//! The `[alerts]`, `[alerts.<channel>]`, `[alerts.rule.<id>]` and
//! `[siem.<name>]` sections of the fleet file, parsed into typed config.
//! The fleet parser hands each section over as a key/value map (as it does
//! for `[response]`); every key is documented in this crate's README.
//! Errors name the section and the key, and never quote a secret.

pub mod channel;
pub mod keys;
pub mod overrides;
pub mod siem;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use ipnet::IpNet;

pub use channel::{ChannelConfig, ChannelSpec, ChannelView};
pub use decnet_core::parse::parse_duration;
pub use overrides::Overrides;
pub use siem::{SiemConfig, SiemFormat, SinkSpec};

use crate::alert::{Severity, Stage};
use crate::rules::custom::{Aggregate, CustomRule};
use crate::rules::filter::{FieldMatch, Filter};
use crate::rules::BuiltinSettings;
use keys::{secs, Keys};

/// One configuration error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Section (`alerts.slack`).
    pub section: String,
    /// Key, when one is to blame.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "[{}] {k}: {}", self.section, self.message),
            None => write!(f, "[{}] {}", self.section, self.message),
        }
    }
}

/// Every error found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Throttling, digests, escalation, allowlist.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseConfig {
    /// Throttle/digest window per (rule, source).
    pub window: Duration,
    /// How long a source's ladder position is remembered after it goes quiet.
    pub stage_memory: Duration,
    /// Sources never alerted on.
    pub allowlist: Vec<IpNet>,
    /// Bound on tracked (rule, source) windows, sources and aggregates.
    pub max_tracked: usize,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            window: Duration::from_secs(300),
            stage_memory: Duration::from_secs(86_400),
            allowlist: Vec::new(),
            max_tracked: 100_000,
        }
    }
}

/// Retries, breaker, spool, history.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryConfig {
    /// First retry delay (doubles, with jitter).
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// A message still failing this long after it was queued is given up.
    pub give_up_after: Duration,
    /// Consecutive failures that open a channel's breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker waits before a probe.
    pub breaker_open_for: Duration,
    /// Messages in flight per channel (order is kept per rule).
    pub concurrency: usize,
    /// Undelivered messages kept in the spool; the oldest are dropped (and
    /// counted) beyond.
    pub spool_max_messages: usize,
    /// Spool segment size before a new file is started.
    pub spool_segment_bytes: u64,
    /// Alerts kept in the in-memory history.
    pub history: usize,
    /// How long `shutdown` keeps delivering before leaving the rest in the spool.
    pub shutdown_grace: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(86_400),
            breaker_threshold: 5,
            breaker_open_for: Duration::from_secs(30),
            concurrency: 4,
            spool_max_messages: 100_000,
            spool_segment_bytes: 4 << 20,
            history: 1000,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Everything the alerts engine and SIEM outputs need.
#[derive(Clone, Debug)]
pub struct AlertsConfig {
    /// Evaluate rules at all.
    pub enabled: bool,
    /// Name of this installation in messages (PagerDuty source, syslog host).
    pub node: String,
    /// Dashboard URL linked from messages.
    pub link: Option<String>,
    /// Heartbeat silence after which a sensor is down.
    pub sensor_timeout: Duration,
    /// Noise control.
    pub noise: NoiseConfig,
    /// Delivery.
    pub delivery: DeliveryConfig,
    /// Built-in rule switches and severities.
    pub builtin: BuiltinSettings,
    /// Custom rules.
    pub rules: Vec<CustomRule>,
    /// Channels.
    pub channels: Vec<ChannelConfig>,
    /// SIEM outputs.
    pub siem: Vec<SiemConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            node: "decnet".into(),
            link: None,
            sensor_timeout: Duration::from_secs(60),
            noise: NoiseConfig::default(),
            delivery: DeliveryConfig::default(),
            builtin: BuiltinSettings::default(),
            rules: Vec::new(),
            channels: Vec::new(),
            siem: Vec::new(),
        }
    }
}

/// True for the sections this crate reads: `alerts`, `alerts.*`, `siem.*`
/// (the fleet parser's predicate: it hands exactly those over).
pub use decnet_core::fleet::is_alerts_section;

/// Names of channels, rules and outputs: a token safe in subjects and URLs.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

const MIN: Duration = Duration::from_millis(1);

fn general(k: &mut Keys<'_>, cfg: &mut AlertsConfig) {
    let d = DeliveryConfig::default();
    let n = NoiseConfig::default();
    let day = Duration::from_secs(86_400);
    cfg.enabled = k.bool("enabled", true);
    cfg.node = k.string("node", "decnet");
    cfg.link = k.opt_string("link");
    cfg.sensor_timeout = k.duration("sensor_timeout", cfg.sensor_timeout, secs(1), day);
    cfg.noise.window = k.duration("window", n.window, secs(1), day);
    cfg.noise.stage_memory = k.duration("stage_memory", n.stage_memory, secs(1), 30 * day);
    cfg.noise.allowlist = k.nets("allowlist");
    cfg.noise.max_tracked = k.u64_in("max_tracked", n.max_tracked as u64, 100, 10_000_000) as usize;
    cfg.delivery.retry_base = k.duration("retry_base", d.retry_base, MIN, secs(3600));
    cfg.delivery.retry_max = k.duration("retry_max", d.retry_max, MIN, day);
    if cfg.delivery.retry_max < cfg.delivery.retry_base {
        k.err("retry_max", "must not be below retry_base");
    }
    cfg.delivery.give_up_after = k.duration("give_up_after", d.give_up_after, MIN, 30 * day);
    cfg.delivery.breaker_threshold =
        k.u64_in("breaker_threshold", d.breaker_threshold as u64, 1, 1000) as u32;
    cfg.delivery.breaker_open_for = k.duration("breaker_open_for", d.breaker_open_for, MIN, day);
    cfg.delivery.concurrency = k.u64_in("concurrency", d.concurrency as u64, 1, 64) as usize;
    cfg.delivery.spool_max_messages = k.u64_in(
        "spool_max_messages",
        d.spool_max_messages as u64,
        10,
        10_000_000,
    ) as usize;
    cfg.delivery.spool_segment_bytes =
        k.u64_in("spool_segment_bytes", d.spool_segment_bytes, 4096, 1 << 30);
    cfg.delivery.history = k.u64_in("history", d.history as u64, 10, 1_000_000) as usize;
    cfg.delivery.shutdown_grace = k.duration(
        "shutdown_grace",
        d.shutdown_grace,
        Duration::ZERO,
        secs(300),
    );

    for (key, into) in [("disable", 0), ("enable", 1)] {
        for id in k.list(key) {
            if crate::rules::builtin(&id).is_none() {
                k.err(key, format!("unknown built-in rule {id:?}"));
            } else if into == 0 {
                cfg.builtin.disabled.push(id);
            } else {
                cfg.builtin.enabled.push(id);
            }
        }
    }
    for item in k.list("severity") {
        match item.split_once(':') {
            Some((id, sev)) if crate::rules::builtin(id.trim()).is_some() => {
                match Severity::parse(sev) {
                    Some(s) => {
                        cfg.builtin.severity.insert(id.trim().to_owned(), s);
                    }
                    None => k.err("severity", format!("unknown severity in {item:?}")),
                }
            }
            _ => k.err(
                "severity",
                format!("{item:?}: expected <builtin rule>:<severity>"),
            ),
        }
    }
}

fn rule(id: &str, k: &mut Keys<'_>, raw: &BTreeMap<String, String>) -> Option<CustomRule> {
    let title = k.string("title", &format!("Custom rule {id}"));
    let severity = k.severity("severity", Severity::Medium);
    let enabled = k.bool("enabled", true);
    let mut filter = Filter {
        kinds: k.list("kinds"),
        services: k.list("services"),
        deckies: k.list("deckies"),
        subjects: k.subjects("subjects"),
        techniques: k.list("techniques"),
        sources: k.nets("sources"),
        fields: Vec::new(),
    };
    for (path, value) in k.allow_prefix("field.") {
        match FieldMatch::parse(path, value) {
            Ok(m) if !path.is_empty() => filter.fields.push(m),
            Ok(_) => k.err("field.", "a field name is required after field."),
            Err(e) => k.err(&format!("field.{path}"), e),
        }
    }
    let count = k.u64_in("count", 1, 1, 100_000) as u32;
    let within = k.duration("within", secs(60), secs(1), secs(86_400));
    let aggregate = (count > 1).then_some(Aggregate { count, within });
    let stage = k.opt_string("stage").and_then(|s| {
        let st = Stage::parse(&s);
        if st.is_none() {
            k.err("stage", format!("unknown stage {s:?}"));
        }
        st
    });
    let window = k
        .raw("window")
        .map(|_| k.duration("window", secs(300), secs(1), secs(86_400)));
    let empty = filter.kinds.is_empty()
        && filter.services.is_empty()
        && filter.deckies.is_empty()
        && filter.subjects.is_empty()
        && filter.techniques.is_empty()
        && filter.sources.is_empty()
        && filter.fields.is_empty();
    if empty {
        k.err("kinds", "a custom rule needs at least one condition (kinds, services, deckies, subjects, techniques, sources, field.<name>)");
    }
    Some(CustomRule {
        id: id.to_owned(),
        title,
        severity,
        enabled,
        filter,
        aggregate,
        stage,
        window,
        raw: raw.clone(),
    })
}

impl AlertsConfig {
    /// Parses the sections (any others in the map are ignored). Reports
    /// every error found.
    pub fn from_sections(
        sections: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<AlertsConfig, ConfigErrors> {
        let mut cfg = AlertsConfig::default();
        let mut errors = Vec::new();
        let empty = BTreeMap::new();
        {
            let mut k = Keys::new(
                "alerts",
                sections.get("alerts").unwrap_or(&empty),
                &mut errors,
            );
            general(&mut k, &mut cfg);
            k.finish();
        }
        let mut names = BTreeSet::new();
        for (section, map) in sections {
            let (kind, name) = if let Some(id) = section.strip_prefix("alerts.rule.") {
                ("rule", id)
            } else if let Some(n) = section.strip_prefix("alerts.") {
                ("channel", n)
            } else if let Some(n) = section.strip_prefix("siem.") {
                ("siem", n)
            } else {
                continue;
            };
            if !name_ok(name) {
                errors.push(ConfigError {
                    section: section.clone(),
                    key: None,
                    message: "names are 1-64 letters, digits, '-' or '_'".into(),
                });
                continue;
            }
            if kind == "channel" && name == "rule" {
                errors.push(ConfigError {
                    section: section.clone(),
                    key: None,
                    message: "custom rules are [alerts.rule.<id>] sections".into(),
                });
                continue;
            }
            if kind == "rule" && crate::rules::builtin(name).is_some() {
                errors.push(ConfigError {
                    section: section.clone(),
                    key: None,
                    message: format!("{name:?} is a built-in rule id"),
                });
                continue;
            }
            if kind != "siem" && !names.insert((kind, name)) {
                continue;
            }
            let mut k = Keys::new(section, map, &mut errors);
            match kind {
                "rule" => cfg.rules.extend(rule(name, &mut k, map)),
                "channel" => cfg.channels.extend(channel::parse(name, &mut k)),
                _ => cfg.siem.extend(siem::parse(name, &mut k)),
            }
            k.finish();
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Parses the sections the fleet parser handed over; errors are
    /// located on the line of the key (or section) they are about, for
    /// `FILE:LINE: message` reports.
    pub fn from_fleet(
        sections: &decnet_core::fleet::KeyedSections,
    ) -> Result<AlertsConfig, Vec<decnet_core::ValidationError>> {
        AlertsConfig::from_sections(sections.maps()).map_err(|ConfigErrors(errors)| {
            let mut located: Vec<_> = errors
                .into_iter()
                .map(|e| decnet_core::ValidationError {
                    line: sections.line_of(&e.section, e.key.as_deref()),
                    message: e.to_string(),
                })
                .collect();
            located.sort_by_key(|e| e.line);
            located
        })
    }

    /// Parses INI text containing only these sections (tests, examples and
    /// tools; the fleet parser is the real front end). `;`/`#` comments.
    pub fn from_ini(text: &str) -> Result<AlertsConfig, ConfigErrors> {
        AlertsConfig::from_sections(&sections_of_ini(text)?)
    }

    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// The sections of INI text holding only alerts sections, unvalidated
/// (see [`AlertsConfig::from_ini`]).
pub fn sections_of_ini(text: &str) -> Result<overrides::Sections, ConfigErrors> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let at = |message: String| {
            ConfigErrors(vec![ConfigError {
                section: current.clone().unwrap_or_default(),
                key: None,
                message: format!("line {}: {message}", i + 1),
            }])
        };
        let Some((k, v)) = line.split_once('=') else {
            return Err(at("expected key = value".into()));
        };
        let Some(sec) = &current else {
            return Err(at("key outside a section".into()));
        };
        sections
            .get_mut(sec)
            .expect("section entered above")
            .insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INI: &str = r#"
[alerts]
window = 2m
allowlist = 10.0.0.0/8, 192.0.2.7
disable = ban_issued
enable = probe
severity = login_success:critical
retry_base = 50ms

[alerts.slack]
url = https://hooks.slack.com/services/T000/B000/XXXXSECRET
min_severity = medium

[alerts.oncall]
type = pagerduty
routing_key = R0UTINGKEYSECRET
rules = login_success, canary_trigger

[alerts.mail]
type = smtp
host = smtp.example.com
username = alerts
password = SMTPSECRET
from = decnet <alerts@example.com>
to = soc@example.com, oncall@example.com

[alerts.rule.redis_takeover]
title = Redis CONFIG SET
severity = critical
kinds = command
services = redis
field.command = ~(?i)^config set
count = 3
within = 1m

[siem.elastic]
format = ecs
sink = file
path = /var/log/decnet/ecs.jsonl
"#;

    #[test]
    fn parses_everything() {
        let c = AlertsConfig::from_ini(INI).unwrap();
        assert_eq!(c.noise.window, Duration::from_secs(120));
        assert_eq!(c.noise.allowlist.len(), 2);
        assert_eq!(c.builtin.disabled, vec!["ban_issued"]);
        assert_eq!(c.builtin.enabled, vec!["probe"]);
        assert_eq!(c.builtin.severity["login_success"], Severity::Critical);
        assert_eq!(c.delivery.retry_base, Duration::from_millis(50));
        assert_eq!(c.channels.len(), 3);
        let slack = c.channel("slack").unwrap();
        assert_eq!(slack.kind(), "slack");
        assert_eq!(slack.min_severity, Severity::Medium);
        assert_eq!(slack.target(), "https://hooks.slack.com");
        let pd = c.channel("oncall").unwrap();
        assert_eq!(pd.target(), "https://events.pagerduty.com");
        assert_eq!(pd.rules, vec!["login_success", "canary_trigger"]);
        let mail = c.channel("mail").unwrap();
        let ChannelSpec::Smtp(s) = &mail.spec else {
            panic!()
        };
        assert_eq!(s.port, 587);
        assert_eq!(s.to.len(), 2);
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.rules[0].aggregate.unwrap().count, 3);
        assert_eq!(c.siem.len(), 1);
        assert_eq!(c.siem[0].format, SiemFormat::Ecs);
        assert_eq!(c.siem[0].subjects, vec!["events.>"]);
        // No secret survives Debug of the whole config or a channel view.
        let dbg = format!("{c:?}{}", serde_json::to_string(&pd.view()).unwrap());
        for secret in ["XXXXSECRET", "R0UTINGKEYSECRET", "SMTPSECRET"] {
            assert!(!dbg.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn reports_every_error_with_its_key() {
        let bad = r#"
[alerts]
window = forever
disable = no_such_rule
typo = 1
[alerts.chat]
url = https://example.com/x
[alerts.hook]
type = webhook
url = ftp://example.com/TOKENSECRET
secret = short
[alerts.mail]
type = smtp
host = localhost
tls = none
username = u
password = p
from = not-an-address
[alerts.rule.empty]
severity = dire
[alerts.rule.login_success]
kinds = command
[siem.x]
format = cef
sink = carrier-pigeon
"#;
        let errs = AlertsConfig::from_ini(bad).unwrap_err();
        let text = errs.to_string();
        for want in [
            "[alerts] window:",
            "[alerts] disable: unknown built-in rule \"no_such_rule\"",
            "[alerts] typo: unknown key",
            "[alerts.chat] type: is required",
            "[alerts.hook] url: must be an absolute http(s) URL",
            "[alerts.hook] secret: must be 16-256 characters",
            "[alerts.mail] tls: AUTH without TLS",
            "[alerts.mail] from:",
            "[alerts.mail] to: at least one recipient",
            "[alerts.rule.empty] severity: unknown severity",
            "[alerts.rule.empty] kinds: a custom rule needs",
            "[alerts.rule.login_success] \"login_success\" is a built-in rule id",
            "[siem.x] format: unknown format",
            "[siem.x] sink: unknown sink",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("TOKENSECRET"));
    }

    #[test]
    fn defaults_without_sections() {
        let c = AlertsConfig::from_sections(&BTreeMap::new()).unwrap();
        assert!(c.enabled && c.channels.is_empty() && c.siem.is_empty());
        assert_eq!(c.noise, NoiseConfig::default());
        assert!(is_alerts_section("alerts.slack") && is_alerts_section("siem.x"));
        assert!(!is_alerts_section("alertsx") && !is_alerts_section("web01.ssh"));
    }

    #[test]
    fn errors_of_a_fleet_file_are_located_on_their_key_and_quote_no_secret() {
        let ini = "[general]\nnet = 127.0.50.0/24\n[web1]\nservices = http\n[alerts]\nwindow = forever\n[alerts.hook]\ntype = webhook\nurl = https://hooks.example/TOKENSECRET\nsecret = short\n[alerts.mail]\ntype = smtp\n";
        let (fleet, _) = decnet_core::fleet::parse_str(ini).expect("the fleet itself is valid");
        let errs = AlertsConfig::from_fleet(&fleet.alerts).unwrap_err();
        let at = |line: usize, want: &str| {
            assert!(
                errs.iter()
                    .any(|e| e.line == line && e.message.contains(want)),
                "no {want:?} on line {line} in {errs:?}"
            )
        };
        at(6, "[alerts] window:");
        at(10, "[alerts.hook] secret:");
        // A missing required key is reported on its section's header.
        at(11, "[alerts.mail] host:");
        assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
        assert!(!format!("{errs:?}").contains("TOKENSECRET"));
    }
}
