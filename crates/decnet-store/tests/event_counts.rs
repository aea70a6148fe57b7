//! The per-value counters (`event_counts`) and the event total always
//! equal what a `GROUP BY` over the stored events says, whichever way a
//! batch was stored: whole (SQLite counts it from the events, PostgreSQL
//! copies it), partly a replay (SQLite counts the new rows back from the
//! table, PostgreSQL inserts with `ON CONFLICT`), or wholly a replay.
#![allow(clippy::unwrap_used)]

use decnet_store::testing::{synthetic_event, PgCluster};

async fn counters_agree(url: &str) {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let kept: Vec<(String,)> = sqlx::query_as(
        "SELECT dim || '=' || val || ':' || n FROM event_counts WHERE n > 0 ORDER BY dim, val",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let counted: Vec<(String,)> = sqlx::query_as(
        "SELECT d || '=' || v || ':' || COUNT(*) FROM ( \
           SELECT 'decky' AS d, decky AS v FROM events UNION ALL SELECT 'kind', kind FROM events \
           UNION ALL SELECT 'service', service FROM events UNION ALL SELECT 'src_ip', src_ip FROM events) AS x \
         GROUP BY d, v ORDER BY d, v",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept, counted, "{url}");
    let (total, rows): (i64, i64) =
        sqlx::query_as("SELECT (SELECT n FROM event_total), (SELECT COUNT(*) FROM events)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(total, rows);
    pool.close().await;
}

async fn batches_of_every_kind(url: &str) {
    sqlx::any::install_default_drivers();
    let store = decnet_store::open(url).await.unwrap();
    let events: Vec<_> = (0..3000).map(synthetic_event).collect();
    assert_eq!(store.insert_events(&events[..1000]).await.unwrap(), 1000);
    counters_agree(url).await;
    // Half replayed, half new.
    assert_eq!(store.insert_events(&events[500..2000]).await.unwrap(), 1000);
    counters_agree(url).await;
    // Wholly replayed.
    assert_eq!(store.insert_events(&events[..2000]).await.unwrap(), 0);
    counters_agree(url).await;
    // The same event twice in one batch: stored once.
    let twice = vec![events[2000].clone(), events[2000].clone()];
    assert_eq!(store.insert_events(&twice).await.unwrap(), 1);
    counters_agree(url).await;
    assert_eq!(store.insert_events(&events[2001..]).await.unwrap(), 999);
    counters_agree(url).await;
    assert_eq!(store.count_events().await.unwrap(), 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_counters_follow_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    batches_of_every_kind(&format!("sqlite://{}/c.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_counters_follow_every_batch() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    batches_of_every_kind(&pg.fresh_database().await).await;
}
