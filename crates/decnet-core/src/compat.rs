//! DECNET's per-service event names, for the RFC 5424 line.
//!
//! decnet stores and serves one normalised [`EventKind`] per event
//! (`auth_attempt`, `command`, `request`…); DECNET's templates name their
//! events per service (`auth`, `startup`, `ehlo`, `subscribe`, `message`…)
//! and its consumers (its live tests, its collector, SIEM searches written
//! for it) match on those names. [`event_type`] gives DECNET's name of an
//! event; the log line carries it as the `event_type` SD-PARAM (and, with
//! `[general] log_compat = decnet`, as the MSGID).
//!
//! A service that knows a name the kind cannot express (a PostgreSQL
//! StartupMessage is a `request` named `startup`; a TLS ClientHello
//! fingerprint is a `scan` named `tls_client_hello`) sets the
//! [`EVENT_TYPE`] field itself; everything else is derived here from the
//! service, the kind and, for line protocols, the command verb.

use crate::event::{Event, EventKind};

/// Field a service sets when its event has a DECNET name of its own.
pub const EVENT_TYPE: &str = "event_type";

/// DECNET's name of `e`: the service's own [`EVENT_TYPE`] field when set,
/// else the name DECNET's template for that service uses for this kind.
pub fn event_type(e: &Event) -> &str {
    if let Some(own) = e.field_str(EVENT_TYPE).filter(|s| !s.is_empty()) {
        return own;
    }
    let service = e.service.as_str();
    match e.kind {
        EventKind::Connect => connect_name(service),
        EventKind::AuthAttempt => auth_name(service),
        EventKind::Command => command_name(service, e.field_str("command").unwrap_or("")),
        EventKind::Request => request_name(service),
        other => other.as_str(),
    }
}

/// Services whose DECNET template logs an accepted connection as `connection`.
fn connect_name(service: &str) -> &'static str {
    match service {
        "ftp" | "rdp" | "smb" => "connection",
        _ => "connect",
    }
}

/// DECNET's name of a credential event per service. Templates written
/// against its `auth` helper say `auth`; the others keep `auth_attempt`.
fn auth_name(service: &str) -> &'static str {
    match service {
        "imap" | "pop3" | "mongodb" | "mqtt" | "mssql" | "mysql" | "postgres" | "redis" => "auth",
        "ldap" => "bind",
        "vnc" => "auth_response",
        _ => "auth_attempt",
    }
}

/// DECNET's name of a command: line protocols name some verbs.
fn command_name(service: &str, command: &str) -> &'static str {
    let verb = command.split_whitespace().next().unwrap_or("");
    let is = |v: &str| verb.eq_ignore_ascii_case(v);
    match service {
        "smtp" | "smtp_relay" if is("EHLO") || is("HELO") || is("LHLO") => "ehlo",
        "smtp" | "smtp_relay" if is("MAIL") => "mail_from",
        "smtp" | "smtp_relay" if is("RCPT") => "rcpt_to",
        "smtp" | "smtp_relay" if is("VRFY") => "vrfy",
        "pop3" if is("RETR") => "retr",
        "pop3" if is("DELE") => "delete",
        "ftp" if is("USER") => "user",
        "ftp" if is("RETR") => "download_attempt",
        "mqtt" if is("subscribe") => "subscribe",
        "mqtt" if is("publish") => "publish",
        // DECNET's MongoDB template logs every OP_MSG as `message`.
        "mongodb" => "message",
        _ => "command",
    }
}

/// DECNET's name of a request per service.
fn request_name(service: &str) -> &'static str {
    match service {
        "dns" | "llmnr" => "query",
        "snmp" => "get_request",
        _ => "request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(service: &str, kind: EventKind) -> Event {
        Event::new("d", service, kind)
    }

    #[test]
    fn services_own_name_wins() {
        let e = ev("postgres", EventKind::Request).with(EVENT_TYPE, "startup");
        assert_eq!(event_type(&e), "startup");
        let e = ev("https", EventKind::Scan).with(EVENT_TYPE, "tls_client_hello");
        assert_eq!(event_type(&e), "tls_client_hello");
        // An empty field is no name.
        let e = ev("redis", EventKind::Command).with(EVENT_TYPE, "");
        assert_eq!(event_type(&e), "command");
    }

    #[test]
    fn auth_names_follow_the_templates() {
        assert_eq!(event_type(&ev("postgres", EventKind::AuthAttempt)), "auth");
        assert_eq!(event_type(&ev("mqtt", EventKind::AuthAttempt)), "auth");
        assert_eq!(
            event_type(&ev("smtp", EventKind::AuthAttempt)),
            "auth_attempt"
        );
        assert_eq!(
            event_type(&ev("ssh", EventKind::AuthAttempt)),
            "auth_attempt"
        );
        assert_eq!(event_type(&ev("ldap", EventKind::AuthAttempt)), "bind");
        assert_eq!(
            event_type(&ev("vnc", EventKind::AuthAttempt)),
            "auth_response"
        );
    }

    #[test]
    fn command_verbs_of_line_protocols() {
        let cmd = |svc: &str, c: &str| {
            let e = ev(svc, EventKind::Command).with("command", c);
            event_type(&e).to_owned()
        };
        assert_eq!(cmd("smtp", "EHLO attacker.example.com"), "ehlo");
        assert_eq!(cmd("smtp", "helo x"), "ehlo");
        assert_eq!(cmd("smtp", "MAIL FROM:<a@b>"), "mail_from");
        assert_eq!(cmd("smtp", "RCPT TO:<a@b>"), "rcpt_to");
        assert_eq!(cmd("smtp", "NOOP"), "command");
        assert_eq!(cmd("pop3", "RETR 1"), "retr");
        assert_eq!(cmd("pop3", "USER admin"), "command");
        assert_eq!(cmd("mqtt", "subscribe plant/#"), "subscribe");
        assert_eq!(cmd("mqtt", "publish a/b"), "publish");
        assert_eq!(cmd("mongodb", "isMaster"), "message");
        assert_eq!(cmd("ftp", "USER anonymous"), "user");
        assert_eq!(cmd("redis", "KEYS *"), "command");
        assert_eq!(cmd("smtp", ""), "command");
    }

    #[test]
    fn other_kinds() {
        assert_eq!(event_type(&ev("imap", EventKind::Connect)), "connect");
        assert_eq!(event_type(&ev("ftp", EventKind::Connect)), "connection");
        assert_eq!(event_type(&ev("http", EventKind::Request)), "request");
        assert_eq!(event_type(&ev("dns", EventKind::Request)), "query");
        assert_eq!(event_type(&ev("ssh", EventKind::Disconnect)), "disconnect");
        assert_eq!(event_type(&ev("ssh", EventKind::FileUpload)), "file_upload");
    }
}
