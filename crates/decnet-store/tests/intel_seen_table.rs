//! SQLite keeps intel's consumed-event ledger in one B-tree (`WITHOUT
//! ROWID`, migration 13): the ids recorded before the migration survive
//! it, and the ledger still answers which ids intel has not consumed.
#![allow(clippy::unwrap_used)]

use decnet_store::{Backend, IntelBatch};
use uuid::Uuid;

#[tokio::test]
async fn sqlite_intel_seen_is_one_btree_and_keeps_its_ids_across_the_migration() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/seen.db", dir.path().display());
    let before = Uuid::new_v4();
    let pool = sqlx::AnyPool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    decnet_store::migrations::run_until(&pool, Backend::Sqlite, 12)
        .await
        .unwrap();
    sqlx::query("INSERT INTO intel_seen (id, ts) VALUES ($1, 5)")
        .bind(before.to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let store = decnet_store::open(&url).await.unwrap();
    let after = Uuid::new_v4();
    store
        .intel_apply(&IntelBatch {
            seen: vec![(after, chrono::Utc::now())],
            ..Default::default()
        })
        .await
        .unwrap();
    let never = Uuid::new_v4();
    let unseen = store.intel_unseen(&[before, after, never]).await.unwrap();
    assert_eq!(unseen, vec![never]);

    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let (sql,): (String,) = sqlx::query_as(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'intel_seen'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(sql.contains("WITHOUT ROWID"), "{sql}");
    // No separate index for the key: the table's B-tree is the only one.
    let (indexes,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'intel_seen'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(indexes, 0);
    pool.close().await;
}
