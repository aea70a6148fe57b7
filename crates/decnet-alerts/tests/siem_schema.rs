//! Every SIEM record decnet emits, checked against the published schemas
//! committed as fixtures (see tests/fixtures/extract.py for their source
//! and version): ECS 9.4 field definitions from elastic/ecs
//! `generated/ecs/ecs_flat.yml` — every field exists with its type and
//! array-ness, categorisation values are allowed and consistent — and
//! OCSF 1.8.0 class and object definitions from ocsf/ocsf-schema — every
//! attribute exists in its class or object with its type, array-ness and
//! enum values, every required attribute is present.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use chrono::Utc;
use decnet_alerts::alert::{AlertKind, Fact};
use decnet_alerts::config::SiemFormat;
use decnet_alerts::siem::{self, ecs, ocsf, Body};
use decnet_alerts::{Alert, Severity, Stage};
use decnet_bus::Envelope;
use decnet_core::{Event, EventKind};
use serde_json::{json, Map, Value};

fn fixture(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn ev(kind: EventKind, service: &str, fields: Value) -> Event {
    let mut e = Event::new("web01", service, kind);
    e.src_ip = "203.0.113.7".parse().unwrap();
    e.src_port = 40123;
    e.dst_ip = "10.0.0.5".parse().unwrap();
    e.dst_port = 22;
    e.session_id = Some(uuid::Uuid::now_v7());
    if let Value::Object(m) = fields {
        e.fields = m;
    }
    e
}

/// One event of every kind and shape the services emit.
fn events() -> Vec<(Event, &'static str)> {
    vec![
        (ev(EventKind::Connect, "ssh", json!({})), "connect"),
        (
            ev(EventKind::Disconnect, "ssh", json!({"duration_ms": 1200})),
            "disconnect",
        ),
        (
            ev(
                EventKind::AuthAttempt,
                "ssh",
                json!({"username": "root", "password": "123456", "secret_kind": "password", "success": false, "ja3": "e7d705a3286e19ea42f587b344ee6865"}),
            ),
            "auth_attempt",
        ),
        (
            ev(
                EventKind::AuthAttempt,
                "ftp",
                json!({"username": "admin", "success": true}),
            ),
            "auth_attempt",
        ),
        (
            ev(
                EventKind::Command,
                "ssh",
                json!({"command": "uname -a", "user": "root"}),
            ),
            "command",
        ),
        (
            ev(
                EventKind::Request,
                "http",
                json!({"method": "POST", "path": "/login", "query": "next=/", "user_agent": "curl/8.0", "version": "HTTP/1.1"}),
            ),
            "request",
        ),
        (
            ev(
                EventKind::Request,
                "http",
                json!({"method": "PROPFIND", "path": "/"}),
            ),
            "request",
        ),
        (
            ev(
                EventKind::Request,
                "dns",
                json!({"query": "example.org", "qtype": "A", "transport": "udp"}),
            ),
            "request",
        ),
        (
            ev(
                EventKind::FileUpload,
                "ftp",
                json!({"filename": "x.sh", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 4}),
            ),
            "file_upload",
        ),
        (
            ev(
                EventKind::FileDownload,
                "ssh",
                json!({"url": "http://198.51.100.1/bins/mirai.x86", "tool": "wget", "user": "root"}),
            ),
            "file_download",
        ),
        (ev(EventKind::Scan, "snmp", json!({})), "scan"),
        (
            ev(
                EventKind::Error,
                "smb",
                json!({"error": "malformed header"}),
            ),
            "error",
        ),
        // A kind this build may not know yet, by wire name.
        (
            ev(
                EventKind::Request,
                "canary-http",
                json!({"token_id": "t1", "label": "AWS keys", "user_agent": "aws-cli/2"}),
            ),
            "canary_trigger",
        ),
    ]
}

fn alerts() -> Vec<Alert> {
    let mut first = Alert::test("x");
    first.rule = "login_success".into();
    first.kind = AlertKind::First;
    first.severity = Severity::High;
    first.source_ip = Some("203.0.113.7".parse().unwrap());
    first.decky = Some("web01".into());
    first.service = Some("ssh".into());
    first.stage = Some(Stage::Login);
    first.facts = vec![Fact::new("username", "root")];
    first.techniques = vec!["T1078".into(), "T1110.001".into()];
    let mut digest = first.clone();
    digest.kind = AlertKind::Digest {
        suppressed: 9999,
        since: Utc::now(),
        until: Utc::now(),
    };
    let mut esc = first.clone();
    esc.kind = AlertKind::Escalation {
        from: Some(Stage::Auth),
    };
    esc.identity = Some(uuid::Uuid::now_v7());
    let mut resolve = Alert::test("y");
    resolve.rule = "response_backend_down".into();
    resolve.kind = AlertKind::Resolve;
    vec![first, digest, esc, resolve]
}

// ---------------------------------------------------------------- ECS

fn ecs_type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "keyword" | "wildcard" | "match_only_text" | "text" | "constant_keyword" => v.is_string(),
        "ip" => v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => v.is_i64() || v.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "date" => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "boolean" => v.is_boolean(),
        "object" | "flattened" => v.is_object(),
        other => panic!("ECS type {other} not handled by the test"),
    }
}

fn ecs_errors(doc: &Value) -> Vec<String> {
    let schema = fixture("ecs_subset.json");
    let fields = schema["fields"].as_object().unwrap();
    let mut errors = Vec::new();
    fn walk(
        prefix: &str,
        v: &Map<String, Value>,
        fields: &Map<String, Value>,
        out: &mut Vec<(String, Value)>,
        errors: &mut Vec<String>,
    ) {
        for (k, val) in v {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if path == "decnet" || path.starts_with("decnet.") {
                continue; // the declared custom namespace
            }
            if fields.contains_key(&path) {
                out.push((path, val.clone()));
            } else if let Value::Object(m) = val {
                walk(&path, m, fields, out, errors);
            } else {
                errors.push(format!("{path}: not an ECS field"));
            }
        }
    }
    let mut leaves = Vec::new();
    walk(
        "",
        doc.as_object().unwrap(),
        fields,
        &mut leaves,
        &mut errors,
    );
    for (path, v) in &leaves {
        let f = &fields[path];
        let ty = f["type"].as_str().unwrap();
        let items: Vec<&Value> = if f["array"] == true {
            match v.as_array() {
                Some(a) => a.iter().collect(),
                None => {
                    errors.push(format!("{path}: ECS normalises it to an array"));
                    continue;
                }
            }
        } else {
            if v.is_array() {
                errors.push(format!("{path}: not an array field"));
                continue;
            }
            vec![v]
        };
        for item in items {
            if !ecs_type_ok(ty, item) {
                errors.push(format!("{path}: {item} is not a {ty}"));
            }
            if let Some(allowed) = f.get("allowed_values").and_then(Value::as_object) {
                if !item.as_str().is_some_and(|s| allowed.contains_key(s)) {
                    errors.push(format!("{path}: {item} is not an allowed value"));
                }
            }
        }
    }
    for req in ["@timestamp", "ecs.version"] {
        if !leaves.iter().any(|(p, _)| p == req) {
            errors.push(format!("{req} missing"));
        }
    }
    // event.type must be one a category expects.
    let cat_allowed = &fields["event.category"]["allowed_values"];
    let cats: Vec<&str> = doc["event"]["category"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for t in doc["event"]["type"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        for c in &cats {
            let expected: Vec<&str> = cat_allowed[*c]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !expected.contains(&t) {
                errors.push(format!("event.type {t} is not expected for category {c}"));
            }
        }
    }
    errors
}

#[test]
fn ecs_documents_use_only_ecs_fields_with_their_types() {
    let mut n = 0;
    for (e, kind) in events() {
        let doc = ecs::event(&e, kind);
        let errs = ecs_errors(&doc);
        assert!(errs.is_empty(), "{kind}: {errs:?}\n{doc:#}");
        n += 1;
    }
    for a in alerts() {
        let doc = ecs::alert(&a);
        let errs = ecs_errors(&doc);
        assert!(errs.is_empty(), "{:?}: {errs:?}\n{doc:#}", a.kind);
        n += 1;
    }
    let env = Envelope::json(
        "response.ban",
        "ban",
        json!({"ban": {"value": "198.51.100.9/32"}}),
    );
    let doc = ecs::message(&env, "response");
    assert!(ecs_errors(&doc).is_empty(), "{doc:#}");
    assert!(n >= 17);
}

#[test]
fn ecs_checker_has_teeth() {
    let (e, kind) = &events()[2];
    let mut doc = ecs::event(e, kind);
    doc["source"]["ip"] = json!("not-an-ip");
    doc["event"]["category"] = json!("authentication");
    doc["made_up"] = json!({"field": 1});
    doc["event"]["kind"] = json!("happening");
    let errs = ecs_errors(&doc);
    for want in [
        "source.ip",
        "event.category: ECS normalises",
        "made_up.field",
        "event.kind",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{want} not caught: {errs:?}"
        );
    }
}

// ---------------------------------------------------------------- OCSF

fn ocsf_object(
    schema: &Value,
    attrs: &Map<String, Value>,
    v: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<String>,
) {
    for (k, val) in v {
        let p = format!("{path}.{k}");
        let Some(a) = attrs.get(k) else {
            errors.push(format!("{p}: no such attribute"));
            continue;
        };
        let items: Vec<&Value> = if a["is_array"] == true {
            match val.as_array() {
                Some(x) => x.iter().collect(),
                None => {
                    errors.push(format!("{p}: must be an array"));
                    continue;
                }
            }
        } else {
            vec![val]
        };
        for item in items {
            let ok = match a["type"].as_str().unwrap() {
                "string" => item.is_string(),
                "integer" => item.is_i64() || item.is_u64(),
                "number" => item.is_number(),
                "boolean" => item.is_boolean(),
                "any" => true,
                "object" => item.is_object(),
                t => panic!("type {t}"),
            };
            if !ok {
                errors.push(format!("{p}: {item} is not {}", a["type"]));
                continue;
            }
            if let Some(en) = a.get("enum").and_then(Value::as_array) {
                if !en.contains(item) {
                    errors.push(format!("{p}: {item} not in enum"));
                }
            }
            if a["type"] == "object" {
                let name = a["object"].as_str().unwrap();
                if name == "object" {
                    continue; // `unmapped`: free-form by definition
                }
                match schema["objects"][name]["attributes"].as_object() {
                    Some(oa) => ocsf_object(schema, oa, item.as_object().unwrap(), &p, errors),
                    None => errors.push(format!("{p}: object {name} is not in the fixture")),
                }
            }
        }
    }
    for (k, a) in attrs {
        if a["requirement"] == "required" && !v.contains_key(k) {
            errors.push(format!("{path}.{k}: required"));
        }
    }
}

fn ocsf_errors(doc: &Value) -> Vec<String> {
    let schema = fixture("ocsf_subset.json");
    let class = doc["class_uid"].to_string();
    let Some(c) = schema["classes"].get(&class) else {
        return vec![format!("class {class} not in fixture")];
    };
    let mut errors = Vec::new();
    ocsf_object(
        &schema,
        c["attributes"].as_object().unwrap(),
        doc.as_object().unwrap(),
        &class,
        &mut errors,
    );
    if doc["category_uid"] != c["category_uid"] {
        errors.push("category_uid".into());
    }
    if doc["type_uid"].as_u64()
        != Some(doc["class_uid"].as_u64().unwrap() * 100 + doc["activity_id"].as_u64().unwrap_or(0))
    {
        errors.push("type_uid".into());
    }
    errors
}

#[test]
fn ocsf_events_match_their_class_definitions() {
    let mut classes = std::collections::BTreeSet::new();
    for (e, kind) in events() {
        let doc = ocsf::event(&e, kind);
        classes.insert(doc["class_uid"].as_u64().unwrap());
        let errs = ocsf_errors(&doc);
        assert!(errs.is_empty(), "{kind}: {errs:?}\n{doc:#}");
        assert_eq!(doc["metadata"]["version"], "1.8.0");
    }
    for a in alerts() {
        let doc = ocsf::alert(&a);
        classes.insert(doc["class_uid"].as_u64().unwrap());
        let errs = ocsf_errors(&doc);
        assert!(errs.is_empty(), "{:?}: {errs:?}\n{doc:#}", a.kind);
    }
    assert_eq!(
        classes.into_iter().collect::<Vec<_>>(),
        vec![1007, 2004, 3002, 4001, 4002, 6006]
    );
}

#[test]
fn ocsf_checker_has_teeth() {
    let (e, kind) = &events()[2];
    let mut doc = ocsf::event(e, kind);
    doc.as_object_mut().unwrap().remove("user");
    doc["status_id"] = json!(7);
    doc["src_endpoint"]["port"] = json!("22");
    doc["bogus"] = json!(1);
    let errs = ocsf_errors(&doc);
    for want in [
        "3002.user: required",
        "3002.status_id",
        "src_endpoint.port",
        "3002.bogus",
    ] {
        assert!(
            errs.iter().any(|x| x.contains(want)),
            "{want} not caught: {errs:?}"
        );
    }
}

#[test]
fn format_dispatch_covers_events_alerts_and_other_messages() {
    let (e, _) = events().remove(2);
    let env = Envelope::event(e);
    for f in [SiemFormat::Ecs, SiemFormat::Ocsf, SiemFormat::Json] {
        assert!(matches!(
            siem::format(f, &env, "n").unwrap().body,
            Body::Json(_)
        ));
    }
    let Body::Line(l) = siem::format(SiemFormat::Rfc5424, &env, "n").unwrap().body else {
        panic!()
    };
    assert!(l.starts_with("<134>1 ") && l.contains("auth_attempt"));
    let alert_env = decnet_alerts::channels::webhook::envelope(&alerts()[0]);
    let r = siem::format(SiemFormat::Ocsf, &alert_env, "n").unwrap();
    let Body::Json(v) = r.body else { panic!() };
    assert_eq!(v["class_uid"], 2004);
    let other = Envelope::json("identity.formed", "formed", json!({"identity_id": "x"}));
    assert!(siem::format(SiemFormat::Ocsf, &other, "n").is_none());
    assert!(siem::format(SiemFormat::Ecs, &other, "n").is_some());
}
