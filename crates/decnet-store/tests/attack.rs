//! ATT&CK tags and STIX objects on SQLite and PostgreSQL: idempotent
//! inserts, roll-ups over address sets, TAXII paging order and version
//! selection, version pruning.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use decnet_store::attack_sql::{StixQuery, StixRow, StixVersion, TagFilter, TagRow};
use decnet_store::testing::PgCluster;
use decnet_store::Store;
use uuid::Uuid;

fn tag(i: u128, technique: &str, ip: &str, minute: i64) -> TagRow {
    TagRow {
        event_id: Uuid::from_u128(i),
        technique_id: technique.into(),
        rule_id: format!("rule-{technique}"),
        confidence: 60 + (i % 30) as u8,
        ts: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minute),
        src_ip: ip.into(),
        session_id: (i % 2 == 0).then(|| Uuid::from_u128(1000 + i)),
        decky: "web-01".into(),
        evidence: serde_json::json!({"event_ids": [Uuid::from_u128(i)]}),
    }
}

fn stix(id: &str, version: &str, added_s: i64) -> StixRow {
    StixRow {
        collection: "fleet".into(),
        id: id.into(),
        version: version.into(),
        date_added: Utc.timestamp_opt(1_700_000_000 + added_s, 0).unwrap(),
        stix_type: id.split_once("--").unwrap().0.into(),
        spec_version: "2.1".into(),
        object: format!(r#"{{"id":"{id}","modified":"{version}"}}"#),
    }
}

async fn tags_roundtrip(s: &Arc<dyn Store>) {
    let tags = vec![
        tag(1, "T1110.001", "198.51.100.1", 0),
        tag(2, "T1110.001", "198.51.100.1", 1),
        tag(3, "T1110.001", "198.51.100.2", 2),
        tag(4, "T1059.004", "198.51.100.2", 3),
        tag(5, "T1046", "198.51.100.3", 4),
    ];
    assert_eq!(
        s.attack_insert_tags(&tags).await.unwrap(),
        vec![0, 1, 2, 3, 4]
    );
    // A replay of the same events adds nothing; only the new one is reported.
    let mut again = tags[..2].to_vec();
    again.push(tag(6, "T1046", "198.51.100.3", 5));
    assert_eq!(s.attack_insert_tags(&again).await.unwrap(), vec![2]);

    let all = s
        .attack_technique_counts(&TagFilter::default())
        .await
        .unwrap();
    let ids: Vec<(&str, u64, u64)> = all
        .iter()
        .map(|c| (c.technique_id.as_str(), c.count, c.attackers))
        .collect();
    assert_eq!(
        ids,
        [("T1110.001", 3, 2), ("T1046", 2, 1), ("T1059.004", 1, 1)]
    );
    assert_eq!(all[0].last_seen - all[0].first_seen, Duration::minutes(2));

    // Roll-up over an address set (an identity's members).
    let two = TagFilter {
        src_ips: vec!["198.51.100.2".into(), "198.51.100.3".into()],
        ..TagFilter::default()
    };
    let c = s.attack_technique_counts(&two).await.unwrap();
    assert_eq!(c.iter().map(|c| c.count).sum::<u64>(), 4);
    // A parent technique matches its sub-techniques.
    let parent = TagFilter {
        technique_id: Some("T1110".into()),
        ..TagFilter::default()
    };
    let page = s.attack_list_tags(&parent, 2, 0).await.unwrap();
    assert_eq!((page.total, page.data.len()), (3, 2));
    assert_eq!(page.data[0].event_id, Uuid::from_u128(3), "newest first");
    assert_eq!(page.data[0], tags[2]);
    let who = s.attack_attackers(&parent, 10).await.unwrap();
    assert_eq!(
        who.iter()
            .map(|a| (a.src_ip.as_str(), a.count))
            .collect::<Vec<_>>(),
        [("198.51.100.2", 1), ("198.51.100.1", 2)]
    );
    let window = TagFilter {
        since: Some(tags[1].ts),
        until: Some(tags[3].ts),
        ..TagFilter::default()
    };
    assert_eq!(s.attack_list_tags(&window, 10, 0).await.unwrap().total, 2);
}

/// Inserts past one statement's chunk, and a key twice in one call (after
/// [`tags_roundtrip`], whose tag 1 is stored).
async fn tags_in_bulk(s: &Arc<dyn Store>) {
    // One key twice in a call is stored once and reported at its first row;
    // a call longer than one statement's chunk reports every new row by its
    // index, stored rows among them or not.
    let dup = vec![
        tag(7, "T1046", "198.51.100.9", 6),
        tag(7, "T1046", "198.51.100.9", 6),
    ];
    assert_eq!(s.attack_insert_tags(&dup).await.unwrap(), vec![0]);
    let mut many: Vec<TagRow> = (0..600u128)
        .map(|i| tag(10_000 + i, "T1595", "198.51.100.10", 10))
        .collect();
    many[300] = tag(1, "T1110.001", "198.51.100.1", 0); // stored above
    let fresh = s.attack_insert_tags(&many).await.unwrap();
    assert_eq!(fresh.len(), 599);
    assert!(!fresh.contains(&300) && fresh.contains(&0) && fresh.contains(&599));
    assert!(s.attack_insert_tags(&many).await.unwrap().is_empty());
    let scans = TagFilter {
        technique_id: Some("T1595".into()),
        ..TagFilter::default()
    };
    assert_eq!(
        s.attack_technique_counts(&scans).await.unwrap()[0].count,
        599
    );
}

async fn stix_paging(s: &Arc<dyn Store>) {
    let a = "indicator--00000000-0000-4000-8000-000000000001";
    let b = "attack-pattern--00000000-0000-4000-8000-000000000002";
    let rows = vec![
        stix(a, "2026-01-01T00:00:00.000Z", 1),
        stix(b, "2024-01-01T00:00:00.000Z", 1),
        stix(a, "2026-01-02T00:00:00.000Z", 2),
        stix(a, "2026-01-03T00:00:00.000Z", 3),
    ];
    assert_eq!(s.stix_put(&rows, 10).await.unwrap(), 4);
    assert_eq!(
        s.stix_put(&rows[..1], 10).await.unwrap(),
        0,
        "same version twice"
    );
    let q = |versions: Vec<StixVersion>| StixQuery {
        collection: "fleet".into(),
        added_after: None,
        after: None,
        ids: vec![],
        types: vec![],
        spec_versions: vec![],
        versions,
        limit: 100,
    };
    let last = s.stix_page(&q(vec![])).await.unwrap();
    assert_eq!(
        last.iter()
            .map(|r| (r.id.as_str(), r.version.as_str()))
            .collect::<Vec<_>>(),
        [
            (b, "2024-01-01T00:00:00.000Z"),
            (a, "2026-01-03T00:00:00.000Z")
        ]
    );
    let first = s.stix_page(&q(vec![StixVersion::First])).await.unwrap();
    assert!(first
        .iter()
        .any(|r| r.version == "2026-01-01T00:00:00.000Z"));
    // Paging: one row at a time, resuming after the last one returned.
    let mut all = q(vec![StixVersion::All]);
    all.limit = 1;
    let mut seen = Vec::new();
    loop {
        let page = s.stix_page(&all).await.unwrap();
        let Some(r) = page.last() else { break };
        seen.push(r.version.clone());
        all.after = Some((
            r.date_added.timestamp_micros(),
            r.id.clone(),
            r.version.clone(),
        ));
    }
    assert_eq!(seen.len(), 4);
    let mut typed = q(vec![StixVersion::All]);
    typed.types = vec!["attack-pattern".into()];
    typed.added_after = Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
    assert_eq!(s.stix_page(&typed).await.unwrap().len(), 1);
    typed.added_after = Some(Utc.timestamp_opt(1_700_000_001, 0).unwrap());
    assert!(s.stix_page(&typed).await.unwrap().is_empty());
    // Pruning keeps the newest versions of an object.
    s.stix_put(&[stix(a, "2026-01-04T00:00:00.000Z", 4)], 2)
        .await
        .unwrap();
    let kept = s.stix_page(&q(vec![StixVersion::All])).await.unwrap();
    let versions: Vec<&str> = kept
        .iter()
        .filter(|r| r.id == a)
        .map(|r| r.version.as_str())
        .collect();
    assert_eq!(
        versions,
        ["2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = decnet_store::open(&format!("sqlite://{}/a.db", dir.path().display()))
        .await
        .unwrap();
    tags_roundtrip(&s).await;
    tags_in_bulk(&s).await;
    stix_paging(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_on_postgres() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let s = decnet_store::open(&pg.fresh_database().await)
        .await
        .unwrap();
    tags_roundtrip(&s).await;
    tags_in_bulk(&s).await;
    stix_paging(&s).await;
}
