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
use uuid::Uuid;

use crate::identity::Signals;
use decnet_core::probe_text::is_probe_text;

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

/// Intel-private aggregate state of one address (persisted with the row;
/// fields added later default to empty when an older row is read).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttackerState {
    /// Earliest connect times (µs).
    pub connect_times: BTreeSet<i64>,
    /// Destination ports (smallest kept).
    pub ports: BTreeSet<u16>,
    /// Identity signals.
    pub signals: Signals,
    /// Distinct services seen.
    pub services: BTreeSet<String>,
    /// Sessions that carried protocol data (a request, credential, command
    /// or file), smallest ids kept.
    pub data_sessions: BTreeSet<Uuid>,
    /// Sessions that ended (disconnect seen), smallest ids kept: those
    /// without data closed after the banner or without a word, as port
    /// scanners and banner grabbers leave them.
    pub closed_sessions: BTreeSet<Uuid>,
    /// Earliest times of real (not probe-shaped) auth attempts (µs).
    pub auth_times: BTreeSet<i64>,
    /// Auth attempts whose login was probe text ([`is_probe_text`]).
    pub probe_auths: u64,
    /// Commands that were probe text.
    pub probe_commands: u64,
    /// Probe lines the service itself recorded as such (`scan` events with
    /// `event_type` `probe`).
    pub probe_scans: u64,
}

impl AttackerState {
    /// Ended sessions that carried no protocol data. Exact while the data
    /// set is below its cap; past it, only sessions whose ids the data set
    /// still covers are judged (an undercount, never an overcount).
    pub fn quiet_sessions(&self) -> u64 {
        let covered = match self.data_sessions.last() {
            Some(max) if self.data_sessions.len() >= MAX_SET => Some(*max),
            _ => None,
        };
        self.closed_sessions
            .iter()
            .filter(|s| !self.data_sessions.contains(s))
            .filter(|s| covered.is_none_or(|max| *s < &max))
            .count() as u64
    }
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

/// True for an auth attempt whose login (and secret) is probe text, or a
/// command that is: what a version scan leaves in a line-oriented service.
pub fn is_probe(e: &Event) -> bool {
    match e.kind {
        EventKind::AuthAttempt => {
            let secret = secret_bytes(e).unwrap_or_default();
            let secret = String::from_utf8_lossy(&secret);
            is_probe_text(&principal(e)) && (secret.is_empty() || is_probe_text(&secret))
        }
        EventKind::Command => e.field_str("command").is_none_or(is_probe_text),
        _ => false,
    }
}

/// Applies one (new, never seen) event to a row and its state. Returns true
/// when the address's identity signals changed.
pub fn apply(row: &mut AttackerRow, st: &mut AttackerState, e: &Event) -> bool {
    count_event(row, st, e);
    let probe = is_probe(e);
    track_sessions(row, st, e, probe);
    let mut sig = apply_kind(row, st, e, probe);
    sig |= apply_tokens(st, e);
    row.distinct_ports = st.ports.len() as u64;
    row.fingerprints = st.signals.tool.iter().cloned().collect();
    sig
}

/// Time span, counters per service/decky/kind, ports touched.
fn count_event(row: &mut AttackerRow, st: &mut AttackerState, e: &Event) {
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
}

/// Sessions that carried data, sessions closed, time held in the tarpit.
fn track_sessions(row: &mut AttackerRow, st: &mut AttackerState, e: &Event, probe: bool) {
    let carries_data = !probe
        && matches!(
            e.kind,
            EventKind::Request
                | EventKind::AuthAttempt
                | EventKind::Command
                | EventKind::FileUpload
                | EventKind::FileDownload
        );
    if let (true, Some(sid)) = (carries_data, e.session_id) {
        insert_capped(&mut st.data_sessions, sid, MAX_SET);
    }
    if let (EventKind::Disconnect, Some(sid)) = (e.kind, e.session_id) {
        insert_capped(&mut st.closed_sessions, sid, MAX_SET);
    }
    if e.kind == EventKind::Disconnect && e.service == "tarpit" {
        let held = e
            .fields
            .get("held_secs")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        row.tarpit_secs = row.tarpit_secs.saturating_add(held);
    }
}

/// What each kind adds; true when a credential or command signal is new.
fn apply_kind(row: &mut AttackerRow, st: &mut AttackerState, e: &Event, probe: bool) -> bool {
    let mut sig = false;
    match e.kind {
        EventKind::Connect => {
            row.sessions += 1;
            insert_capped(
                &mut st.connect_times,
                e.ts.timestamp_micros(),
                MAX_CONNECT_TIMES,
            );
        }
        EventKind::AuthAttempt if probe => {
            row.credentials_tried += 1;
            st.probe_auths += 1;
        }
        EventKind::Scan if e.field_str(decnet_core::compat::EVENT_TYPE) == Some("probe") => {
            st.probe_scans += 1;
        }
        EventKind::Command if probe => {
            row.commands_run += 1;
            st.probe_commands += 1;
        }
        EventKind::AuthAttempt => {
            row.credentials_tried += 1;
            insert_capped(
                &mut st.auth_times,
                e.ts.timestamp_micros(),
                MAX_CONNECT_TIMES,
            );
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
    sig
}

/// Tool and infrastructure tokens and the ASN; true when one is new.
fn apply_tokens(st: &mut AttackerState, e: &Event) -> bool {
    let mut sig = false;
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
    sig
}

/// Decides the behaviour class (see [`crate::behaviour`]).
pub fn classify(row: &mut AttackerRow, st: &AttackerState) {
    crate::behaviour::classify(row, st);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(service: &str, held: u64) -> Event {
        let mut e = Event::new("d1", service, EventKind::Disconnect);
        e.src_ip = "192.0.2.9".parse().unwrap();
        e.fields.insert("held_secs".into(), held.into());
        e
    }

    #[test]
    fn time_held_in_tarpits_adds_up_and_other_sessions_do_not_count() {
        let mut row = AttackerRow::new("192.0.2.9", chrono::Utc::now());
        let mut st = AttackerState::default();
        apply(&mut row, &mut st, &exit("tarpit", 120));
        apply(&mut row, &mut st, &exit("tarpit", 45));
        apply(&mut row, &mut st, &exit("ssh", 999));
        assert_eq!(row.tarpit_secs, 165);
    }
}
