//! A `search` reads at most the newest `SEARCH_WINDOW` events that match
//! the other filters, on SQLite and PostgreSQL: a word older than that is
//! not found and the page says its total is not exact; within it, found.
#![allow(clippy::unwrap_used)]

use decnet_store::testing::PgCluster;
use decnet_store::{LogQuery, SEARCH_WINDOW};

/// Fills `events` with `n` rows in one statement (the ingest path would
/// take minutes for this many in a debug build): row `i` at `ts = i` µs,
/// decky `even`/`odd` by parity, its fields naming it; row 0 also carries
/// `NEEDLE-old` (upper case: the search ignores case), row `n - 1`
/// `needle-new`. Ids are not UUIDs, so pages are read as JSON only.
async fn fill(url: &str, n: u64) {
    let sqlite = url.starts_with("sqlite");
    let series = if sqlite {
        format!(
            "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {}) SELECT i FROM seq",
            n - 1
        )
    } else {
        format!("SELECT i FROM generate_series(0, {}) AS g(i)", n - 1)
    };
    let text = "CAST(i AS TEXT)";
    let sql = format!(
        "INSERT INTO events (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields) \
         SELECT 'e' || {text}, i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, 'ssh', 'command', '10.0.0.1', 1, '10.0.0.2', 22, NULL, \
         '{{\"row\":' || {text} || CASE WHEN i = 0 THEN ',\"cmd\":\"NEEDLE-old\"' WHEN i = {last} THEN ',\"cmd\":\"needle-new\"' ELSE '' END || '}}' \
         FROM ({series}) AS s",
        last = n - 1
    );
    let raw = if sqlite {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&raw).await.unwrap();
    sqlx::query(&sql).execute(&pool).await.unwrap();
    pool.close().await;
}

fn search(word: &str) -> LogQuery {
    LogQuery {
        search: Some(word.into()),
        limit: 10,
        ..Default::default()
    }
}

async fn search_reads_a_bounded_window(url: &str) {
    let store = decnet_store::open(url).await.unwrap();
    let n = SEARCH_WINDOW + 50;
    fill(url, n).await;

    // Newest event: found, but the window is full (older events went
    // unsearched), so the total is not exact.
    let p = store.query_logs_json(&search("needle-new")).await.unwrap();
    assert_eq!(p.total, 1);
    assert!(p.data.contains("needle-new"), "{}", p.data);
    assert!(!p.total_exact);

    // The oldest event lies outside the window: not read, not found.
    let old = store.query_logs_json(&search("needle-old")).await.unwrap();
    assert_eq!((old.total, old.data.as_str()), (0, "[]"));
    assert!(!old.total_exact);

    // The window counts the events matching the other filters: there are
    // fewer `even` rows than the window, so all of them, row 0 included,
    // are searched, and the total is exact.
    let even_old = LogQuery {
        decky: Some("even".into()),
        ..search("needle-old")
    };
    let p = store.query_logs_json(&even_old).await.unwrap();
    assert_eq!(p.total, 1);
    assert!(p.data.contains("NEEDLE-old"), "{}", p.data);
    assert!(p.total_exact);

    // A time range moves the window: before ts 10 µs there are ten rows.
    let until_early = LogQuery {
        until: Some(chrono::DateTime::from_timestamp_micros(10).unwrap()),
        ..search("needle-old")
    };
    assert_eq!(store.query_logs_json(&until_early).await.unwrap().total, 1);

    // The histogram of a search reads the same window.
    let h = store.histogram(&search("needle-old"), 3600).await.unwrap();
    assert!(h.is_empty(), "{h:?}");
    let h = store.histogram(&search("needle-new"), 3600).await.unwrap();
    assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 1);
}

#[tokio::test]
async fn sqlite_search_window() {
    let dir = tempfile::tempdir().unwrap();
    search_reads_a_bounded_window(&format!("sqlite://{}/s.db", dir.path().display())).await;
}

#[tokio::test]
async fn postgres_search_window() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    search_reads_a_bounded_window(&pg.fresh_database().await).await;
}
