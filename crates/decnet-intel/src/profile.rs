//! Attacker profiles: one row per source address, updated incrementally.
//!
//! Every aggregate is order-independent (counts of distinct events, min/max
//! times, sets capped by keeping their *smallest* elements), so a shuffled
//! or duplicated event stream yields exactly the same row as the clean one,
//! and a restart continues from the stored row instead of recomputing.

use std::collections::BTreeSet;

use base64::Engine;
use decnet_core::{Event, EventKind};
use decnet_store::AttackerRow;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::Signals;

/// Caps of the bounded sets.
pub const MAX_CONNECT_TIMES: usize = 64;
/// Distinct ports remembered.
pub const MAX_PORTS: usize = 256;
/// Distinct commands / credentials remembered.
pub const MAX_SET: usize = 256;
/// Fingerprints remembered.
pub const MAX_TOKENS: usize = 64;
/// Longest command kept (characters).
pub const MAX_COMMAND: usize = 256;

/// Intel-private aggregate state of one address (persisted with the row).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttackerState {
    /// Earliest connect times (µs).
    pub connect_times: BTreeSet<i64>,
    /// Destination ports (smallest kept).
    pub ports: BTreeSet<u16>,
    /// Identity signals.
    pub signals: Signals,
    /// Distinct services seen.
    pub services: BTreeSet<String>,
}

fn insert_capped<T: Ord>(set: &mut BTreeSet<T>, v: T, cap: usize) -> bool {
    if set.len() >= cap {
        match set.last() {
            Some(max) if &v < max => {}
            _ => return false,
        }
    }
    let new = set.insert(v);
    if set.len() > cap {
        set.pop_last();
    }
    new
}

/// sha256 hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The secret bytes of an auth attempt: `secret_b64`, else `password`.
pub fn secret_bytes(e: &Event) -> Option<Vec<u8>> {
    if let Some(b) = e.field_str("secret_b64") {
        if let Ok(v) = base64::engine::general_purpose::STANDARD.decode(b) {
            return Some(v);
        }
    }
    e.field_str("password").map(|p| p.as_bytes().to_vec())
}

/// The principal of an auth attempt: `principal`, else `username`.
pub fn principal(e: &Event) -> String {
    e.field_str("principal")
        .or_else(|| e.field_str("username"))
        .unwrap_or("")
        .to_owned()
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Tool fingerprints an event carries.
pub fn tool_tokens(e: &Event) -> Vec<String> {
    let mut out = Vec::new();
    for (field, slot) in [
        ("hassh", "hassh"),
        ("client_version", "ssh_banner"),
        ("ja3", "ja3"),
        ("ja4", "ja4"),
    ] {
        if let Some(v) = e.field_str(field) {
            let v = v.trim();
            if !v.is_empty() {
                out.push(format!("{slot}:{}", truncate(v, 200)));
            }
        }
    }
    out
}

/// Infrastructure an event names (payload hash, download URL).
pub fn infra_tokens(e: &Event) -> Vec<String> {
    let mut out = Vec::new();
    match e.kind {
        EventKind::FileUpload => {
            if let Some(h) = e.field_str("sha256") {
                out.push(format!("payload:{}", truncate(h, 128)));
            }
        }
        EventKind::FileDownload => {
            if let Some(u) = e.field_str("url") {
                out.push(format!("c2:{}", truncate(u, 512)));
            }
        }
        _ => {}
    }
    out
}

/// Applies one (new, never seen) event to a row and its state. Returns true
/// when the address's identity signals changed.
pub fn apply(row: &mut AttackerRow, st: &mut AttackerState, e: &Event) -> bool {
    let mut sig = false;
    if row.event_count == 0 || e.ts < row.first_seen {
        row.first_seen = e.ts;
    }
    if row.event_count == 0 || e.ts > row.last_seen {
        row.last_seen = e.ts;
    }
    row.event_count += 1;
    *row.services.entry(e.service.clone()).or_default() += 1;
    *row.deckies.entry(e.decky.clone()).or_default() += 1;
    *row.kinds.entry(e.kind.as_str().to_owned()).or_default() += 1;
    st.services.insert(e.service.clone());
    if e.dst_port != 0 {
        insert_capped(&mut st.ports, e.dst_port, MAX_PORTS);
    }
    match e.kind {
        EventKind::Connect => {
            row.sessions += 1;
            insert_capped(
                &mut st.connect_times,
                e.ts.timestamp_micros(),
                MAX_CONNECT_TIMES,
            );
        }
        EventKind::AuthAttempt => {
            row.credentials_tried += 1;
            if let Some(secret) = secret_bytes(e) {
                let k = format!("{}\0{}", principal(e), sha256_hex(&secret));
                sig |= insert_capped(&mut st.signals.credentials, k, MAX_SET);
            }
        }
        EventKind::Command => {
            row.commands_run += 1;
            if let Some(c) = e.field_str("command") {
                let c = c.trim();
                if !c.is_empty() {
                    sig |=
                        insert_capped(&mut st.signals.commands, truncate(c, MAX_COMMAND), MAX_SET);
                }
            }
        }
        EventKind::FileUpload | EventKind::FileDownload => row.artifacts += 1,
        _ => {}
    }
    for t in tool_tokens(e) {
        sig |= insert_capped(&mut st.signals.tool, t, MAX_TOKENS);
    }
    for t in infra_tokens(e) {
        sig |= insert_capped(&mut st.signals.infra, t, MAX_TOKENS);
    }
    if let Some(asn) = e.fields.get("asn").and_then(|v| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }) {
        // The smallest ASN seen: order-independent.
        if st.signals.asn.as_ref().is_none_or(|a| &asn < a) {
            st.signals.asn = Some(asn);
            sig = true;
        }
    }
    row.distinct_ports = st.ports.len() as u64;
    row.fingerprints = st.signals.tool.iter().cloned().collect();
    sig
}

/// Thresholds of the behaviour rules.
pub mod rules {
    /// Auth attempts for brute_force.
    pub const BRUTE_AUTH: u64 = 10;
    /// Commands for interactive.
    pub const INTERACTIVE_COMMANDS: u64 = 3;
    /// Distinct ports (or services) for scanning.
    pub const SCAN_PORTS: u64 = 5;
    /// Mean seconds between probes above which a scan is slow.
    pub const SLOW_SCAN_GAP_S: f64 = 30.0;
    /// Sessions for beaconing.
    pub const BEACON_SESSIONS: usize = 6;
    /// Largest coefficient of variation of session intervals for beaconing.
    pub const BEACON_MAX_CV: f64 = 0.25;
    /// Most distinct ports a beacon talks to (more is a scan).
    pub const BEACON_MAX_PORTS: u64 = 2;
    /// Shortest mean beacon interval, seconds.
    pub const BEACON_MIN_INTERVAL_S: f64 = 5.0;
}

/// The numbers the behaviour rules look at.
struct Measures {
    span_s: f64,
    ports: u64,
    services: u64,
    mean_gap_s: f64,
    /// Connect times remembered (beaconing looks at their intervals).
    timed_sessions: usize,
    beacon_mean: f64,
    beacon_cv: f64,
}

impl Measures {
    fn of(row: &AttackerRow, st: &AttackerState) -> Self {
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
        let (beacon_mean, beacon_cv) = if gaps.len() + 1 >= rules::BEACON_SESSIONS {
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
        Measures {
            span_s,
            ports,
            services: st.services.len() as u64,
            mean_gap_s,
            timed_sessions: times.len(),
            beacon_mean,
            beacon_cv,
        }
    }
}

/// Every rule that matches: its class and why, human readable.
fn matched_rules(row: &AttackerRow, m: &Measures) -> Vec<(&'static str, String)> {
    let mut matched = Vec::new();
    if row.commands_run >= rules::INTERACTIVE_COMMANDS {
        matched.push((
            "interactive",
            format!(
                "commands={} >= {}",
                row.commands_run,
                rules::INTERACTIVE_COMMANDS
            ),
        ));
    }
    if row.credentials_tried >= rules::BRUTE_AUTH {
        matched.push((
            "brute_force",
            format!(
                "auth_attempts={} >= {}",
                row.credentials_tried,
                rules::BRUTE_AUTH
            ),
        ));
    }
    let (ports, mean_gap_s) = (m.ports, m.mean_gap_s);
    if ports >= rules::SCAN_PORTS || m.services >= rules::SCAN_PORTS {
        let (class, cmp) = if mean_gap_s >= rules::SLOW_SCAN_GAP_S {
            ("slow_scan", ">=")
        } else {
            ("scanning", "<")
        };
        matched.push((
            class,
            format!(
                "distinct_ports={ports} >= {} and mean_gap={mean_gap_s:.1}s {cmp} {}s",
                rules::SCAN_PORTS,
                rules::SLOW_SCAN_GAP_S
            ),
        ));
    }
    if m.beacon_cv <= rules::BEACON_MAX_CV
        && m.beacon_mean >= rules::BEACON_MIN_INTERVAL_S
        && row.commands_run < rules::INTERACTIVE_COMMANDS
        && row.credentials_tried < rules::BRUTE_AUTH
        && ports <= rules::BEACON_MAX_PORTS
    {
        matched.push((
            "beaconing",
            format!(
                "sessions={} >= {} with interval {:.1}s, cv={:.2} <= {}",
                m.timed_sessions,
                rules::BEACON_SESSIONS,
                m.beacon_mean,
                m.beacon_cv,
                rules::BEACON_MAX_CV
            ),
        ));
    }
    matched
}

/// Decides the behaviour class; sets `behavior`, `behavior_rule`, `behavior_numbers`.
pub fn classify(row: &mut AttackerRow, st: &AttackerState) {
    let m = Measures::of(row, st);
    let matched = matched_rules(row, &m);
    let (class, rule) = match matched.len() {
        0 => ("unknown".to_owned(), "no rule matched".to_owned()),
        1 => (matched[0].0.to_owned(), matched[0].1.clone()),
        _ => (
            "mixed".to_owned(),
            matched
                .iter()
                .map(|(c, r)| format!("{c}: {r}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    row.behavior = class;
    row.behavior_rule = rule;
    let finite = |v: f64| {
        if v.is_finite() {
            serde_json::json!((v * 1000.0).round() / 1000.0)
        } else {
            serde_json::Value::Null
        }
    };
    row.behavior_numbers = serde_json::json!({
        "events": row.event_count,
        "sessions": row.sessions,
        "auth_attempts": row.credentials_tried,
        "commands": row.commands_run,
        "distinct_ports": m.ports,
        "distinct_services": m.services,
        "span_s": finite(m.span_s),
        "mean_gap_s": finite(m.mean_gap_s),
        "beacon_interval_s": finite(m.beacon_mean),
        "beacon_cv": finite(m.beacon_cv),
    });
}
