//! RFC 5424 log lines, DECNET-compatible (`relay@55555` structured data).
//!
//! `<134>1 2026-11-23T10:00:00.123456Z web01 ssh - auth_attempt [relay@55555 src_ip="…" … event_type="auth_attempt" … outcome="failure"] login attempt`
//!
//! Every line carries DECNET's per-service event name as the `event_type`
//! SD-PARAM (see [`crate::compat`]) and every `auth_attempt` with a
//! `success` flag also carries DECNET's `outcome="success|failure"`.
//! [`LogStyle::Decnet`] (`[general] log_compat = decnet`) puts DECNET's
//! name in the MSGID instead, for consumers that read the MSGID (DECNET's
//! collector does), and decnet's kind in a `kind` SD-PARAM.

use std::fmt::Write;

use serde::Serialize;

use crate::compat;
use crate::event::{Event, EventKind};

/// What the MSGID of a line is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStyle {
    /// decnet's normalised kind (`auth_attempt`); DECNET's name in `event_type`.
    #[default]
    Native,
    /// DECNET's per-service name (`auth`, `startup`); decnet's kind in `kind`.
    Decnet,
}

impl LogStyle {
    /// Parses the `[general] log_compat` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "native" | "off" => Some(LogStyle::Native),
            "decnet" => Some(LogStyle::Decnet),
            _ => None,
        }
    }
}

/// Structured-data id DECNET uses (private enterprise number 55555).
pub const SD_ID: &str = "relay@55555";
const FACILITY_LOCAL0: u8 = 16;

fn severity(kind: EventKind) -> u8 {
    match kind {
        EventKind::Error => 3,
        // DECNET logs every observation at informational severity.
        _ => 6,
    }
}

/// Escapes an SD-PARAM value (RFC 5424 §6.3.3) and removes line breaks so
/// one event is always one line.
fn escape_into(out: &mut String, v: &str) {
    // Most values (addresses, paths, user agents) need no escaping: copy
    // them whole instead of char by char.
    if v.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'\\' | b'"' | b']'))
    {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ']' => out.push_str("\\]"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// PARAM-NAME: printable US-ASCII except `=`, space, `]`, `"`; max 32 chars.
fn push_param_name(out: &mut String, k: &str) {
    let start = out.len();
    out.extend(
        k.chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))
            .take(32),
    );
    if out.len() == start {
        out.push('_');
    }
}

/// HEADER token: printable US-ASCII, at most `max` characters, `-` if empty.
fn push_header_token(out: &mut String, s: &str, max: usize) {
    let start = out.len();
    out.extend(s.chars().filter(|c| c.is_ascii_graphic()).take(max));
    if out.len() == start {
        out.push('-');
    }
}

/// `2026-11-23T10:00:00.123456Z`: written by hand because chrono's
/// `format` re-parses its pattern on every call (this runs once per event).
fn push_timestamp(out: &mut String, ts: &chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, Timelike};
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        ts.year(),
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
        // A leap second shows as nanosecond ≥ 1e9; chrono's %.6f keeps only
        // the sub-second part, and so does this.
        (ts.nanosecond() % 1_000_000_000) / 1_000,
    );
}

/// Formats one event as an RFC 5424 line (no trailing newline).
pub fn format_event(e: &Event) -> String {
    let mut out = String::with_capacity(256);
    format_event_into(&mut out, e);
    out
}

/// Appends one event as an RFC 5424 line (no trailing newline) to `out`, so
/// a writer can reuse one buffer for every line.
pub fn format_event_into(out: &mut String, e: &Event) {
    format_event_styled(out, e, LogStyle::Native);
}

/// [`format_event_into`] with the MSGID `style` chooses.
pub fn format_event_styled(out: &mut String, e: &Event, style: LogStyle) {
    let pri = FACILITY_LOCAL0 * 8 + severity(e.kind);
    let _ = write!(out, "<{pri}>1 ");
    push_timestamp(out, &e.ts);
    out.push(' ');
    push_header_token(out, &e.decky, 255);
    out.push(' ');
    push_header_token(out, &e.service, 48);
    out.push_str(" - ");
    let decnet_name = compat::event_type(e);
    let (msgid, other_name, other_value) = match style {
        LogStyle::Native => (e.kind.as_str(), compat::EVENT_TYPE, decnet_name),
        LogStyle::Decnet => (decnet_name, "kind", e.kind.as_str()),
    };
    push_header_token(out, msgid, 32);
    let _ = write!(
        out,
        " [{SD_ID} src_ip=\"{}\" src_port=\"{}\" dst_ip=\"{}\" dst_port=\"{}\" event_id=\"{}\"",
        e.src_ip, e.src_port, e.dst_ip, e.dst_port, e.id,
    );
    if let Some(s) = e.session_id {
        let _ = write!(out, " session_id=\"{s}\"");
    }
    if !e.fields.contains_key(other_name) || other_name == compat::EVENT_TYPE {
        let _ = write!(out, " {other_name}=\"");
        escape_into(out, other_value);
        out.push('"');
    }
    if let Some(outcome) = outcome(e) {
        let _ = write!(out, " outcome=\"{outcome}\"");
    }
    let mut scratch = String::new();
    for (k, v) in &e.fields {
        if k == "msg" || k == compat::EVENT_TYPE {
            continue;
        }
        out.push(' ');
        push_param_name(out, k);
        out.push_str("=\"");
        match v {
            serde_json::Value::String(s) => escape_into(out, s),
            other => {
                scratch.clear();
                let _ = write!(scratch, "{other}");
                escape_into(out, &scratch);
            }
        }
        out.push('"');
    }
    out.push_str("] ");
    match e.field_str("msg") {
        Some(m) => escape_into(out, m),
        None => out.push_str(e.kind.default_message()),
    }
}

/// DECNET's `outcome` of a credential event, unless the event has its own.
fn outcome(e: &Event) -> Option<&'static str> {
    if e.kind != EventKind::AuthAttempt || e.fields.contains_key("outcome") {
        return None;
    }
    match e
        .fields
        .get("success")
        .and_then(serde_json::Value::as_bool)?
    {
        true => Some("success"),
        false => Some("failure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_decnet() {
        let mut e = Event::new("web01", "ssh", EventKind::AuthAttempt)
            .with("username", "root")
            .with("password", "a\"b]c\nd");
        e.ts = "2026-11-23T10:00:00.123456Z".parse().unwrap();
        e.src_ip = "127.0.0.9".parse().unwrap();
        let line = format_event(&e);
        assert!(line.starts_with("<134>1 2026-11-23T10:00:00.123456Z web01 ssh - auth_attempt [relay@55555 src_ip=\"127.0.0.9\""), "{line}");
        assert!(line.contains(r#"password="a\"b\]c\nd""#), "{line}");
        assert!(line.ends_with("] login attempt"));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn escaping_fast_path_agrees_with_char_by_char() {
        let slow = |v: &str| {
            let mut out = String::new();
            for c in v.chars() {
                let mut one = String::new();
                escape_into(&mut one, &c.to_string());
                out.push_str(&one);
            }
            out
        };
        for v in [
            "GET /index.html?a=b",
            "a\"b]c\\d",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}x",
            "caf\u{e9} \u{1F600}",
            "",
        ] {
            let mut fast = String::new();
            escape_into(&mut fast, v);
            assert_eq!(fast, slow(v), "{v:?}");
        }
    }

    #[test]
    fn hand_written_timestamp_matches_chrono_format() {
        for t in [
            "2026-11-23T10:00:00.123456Z",
            "2026-01-02T03:04:05.000007Z",
            "1999-12-31T23:59:59.999999Z",
            "2026-11-23T10:00:00Z",
        ] {
            let ts: chrono::DateTime<chrono::Utc> = t.parse().unwrap();
            let mut out = String::new();
            push_timestamp(&mut out, &ts);
            assert_eq!(out, ts.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        }
    }

    #[test]
    fn into_appends_and_renders_non_string_fields_as_json() {
        let mut e = Event::new("", "web\u{1}", EventKind::Request)
            .with("n", 3)
            .with("h", serde_json::json!({"a": "x]y"}))
            .with("bad key=\"]", true)
            .with("msg", "custom");
        e.ts = "2026-11-23T10:00:00.5Z".parse().unwrap();
        let mut out = String::from("prefix|");
        format_event_into(&mut out, &e);
        assert_eq!(&out[7..], format_event(&e));
        assert!(
            out.starts_with("prefix|<134>1 2026-11-23T10:00:00.500000Z - web - request ["),
            "{out}"
        );
        assert!(out.contains(r#" n="3""#), "{out}");
        assert!(out.contains(r#" h="{\"a\":\"x\]y\"}""#), "{out}");
        assert!(out.contains(r#" badkey="true""#), "{out}");
        assert!(out.ends_with("] custom"), "{out}");
    }

    #[test]
    fn carries_decnet_event_type_and_outcome() {
        let e = Event::new("db", "postgres", EventKind::AuthAttempt)
            .with("username", "root")
            .with("success", false);
        let line = format_event(&e);
        assert!(line.contains(" - auth_attempt [relay@55555 "), "{line}");
        assert!(line.contains(r#" event_type="auth""#), "{line}");
        assert!(line.contains(r#" outcome="failure""#), "{line}");
        let ok = Event::new("db", "imap", EventKind::AuthAttempt).with("success", true);
        assert!(format_event(&ok).contains(r#" outcome="success""#));
        // No success flag, or not a credential event: no outcome.
        let cmd = Event::new("db", "redis", EventKind::Command).with("success", true);
        assert!(!format_event(&cmd).contains("outcome="));
        let own = Event::new("db", "x", EventKind::AuthAttempt)
            .with("success", true)
            .with("outcome", "locked");
        let line = format_event(&own);
        assert!(line.contains(r#"outcome="locked""#) && !line.contains(r#"outcome="success""#));
    }

    #[test]
    fn service_named_events_say_so_once() {
        let e = Event::new("db", "postgres", EventKind::Request)
            .with("event_type", "startup")
            .with("user", "bob");
        let line = format_event(&e);
        assert!(line.contains(" - request [relay@55555 "), "{line}");
        assert_eq!(line.matches("event_type=").count(), 1, "{line}");
        assert!(line.contains(r#"event_type="startup""#), "{line}");
    }

    #[test]
    fn decnet_style_puts_the_name_in_the_msgid() {
        let e = Event::new("mail", "smtp", EventKind::Command).with("command", "EHLO x.example");
        let mut line = String::new();
        format_event_styled(&mut line, &e, LogStyle::Decnet);
        assert!(line.contains(" mail smtp - ehlo [relay@55555 "), "{line}");
        assert!(line.contains(r#" kind="command""#), "{line}");
        assert!(!line.contains("event_type="), "{line}");
        assert_eq!(LogStyle::parse("DECNET"), Some(LogStyle::Decnet));
        assert_eq!(LogStyle::parse("native"), Some(LogStyle::Native));
        assert_eq!(LogStyle::parse("syslog-ng"), None);
    }
}
