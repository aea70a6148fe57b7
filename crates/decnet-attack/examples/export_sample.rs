//! Writes a sample Navigator layer, STIX 2.1 bundle and MISP event built
//! from the labelled corpus (what the API will export for an attacker and
//! for the fleet), for validation by the real tools in
//! `scripts/interop/attack.sh`.
//!
//! `cargo run -p decnet-attack --example export_sample -- OUT_DIR`
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use decnet_attack::navigator::{self, LayerInfo, TechniqueStat};
use decnet_attack::stix::{
    self, Defender, Export, FingerprintMethod, Observable, ObservableKind, Subject,
};
use decnet_attack::{corpus, misp, Catalogue, RuleHandle, Tagger};

fn stats(events: &[decnet_core::Event]) -> Vec<TechniqueStat> {
    let mut tagger = Tagger::new(RuleHandle::builtin());
    let mut by: BTreeMap<String, TechniqueStat> = BTreeMap::new();
    for e in events {
        for t in tagger.process(e) {
            let s = by
                .entry(t.technique_id.to_string())
                .or_insert(TechniqueStat {
                    technique_id: t.technique_id.to_string(),
                    count: 0,
                    first_seen: t.ts,
                    last_seen: t.ts,
                    max_confidence: 0,
                    comment: None,
                });
            s.count += 1;
            s.first_seen = s.first_seen.min(t.ts);
            s.last_seen = s.last_seen.max(t.ts);
            s.max_confidence = s.max_confidence.max(t.confidence);
            s.comment = Some(format!("rule {}", t.rule_id));
        }
    }
    by.into_values().collect()
}

fn observables(events: &[decnet_core::Event]) -> Vec<Observable> {
    let mut by: BTreeMap<String, Observable> = BTreeMap::new();
    let mut add = |key: String, kind: ObservableKind, t: DateTime<Utc>, technique: Option<&str>| {
        let o = by.entry(key).or_insert(Observable {
            kind,
            count: 0,
            first_seen: t,
            last_seen: t,
            techniques: vec![],
        });
        o.count += 1;
        o.first_seen = o.first_seen.min(t);
        o.last_seen = o.last_seen.max(t);
        if let Some(tid) = technique {
            if !o.techniques.iter().any(|x| x == tid) {
                o.techniques.push(tid.to_owned());
            }
        }
    };
    for e in events {
        add(
            format!("ip{}", e.src_ip),
            ObservableKind::Ip(e.src_ip),
            e.ts,
            None,
        );
        if let Some(url) = e.field_str("url") {
            add(
                format!("url{url}"),
                ObservableKind::Url(url.to_owned()),
                e.ts,
                Some("T1105"),
            );
            if let Some(domain) = stix::url_domain(url) {
                add(
                    format!("domain{domain}"),
                    ObservableKind::Domain(domain),
                    e.ts,
                    Some("T1105"),
                );
            }
        }
        for method in [FingerprintMethod::Hassh, FingerprintMethod::Ja3] {
            let Some(v) = e.field_str(method.name()) else {
                continue;
            };
            if let Some((method, value)) =
                FingerprintMethod::parse(&format!("{}:{v}", method.name()))
            {
                add(
                    format!("{}{value}{}", method.name(), e.src_ip),
                    ObservableKind::Fingerprint {
                        method,
                        value: value.to_owned(),
                        src: e.src_ip,
                    },
                    e.ts,
                    None,
                );
            }
        }
        if let Some(h) = e.field_str("sha256") {
            add(
                format!("sha{h}"),
                ObservableKind::Sha256(h.to_owned()),
                e.ts,
                Some("T1105"),
            );
        }
        if let (Some(u), Some(p)) = (e.field_str("username"), e.field_str("password")) {
            add(
                format!("cred{u}:{p}"),
                ObservableKind::Credential {
                    login: u.to_owned(),
                    secret: p.to_owned(),
                },
                e.ts,
                Some("T1110.001"),
            );
        }
    }
    by.into_values().collect()
}

fn write(path: PathBuf, v: &serde_json::Value) {
    std::fs::write(&path, serde_json::to_string_pretty(v).unwrap()).unwrap();
    println!("{}", path.display());
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "export-sample".into()),
    );
    std::fs::create_dir_all(&out).unwrap();
    let catalogue = Catalogue::builtin();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let scenarios = corpus::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let all: Vec<decnet_core::Event> = scenarios.iter().flat_map(|s| s.events.clone()).collect();
    let defender = Defender {
        name: "decnet sample SOC".into(),
    };

    // One attacker: the source of the dropper and guessing scenarios.
    let attacker: IpAddr = all
        .iter()
        .find(|e| e.kind == decnet_core::EventKind::Command)
        .map(|e| e.src_ip)
        .unwrap();
    let mine: Vec<decnet_core::Event> = all
        .iter()
        .filter(|e| e.src_ip == attacker)
        .cloned()
        .collect();
    let exports = [
        ("attacker", Subject::Attacker { ip: attacker }, mine),
        (
            "campaign",
            Subject::Campaign {
                id: "corpus".into(),
                name: "Labelled corpus".into(),
            },
            all.clone(),
        ),
        ("fleet", Subject::Fleet, all.clone()),
    ];
    for (name, subject, events) in exports {
        let export = Export {
            defender: defender.clone(),
            subject,
            first_seen: events.iter().map(|e| e.ts).min().unwrap(),
            last_seen: events.iter().map(|e| e.ts).max().unwrap(),
            techniques: stats(&events),
            observables: observables(&events),
        };
        write(
            out.join(format!("{name}.stix.json")),
            &stix::bundle(&export, catalogue),
        );
        write(
            out.join(format!("{name}.misp.json")),
            &misp::event(&export, catalogue),
        );
        let info = LayerInfo {
            name: format!("decnet: {name}"),
            description: "techniques observed by decnet".into(),
        };
        for (domain, layer) in navigator::layers(&info, &export.techniques, catalogue) {
            write(
                out.join(format!("{name}.{}.layer.json", domain.as_str())),
                &layer,
            );
        }
    }
}
