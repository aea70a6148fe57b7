//! The numbers the behaviour rules look at, derived from an attacker row
//! and its intel-private state.

use decnet_store::AttackerRow;

use crate::profile::AttackerState;

/// Sessions of connect times needed before beaconing is judged.
pub const BEACON_SESSIONS: usize = 6;

/// What the rules see of one address.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measures {
    /// Events.
    pub events: u64,
    /// Sessions (connects).
    pub sessions: u64,
    /// Sessions that closed without protocol data (banner grabs, connect
    /// scans, version probes no protocol parsed).
    pub quiet_sessions: u64,
    /// Requests.
    pub requests: u64,
    /// Real auth attempts (probe text excluded).
    pub auth_attempts: u64,
    /// Distinct user names among them.
    pub principals: u64,
    /// Mean seconds between real auth attempts (earliest ones remembered).
    pub auth_gap_s: Option<f64>,
    /// Real commands (probe text excluded).
    pub commands: u64,
    /// Logins and commands that were probe text, and probe lines the
    /// services recorded as such.
    pub probe_lines: u64,
    /// Uploads and downloads.
    pub artifacts: u64,
    /// Distinct destination ports.
    pub ports: u64,
    /// Distinct deckies.
    pub deckies: u64,
    /// Distinct services.
    pub services: u64,
    /// First to last event, seconds.
    pub span_s: f64,
    /// Probes the span is divided into (sessions, or events for sessionless UDP).
    pub probes: u64,
    /// Mean seconds between probes.
    pub mean_gap_s: f64,
    /// Connect times remembered (beaconing looks at their intervals).
    pub timed_sessions: usize,
    /// Mean interval between sessions, seconds (0 with too few sessions).
    pub beacon_mean: f64,
    /// Coefficient of variation of those intervals (∞ with too few).
    pub beacon_cv: f64,
}

fn mean_gap(times: &[i64]) -> Option<f64> {
    (times.len() >= 2)
        .then(|| (times[times.len() - 1] - times[0]) as f64 / 1e6 / (times.len() - 1) as f64)
}

impl Measures {
    /// The measures of a row.
    pub fn of(row: &AttackerRow, st: &AttackerState) -> Self {
        let span_s = (row.last_seen - row.first_seen).num_milliseconds() as f64 / 1000.0;
        let ports = st.ports.len() as u64;
        let probes = row.sessions.max(row.event_count.min(ports.max(1)));
        let mean_gap_s = if probes > 1 {
            span_s / (probes - 1) as f64
        } else {
            0.0
        };
        let times: Vec<i64> = st.connect_times.iter().copied().collect();
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e6)
            .collect();
        let (beacon_mean, beacon_cv) = if gaps.len() + 1 >= BEACON_SESSIONS {
            let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / gaps.len() as f64;
            (
                m,
                if m > 0.0 {
                    var.sqrt() / m
                } else {
                    f64::INFINITY
                },
            )
        } else {
            (0.0, f64::INFINITY)
        };
        let auth_times: Vec<i64> = st.auth_times.iter().copied().collect();
        let principals: std::collections::BTreeSet<&str> = st
            .signals
            .credentials
            .iter()
            .map(|c| c.split('\0').next().unwrap_or(""))
            .collect();
        let quiet_sessions = st.quiet_sessions();
        Measures {
            events: row.event_count,
            sessions: row.sessions,
            quiet_sessions,
            requests: row.kinds.get("request").copied().unwrap_or(0),
            auth_attempts: row.credentials_tried.saturating_sub(st.probe_auths),
            principals: principals.len() as u64,
            auth_gap_s: mean_gap(&auth_times),
            commands: row.commands_run.saturating_sub(st.probe_commands),
            probe_lines: st.probe_auths + st.probe_commands + st.probe_scans,
            artifacts: row.artifacts,
            ports,
            deckies: row.deckies.len() as u64,
            services: st.services.len() as u64,
            span_s,
            probes,
            mean_gap_s,
            timed_sessions: times.len(),
            beacon_mean,
            beacon_cv,
        }
    }

    /// The numbers as stored in `behavior_numbers`.
    pub fn to_json(&self) -> serde_json::Value {
        let finite = |v: f64| {
            if v.is_finite() {
                serde_json::json!((v * 1000.0).round() / 1000.0)
            } else {
                serde_json::Value::Null
            }
        };
        serde_json::json!({
            "events": self.events,
            "sessions": self.sessions,
            "quiet_sessions": self.quiet_sessions,
            "requests": self.requests,
            "auth_attempts": self.auth_attempts,
            "principals": self.principals,
            "auth_gap_s": self.auth_gap_s.map(finite),
            "commands": self.commands,
            "probe_lines": self.probe_lines,
            "distinct_ports": self.ports,
            "distinct_deckies": self.deckies,
            "distinct_services": self.services,
            "span_s": finite(self.span_s),
            "mean_gap_s": finite(self.mean_gap_s),
            "beacon_interval_s": finite(self.beacon_mean),
            "beacon_cv": finite(self.beacon_cv),
        })
    }
}
