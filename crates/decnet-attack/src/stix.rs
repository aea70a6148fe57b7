//! STIX 2.1 bundles: the defender's identity, the subject (attacker,
//! identity cluster or campaign), attack-patterns referencing ATT&CK,
//! indicators with STIX patterns, observed-data and sightings with counts and
//! first/last seen, and `uses`/`indicates` relationships.
//!
//! Every id is a UUIDv5 of the object's content key, so exporting the same
//! thing twice yields the same ids (a later export is a newer version of the
//! same objects, not new ones). Cyber-observable ids follow the STIX 2.1
//! deterministic-id rule (§2.9) with its namespace.

use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::catalogue::{technique_url, Catalogue};
use crate::navigator::TechniqueStat;

/// Namespace of decnet's STIX domain-object ids.
const DECNET_NS: Uuid = Uuid::from_u128(0x6c5e_1c2a_9d7e_4f4b_8f3e_2a1d_5b7c_9e01);
/// STIX 2.1 §2.9: namespace for deterministic cyber-observable ids.
const SCO_NS: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);
/// The extension definition of decnet's client fingerprints on
/// `network-traffic` (a fixed UUIDv4, as STIX wants for SDO/SMO ids that
/// are not derived from content).
pub const FINGERPRINT_EXTENSION: &str =
    "extension-definition--749398e0-defa-4d7d-9ddd-6ec9505abb25";
/// Largest count STIX allows in `number_observed` and `count`.
const MAX_COUNT: u64 = 999_999_999;

/// Who is publishing (the honeypot operator).
#[derive(Clone, Debug)]
pub struct Defender {
    /// Organisation name.
    pub name: String,
}

/// Whom the bundle is about.
#[derive(Clone, Debug)]
pub enum Subject {
    /// One source address (a `threat-actor`).
    Attacker {
        /// Address.
        ip: IpAddr,
    },
    /// An identity cluster of several addresses (an `intrusion-set`).
    Identity {
        /// Stable id of the cluster.
        id: String,
        /// Display name.
        name: String,
    },
    /// A campaign (a `campaign`).
    Campaign {
        /// Stable id.
        id: String,
        /// Display name.
        name: String,
    },
    /// Everything the fleet saw: no actor object, only patterns and indicators.
    Fleet,
}

/// Kinds of indicator value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObservableKind {
    /// An address.
    Ip(IpAddr),
    /// A URL the attacker fetched or served.
    Url(String),
    /// A SHA-256 of a captured file.
    Sha256(String),
    /// An MD5 of a captured file.
    Md5(String),
    /// A domain name.
    Domain(String),
    /// A client fingerprint of the attacker's tool (STIX has no property
    /// for one: `network-traffic` from `src` with decnet's property
    /// extension [`FINGERPRINT_EXTENSION`]).
    Fingerprint {
        /// Which fingerprint.
        method: FingerprintMethod,
        /// Its value (an MD5 in hex).
        value: String,
        /// The address that sent it.
        src: IpAddr,
    },
    /// A login/secret pair the attacker tried.
    Credential {
        /// Account name.
        login: String,
        /// Secret as printable text.
        secret: String,
    },
}

/// Client fingerprints decnet captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FingerprintMethod {
    /// HASSH of an SSH client's key-exchange offer.
    Hassh,
    /// JA3 of a TLS ClientHello.
    Ja3,
}

impl FingerprintMethod {
    /// Its property in the extension, and its name in text.
    pub fn name(self) -> &'static str {
        match self {
            FingerprintMethod::Hassh => "hassh",
            FingerprintMethod::Ja3 => "ja3",
        }
    }

    /// The stored form (`hassh:…`, `ja3:…` in an attacker's fingerprints).
    pub fn parse(stored: &str) -> Option<(FingerprintMethod, &str)> {
        let (name, value) = stored.split_once(':')?;
        let method = match name {
            "hassh" => FingerprintMethod::Hassh,
            "ja3" => FingerprintMethod::Ja3,
            _ => return None,
        };
        let hex = value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then_some((method, value))
    }

    fn protocols(self) -> [&'static str; 2] {
        match self {
            FingerprintMethod::Hassh => ["tcp", "ssh"],
            FingerprintMethod::Ja3 => ["tcp", "tls"],
        }
    }
}

/// The host of a URL when it is a DNS name (not an address): what a
/// `domain-name` indicator is made of.
pub fn url_domain(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    if host.starts_with('[') {
        return None;
    }
    let host = host
        .split(':')
        .next()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let dns = host.len() <= 253
        && host.contains('.')
        && host.split('.').all(label_ok)
        && host.parse::<IpAddr>().is_err()
        && !host.rsplit('.').next()?.bytes().all(|b| b.is_ascii_digit());
    dns.then_some(host)
}

/// One indicator value with its sightings.
#[derive(Clone, Debug)]
pub struct Observable {
    /// What it is.
    pub kind: ObservableKind,
    /// Times seen.
    pub count: u64,
    /// First seen.
    pub first_seen: DateTime<Utc>,
    /// Last seen.
    pub last_seen: DateTime<Utc>,
    /// Techniques it is evidence of (`indicates` relationships).
    pub techniques: Vec<String>,
}

/// Everything one bundle is built from.
#[derive(Clone, Debug)]
pub struct Export {
    /// Publisher.
    pub defender: Defender,
    /// About whom.
    pub subject: Subject,
    /// First activity of the subject (its `first_seen`, and `created`).
    pub first_seen: DateTime<Utc>,
    /// Last activity.
    pub last_seen: DateTime<Utc>,
    /// Observed techniques.
    pub techniques: Vec<TechniqueStat>,
    /// Indicator values.
    pub observables: Vec<Observable>,
}

/// One observable per value: the same URL, file or domain seen from
/// several addresses becomes one with the counts added, the widest span
/// and every technique (a bundle holds one indicator per value).
pub fn merge_observables(observables: Vec<Observable>) -> Vec<Observable> {
    let mut merged: Vec<Observable> = Vec::with_capacity(observables.len());
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for o in observables {
        match at.get(&key_of(&o.kind)) {
            Some(&i) => {
                let m = &mut merged[i];
                m.count = m.count.saturating_add(o.count);
                m.first_seen = m.first_seen.min(o.first_seen);
                m.last_seen = m.last_seen.max(o.last_seen);
                for t in o.techniques {
                    if !m.techniques.contains(&t) {
                        m.techniques.push(t);
                    }
                }
            }
            None => {
                at.insert(key_of(&o.kind), merged.len());
                merged.push(o);
            }
        }
    }
    merged
}

/// STIX timestamp: UTC, millisecond precision, `Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn sdo_id(kind: &str, key: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&DECNET_NS, format!("{kind}|{key}").as_bytes())
    )
}

/// Fixed `created` of objects that do not depend on observations
/// (the defender identity, attack-patterns), so their versions never conflict.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// A STIX string literal inside a pattern: `'` and `\` escaped.
fn pattern_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn count(n: u64) -> u64 {
    n.clamp(1, MAX_COUNT)
}

/// The cyber-observable object for a value, with its deterministic id.
fn sco(kind: &ObservableKind) -> Value {
    // Contributing properties in JCS form (keys sorted, no whitespace).
    let (ty, props) = match kind {
        ObservableKind::Ip(IpAddr::V4(ip)) => ("ipv4-addr", json!({"value": ip.to_string()})),
        ObservableKind::Ip(IpAddr::V6(ip)) => ("ipv6-addr", json!({"value": ip.to_string()})),
        ObservableKind::Url(u) => ("url", json!({"value": u})),
        ObservableKind::Domain(d) => ("domain-name", json!({"value": d})),
        ObservableKind::Sha256(h) => ("file", json!({"hashes": {"SHA-256": h.to_lowercase()}})),
        ObservableKind::Md5(h) => ("file", json!({"hashes": {"MD5": h.to_lowercase()}})),
        ObservableKind::Credential { login, .. } => {
            ("user-account", json!({"account_login": login}))
        }
        ObservableKind::Fingerprint { method, value, src } => (
            "network-traffic",
            json!({
                "extensions": {FINGERPRINT_EXTENSION: {
                    "extension_type": "property-extension",
                    method.name(): value.to_lowercase(),
                }},
                "protocols": method.protocols(),
                "src_ref": sco(&ObservableKind::Ip(*src))["id"],
            }),
        ),
    };
    let canonical = serde_json::to_string(&props).expect("JSON values serialise");
    let mut obj = props.as_object().cloned().unwrap_or_default();
    if let ObservableKind::Credential { secret, .. } = kind {
        obj.insert("credential".into(), secret.clone().into());
    }
    obj.insert("type".into(), ty.into());
    obj.insert("spec_version".into(), "2.1".into());
    obj.insert(
        "id".into(),
        format!("{ty}--{}", Uuid::new_v5(&SCO_NS, canonical.as_bytes())).into(),
    );
    Value::Object(obj)
}

fn indicator_pattern(kind: &ObservableKind) -> (String, String) {
    match kind {
        ObservableKind::Ip(ip @ IpAddr::V4(_)) => (
            format!("[ipv4-addr:value = {}]", pattern_literal(&ip.to_string())),
            format!("Attacker address {ip}"),
        ),
        ObservableKind::Ip(ip) => (
            format!("[ipv6-addr:value = {}]", pattern_literal(&ip.to_string())),
            format!("Attacker address {ip}"),
        ),
        ObservableKind::Url(u) => (
            format!("[url:value = {}]", pattern_literal(u)),
            format!("URL used by the attacker: {u}"),
        ),
        ObservableKind::Domain(d) => (
            format!("[domain-name:value = {}]", pattern_literal(d)),
            format!("Domain used by the attacker: {d}"),
        ),
        ObservableKind::Sha256(h) => (
            format!(
                "[file:hashes.'SHA-256' = {}]",
                pattern_literal(&h.to_lowercase())
            ),
            format!("File dropped by the attacker (SHA-256 {h})"),
        ),
        ObservableKind::Md5(h) => (
            format!("[file:hashes.MD5 = {}]", pattern_literal(&h.to_lowercase())),
            format!("File dropped by the attacker (MD5 {h})"),
        ),
        ObservableKind::Fingerprint { method, value, .. } => (
            format!(
                "[network-traffic:extensions.'{FINGERPRINT_EXTENSION}'.{} = {}]",
                method.name(),
                pattern_literal(&value.to_lowercase())
            ),
            format!(
                "Client fingerprint of the attacker's tool ({} {value})",
                method.name().to_uppercase()
            ),
        ),
        ObservableKind::Credential { login, secret } => (
            format!(
                "[user-account:account_login = {} AND user-account:credential = {}]",
                pattern_literal(login),
                pattern_literal(secret)
            ),
            format!("Credential tried by the attacker for {login}"),
        ),
    }
}

fn key_of(kind: &ObservableKind) -> String {
    match kind {
        ObservableKind::Ip(ip) => format!("ip|{ip}"),
        ObservableKind::Url(u) => format!("url|{u}"),
        ObservableKind::Domain(d) => format!("domain|{d}"),
        ObservableKind::Sha256(h) => format!("sha256|{}", h.to_lowercase()),
        ObservableKind::Md5(h) => format!("md5|{}", h.to_lowercase()),
        ObservableKind::Credential { login, secret } => format!("cred|{login}|{secret}"),
        ObservableKind::Fingerprint { method, value, src } => {
            format!("{}|{}|{src}", method.name(), value.to_lowercase())
        }
    }
}

struct Builder {
    objects: Vec<Value>,
    identity: String,
}

impl Builder {
    fn sdo(
        &mut self,
        kind: &str,
        key: &str,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
        mut props: Map<String, Value>,
    ) -> String {
        let id = sdo_id(kind, key);
        let modified = modified.max(created);
        props.insert("type".into(), kind.into());
        props.insert("spec_version".into(), "2.1".into());
        props.insert("id".into(), id.clone().into());
        props.insert("created".into(), timestamp(created).into());
        props.insert("modified".into(), timestamp(modified).into());
        if kind != "identity" {
            props.insert("created_by_ref".into(), self.identity.clone().into());
        }
        self.objects.push(Value::Object(props));
        id
    }

    fn relationship(
        &mut self,
        source: &str,
        rel: &str,
        target: &str,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
        description: String,
    ) {
        let key = format!("{source}|{rel}|{target}");
        let props = json!({
            "relationship_type": rel,
            "source_ref": source,
            "target_ref": target,
            "description": description,
        });
        self.sdo("relationship", &key, created, modified, obj(props));
    }
}

impl Builder {
    /// The extension definition the fingerprint properties belong to.
    fn fingerprint_extension(&mut self) {
        self.objects.push(json!({
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": FINGERPRINT_EXTENSION,
            "created_by_ref": self.identity,
            "created": timestamp(epoch()),
            "modified": timestamp(epoch()),
            "name": "decnet client fingerprints",
            "description": "Fingerprints of the client software a decoy saw on a network-traffic object.",
            "schema": "Properties of network-traffic: 'hassh' (string, MD5 hex of an SSH client's key-exchange algorithm lists, salesforce/hassh) and 'ja3' (string, MD5 hex of a TLS ClientHello, salesforce/ja3).",
            "version": "1.0.0",
            "extension_types": ["property-extension"],
        }));
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Builds the bundle.
pub fn bundle(export: &Export, catalogue: &Catalogue) -> Value {
    let identity = sdo_id("identity", &export.defender.name);
    let mut b = Builder {
        objects: Vec::new(),
        identity: identity.clone(),
    };
    b.defender(export);
    let actor = b.subject_actor(export);
    let pattern_ids = b.attack_patterns(export, catalogue, actor.as_deref());
    let subject_key = subject_key(&export.subject);
    let fingerprints = export
        .observables
        .iter()
        .any(|o| matches!(o.kind, ObservableKind::Fingerprint { .. }));
    if fingerprints {
        b.fingerprint_extension();
    }
    for o in &export.observables {
        b.observable(o, &subject_key, &identity, actor.as_deref(), &pattern_ids);
    }
    b.into_bundle()
}

/// The key a subject's SDO is named by (also the prefix of its sightings).
fn subject_key(subject: &Subject) -> String {
    match subject {
        Subject::Attacker { ip } => format!("ip|{ip}"),
        Subject::Identity { id, .. } => format!("identity|{id}"),
        Subject::Campaign { id, .. } => format!("campaign|{id}"),
        Subject::Fleet => "fleet".into(),
    }
}

/// The steps of [`bundle`], in the order it takes them.
impl Builder {
    /// The identity of the defender publishing the bundle.
    fn defender(&mut self, export: &Export) {
        self.sdo(
            "identity",
            &export.defender.name,
            epoch(),
            epoch(),
            obj(json!({
                "name": export.defender.name,
                "identity_class": "organization",
                "description": "Operator of the decnet deception fleet that observed this activity.",
            })),
        );
    }

    /// The SDO standing for the subject (threat actor, intrusion set or
    /// campaign); none for the whole fleet. Returns its id.
    fn subject_actor(&mut self, export: &Export) -> Option<String> {
        let (first, last) = (export.first_seen, export.last_seen.max(export.first_seen));
        let key = subject_key(&export.subject);
        let (kind, body) = match &export.subject {
            Subject::Attacker { ip } => (
                "threat-actor",
                json!({
                    "name": format!("Attacker {ip}"),
                    "threat_actor_types": ["unknown"],
                    "first_seen": timestamp(first),
                    "last_seen": timestamp(last),
                    "description": format!("Source address {ip} observed by decoys."),
                }),
            ),
            Subject::Identity { name, .. } => (
                "intrusion-set",
                json!({"name": name, "first_seen": timestamp(first), "last_seen": timestamp(last)}),
            ),
            Subject::Campaign { name, .. } => (
                "campaign",
                json!({"name": name, "first_seen": timestamp(first), "last_seen": timestamp(last)}),
            ),
            Subject::Fleet => return None,
        };
        Some(self.sdo(kind, &key, first, last, obj(body)))
    }

    /// One attack pattern per known technique, used by the actor when there
    /// is one. Returns (technique id, attack-pattern id) pairs.
    fn attack_patterns(
        &mut self,
        export: &Export,
        catalogue: &Catalogue,
        actor: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut pattern_ids = Vec::new();
        for s in &export.techniques {
            let Some(t) = catalogue.technique(&s.technique_id) else {
                continue;
            };
            let phases: Vec<Value> = t
                .tactics
                .iter()
                .map(|p| json!({"kill_chain_name": t.domain.kill_chain_name(), "phase_name": p}))
                .collect();
            let id = self.sdo(
                "attack-pattern",
                &t.id,
                epoch(),
                epoch(),
                obj(json!({
                    "name": t.full_name(catalogue),
                    "external_references": [{
                        "source_name": "mitre-attack",
                        "external_id": t.id,
                        "url": technique_url(&t.id),
                    }],
                    "kill_chain_phases": phases,
                })),
            );
            if let Some(actor) = actor {
                self.relationship(
                    actor,
                    "uses",
                    &id,
                    export.first_seen,
                    s.last_seen,
                    format!(
                        "Observed {} time{} between {} and {}.",
                        s.count,
                        if s.count == 1 { "" } else { "s" },
                        timestamp(s.first_seen),
                        timestamp(s.last_seen)
                    ),
                );
            }
            pattern_ids.push((t.id.clone(), id));
        }
        pattern_ids
    }

    /// One observable: its indicator, SCOs, observed data and sighting, and
    /// what the indicator points at (the actor, the techniques).
    fn observable(
        &mut self,
        o: &Observable,
        subject_key: &str,
        identity: &str,
        actor: Option<&str>,
        pattern_ids: &[(String, String)],
    ) {
        let key = key_of(&o.kind);
        let (pattern, name) = indicator_pattern(&o.kind);
        let seen_last = o.last_seen.max(o.first_seen);
        let indicator = self.sdo(
            "indicator",
            &key,
            o.first_seen,
            seen_last,
            obj(json!({
                "name": name,
                "description": format!(
                    "Seen {} time{} by decoys between {} and {}.",
                    o.count,
                    if o.count == 1 { "" } else { "s" },
                    timestamp(o.first_seen),
                    timestamp(seen_last)
                ),
                "indicator_types": ["malicious-activity"],
                "pattern": pattern,
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": timestamp(o.first_seen),
            })),
        );
        let observable = sco(&o.kind);
        let sco_id = observable["id"].as_str().unwrap_or_default().to_owned();
        self.objects.push(observable);
        let mut refs = vec![Value::from(sco_id)];
        // A network-traffic object is observed with the address it refers to.
        if let ObservableKind::Fingerprint { src, .. } = &o.kind {
            let address = sco(&ObservableKind::Ip(*src));
            refs.push(address["id"].clone());
            self.objects.push(address);
        }
        let observed = self.sdo(
            "observed-data",
            &format!("{subject_key}|{key}"),
            o.first_seen,
            seen_last,
            obj(json!({
                "first_observed": timestamp(o.first_seen),
                "last_observed": timestamp(seen_last),
                "number_observed": count(o.count),
                "object_refs": refs,
            })),
        );
        self.sdo(
            "sighting",
            &format!("{subject_key}|{key}"),
            o.first_seen,
            seen_last,
            obj(json!({
                "sighting_of_ref": indicator,
                "observed_data_refs": [observed],
                "where_sighted_refs": [identity],
                "count": count(o.count),
                "first_seen": timestamp(o.first_seen),
                "last_seen": timestamp(seen_last),
            })),
        );
        if let Some(actor) = actor {
            self.relationship(
                &indicator,
                "indicates",
                actor,
                o.first_seen,
                seen_last,
                "Seen in this actor's activity against the decoys.".into(),
            );
        }
        for t in &o.techniques {
            if let Some((_, pattern_id)) = pattern_ids.iter().find(|(id, _)| id == t) {
                self.relationship(
                    &indicator,
                    "indicates",
                    pattern_id,
                    o.first_seen,
                    seen_last,
                    format!("Evidence of {t}."),
                );
            }
        }
    }

    /// The bundle of every object once, its id derived from their ids and
    /// versions (the same content gives the same bundle id).
    fn into_bundle(mut self) -> Value {
        // The same object can be produced twice (an SCO shared by two
        // observables); a bundle lists it once.
        let mut seen = std::collections::HashSet::new();
        self.objects
            .retain(|o| seen.insert(o["id"].as_str().unwrap_or_default().to_owned()));
        let mut ids: Vec<String> = self
            .objects
            .iter()
            .map(|o| {
                format!(
                    "{}@{}",
                    o["id"].as_str().unwrap_or(""),
                    o["modified"].as_str().unwrap_or("")
                )
            })
            .collect();
        ids.sort();
        json!({
            "type": "bundle",
            "id": format!("bundle--{}", Uuid::new_v5(&DECNET_NS, ids.join(",").as_bytes())),
            "objects": self.objects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    fn sample() -> Export {
        Export {
            defender: Defender {
                name: "Example SOC".into(),
            },
            subject: Subject::Attacker {
                ip: "198.51.100.7".parse().unwrap(),
            },
            first_seen: t(1),
            last_seen: t(5),
            techniques: vec![TechniqueStat {
                technique_id: "T1110.001".into(),
                count: 40,
                first_seen: t(1),
                last_seen: t(2),
                max_confidence: 85,
                comment: None,
            }],
            observables: vec![
                Observable {
                    kind: ObservableKind::Ip("198.51.100.7".parse().unwrap()),
                    count: 41,
                    first_seen: t(1),
                    last_seen: t(5),
                    techniques: vec!["T1110.001".into()],
                },
                Observable {
                    kind: ObservableKind::Credential {
                        login: "root".into(),
                        secret: "it's".into(),
                    },
                    count: 1,
                    first_seen: t(2),
                    last_seen: t(2),
                    techniques: vec![],
                },
            ],
        }
    }

    #[test]
    fn bundle_has_every_object_kind_and_is_deterministic() {
        let a = bundle(&sample(), Catalogue::builtin());
        let b = bundle(&sample(), Catalogue::builtin());
        assert_eq!(a, b);
        let types: Vec<&str> = a["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["type"].as_str().unwrap())
            .collect();
        for want in [
            "identity",
            "threat-actor",
            "attack-pattern",
            "indicator",
            "observed-data",
            "sighting",
            "relationship",
            "ipv4-addr",
            "user-account",
        ] {
            assert!(types.contains(&want), "{want} missing from {types:?}");
        }
        let ap = a["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["type"] == "attack-pattern")
            .unwrap();
        assert_eq!(ap["name"], "Brute Force: Password Guessing");
        assert_eq!(ap["external_references"][0]["external_id"], "T1110.001");
        assert_eq!(
            ap["kill_chain_phases"][0]["phase_name"],
            "credential-access"
        );
        let sighting = a["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["type"] == "sighting")
            .unwrap();
        assert_eq!(sighting["count"], 41);
        assert_eq!(sighting["first_seen"], "2026-03-01T01:00:00.000Z");
        let ind: Vec<&str> = a["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["type"] == "indicator")
            .map(|o| o["pattern"].as_str().unwrap())
            .collect();
        assert!(ind.contains(&"[ipv4-addr:value = '198.51.100.7']"));
        assert!(ind.contains(
            &r"[user-account:account_login = 'root' AND user-account:credential = 'it\'s']"
        ));
    }

    fn objects(v: &Value) -> &Vec<Value> {
        v["objects"].as_array().unwrap()
    }

    #[test]
    fn captured_values_become_indicators_that_indicate_techniques_and_the_actor() {
        let mut e = sample();
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let seen = |kind| Observable {
            kind,
            count: 2,
            first_seen: t(2),
            last_seen: t(3),
            techniques: vec!["T1110.001".into()],
        };
        e.observables = vec![
            seen(ObservableKind::Sha256("AB".repeat(32))),
            seen(ObservableKind::Url("http://evil.example.net/x.sh".into())),
            seen(ObservableKind::Domain("evil.example.net".into())),
            seen(ObservableKind::Fingerprint {
                method: FingerprintMethod::Hassh,
                value: "BE31134219a24899a8a0c29c7797ba94".into(),
                src: ip,
            }),
            seen(ObservableKind::Fingerprint {
                method: FingerprintMethod::Ja3,
                value: "e7d705a3286e19ea42f587b344ee6865".into(),
                src: ip,
            }),
        ];
        let b = bundle(&e, Catalogue::builtin());
        let all = objects(&b);
        let by_id = |id: &Value| all.iter().find(|o| o["id"] == *id).unwrap();
        let indicators: Vec<&Value> = all.iter().filter(|o| o["type"] == "indicator").collect();
        let patterns: Vec<&str> = indicators
            .iter()
            .map(|o| o["pattern"].as_str().unwrap())
            .collect();
        let ext = FINGERPRINT_EXTENSION;
        for want in [
            format!("[file:hashes.'SHA-256' = '{}']", "ab".repeat(32)),
            "[url:value = 'http://evil.example.net/x.sh']".to_owned(),
            "[domain-name:value = 'evil.example.net']".to_owned(),
            format!(
                "[network-traffic:extensions.'{ext}'.hassh = 'be31134219a24899a8a0c29c7797ba94']"
            ),
            format!(
                "[network-traffic:extensions.'{ext}'.ja3 = 'e7d705a3286e19ea42f587b344ee6865']"
            ),
        ] {
            assert!(
                patterns.contains(&want.as_str()),
                "{want} not in {patterns:?}"
            );
        }
        // The extension is defined once, by the defender.
        let defs: Vec<&Value> = all
            .iter()
            .filter(|o| o["type"] == "extension-definition")
            .collect();
        assert_eq!(defs.len(), 1);
        assert_eq!(defs[0]["id"], ext);
        assert_eq!(defs[0]["extension_types"], json!(["property-extension"]));
        // The observed traffic carries the fingerprint and comes from the
        // attacker's address, which is in the bundle.
        let traffic: Vec<&Value> = all
            .iter()
            .filter(|o| o["type"] == "network-traffic")
            .collect();
        assert_eq!(traffic.len(), 2);
        for nt in &traffic {
            assert_eq!(by_id(&nt["src_ref"])["value"], "198.51.100.7");
            let props = &nt["extensions"][ext];
            assert_eq!(props["extension_type"], "property-extension");
            assert!(
                props["hassh"].is_string() || props["ja3"].is_string(),
                "{nt}"
            );
        }
        // Every indicator indicates the actor and its technique.
        let actor = all.iter().find(|o| o["type"] == "threat-actor").unwrap();
        let pattern = all.iter().find(|o| o["type"] == "attack-pattern").unwrap();
        for ind in indicators {
            let targets: Vec<&Value> = all
                .iter()
                .filter(|o| {
                    o["type"] == "relationship"
                        && o["relationship_type"] == "indicates"
                        && o["source_ref"] == ind["id"]
                })
                .map(|o| &o["target_ref"])
                .collect();
            assert!(targets.contains(&&actor["id"]), "{}", ind["pattern"]);
            assert!(targets.contains(&&pattern["id"]), "{}", ind["pattern"]);
        }
    }

    #[test]
    fn url_domains_are_dns_names_only() {
        for (url, want) in [
            (
                "http://Evil.Example.net:8080/x.sh?a=1",
                Some("evil.example.net"),
            ),
            (
                "https://user:pw@cdn.example.org./p",
                Some("cdn.example.org"),
            ),
            ("http://203.0.113.50/run.sh", None),
            ("http://[2001:db8::1]/x", None),
            ("http://localhost/x", None),
            ("ftp://bad_host.example/x", None),
            ("no scheme", None),
        ] {
            assert_eq!(url_domain(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn fingerprints_parse_from_their_stored_form() {
        let h = "be31134219a24899a8a0c29c7797ba94";
        assert_eq!(
            FingerprintMethod::parse(&format!("hassh:{h}")),
            Some((FingerprintMethod::Hassh, h))
        );
        assert_eq!(
            FingerprintMethod::parse(&format!("ja3:{h}")),
            Some((FingerprintMethod::Ja3, h))
        );
        assert_eq!(FingerprintMethod::parse("ssh_banner:SSH-2.0-x"), None);
        assert_eq!(FingerprintMethod::parse("hassh:not-a-hash"), None);
        assert_eq!(
            FingerprintMethod::parse("ja4:t13d1516h2_8daaf6152771_e5627efa2ab1"),
            None
        );
    }

    #[test]
    fn one_value_seen_from_two_addresses_is_one_observable() {
        let url = |count, first, techniques: &[&str]| Observable {
            kind: ObservableKind::Url("http://x.example/a".into()),
            count,
            first_seen: t(first),
            last_seen: t(first + 1),
            techniques: techniques.iter().map(|s| s.to_string()).collect(),
        };
        let merged = merge_observables(vec![
            url(2, 3, &["T1105"]),
            url(5, 1, &["T1105", "T1059.004"]),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].count, 7);
        assert_eq!(merged[0].first_seen, t(1));
        assert_eq!(merged[0].last_seen, t(4));
        assert_eq!(merged[0].techniques, ["T1105", "T1059.004"]);
    }

    #[test]
    fn sco_ids_follow_the_stix_deterministic_rule() {
        // STIX 2.1 §2.9: UUIDv5(SCO namespace, '{"value":"198.51.100.7"}').
        let ip = sco(&ObservableKind::Ip("198.51.100.7".parse().unwrap()));
        let want = Uuid::new_v5(&SCO_NS, br#"{"value":"198.51.100.7"}"#);
        assert_eq!(ip["id"], format!("ipv4-addr--{want}"));
        let file = sco(&ObservableKind::Sha256("AB".into()));
        let want = Uuid::new_v5(&SCO_NS, br#"{"hashes":{"SHA-256":"ab"}}"#);
        assert_eq!(file["id"], format!("file--{want}"));
    }

    #[test]
    fn new_activity_keeps_ids_and_bumps_modified() {
        let mut later = sample();
        later.last_seen = t(9);
        later.observables[0].last_seen = t(9);
        let a = bundle(&sample(), Catalogue::builtin());
        let b = bundle(&later, Catalogue::builtin());
        let ids = |v: &Value| {
            v["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(a["id"], b["id"]);
    }
}
