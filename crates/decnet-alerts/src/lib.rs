//! decnet-alerts: alerting on intent, and SIEM outputs.
//!
//! Flow: bus message → [`signal::Signal`] → [`rules::RuleSet`] (built-in
//! and custom rules) → [`noise::NoiseGate`] (throttle and dedupe per rule and
//! source, digests, escalation ladder, allowlist) → [`alert::Alert`] →
//! [`delivery`] (persistent spool, per-channel lanes with retries, backoff
//! and a circuit breaker, per-message state) → [`channels`] (SMTP, Slack,
//! Teams, Mattermost, Discord, PagerDuty, signed webhook, syslog CEF).
//! Independently, [`siem`] outputs export bus messages as ECS, OCSF,
//! RFC 5424 or JSON to a file, TCP/TLS, HTTP or Splunk HEC.
//! [`engine::AlertEngine`] wires it all to a bus; the API and the binary
//! only need [`engine::AlertHandle`] and [`config::AlertsConfig`].

pub mod alert;
pub mod channels;
pub use decnet_core::clock;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod heartbeats;
pub mod identities;
pub mod noise;
pub mod render;
pub mod rules;
pub mod secret;
pub mod siem;
pub mod signal;
pub mod timed_map;
pub mod tls;

pub use alert::{Alert, AlertKind, Fact, Severity, Stage};
pub use config::{AlertsConfig, ConfigError, ConfigErrors};
pub use engine::{AlertEngine, AlertHandle, EngineError, EngineOptions, EngineStats};
pub use secret::Secret;
