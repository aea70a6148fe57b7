//! The one event type for everything a decky sees.

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Free-form structured fields of an event (`username`, `command`, `path`…).
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A TCP connection was accepted (or first datagram from a peer).
    Connect,
    /// The connection ended; `fields.duration_ms` tells how long it lasted.
    Disconnect,
    /// A credential was presented.
    AuthAttempt,
    /// A command line (shell, SQL, redis…) was issued.
    Command,
    /// A request (HTTP request, protocol query) was made.
    Request,
    /// The attacker sent us a file.
    FileUpload,
    /// The attacker tried to fetch a file from somewhere (URL recorded, never fetched).
    FileDownload,
    /// Probe traffic without a session (port scan, banner grab).
    Scan,
    /// Malformed input, timeouts, caught panics.
    Error,
    /// A canary token reported back (URL fetched, name resolved,
    /// credential used): nobody legitimate ever does, so it is always an intruder.
    CanaryTrigger,
    /// A client's fingerprint seen on the wire by the passive sensor
    /// (`fingerprint_type` `tls`: `ja3`/`ja4`; `ssh`: `hassh`; `tcp`: a
    /// p0f-style SYN signature with an OS guess), before any service answered.
    Fingerprint,
}

impl EventKind {
    /// All kinds, in declaration order.
    pub const ALL: [EventKind; 11] = [
        EventKind::Connect,
        EventKind::Disconnect,
        EventKind::AuthAttempt,
        EventKind::Command,
        EventKind::Request,
        EventKind::FileUpload,
        EventKind::FileDownload,
        EventKind::Scan,
        EventKind::Error,
        EventKind::CanaryTrigger,
        EventKind::Fingerprint,
    ];

    /// Wire name (`auth_attempt`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Connect => "connect",
            EventKind::Disconnect => "disconnect",
            EventKind::AuthAttempt => "auth_attempt",
            EventKind::Command => "command",
            EventKind::Request => "request",
            EventKind::FileUpload => "file_upload",
            EventKind::FileDownload => "file_download",
            EventKind::Scan => "scan",
            EventKind::Error => "error",
            EventKind::CanaryTrigger => "canary_trigger",
            EventKind::Fingerprint => "fingerprint",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Default human message for the log line when the event carries no `msg`.
    pub fn default_message(self) -> &'static str {
        match self {
            EventKind::Connect => "connection opened",
            EventKind::Disconnect => "connection closed",
            EventKind::AuthAttempt => "login attempt",
            EventKind::Command => "command",
            EventKind::Request => "request",
            EventKind::FileUpload => "file uploaded",
            EventKind::FileDownload => "file download attempted",
            EventKind::Scan => "probe",
            EventKind::Error => "error",
            EventKind::CanaryTrigger => "canary token triggered",
            EventKind::Fingerprint => "client fingerprinted",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation by a decky.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUIDv7: time-ordered, unique; the store deduplicates on it.
    pub id: Uuid,
    /// UTC, microsecond precision.
    pub ts: DateTime<Utc>,
    /// Decky name.
    pub decky: String,
    /// Service name (`ssh`, `http`…).
    pub service: String,
    /// What happened.
    pub kind: EventKind,
    /// Attacker address.
    pub src_ip: IpAddr,
    /// Attacker port.
    pub src_port: u16,
    /// Decky address.
    pub dst_ip: IpAddr,
    /// Decky port.
    pub dst_port: u16,
    /// Session (connection) id shared by every event of one connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// Everything else.
    #[serde(default)]
    pub fields: Fields,
}

impl Event {
    /// A new event stamped now with a fresh UUIDv7.
    pub fn new(decky: impl Into<String>, service: impl Into<String>, kind: EventKind) -> Self {
        Event {
            id: Uuid::now_v7(),
            ts: Utc::now().trunc_subsecs(6),
            decky: decky.into(),
            service: service.into(),
            kind,
            src_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst_port: 0,
            session_id: None,
            fields: Fields::new(),
        }
    }

    /// Sets one field (builder style).
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// Bus subject of this event.
    pub fn subject(&self) -> String {
        crate::subject::event_subject(&self.decky, &self.service, self.kind.as_str())
    }

    /// A string field, if present and a string.
    pub fn field_str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(|v| v.as_str())
    }

    /// The attacker address as DECNET finds it: `src_ip`, then fields
    /// `src`, `client_ip`, `remote_ip`, `remote_addr`, `ip`.
    pub fn attacker_ip(&self) -> Option<IpAddr> {
        if !self.src_ip.is_unspecified() {
            return Some(self.src_ip);
        }
        [
            "src_ip",
            "src",
            "client_ip",
            "remote_ip",
            "remote_addr",
            "ip",
        ]
        .iter()
        .filter_map(|k| self.field_str(k))
        .find_map(|v| v.parse().ok())
    }
}

/// The four credential fields every `auth_attempt` carries so binary
/// secrets survive: `principal`, `secret_kind`, `secret_printable`, `secret_b64`.
pub fn credential_fields(fields: &mut Fields, principal: &str, secret_kind: &str, secret: &[u8]) {
    fields.insert("principal".into(), principal.into());
    fields.insert("secret_kind".into(), secret_kind.into());
    fields.insert("secret_printable".into(), printable(secret).into());
    fields.insert(
        "secret_b64".into(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into(),
    );
}

/// Lossless-to-read rendering of bytes: valid UTF-8 without control
/// characters stays as is; anything else is escaped `\xNN`.
pub fn printable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => s.to_owned(),
        _ => {
            let mut out = String::with_capacity(bytes.len() * 2);
            for chunk in bytes.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c.is_control() {
                        out.push_str(&format!("\\x{:02x}", c as u32));
                    } else if c == '\\' {
                        out.push_str("\\\\");
                    } else {
                        out.push(c);
                    }
                }
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_json() {
        let mut e = Event::new("web01", "ssh", EventKind::AuthAttempt).with("username", "root");
        e.src_ip = "127.0.0.2".parse().unwrap();
        let s = serde_json::to_string(&e).unwrap();
        assert!(s.contains("\"kind\":\"auth_attempt\""));
        let back: Event = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.subject(), "events.web01.ssh.auth_attempt");
    }

    #[test]
    fn attacker_ip_falls_back_to_fields() {
        let e = Event::new("d", "ftp", EventKind::AuthAttempt).with("remote_addr", "10.1.2.3");
        assert_eq!(e.attacker_ip(), Some("10.1.2.3".parse().unwrap()));
        let e = Event::new("d", "ftp", EventKind::AuthAttempt).with("ip", "Unknown");
        assert_eq!(e.attacker_ip(), None);
    }

    #[test]
    fn printable_escapes_binary() {
        assert_eq!(printable(b"hunter2"), "hunter2");
        assert_eq!(printable(b"a\x00b\xff"), "a\\x00b\\xff");
        let mut f = Fields::new();
        credential_fields(&mut f, "root", "password", b"\x00\x01");
        assert_eq!(f["secret_b64"], "AAE=");
    }

    #[test]
    fn kinds_parse() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }
}
