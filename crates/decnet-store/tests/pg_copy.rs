//! PostgreSQL stores event batches by `COPY`; a batch holding an event
//! already stored goes through `INSERT … ON CONFLICT DO NOTHING` instead.
//! Both must store exactly the same rows and move the same counters.
#![allow(clippy::unwrap_used)]

use decnet_core::{Event, EventKind};
use decnet_store::testing::PgCluster;

/// Events whose text holds what `COPY`'s text format treats as syntax
/// (tab, newline, carriage return, backslash, `\N`), non-ASCII text,
/// IPv6 addresses and no session.
fn awkward_events() -> Vec<Event> {
    let mut out = Vec::new();
    for (i, text) in [
        "tab\there",
        "line\nbreak\r",
        "back\\slash \\N",
        "ünï 🐝",
        "",
    ]
    .iter()
    .enumerate()
    {
        let mut e = Event::new(format!("decky{text}"), "ssh", EventKind::Command)
            .with("command", *text)
            .with("n", i as u64);
        if i % 2 == 0 {
            e.session_id = None;
            e.src_ip = "2001:db8::7".parse().unwrap();
        }
        e.src_port = 40000 + i as u16;
        out.push(e);
    }
    out.extend((0..200).map(decnet_store::testing::synthetic_event));
    out
}

/// Every stored column of the events table, in id order, as text.
async fn rows(url: &str, except_id: Option<&str>) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id || '|' || ts || '|' || decky || '|' || service || '|' || kind || '|' || src_ip || '|' \
         || src_port || '|' || dst_ip || '|' || dst_port || '|' || COALESCE(session_id, '<none>') || '|' || fields \
         FROM events WHERE id <> $1 ORDER BY id",
    )
    .bind(except_id.unwrap_or(""))
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter().map(|r| r.0).collect()
}

/// The counters (`event_counts`, `event_total`) as text.
async fn counters(url: &str) -> Vec<String> {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut rows: Vec<(String,)> = sqlx::query_as(
        "SELECT dim || '=' || val || ':' || n FROM event_counts WHERE n > 0 \
         UNION ALL SELECT 'total:' || n FROM event_total",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.sort();
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_stores_what_insert_stores() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let events = awkward_events();
    // By COPY: a fresh database, nothing stored yet.
    let copied = pg.fresh_database().await;
    let store = decnet_store::open(&copied).await.unwrap();
    assert_eq!(
        store.insert_events(&events).await.unwrap(),
        events.len() as u64
    );
    // A replay of the same batch stores nothing and moves no counter.
    let before = counters(&copied).await;
    assert_eq!(store.insert_events(&events).await.unwrap(), 0);
    assert_eq!(counters(&copied).await, before);

    // By INSERT: one event of the batch was stored first, so COPY fails on
    // it and the batch goes through INSERT … ON CONFLICT.
    let inserted = pg.fresh_database().await;
    let other = decnet_store::open(&inserted).await.unwrap();
    assert_eq!(other.insert_events(&events[..1]).await.unwrap(), 1);
    assert_eq!(
        other.insert_events(&events).await.unwrap(),
        events.len() as u64 - 1
    );

    let by_copy = rows(&copied, None).await;
    assert_eq!(by_copy.len(), events.len());
    assert_eq!(by_copy, rows(&inserted, None).await);
    assert_eq!(counters(&copied).await, counters(&inserted).await);
    assert!(
        by_copy.iter().any(|r| r.contains("tab\\there")),
        "fields JSON kept its escapes"
    );
    for decky in [
        "|deckyline\nbreak\r|",
        "|deckyback\\slash \\N|",
        "|deckytab\there|",
    ] {
        assert!(by_copy.iter().any(|r| r.contains(decky)), "{decky:?} kept");
    }
    assert_eq!(store.count_events().await.unwrap(), events.len() as u64);
}
