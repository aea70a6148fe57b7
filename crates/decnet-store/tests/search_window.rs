//! A `search` reads at most the newest `SEARCH_WINDOW` events that match
//! the other filters on PostgreSQL (and on SQLite for terms its index
//! cannot answer): a word older than that is not found and the page says
//! its total is not exact; within it, found. On SQLite the trigram index
//! answers the rest over every indexed event, and only the events not
//! indexed yet are read by the window.
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

async fn index_everything(store: &dyn decnet_store::Store) {
    let mut steps = 0;
    loop {
        let s = store.index_search(20_000).await.unwrap();
        steps += 1;
        if s.behind == 0 {
            break;
        }
        assert!(steps < 100, "the index catches up");
    }
}

async fn raw(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn sqlite_search_reads_the_index_and_scans_only_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let store = decnet_store::open(&url).await.unwrap();
    let n = SEARCH_WINDOW + 50;
    fill(&url, n).await;

    // Nothing indexed yet: the newest SEARCH_WINDOW rows are scanned.
    let p = store.query_logs_json(&search("needle-new")).await.unwrap();
    assert_eq!(p.total, 1);
    assert!(!p.total_exact, "older rows were not searched");
    let old = store.query_logs_json(&search("needle-old")).await.unwrap();
    assert_eq!((old.total, old.total_exact), (0, false));

    // Indexed: every event is searched, the oldest too, and the totals are exact.
    index_everything(&*store).await;
    let old = store.query_logs_json(&search("needle-old")).await.unwrap();
    assert_eq!((old.total, old.total_exact), (1, true), "{}", old.data);
    assert!(old.data.contains("NEEDLE-old"), "case is ignored");
    let p = store.query_logs_json(&search("needle-new")).await.unwrap();
    assert_eq!((p.total, p.total_exact), (1, true));
    let odd_old = LogQuery {
        decky: Some("odd".into()),
        ..search("needle-old")
    };
    assert_eq!(store.query_logs_json(&odd_old).await.unwrap().total, 0);
    let until_early = LogQuery {
        until: Some(chrono::DateTime::from_timestamp_micros(10).unwrap()),
        ..search("needle")
    };
    let p = store.query_logs_json(&until_early).await.unwrap();
    assert_eq!((p.total, p.total_exact), (1, true));
    let h = store.histogram(&search("needle"), 3600).await.unwrap();
    assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 2);
    // A word every row has: the page is the newest rows, and the total
    // says the index found more than the window.
    let every = store.query_logs_json(&search("row")).await.unwrap();
    assert!(every.data.contains(&format!("\"row\":{}", n - 1)));
    assert!(!every.total_exact);
    // Short terms are not the index's: the window.
    let short = store.query_logs_json(&search("ne")).await.unwrap();
    assert!(!short.total_exact);

    // Stored after the index's step: found by the scan of the rows above its mark.
    raw(&format!("{url}?mode=rw"), "INSERT INTO events (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields) \
         VALUES ('late', 99999999, 'odd', 'ssh', 'command', '10.0.0.1', 1, '10.0.0.2', 22, NULL, '{\"cmd\":\"needle-late\"}')").await;
    let late = store.query_logs_json(&search("needle-late")).await.unwrap();
    assert_eq!((late.total, late.total_exact), (1, true));
    index_everything(&*store).await;
    assert_eq!(
        store
            .query_logs_json(&search("needle-late"))
            .await
            .unwrap()
            .total,
        1
    );
    // LIKE's wildcards and the index's quote are plain characters of a
    // search: `%_` finds the row that has them, not every "1…0" row.
    raw(&format!("{url}?mode=rw"), "INSERT INTO events (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields) \
         VALUES ('sale', 99999998, 'odd', 'ssh', 'command', '10.0.0.1', 1, '10.0.0.2', 22, NULL, '{\"cmd\":\"get /50%_off\"}')").await;
    for indexed in [false, true] {
        if indexed {
            index_everything(&*store).await;
        }
        let sale = store.query_logs_json(&search("0%_o")).await.unwrap();
        assert_eq!(
            (sale.total, sale.total_exact),
            (1, true),
            "indexed {indexed}: {}",
            sale.data
        );
        let quoted = store.query_logs_json(&search("a\"b OR x")).await.unwrap();
        assert_eq!((quoted.total, quoted.total_exact), (0, true));
    }

    // Retention takes rows out of the index with them; once every row is
    // gone, new rows reuse old seqs and must be indexed afresh.
    assert_eq!(store.prune_events(None, Some(0)).await.unwrap(), n + 2);
    assert_eq!(
        store
            .query_logs_json(&search("needle"))
            .await
            .unwrap()
            .total,
        0
    );
    raw(&format!("{url}?mode=rw"), "INSERT INTO events (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields) \
         VALUES ('again', 5, 'odd', 'ssh', 'command', '10.0.0.1', 1, '10.0.0.2', 22, NULL, '{\"cmd\":\"needle-again\"}')").await;
    index_everything(&*store).await;
    let again = store.query_logs_json(&search("needle")).await.unwrap();
    assert_eq!(
        (again.total, again.total_exact),
        (1, true),
        "{}",
        again.data
    );
    assert!(again.data.contains("needle-again"));
    // The index agrees with the table it indexes.
    raw(
        &format!("{url}?mode=rw"),
        "INSERT INTO events_fts (events_fts, rank) VALUES ('integrity-check', 1)",
    )
    .await;
}

#[tokio::test]
async fn postgres_search_window() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    search_reads_a_bounded_window(&pg.fresh_database().await).await;
}

/// The ingester keeps the index caught up by itself, behind ingest.
#[tokio::test]
async fn sqlite_ingester_indexes_what_it_stored() {
    use decnet_bus::{Bus, Delivery, MemoryBus};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let store = decnet_store::open(&url).await.unwrap();
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let ingest = decnet_store::ingest::Ingester::start(store.clone(), sub, Default::default());
    for i in 0..3_000 {
        bus.publish_event(decnet_store::testing::synthetic_event(i));
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("{url}?mode=ro"))
        .await
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        let (upto,): (i64,) = sqlx::query_as("SELECT upto FROM events_fts_progress WHERE id = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        if upto == 3_000 {
            break;
        }
        assert!(t.elapsed().as_secs() < 20, "indexed {upto} of 3000");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (indexed,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM events_fts WHERE fields LIKE '%pw99%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(indexed > 0);
    assert_eq!(ingest.finish().await.unwrap().committed, 3_000);
}
