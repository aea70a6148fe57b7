//! Attackers' stable uuid on SQLite and PostgreSQL: written with every
//! row, looked up by the uuid column, and filled in for rows stored before
//! the column existed.
#![allow(clippy::unwrap_used)]

use decnet_store::testing::PgCluster;
use decnet_store::{attacker_uuid, AttackerQuery, AttackerRow, Backend, IntelBatch};

async fn uuid_written_found_and_backfilled(url: &str) {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite");
    let backend = if sqlite {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    let raw_url = if sqlite {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    // A row as intel stored it before attackers had a uuid.
    let pool = sqlx::AnyPool::connect(&raw_url).await.unwrap();
    decnet_store::migrations::run_until(&pool, backend, 6)
        .await
        .unwrap();
    let old = AttackerRow {
        ip: "192.0.2.7".into(),
        ..Default::default()
    };
    let mut data = serde_json::to_value(&old).unwrap();
    data.as_object_mut().unwrap().remove("uuid");
    sqlx::query(
        "INSERT INTO attackers (ip, first_seen, last_seen, event_count, behavior, identity_id, data, state) \
         VALUES ('192.0.2.7', 0, 0, 1, 'unknown', NULL, $1, '{}')",
    )
    .bind(data.to_string())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let s = decnet_store::open(url).await.unwrap();
    let old_id = attacker_uuid("192.0.2.7");
    // Read before any backfill: the id is computed from the address.
    assert_eq!(
        s.get_attacker("192.0.2.7").await.unwrap().unwrap().uuid,
        old_id
    );
    assert!(s.get_attacker_by_uuid(old_id).await.unwrap().is_none());
    // Intel loading its state fills the column in.
    let snap = s.intel_load().await.unwrap();
    assert_eq!(snap.attackers[0].0.uuid, old_id);
    let found = s.get_attacker_by_uuid(old_id).await.unwrap().unwrap();
    assert_eq!(found.ip, "192.0.2.7");

    // A new row is written with its uuid, the same in list and lookup.
    let new = AttackerRow::new("2001:db8::5", chrono::Utc::now());
    assert_eq!(new.uuid, attacker_uuid("2001:db8::5"));
    s.intel_apply(&IntelBatch {
        attackers: vec![(new.clone(), serde_json::json!({}))],
        ..Default::default()
    })
    .await
    .unwrap();
    let by_uuid = s.get_attacker_by_uuid(new.uuid).await.unwrap().unwrap();
    assert_eq!(by_uuid.ip, "2001:db8::5");
    let page = s
        .list_attackers(&AttackerQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<_> = page.data.iter().map(|a| a.uuid).collect();
    ids.sort();
    let mut want = vec![old_id, new.uuid];
    want.sort();
    assert_eq!(ids, want);
    assert_ne!(old_id, new.uuid);
}

#[tokio::test]
async fn sqlite_attacker_uuid() {
    let dir = tempfile::tempdir().unwrap();
    uuid_written_found_and_backfilled(&format!("sqlite://{}/a.db", dir.path().display())).await;
}

#[tokio::test]
async fn postgres_attacker_uuid() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    uuid_written_found_and_backfilled(&pg.fresh_database().await).await;
}
