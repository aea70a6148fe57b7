//! MISP event JSON (the format PyMISP's `MISPEvent.load` reads): attributes
//! for addresses, URLs, domains and hashes, a `credential` object per tried
//! credential, and MITRE ATT&CK galaxy tags for the observed techniques.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::catalogue::{Catalogue, Domain};
use crate::stix::{Export, FingerprintMethod, Observable, ObservableKind, Subject};

const MISP_NS: Uuid = Uuid::from_u128(0x2f0b_93c4_61a8_4e0f_a6d5_7c2e_08b1_d4f3);
/// MISP object template `credential`.
const CREDENTIAL_TEMPLATE: &str = "a27e98c9-9b0e-414c-8076-d201e039ca09";

fn id(key: &str) -> String {
    Uuid::new_v5(&MISP_NS, key.as_bytes()).to_string()
}

fn ts(t: DateTime<Utc>) -> String {
    t.timestamp().to_string()
}

fn attribute(
    key: &str,
    ty: &str,
    category: &str,
    value: &str,
    comment: String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Value {
    json!({
        "uuid": id(key),
        "type": ty,
        "category": category,
        "value": value,
        "to_ids": true,
        "comment": comment,
        "distribution": "5",
        "timestamp": ts(last),
        "first_seen": first.to_rfc3339(),
        "last_seen": last.to_rfc3339(),
    })
}

/// The MISP event for an export (same inputs as the STIX bundle).
pub fn event(export: &Export, catalogue: &Catalogue) -> Value {
    let (info, subject_key) = describe(&export.subject);
    let last = export.last_seen.max(export.first_seen);
    let mut attributes = Vec::new();
    let mut objects = Vec::new();
    for o in &export.observables {
        let key = format!("{subject_key}|{:?}", o.kind);
        match single_value(&o.kind) {
            Some((ty, category, value)) => attributes.push(attribute(
                &key,
                ty,
                category,
                &value,
                format!("seen {} times", o.count),
                o.first_seen,
                o.last_seen.max(o.first_seen),
            )),
            None => objects.extend(credential_object(&key, o)),
        }
    }
    json!({
        "Event": {
            "uuid": id(&subject_key),
            "info": info,
            "date": export.first_seen.format("%Y-%m-%d").to_string(),
            "timestamp": ts(last),
            "published": false,
            "analysis": "2",
            "threat_level_id": "3",
            "distribution": "0",
            "Orgc": {"name": export.defender.name},
            "Attribute": attributes,
            "Object": objects,
            "Tag": tags(export, catalogue),
        }
    })
}

/// The event's `info` line and the key its UUIDs derive from.
fn describe(subject: &Subject) -> (String, String) {
    match subject {
        Subject::Attacker { ip } => (
            format!("decnet: activity of {ip} against the deception fleet"),
            format!("ip|{ip}"),
        ),
        Subject::Identity { id, name } => {
            (format!("decnet: identity {name}"), format!("identity|{id}"))
        }
        Subject::Campaign { id, name } => {
            (format!("decnet: campaign {name}"), format!("campaign|{id}"))
        }
        Subject::Fleet => (
            "decnet: activity against the deception fleet".to_owned(),
            "fleet".to_owned(),
        ),
    }
}

/// An observable that is one attribute: (MISP type, category, value).
fn single_value(kind: &ObservableKind) -> Option<(&'static str, &'static str, String)> {
    match kind {
        ObservableKind::Ip(ip) => Some(("ip-src", "Network activity", ip.to_string())),
        ObservableKind::Url(u) => Some(("url", "Network activity", u.clone())),
        ObservableKind::Domain(d) => Some(("domain", "Network activity", d.clone())),
        ObservableKind::Sha256(h) => Some(("sha256", "Payload delivery", h.clone())),
        ObservableKind::Md5(h) => Some(("md5", "Payload delivery", h.clone())),
        ObservableKind::Fingerprint { method, value, .. } => Some((
            match method {
                FingerprintMethod::Hassh => "hassh-md5",
                FingerprintMethod::Ja3 => "ja3-fingerprint-md5",
            },
            "Network activity",
            value.clone(),
        )),
        ObservableKind::Credential { .. } => None,
    }
}

/// The `credential` object of a tried credential. MISP holds no empty
/// values: an empty login is no object, an empty password is left out.
fn credential_object(key: &str, o: &Observable) -> Option<Value> {
    let ObservableKind::Credential { login, secret } = &o.kind else {
        return None;
    };
    if login.is_empty() {
        return None;
    }
    let (first, last) = (o.first_seen, o.last_seen.max(o.first_seen));
    let mut parts = Vec::new();
    for (relation, value) in [("username", login), ("password", secret)] {
        if value.is_empty() {
            continue;
        }
        let mut a = attribute(
            &format!("{key}|{relation}"),
            "text",
            "Other",
            value,
            format!("seen {} times", o.count),
            first,
            last,
        );
        a["object_relation"] = relation.into();
        a["to_ids"] = false.into();
        parts.push(a);
    }
    Some(json!({
        "uuid": id(key),
        "name": "credential",
        "meta-category": "misc",
        "description": "Credential tried against a decoy",
        "template_uuid": CREDENTIAL_TEMPLATE,
        "template_version": "6",
        "distribution": "5",
        "timestamp": ts(last),
        "comment": "tried against a decoy",
        "Attribute": parts,
    }))
}

/// TLP and honeypot tags, and one ATT&CK galaxy tag per observed technique.
fn tags(export: &Export, catalogue: &Catalogue) -> Vec<Value> {
    let mut tags = vec![
        json!({"name": "tlp:amber"}),
        json!({"name": "decnet:honeypot"}),
    ];
    for s in &export.techniques {
        if let Some(t) = catalogue.technique(&s.technique_id) {
            let galaxy = match t.domain {
                Domain::Enterprise => "mitre-attack-pattern",
                Domain::Ics => "mitre-ics-techniques",
            };
            tags.push(json!({"name": format!("misp-galaxy:{galaxy}=\"{} - {}\"", t.name, t.id)}));
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::navigator::TechniqueStat;
    use crate::stix::{Defender, Observable};

    #[test]
    fn event_carries_attributes_objects_and_galaxy_tags() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
        let export = Export {
            defender: Defender { name: "SOC".into() },
            subject: Subject::Attacker {
                ip: "198.51.100.7".parse().unwrap(),
            },
            first_seen: t,
            last_seen: t,
            techniques: vec![TechniqueStat {
                technique_id: "T0855".into(),
                count: 1,
                first_seen: t,
                last_seen: t,
                max_confidence: 85,
                comment: None,
            }],
            observables: vec![
                Observable {
                    kind: ObservableKind::Ip("198.51.100.7".parse().unwrap()),
                    count: 3,
                    first_seen: t,
                    last_seen: t,
                    techniques: vec![],
                },
                Observable {
                    kind: ObservableKind::Credential {
                        login: "root".into(),
                        secret: "x".into(),
                    },
                    count: 1,
                    first_seen: t,
                    last_seen: t,
                    techniques: vec![],
                },
            ],
        };
        let e = event(&export, Catalogue::builtin());
        let ev = &e["Event"];
        assert_eq!(ev["Attribute"][0]["type"], "ip-src");
        assert_eq!(ev["Object"][0]["name"], "credential");
        assert_eq!(
            ev["Object"][0]["Attribute"][1]["object_relation"],
            "password"
        );
        assert!(ev["Tag"].as_array().unwrap().iter().any(|t| t["name"]
            == "misp-galaxy:mitre-ics-techniques=\"Unauthorized Command Message - T0855\""));
        assert_eq!(event(&export, Catalogue::builtin()), e, "deterministic");
    }
}
