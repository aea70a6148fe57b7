//! Small pieces the formats share.

use chrono::{DateTime, SecondsFormat, Utc};
use decnet_core::catalog::{self, Transport};
use decnet_core::Event;

/// `2026-11-23T10:00:00.123456Z`.
pub fn ts_rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `tcp` or `udp`: the event's `transport` field, else what the catalog
/// says the service listens on at that port.
pub fn transport(e: &Event) -> &'static str {
    match e.field_str("transport") {
        Some("udp") => return "udp",
        Some("tcp") => return "tcp",
        _ => {}
    }
    let t = catalog::service(&e.service).and_then(|s| {
        s.ports
            .iter()
            .find(|(_, p)| *p == e.dst_port)
            .or_else(|| s.ports.first())
            .map(|(t, _)| *t)
    });
    match t {
        Some(Transport::Udp) => "udp",
        _ => "tcp",
    }
}

/// The URL an event names: a download's `url`, or a request's
/// `path?query`.
pub fn url_of(e: &Event) -> Option<String> {
    if let Some(u) = e.field_str("url") {
        return Some(u.to_owned());
    }
    let path = e.field_str("path")?;
    Some(match e.field_str("query").filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    })
}
