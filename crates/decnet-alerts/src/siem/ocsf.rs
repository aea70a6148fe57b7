//! OCSF 1.8.0 events. Decky events map to the class that describes them:
//! Authentication (3002) for credentials, HTTP Activity (4002) for web
//! requests, Process Activity (1007) for commands, File Hosting Activity
//! (6006) for uploads and download attempts, Network Activity (4001) for
//! everything else; canary triggers and alerts are Detection Findings
//! (2004). What a class has no attribute for goes in `unmapped`. Tests
//! check every attribute against the class and object definitions of the
//! published schema (type, array-ness, enum values, required attributes).

use decnet_core::Event;
use serde_json::{json, Map, Value};

use super::common::{transport, url_of};
use crate::alert::{Alert, AlertKind, Severity};

/// Schema version emitted in `metadata.version`.
pub const OCSF_VERSION: &str = "1.8.0";

fn metadata(uid: &str, correlation: Option<String>) -> Value {
    let mut m = json!({
        "version": OCSF_VERSION,
        "product": {"name": "decnet", "vendor_name": "decnet", "version": env!("CARGO_PKG_VERSION")},
        "uid": uid,
        "log_name": "decnet",
    });
    if let Some(c) = correlation {
        m["correlation_uid"] = json!(c);
    }
    m
}

/// `(src_endpoint, dst_endpoint)` of a decky event.
fn endpoints(e: &Event) -> (Value, Value) {
    let mut src = Map::new();
    if let Some(ip) = e.attacker_ip() {
        src.insert("ip".into(), json!(ip));
    }
    if e.src_port != 0 {
        src.insert("port".into(), json!(e.src_port));
    }
    let mut dst = Map::new();
    dst.insert("hostname".into(), json!(e.decky));
    if !e.dst_ip.is_unspecified() {
        dst.insert("ip".into(), json!(e.dst_ip));
    }
    if e.dst_port != 0 {
        dst.insert("port".into(), json!(e.dst_port));
    }
    (Value::Object(src), Value::Object(dst))
}

fn base(
    class_uid: u32,
    activity_id: u32,
    severity_id: u32,
    e: &Event,
    message: String,
) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("class_uid".into(), json!(class_uid));
    v.insert("category_uid".into(), json!(class_uid / 1000));
    v.insert("activity_id".into(), json!(activity_id));
    v.insert(
        "type_uid".into(),
        json!(class_uid as u64 * 100 + activity_id as u64),
    );
    v.insert("severity_id".into(), json!(severity_id));
    v.insert("time".into(), json!(e.ts.timestamp_millis()));
    v.insert("message".into(), json!(message));
    v.insert(
        "metadata".into(),
        metadata(&e.id.to_string(), e.session_id.map(|s| s.to_string())),
    );
    v.insert(
        "unmapped".into(),
        json!({"decky": e.decky, "service": e.service, "fields": e.fields}),
    );
    v
}

fn http_method_activity(m: &str) -> u32 {
    match m.to_ascii_uppercase().as_str() {
        "CONNECT" => 1,
        "DELETE" => 2,
        "GET" => 3,
        "HEAD" => 4,
        "OPTIONS" => 5,
        "POST" => 6,
        "PUT" => 7,
        "TRACE" => 8,
        "PATCH" => 9,
        _ => 99,
    }
}

fn user(e: &Event) -> Value {
    let name = e
        .field_str("username")
        .or_else(|| e.field_str("user"))
        .unwrap_or("");
    json!({"name": name})
}

/// The OCSF event of a decky event (`kind` is the wire kind, so kinds this
/// build does not know still map).
pub fn event(e: &Event, kind: &str) -> Value {
    let msg = format!("{kind} on {}/{}", e.decky, e.service);
    let mut v = match kind {
        "auth_attempt" => authentication(e, msg),
        "request" if e.field_str("method").is_some() => http_activity(e, msg),
        "command" => process_activity(e, msg),
        "file_upload" | "file_download" => file_hosting(e, kind == "file_upload", msg),
        "canary_trigger" => canary_finding(e, msg),
        other => network_activity(e, other, msg),
    };
    place_endpoints(&mut v, e);
    Value::Object(v)
}

/// Authentication (3002): a credential tried.
fn authentication(e: &Event, msg: String) -> Map<String, Value> {
    let ok = e.fields.get("success").and_then(Value::as_bool) == Some(true)
        || e.field_str("outcome") == Some("success");
    let mut v = base(3002, 1, if ok { 3 } else { 1 }, e, msg);
    v.insert("status_id".into(), json!(if ok { 1 } else { 2 }));
    v.insert(
        "status".into(),
        json!(if ok { "Success" } else { "Failure" }),
    );
    v.insert("user".into(), user(e));
    v.insert("is_remote".into(), json!(true));
    v.insert("service".into(), json!({"name": e.service}));
    v
}

/// HTTP Activity (4002): a web request with its method.
fn http_activity(e: &Event, msg: String) -> Map<String, Value> {
    let method = e.field_str("method").unwrap_or("");
    let mut v = base(4002, http_method_activity(method), 1, e, msg);
    let mut url = Map::new();
    if let Some(p) = e.field_str("path") {
        url.insert("path".into(), json!(p));
    }
    if let Some(q) = e.field_str("query").filter(|q| !q.is_empty()) {
        url.insert("query_string".into(), json!(q));
    }
    if let Some(u) = url_of(e) {
        url.insert("url_string".into(), json!(u));
    }
    let mut req = json!({"url": url});
    if http_method_activity(method) != 99 {
        req["http_method"] = json!(method.to_ascii_uppercase());
    }
    if let Some(ua) = e.field_str("user_agent") {
        req["user_agent"] = json!(ua);
    }
    if let Some(ver) = e.field_str("version") {
        req["version"] = json!(ver);
    }
    v.insert("http_request".into(), req);
    v
}

/// Process Activity (1007): a command run in a decky's shell.
fn process_activity(e: &Event, msg: String) -> Map<String, Value> {
    let mut v = base(1007, 1, 2, e, msg);
    v.insert("actor".into(), json!({"user": user(e)}));
    v.insert(
        "device".into(),
        json!({"hostname": e.decky, "name": e.decky, "ip": e.dst_ip, "type_id": 1}),
    );
    v.insert(
        "process".into(),
        json!({"cmd_line": e.field_str("command").unwrap_or("")}),
    );
    v
}

/// File Hosting Activity (6006): an upload, or a download attempt.
fn file_hosting(e: &Event, upload: bool, msg: String) -> Map<String, Value> {
    let mut v = base(6006, if upload { 1 } else { 2 }, 3, e, msg);
    v.insert("actor".into(), json!({"user": user(e)}));
    let name = e
        .field_str("filename")
        .map(str::to_owned)
        .or_else(|| {
            url_of(e).map(|u| {
                u.rsplit('/')
                    .find(|s| !s.is_empty())
                    .unwrap_or(&u)
                    .to_owned()
            })
        })
        .unwrap_or_default();
    let mut file = json!({"name": name, "type_id": 1});
    if let Some(s) = e.fields.get("size").and_then(Value::as_u64) {
        file["size"] = json!(s);
    }
    if let Some(h) = e.field_str("sha256") {
        file["hashes"] = json!([{"algorithm_id": 3, "value": h}]);
    }
    if let Some(u) = e.field_str("url") {
        file["url"] = json!({"url_string": u});
    }
    v.insert("file".into(), file);
    v
}

/// Detection Finding (2004): a canary token triggered.
fn canary_finding(e: &Event, msg: String) -> Map<String, Value> {
    let mut v = base(2004, 1, 5, e, msg);
    v.insert(
        "finding_info".into(),
        json!({
            "uid": e.id,
            "title": format!("Canary token triggered: {}", e.field_str("label").unwrap_or("token")),
            "types": ["canary_trigger"],
            "analytic": {"name": "canary_trigger", "type_id": 1, "uid": "canary_trigger"},
        }),
    );
    v.insert("is_alert".into(), json!(true));
    v
}

/// Network Activity (4001): everything else, the kind named when the
/// class has no activity for it.
fn network_activity(e: &Event, kind: &str, msg: String) -> Map<String, Value> {
    let activity = match kind {
        "connect" => 1,
        "disconnect" => 2,
        "scan" | "request" => 6,
        _ => 99,
    };
    let mut v = base(4001, activity, 1, e, msg);
    v.insert(
        "connection_info".into(),
        json!({"protocol_name": transport(e), "direction_id": 1}),
    );
    if activity == 99 {
        v.insert("activity_name".into(), json!(kind));
    }
    v
}

/// Source and destination where the event's class keeps them.
fn place_endpoints(v: &mut Map<String, Value>, e: &Event) {
    let (src, dst) = endpoints(e);
    match v["class_uid"].as_u64() {
        // Process Activity has no network endpoints: keep the source in unmapped.
        Some(1007) => v["unmapped"]["src_endpoint"] = src,
        // A finding carries them as evidence.
        Some(2004) => {
            v.insert(
                "evidences".into(),
                json!([{"src_endpoint": src, "dst_endpoint": dst}]),
            );
        }
        _ => {
            v.insert("src_endpoint".into(), src);
            v.insert("dst_endpoint".into(), dst);
        }
    }
}

/// OCSF `severity_id`.
pub fn severity_id(s: Severity) -> u32 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// The Detection Finding of an alert: `Create` for a first alert or an
/// escalation, `Update` for a digest (`count` = suppressed), `Close` for a
/// resolve.
pub fn alert(a: &Alert) -> Value {
    let activity = match a.kind {
        AlertKind::Digest { .. } => 2,
        AlertKind::Resolve => 3,
        _ => 1,
    };
    let mut finding = json!({
        "uid": a.dedup_key,
        "title": a.title,
        "desc": a.summary,
        "types": [a.rule],
        "analytic": {"name": a.rule, "type_id": 1, "uid": a.rule},
        "created_time": a.ts.timestamp_millis(),
    });
    if !a.techniques.is_empty() {
        let attacks: Vec<Value> = a
            .techniques
            .iter()
            .map(|t| json!({"technique": {"uid": t}}))
            .collect();
        finding["attacks"] = json!(attacks);
    }
    let mut v = json!({
        "class_uid": 2004,
        "category_uid": 2,
        "activity_id": activity,
        "type_uid": 200400 + activity,
        "severity_id": severity_id(a.severity),
        "time": a.ts.timestamp_millis(),
        "message": a.headline(),
        "metadata": metadata(&a.id.to_string(), Some(a.dedup_key.clone())),
        "finding_info": finding,
        "is_alert": true,
        "unmapped": {"kind": a.kind.name(), "facts": a.facts, "stage": a.stage, "identity": a.identity, "decky": a.decky, "service": a.service},
    });
    if let AlertKind::Digest { suppressed, .. } = a.kind {
        v["count"] = json!(suppressed);
    }
    if let Some(ip) = a.source_ip {
        v["evidences"] = json!([{"src_endpoint": {"ip": ip}}]);
    }
    v
}
