//! Alert rules: what deserves a message.
//!
//! Built-in rules alert on intent, not on connections: one unit struct per
//! rule, each in its own file with its test, listed in [`BUILTIN`]. Custom
//! rules ([`custom::CustomRule`]) come from the `[alerts.rule.<id>]`
//! sections: an event filter and optionally an aggregate (N matches per
//! source within T). A [`RuleSet`] evaluates both on each [`Signal`] and
//! returns [`Hit`]s; the noise gate decides which become alerts.

pub mod custom;
pub mod filter;

mod auth_attempt;
mod ban_issued;
mod campaign_formed;
mod canary_trigger;
mod command_executed;
mod file_transfer;
mod login_success;
mod new_identity;
mod probe;
mod response_backend_down;
mod sensor_down;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::alert::{Fact, Severity, Stage};
use crate::signal::{value_text, Signal};

pub use auth_attempt::AuthAttempt;
pub use ban_issued::BanIssued;
pub use campaign_formed::CampaignFormed;
pub use canary_trigger::CanaryTrigger;
pub use command_executed::CommandExecuted;
pub use file_transfer::FileTransfer;
pub use login_success::LoginSuccess;
pub use new_identity::NewIdentity;
pub use probe::Probe;
pub use response_backend_down::ResponseBackendDown;
pub use sensor_down::SensorDown;

/// A built-in rule.
pub trait BuiltinRule: Send + Sync + 'static {
    /// Stable id (config keys and the API use it).
    fn id(&self) -> &'static str;
    /// What it alerts on, for the API and docs.
    fn description(&self) -> &'static str;
    /// Severity unless `[alerts] severity` overrides it.
    fn default_severity(&self) -> Severity;
    /// False for rules an operator must opt into (`[alerts] enable`).
    fn enabled_by_default(&self) -> bool {
        true
    }
    /// The hit for this signal, if it matches.
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit>;
}

/// Every built-in rule.
pub static BUILTIN: &[&dyn BuiltinRule] = &[
    &AuthAttempt,
    &LoginSuccess,
    &CommandExecuted,
    &FileTransfer,
    &CanaryTrigger,
    &NewIdentity,
    &CampaignFormed,
    &BanIssued,
    &ResponseBackendDown,
    &SensorDown,
    &Probe,
];

/// The built-in rule with this id.
pub fn builtin(id: &str) -> Option<&'static dyn BuiltinRule> {
    BUILTIN.iter().copied().find(|r| r.id() == id)
}

/// A rule matched a signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// Rule id.
    pub rule: Arc<str>,
    /// Severity.
    pub severity: Severity,
    /// Ladder stage, for attacker activity.
    pub stage: Option<Stage>,
    /// One line.
    pub title: String,
    /// Longer text.
    pub summary: String,
    /// Attacker address.
    pub source_ip: Option<IpAddr>,
    /// Throttle key for hits that are not about a source (a backend, a
    /// sensor, an identity); the source address is used otherwise.
    pub subject_key: Option<String>,
    /// Details.
    pub facts: Vec<Fact>,
    /// Ends an earlier alert with the same key instead of raising one.
    pub resolve: bool,
    /// Throttle window overriding `[alerts] window`.
    pub window: Option<Duration>,
    /// Decky.
    pub decky: Option<String>,
    /// Service.
    pub service: Option<String>,
    /// The message behind it.
    pub signal: Uuid,
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// Technique ids.
    pub techniques: Vec<String>,
}

/// Longest value copied into a fact (commands, URLs, user agents).
pub const MAX_FACT_CHARS: usize = 512;

/// Truncates attacker text to [`MAX_FACT_CHARS`] characters.
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_FACT_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl Hit {
    /// A hit for `rule` on signal `s`: decky, service, source, time and
    /// techniques copied from it.
    pub fn on(rule: &str, severity: Severity, s: &Signal<'_>, title: String) -> Hit {
        Hit {
            rule: Arc::from(rule),
            severity,
            stage: None,
            title,
            summary: String::new(),
            source_ip: s.src_ip(),
            subject_key: None,
            facts: Vec::new(),
            resolve: false,
            window: None,
            decky: s.decky().map(str::to_owned),
            service: s.service().map(str::to_owned),
            signal: s.id(),
            ts: s.ts(),
            techniques: s.techniques().into_iter().map(str::to_owned).collect(),
        }
    }

    /// Sets the stage.
    pub fn stage(mut self, stage: Stage) -> Hit {
        self.stage = Some(stage);
        self
    }

    /// Sets the summary.
    pub fn summary(mut self, summary: String) -> Hit {
        self.summary = summary;
        self
    }

    /// Sets the non-source throttle key.
    pub fn keyed(mut self, key: String) -> Hit {
        self.subject_key = Some(key);
        self
    }

    /// Adds a fact (clipped).
    pub fn fact(mut self, name: &str, value: &str) -> Hit {
        self.facts.push(Fact::new(name, clip(value)));
        self
    }

    /// Adds the signal's field `field` as fact `name`, if present.
    pub fn field_fact(mut self, s: &Signal<'_>, name: &str, field: &str) -> Hit {
        if let Some(v) = s.field(field).filter(|v| !v.is_null()) {
            self.facts.push(Fact::new(name, clip(&value_text(v))));
        }
        self
    }

    /// The standard facts of a decky event: where, from where, session.
    pub fn event_facts(mut self, s: &Signal<'_>) -> Hit {
        if let Some(e) = s.event() {
            self.facts
                .push(Fact::new("decky", format!("{} ({})", e.decky, e.dst_ip)));
            self.facts.push(Fact::new("service", e.service.clone()));
            self.facts
                .push(Fact::new("source", format!("{}:{}", e.src_ip, e.src_port)));
            if let Some(sid) = e.session_id {
                self.facts.push(Fact::new("session", sid.to_string()));
            }
        }
        self
    }
}

/// `web01/ssh from 203.0.113.7`, for titles.
pub fn place(s: &Signal<'_>) -> String {
    let ip = s
        .src_ip()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown source".into());
    format!(
        "{}/{} from {ip}",
        s.decky().unwrap_or("?"),
        s.service().unwrap_or("?")
    )
}

/// Which built-ins run and at what severity (`[alerts] disable`, `enable`,
/// `severity`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuiltinSettings {
    /// Built-ins turned off.
    pub disabled: Vec<String>,
    /// Opt-in built-ins turned on.
    pub enabled: Vec<String>,
    /// Severity overrides.
    pub severity: BTreeMap<String, Severity>,
}

/// A rule as the API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct RuleView {
    /// Id.
    pub id: String,
    /// `builtin` or `custom`.
    pub origin: &'static str,
    /// What it does.
    pub description: String,
    /// Severity in effect.
    pub severity: Severity,
    /// Running?
    pub enabled: bool,
    /// The key/values of a custom rule.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub definition: BTreeMap<String, String>,
}

/// Tumbling count of one aggregate rule for one source.
#[derive(Clone, Copy, Debug)]
struct Tally {
    start: DateTime<Utc>,
    count: u32,
}

/// The rules in effect and the aggregate counters.
pub struct RuleSet {
    builtin: Vec<(&'static dyn BuiltinRule, Severity)>,
    all_builtin: BuiltinSettings,
    custom: Vec<custom::CustomRule>,
    tallies: HashMap<(usize, String), Tally>,
    max_tallies: usize,
}

impl RuleSet {
    /// Rules from settings; `max_tallies` bounds aggregate state.
    pub fn new(
        settings: &BuiltinSettings,
        custom: Vec<custom::CustomRule>,
        max_tallies: usize,
    ) -> Self {
        let builtin = BUILTIN
            .iter()
            .copied()
            .filter(|r| Self::builtin_enabled(settings, *r))
            .map(|r| {
                let sev = settings
                    .severity
                    .get(r.id())
                    .copied()
                    .unwrap_or(r.default_severity());
                (r, sev)
            })
            .collect();
        RuleSet {
            builtin,
            all_builtin: settings.clone(),
            custom,
            tallies: HashMap::new(),
            max_tallies: max_tallies.max(1),
        }
    }

    fn builtin_enabled(settings: &BuiltinSettings, r: &dyn BuiltinRule) -> bool {
        let id = r.id().to_owned();
        if settings.disabled.contains(&id) {
            return false;
        }
        r.enabled_by_default() || settings.enabled.contains(&id)
    }

    /// Every hit for one signal.
    pub fn evaluate(&mut self, s: &Signal<'_>, now: DateTime<Utc>, out: &mut Vec<Hit>) {
        for (rule, sev) in &self.builtin {
            if let Some(mut h) = rule.evaluate(s) {
                h.severity = *sev;
                out.push(h);
            }
        }
        for i in 0..self.custom.len() {
            let rule = &self.custom[i];
            if !rule.enabled || !rule.filter.matches(s) {
                continue;
            }
            let fire = match rule.aggregate {
                None => true,
                Some(agg) => {
                    let key = s.src_ip().map(|ip| ip.to_string()).unwrap_or_default();
                    if self.tallies.len() >= self.max_tallies
                        && !self.tallies.contains_key(&(i, key.clone()))
                    {
                        let custom = &self.custom;
                        self.tallies.retain(|(r, _), t| {
                            custom
                                .get(*r)
                                .and_then(|c| c.aggregate)
                                .is_some_and(|a| crate::clock::after(t.start, a.within) > now)
                        });
                        if self.tallies.len() >= self.max_tallies {
                            self.tallies.clear();
                        }
                    }
                    let t = self.tallies.entry((i, key)).or_insert(Tally {
                        start: now,
                        count: 0,
                    });
                    if crate::clock::after(t.start, agg.within) <= now {
                        *t = Tally {
                            start: now,
                            count: 0,
                        };
                    }
                    t.count += 1;
                    if t.count >= agg.count {
                        t.count = 0;
                        t.start = now;
                        true
                    } else {
                        false
                    }
                }
            };
            if fire {
                out.push(self.custom[i].hit(s));
            }
        }
    }

    /// Aggregate counters held.
    pub fn tallies(&self) -> usize {
        self.tallies.len()
    }

    /// Every rule, built-in (enabled or not) and custom.
    pub fn views(&self) -> Vec<RuleView> {
        let mut out: Vec<RuleView> = BUILTIN
            .iter()
            .map(|r| {
                let active = self.builtin.iter().find(|(b, _)| b.id() == r.id());
                RuleView {
                    id: r.id().into(),
                    origin: "builtin",
                    description: r.description().into(),
                    severity: active.map(|(_, s)| *s).unwrap_or_else(|| {
                        self.all_builtin
                            .severity
                            .get(r.id())
                            .copied()
                            .unwrap_or(r.default_severity())
                    }),
                    enabled: active.is_some(),
                    definition: BTreeMap::new(),
                }
            })
            .collect();
        out.extend(self.custom.iter().map(|c| RuleView {
            id: c.id.clone(),
            origin: "custom",
            description: c.title.clone(),
            severity: c.severity,
            enabled: c.enabled,
            definition: c.raw.clone(),
        }));
        out
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Envelopes for rule tests.
    use decnet_bus::Envelope;
    use decnet_core::{Event, EventKind};

    /// An event from 203.0.113.7 to web01 (10.0.0.5:22).
    pub fn event(service: &str, kind: EventKind, fields: serde_json::Value) -> Envelope {
        let mut e = Event::new("web01", service, kind);
        e.src_ip = "203.0.113.7".parse().unwrap();
        e.src_port = 40000;
        e.dst_ip = "10.0.0.5".parse().unwrap();
        e.dst_port = 22;
        if let serde_json::Value::Object(m) = fields {
            e.fields = m;
        }
        Envelope::event(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::EventKind;
    use serde_json::json;

    #[test]
    fn ids_are_unique_and_lookup_works() {
        let mut ids: Vec<&str> = BUILTIN.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert_eq!(builtin("login_success").unwrap().id(), "login_success");
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn settings_disable_enable_and_override_severity() {
        let env = testing::event("ssh", EventKind::Connect, json!({}));
        let s = Signal::new(&env);
        let mut out = Vec::new();
        RuleSet::new(&BuiltinSettings::default(), vec![], 10).evaluate(&s, Utc::now(), &mut out);
        assert!(out.is_empty(), "probe is opt-in: {out:?}");
        let settings = BuiltinSettings {
            enabled: vec!["probe".into()],
            severity: [("probe".to_string(), Severity::Medium)].into(),
            ..Default::default()
        };
        let mut rs = RuleSet::new(&settings, vec![], 10);
        rs.evaluate(&s, Utc::now(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].severity, Severity::Medium);
        let v = rs.views();
        assert!(v.iter().any(|r| r.id == "probe" && r.enabled));

        let env = testing::event("ssh", EventKind::Command, json!({"command": "id"}));
        let settings = BuiltinSettings {
            disabled: vec!["command_executed".into()],
            ..Default::default()
        };
        out.clear();
        RuleSet::new(&settings, vec![], 10).evaluate(&Signal::new(&env), Utc::now(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn clip_bounds_attacker_text() {
        let long = "é".repeat(2000);
        let c = clip(&long);
        assert_eq!(c.chars().count(), MAX_FACT_CHARS + 1);
        assert_eq!(clip("short"), "short");
    }
}
