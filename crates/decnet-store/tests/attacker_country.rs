//! Attackers' country on SQLite and PostgreSQL: the key (ISO code or
//! `private`) written with each located row, the country filter, the
//! per-country counts, and rows never located left out of both.
#![allow(clippy::unwrap_used)]

use decnet_store::testing::PgCluster;
use decnet_store::{AttackerQuery, AttackerRow, CountryCount, Geo, IntelBatch};

fn located(ip: &str, geo: Option<Geo>) -> (AttackerRow, serde_json::Value) {
    let mut row = AttackerRow::new(ip, chrono::Utc::now());
    row.geo = geo;
    (row, serde_json::json!({}))
}

fn country(code: &str) -> Option<Geo> {
    Some(Geo {
        country: Some(code.into()),
        asn: Some(64500),
        ..Default::default()
    })
}

async fn in_country(s: &dyn decnet_store::Store, code: &str) -> decnet_store::Page<AttackerRow> {
    s.list_attackers(&AttackerQuery {
        country: Some(code.into()),
        limit: 10,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn countries_written_filtered_and_counted(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let private = Some(Geo {
        private: true,
        ..Default::default()
    });
    s.intel_apply(&IntelBatch {
        attackers: vec![
            located("198.51.100.1", country("DE")),
            located("198.51.100.2", country("DE")),
            located("198.51.100.3", country("BR")),
            located("10.0.0.4", private),
            // Looked up, not in the databases: no key.
            located("198.51.100.5", Some(Geo::default())),
            // Never looked up (no databases configured).
            located("198.51.100.6", None),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.attacker_countries().await.unwrap(),
        [
            CountryCount {
                country: "DE".into(),
                attackers: 2
            },
            CountryCount {
                country: "BR".into(),
                attackers: 1
            },
            CountryCount {
                country: "private".into(),
                attackers: 1
            },
        ]
    );
    let de = in_country(s.as_ref(), "DE").await;
    assert_eq!(de.total, 2);
    assert!(de
        .data
        .iter()
        .all(|a| a.geo.as_ref().unwrap().country.as_deref() == Some("DE")));
    // The row keeps everything the databases said.
    assert_eq!(de.data[0].geo.as_ref().unwrap().asn, Some(64500));
    // A row moving again keeps its key.
    let (mut again, st) = located("198.51.100.3", country("BR"));
    again.event_count = 9;
    s.intel_apply(&IntelBatch {
        attackers: vec![(again, st)],
        ..Default::default()
    })
    .await
    .unwrap();
    let br = in_country(s.as_ref(), "BR").await;
    assert_eq!((br.total, br.data[0].event_count), (1, 9));
}

#[tokio::test]
async fn sqlite_attacker_country() {
    let dir = tempfile::tempdir().unwrap();
    countries_written_filtered_and_counted(&format!("sqlite://{}/a.db", dir.path().display()))
        .await;
}

#[tokio::test]
async fn postgres_attacker_country() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    countries_written_filtered_and_counted(&pg.fresh_database().await).await;
}
