//! RFC 5424 log lines, DECNET-compatible (`relay@55555` structured data).
//!
//! `<134>1 2026-11-23T10:00:00.123456Z web01 ssh - auth_attempt [relay@55555 src_ip="…" …] login attempt`

use std::fmt::Write;

use crate::event::{Event, EventKind};

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
    let pri = FACILITY_LOCAL0 * 8 + severity(e.kind);
    let _ = write!(out, "<{pri}>1 ");
    push_timestamp(out, &e.ts);
    out.push(' ');
    push_header_token(out, &e.decky, 255);
    out.push(' ');
    push_header_token(out, &e.service, 48);
    out.push_str(" - ");
    push_header_token(out, e.kind.as_str(), 32);
    let _ = write!(
        out,
        " [{SD_ID} src_ip=\"{}\" src_port=\"{}\" dst_ip=\"{}\" dst_port=\"{}\" event_id=\"{}\"",
        e.src_ip, e.src_port, e.dst_ip, e.dst_port, e.id,
    );
    if let Some(s) = e.session_id {
        let _ = write!(out, " session_id=\"{s}\"");
    }
    let mut scratch = String::new();
    for (k, v) in &e.fields {
        if k == "msg" {
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
}
