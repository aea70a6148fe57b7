//! Attacker enrichment on SQLite and PostgreSQL: answers stored per
//! (address, provider), replaced on re-fetch, shown inside the attacker row
//! with their `fetched_at`, and the AbuseIPDB score filter.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use decnet_store::testing::PgCluster;
use decnet_store::{AttackerQuery, AttackerRow, EnrichmentRow, IntelBatch};
use serde_json::json;

fn answer(ip: &str, provider: &str, score: Option<i64>, data: serde_json::Value) -> EnrichmentRow {
    EnrichmentRow {
        ip: ip.into(),
        provider: provider.into(),
        fetched_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
        score,
        data,
    }
}

async fn answers_stored_shown_and_filtered(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let rows = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .map(|ip| (AttackerRow::new(ip, Utc::now()), json!({})))
        .collect();
    s.intel_apply(&IntelBatch {
        attackers: rows,
        ..Default::default()
    })
    .await
    .unwrap();
    s.enrichment_put(&answer(
        "203.0.113.1",
        "abuseipdb",
        Some(12),
        json!({"abuseConfidenceScore": 12}),
    ))
    .await
    .unwrap();
    s.enrichment_put(&answer(
        "203.0.113.2",
        "abuseipdb",
        Some(90),
        json!({"abuseConfidenceScore": 90}),
    ))
    .await
    .unwrap();
    s.enrichment_put(&answer(
        "203.0.113.1",
        "greynoise",
        None,
        json!({"classification": "malicious"}),
    ))
    .await
    .unwrap();
    // A re-fetch replaces the answer.
    let mut newer = answer(
        "203.0.113.1",
        "abuseipdb",
        Some(75),
        json!({"abuseConfidenceScore": 75}),
    );
    newer.fetched_at = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
    s.enrichment_put(&newer).await.unwrap();

    let one = s.get_attacker("203.0.113.1").await.unwrap().unwrap();
    assert_eq!(one.enrichment["abuseipdb"]["abuseConfidenceScore"], 75);
    assert_eq!(
        one.enrichment["abuseipdb"]["fetched_at"],
        "2026-12-02T10:00:00+00:00"
    );
    assert_eq!(one.enrichment["greynoise"]["classification"], "malicious");
    let by_uuid = s.get_attacker_by_uuid(one.uuid).await.unwrap().unwrap();
    assert_eq!(by_uuid.enrichment, one.enrichment);
    // Not looked up: no enrichment key at all.
    let three = s.get_attacker("203.0.113.3").await.unwrap().unwrap();
    assert!(three.enrichment.is_empty());
    assert!(serde_json::to_value(&three)
        .unwrap()
        .get("enrichment")
        .is_none());

    let scored = |min| AttackerQuery {
        min_score: Some(min),
        limit: 10,
        ..Default::default()
    };
    let high = s.list_attackers(&scored(70)).await.unwrap();
    let mut ips: Vec<&str> = high.data.iter().map(|a| a.ip.as_str()).collect();
    ips.sort();
    assert_eq!((high.total, ips), (2, vec!["203.0.113.1", "203.0.113.2"]));
    assert!(high
        .data
        .iter()
        .all(|a| a.enrichment.contains_key("abuseipdb")));
    let top = s.list_attackers(&scored(80)).await.unwrap();
    assert_eq!(top.total, 1);
    assert_eq!(top.data[0].ip, "203.0.113.2");
    let all = s
        .list_attackers(&AttackerQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 3);
    // The store never keeps enrichment inside the attacker's own row.
    let again = s.intel_load().await.unwrap();
    assert!(again.attackers.iter().all(|(a, _)| a.enrichment.is_empty()));
}

#[tokio::test]
async fn sqlite_enrichment() {
    let dir = tempfile::tempdir().unwrap();
    answers_stored_shown_and_filtered(&format!("sqlite://{}/a.db", dir.path().display())).await;
}

#[tokio::test]
async fn postgres_enrichment() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    answers_stored_shown_and_filtered(&pg.fresh_database().await).await;
}
