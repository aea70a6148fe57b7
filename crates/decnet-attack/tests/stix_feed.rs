//! The STIX feed of a running server, over a real SQLite store: what intel
//! captured of a tagged attacker (uploaded files, fetched URLs and their
//! domains, its tools' HASSH/JA3) becomes indicators in the TAXII
//! indicators collection, beside its address; the credentials it tried do
//! not.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use decnet_attack::live::{stix_feed, FeedConfig, StoreSource};
use decnet_attack::stix::FINGERPRINT_EXTENSION;
use decnet_attack::taxii::{ObjectQuery, Page, TaxiiSource};
use decnet_store::attack_sql::TagRow;
use decnet_store::{AttackerRow, BountyRow, CredentialRow, IntelBatch, Store};
use serde_json::{json, Value};

const IP: &str = "198.51.100.23";
const SHA: &str = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
const HASSH: &str = "be31134219a24899a8a0c29c7797ba94";
const JA3: &str = "e7d705a3286e19ea42f587b344ee6865";

fn at(m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, m, 0).unwrap()
}

fn bounty(kind: &str, value: &str) -> BountyRow {
    BountyRow {
        kind: kind.into(),
        value: value.into(),
        ip: IP.into(),
        decky: "web01".into(),
        service: "ssh".into(),
        first_seen: at(1),
        last_seen: at(2),
        count: 1,
        details: json!({}),
    }
}

async fn seed(store: &Arc<dyn Store>) {
    let mut attacker = AttackerRow::new(IP, at(0));
    attacker.last_seen = at(5);
    attacker.sessions = 3;
    attacker.fingerprints = vec![
        format!("hassh:{HASSH}"),
        format!("ja3:{JA3}"),
        "ssh_banner:SSH-2.0-libssh_0.9.6".into(),
    ];
    let credential = CredentialRow {
        ip: IP.into(),
        decky: "web01".into(),
        service: "ssh".into(),
        secret_kind: "password".into(),
        secret_hash: "00".repeat(32),
        principal: "root".into(),
        secret_printable: "Hunter2-Real-Secret".into(),
        secret_b64: "SHVudGVyMi1SZWFsLVNlY3JldA==".into(),
        first_seen: at(1),
        last_seen: at(1),
        count: 1,
    };
    store
        .intel_apply(&IntelBatch {
            attackers: vec![(attacker, json!({}))],
            credentials: vec![credential],
            bounty: vec![
                bounty("file", SHA),
                bounty("url", "http://dl.evil-cdn.example/xmrig.tar.gz"),
                bounty("url", "http://203.0.113.50/run.sh"),
            ],
            ..IntelBatch::default()
        })
        .await
        .unwrap();
    let tag = |i: u128, technique: &str, rule: &str| TagRow {
        event_id: uuid::Uuid::from_u128(i),
        technique_id: technique.into(),
        rule_id: rule.into(),
        confidence: 80,
        ts: at(i as u32),
        src_ip: IP.into(),
        session_id: None,
        decky: "web01".into(),
        evidence: json!({}),
    };
    store
        .attack_insert_tags(&[
            tag(1, "T1105", "ingress.download"),
            tag(2, "T1110.001", "brute.password_guessing"),
        ])
        .await
        .unwrap();
}

/// Everything a TAXII collection serves (one page is enough here).
async fn collection(source: &StoreSource, name: &str) -> Page {
    let query = ObjectQuery {
        limit: 1000,
        ..ObjectQuery::default()
    };
    let page = source.objects(name, &query).await.unwrap().unwrap();
    assert!(!page.more);
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_values_are_served_as_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let store = decnet_store::open(&format!("sqlite://{}/s.db", dir.path().display()))
        .await
        .unwrap();
    seed(&store).await;
    let added = stix_feed::publish_attacker(store.as_ref(), IP, &FeedConfig::default())
        .await
        .unwrap();
    assert!(added > 0);

    let source = StoreSource::new(store.clone());
    let page = collection(&source, "indicators").await;
    let patterns: Vec<String> = page
        .records
        .iter()
        .map(|r| r.object["pattern"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        format!("[ipv4-addr:value = '{IP}']"),
        format!("[file:hashes.'SHA-256' = '{SHA}']"),
        "[url:value = 'http://dl.evil-cdn.example/xmrig.tar.gz']".to_owned(),
        "[url:value = 'http://203.0.113.50/run.sh']".to_owned(),
        "[domain-name:value = 'dl.evil-cdn.example']".to_owned(),
        format!("[network-traffic:extensions.'{FINGERPRINT_EXTENSION}'.hassh = '{HASSH}']"),
        format!("[network-traffic:extensions.'{FINGERPRINT_EXTENSION}'.ja3 = '{JA3}']"),
    ] {
        assert!(patterns.contains(&want), "{want} not served: {patterns:?}");
    }
    // An address in a URL is no domain; the banner is no indicator.
    assert_eq!(patterns.len(), 7, "{patterns:?}");

    // The fleet collection has the rest: the extension, the observed
    // network traffic, and `indicates` towards ATT&CK (a download is
    // evidence of T1105 only).
    let all = collection(&source, "fleet").await;
    let objects: Vec<&Value> = all.records.iter().map(|r| r.object.as_ref()).collect();
    assert!(objects.iter().any(|o| o["id"] == FINGERPRINT_EXTENSION));
    assert_eq!(
        objects
            .iter()
            .filter(|o| o["type"] == "network-traffic")
            .count(),
        2
    );
    let id_of = |pred: &dyn Fn(&Value) -> bool| {
        objects
            .iter()
            .find(|o| pred(o))
            .map(|o| o["id"].clone())
            .unwrap()
    };
    let file_indicator = id_of(&|o| {
        o["type"] == "indicator" && o["pattern"].as_str().unwrap().starts_with("[file:")
    });
    let ingress = id_of(&|o| {
        o["type"] == "attack-pattern" && o["external_references"][0]["external_id"] == "T1105"
    });
    let brute = id_of(&|o| {
        o["type"] == "attack-pattern" && o["external_references"][0]["external_id"] == "T1110.001"
    });
    let indicates = |target: &Value| {
        objects.iter().any(|o| {
            o["relationship_type"] == "indicates"
                && o["source_ref"] == file_indicator
                && o["target_ref"] == *target
        })
    };
    assert!(indicates(&ingress));
    assert!(!indicates(&brute));

    // The tried password is in no object.
    let text = serde_json::to_string(&objects).unwrap();
    assert!(!text.contains("Hunter2"), "a tried secret was published");
}
