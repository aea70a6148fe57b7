//! Elastic Common Schema (ECS 9.4) documents. Everything ECS defines goes
//! in its ECS field; what it does not (the raw event fields, JA4, session
//! ids, alert details) goes under the custom `decnet.*` namespace, as ECS
//! asks of custom fields. Tests check every other emitted field against
//! `ecs_flat.yml` (name, type, array-ness, allowed categorisation values).

use decnet_core::{Event, EventKind};
use serde_json::{json, Map, Value};

use super::common::{transport, ts_rfc3339, url_of};
use crate::alert::{Alert, AlertKind, Severity};
use decnet_bus::Envelope;

/// The ECS version these documents follow.
pub const ECS_VERSION: &str = "9.4.0";

fn put(m: &mut Map<String, Value>, path: &str, v: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = m;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_owned(), v);
            return;
        }
        cur = cur
            .entry(p.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("ECS paths never put a value where an object goes");
    }
}

fn observer(m: &mut Map<String, Value>, decky: &str, ip: Option<String>) {
    put(m, "observer.type", json!("honeypot"));
    put(m, "observer.vendor", json!("decnet"));
    put(m, "observer.product", json!("decnet"));
    put(m, "observer.version", json!(env!("CARGO_PKG_VERSION")));
    put(m, "observer.name", json!(decky));
    put(m, "observer.hostname", json!(decky));
    put(m, "host.name", json!(decky));
    if let Some(ip) = ip {
        put(m, "observer.ip", json!([ip]));
        put(m, "host.ip", json!([ip]));
    }
}

/// `(event.category, event.type, event.kind)` of a decky event.
fn categorise(e: &Event, kind: &str) -> (&'static str, &'static str, &'static str) {
    let web = e.field_str("method").is_some() && e.field_str("path").is_some();
    match kind {
        "connect" => ("network", "start", "event"),
        "disconnect" => ("network", "end", "event"),
        "auth_attempt" => ("authentication", "start", "event"),
        "command" => ("process", "start", "event"),
        "request" if web => ("web", "access", "event"),
        "request" => ("network", "protocol", "event"),
        "file_upload" => ("file", "creation", "event"),
        "file_download" => ("network", "access", "event"),
        "canary_trigger" => ("intrusion_detection", "info", "alert"),
        _ => ("network", "info", "event"),
    }
}

/// The ECS document of a decky event.
pub fn event(e: &Event, kind: &str) -> Value {
    let mut m = Map::new();
    let (category, ty, ev_kind) = categorise(e, kind);
    put(&mut m, "@timestamp", json!(ts_rfc3339(e.ts)));
    put(&mut m, "ecs.version", json!(ECS_VERSION));
    put(
        &mut m,
        "message",
        json!(e
            .field_str("msg")
            .map(str::to_owned)
            .unwrap_or_else(|| EventKind::parse(kind)
                .map(|k| k.default_message().to_owned())
                .unwrap_or_else(|| kind.replace('_', " ")))),
    );
    put(&mut m, "event.id", json!(e.id));
    put(&mut m, "event.kind", json!(ev_kind));
    put(&mut m, "event.category", json!([category]));
    put(&mut m, "event.type", json!([ty]));
    put(&mut m, "event.action", json!(kind));
    put(&mut m, "event.dataset", json!("decnet.events"));
    put(&mut m, "event.module", json!("decnet"));
    put(&mut m, "event.provider", json!(e.service));
    observer(
        &mut m,
        &e.decky,
        (!e.dst_ip.is_unspecified()).then(|| e.dst_ip.to_string()),
    );
    let related_ip = endpoints(&mut m, e);
    let related_user = user_name(&mut m, e);
    kind_fields(&mut m, e, kind);
    request_fields(&mut m, e, category);
    if !related_ip.is_empty() {
        put(&mut m, "related.ip", json!(related_ip));
    }
    if !related_user.is_empty() {
        put(&mut m, "related.user", json!(related_user));
    }
    if let Some(sid) = e.session_id {
        put(&mut m, "decnet.session_id", json!(sid));
    }
    put(&mut m, "decnet.decky", json!(e.decky));
    put(&mut m, "decnet.fields", Value::Object(e.fields.clone()));
    Value::Object(m)
}

/// Source, destination and transport; the addresses for `related.ip`.
fn endpoints(m: &mut Map<String, Value>, e: &Event) -> Vec<String> {
    let mut related_ip = Vec::new();
    if let Some(ip) = e.attacker_ip() {
        put(m, "source.ip", json!(ip));
        related_ip.push(ip.to_string());
    }
    if e.src_port != 0 {
        put(m, "source.port", json!(e.src_port));
    }
    if !e.dst_ip.is_unspecified() {
        put(m, "destination.ip", json!(e.dst_ip));
        related_ip.push(e.dst_ip.to_string());
    }
    if e.dst_port != 0 {
        put(m, "destination.port", json!(e.dst_port));
    }
    put(m, "network.transport", json!(transport(e)));
    put(m, "network.protocol", json!(e.service.to_ascii_lowercase()));
    related_ip
}

/// `user.name`; the name for `related.user`.
fn user_name(m: &mut Map<String, Value>, e: &Event) -> Vec<String> {
    let user = e.field_str("username").or_else(|| e.field_str("user"));
    let Some(u) = user else {
        return Vec::new();
    };
    put(m, "user.name", json!(u));
    vec![u.to_owned()]
}

/// What only some kinds carry: an outcome, a command line, a file.
fn kind_fields(m: &mut Map<String, Value>, e: &Event, kind: &str) {
    match kind {
        "auth_attempt" => {
            let ok = e.fields.get("success").and_then(Value::as_bool) == Some(true)
                || e.field_str("outcome") == Some("success");
            put(
                m,
                "event.outcome",
                json!(if ok { "success" } else { "failure" }),
            );
        }
        "command" => {
            if let Some(c) = e.field_str("command") {
                put(m, "process.command_line", json!(c));
            }
        }
        "file_upload" => {
            if let Some(n) = e.field_str("filename") {
                put(m, "file.name", json!(n));
            }
            if let Some(h) = e.field_str("sha256") {
                put(m, "file.hash.sha256", json!(h));
                put(m, "related.hash", json!([h]));
            }
            if let Some(s) = e.fields.get("size").and_then(Value::as_u64) {
                put(m, "file.size", json!(s));
            }
        }
        _ => {}
    }
}

/// URL, HTTP, TLS and error details of any kind of event.
fn request_fields(m: &mut Map<String, Value>, e: &Event, category: &str) {
    if let Some(u) = url_of(e) {
        put(m, "url.original", json!(u));
    }
    if let Some(p) = e.field_str("path") {
        put(m, "url.path", json!(p));
    }
    if let Some(q) = e.field_str("query").filter(|q| !q.is_empty()) {
        put(m, "url.query", json!(q));
    }
    if let Some(meth) = e.field_str("method").filter(|_| category == "web") {
        put(m, "http.request.method", json!(meth));
    }
    if let Some(ua) = e.field_str("user_agent") {
        put(m, "user_agent.original", json!(ua));
    }
    if let Some(j) = e.field_str("ja3") {
        put(m, "tls.client.ja3", json!(j));
    }
    if let Some(err) = e.field_str("error") {
        put(m, "error.message", json!(err));
    }
}

/// ECS `event.severity` (a number; higher is worse).
pub fn severity(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 7,
        Severity::Critical => 9,
    }
}

/// The ECS document of an alert.
pub fn alert(a: &Alert) -> Value {
    let mut m = Map::new();
    put(&mut m, "@timestamp", json!(ts_rfc3339(a.ts)));
    put(&mut m, "ecs.version", json!(ECS_VERSION));
    put(&mut m, "message", json!(a.headline()));
    put(&mut m, "event.id", json!(a.id));
    put(&mut m, "event.kind", json!("alert"));
    put(&mut m, "event.category", json!(["intrusion_detection"]));
    put(&mut m, "event.type", json!(["info"]));
    put(&mut m, "event.action", json!(a.kind.name()));
    put(&mut m, "event.dataset", json!("decnet.alerts"));
    put(&mut m, "event.module", json!("decnet"));
    put(&mut m, "event.severity", json!(severity(a.severity)));
    put(&mut m, "event.reason", json!(a.summary));
    put(&mut m, "rule.id", json!(a.rule));
    put(&mut m, "rule.name", json!(a.rule));
    put(&mut m, "rule.description", json!(a.title));
    observer(&mut m, a.decky.as_deref().unwrap_or("decnet"), None);
    if let Some(ip) = a.source_ip {
        put(&mut m, "source.ip", json!(ip));
        put(&mut m, "related.ip", json!([ip]));
    }
    if !a.techniques.is_empty() {
        put(&mut m, "threat.framework", json!("MITRE ATT&CK"));
        put(&mut m, "threat.technique.id", json!(a.techniques));
    }
    put(&mut m, "decnet.alert.severity", json!(a.severity));
    put(&mut m, "decnet.alert.dedup_key", json!(a.dedup_key));
    if let AlertKind::Digest {
        suppressed,
        since,
        until,
    } = a.kind
    {
        put(&mut m, "decnet.alert.suppressed", json!(suppressed));
        put(&mut m, "decnet.alert.since", json!(ts_rfc3339(since)));
        put(&mut m, "decnet.alert.until", json!(ts_rfc3339(until)));
    }
    if let Some(s) = a.stage {
        put(&mut m, "decnet.alert.stage", json!(s));
    }
    if let Some(id) = a.identity {
        put(&mut m, "decnet.alert.identity", json!(id));
    }
    put(&mut m, "decnet.alert.facts", json!(a.facts));
    Value::Object(m)
}

/// The ECS document of any other bus message (identity, response,
/// system): the envelope's type as `event.action`, its payload under
/// `decnet.payload`.
pub fn message(env: &Envelope, family: &str) -> Value {
    let mut m = Map::new();
    put(&mut m, "@timestamp", json!(ts_rfc3339(env.ts)));
    put(&mut m, "ecs.version", json!(ECS_VERSION));
    put(&mut m, "message", json!(env.topic));
    put(&mut m, "event.id", json!(env.id));
    put(&mut m, "event.kind", json!("event"));
    put(&mut m, "event.action", json!(env.kind));
    put(&mut m, "event.dataset", json!(format!("decnet.{family}")));
    put(&mut m, "event.module", json!("decnet"));
    put(&mut m, "decnet.topic", json!(env.topic));
    if let decnet_bus::Payload::Json(p) = &env.payload {
        put(&mut m, "decnet.payload", p.clone());
    }
    Value::Object(m)
}
