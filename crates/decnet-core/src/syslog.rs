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
fn param_name(k: &str) -> String {
    let s: String = k
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))
        .take(32)
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

fn header_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() {
        "-".into()
    } else {
        t
    }
}

/// Formats one event as an RFC 5424 line (no trailing newline).
pub fn format_event(e: &Event) -> String {
    let mut out = String::with_capacity(256);
    let pri = FACILITY_LOCAL0 * 8 + severity(e.kind);
    let _ = write!(
        out,
        "<{pri}>1 {} {} {} - {} [{SD_ID} src_ip=\"{}\" src_port=\"{}\" dst_ip=\"{}\" dst_port=\"{}\" event_id=\"{}\"",
        e.ts.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        header_token(&e.decky, 255),
        header_token(&e.service, 48),
        header_token(e.kind.as_str(), 32),
        e.src_ip,
        e.src_port,
        e.dst_ip,
        e.dst_port,
        e.id,
    );
    if let Some(s) = e.session_id {
        let _ = write!(out, " session_id=\"{s}\"");
    }
    for (k, v) in &e.fields {
        if k == "msg" {
            continue;
        }
        out.push(' ');
        out.push_str(&param_name(k));
        out.push_str("=\"");
        match v {
            serde_json::Value::String(s) => escape_into(&mut out, s),
            other => escape_into(&mut out, &other.to_string()),
        }
        out.push('"');
    }
    out.push_str("] ");
    match e.field_str("msg") {
        Some(m) => escape_into(&mut out, m),
        None => out.push_str(e.kind.default_message()),
    }
    out
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
}
