//! The store test suite, run against every backend (see `tests/store.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::{Event, EventKind};
use decnet_store::ingest::{IngestConfig, Ingester, Retention};
use decnet_store::{LogQuery, Role, StoreError, User};
use uuid::Uuid;

/// A deterministic event at `t0 + secs`.
pub fn ev(secs: i64, decky: &str, service: &str, kind: EventKind, ip: &str) -> Event {
    let mut e = Event::new(decky, service, kind);
    e.ts = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs);
    e.src_ip = ip.parse().unwrap();
    e.src_port = 40000 + (secs % 1000) as u16;
    e.dst_ip = "127.0.64.10".parse().unwrap();
    e.dst_port = 22;
    e
}

fn q(limit: u32) -> LogQuery {
    LogQuery {
        limit,
        ..Default::default()
    }
}

/// Runs every case with a fresh database URL from `mk`.
pub async fn run_all<F, Fut>(name: &str, mk: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = String>,
{
    macro_rules! case {
        ($f:ident) => {{
            let url = mk().await;
            eprintln!("[{name}] {}", stringify!($f));
            $f(&url).await;
        }};
    }
    case!(events_roundtrip_and_idempotent_insert);
    case!(log_filters_and_pagination);
    case!(histogram_and_stats);
    case!(users_and_conflicts);
    case!(tokens_and_settings);
    case!(retention_prunes_by_age_and_rows);
    case!(unfiltered_total_counter_follows_inserts_and_prunes);
    case!(filter_counters_equal_count_star_through_inserts_and_prunes);
    case!(combined_filters_count_up_to_a_cap);
    case!(counters_backfilled_for_events_stored_before_the_migration);
    case!(page_json_is_exactly_what_event_serialises_to);
    case!(ingester_is_lossless_and_idempotent);
    case!(ingester_flushes_partial_batch_on_finish);
    case!(reopen_keeps_data_and_skips_applied_migrations);
}

async fn events_roundtrip_and_idempotent_insert(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    s.ping().await.unwrap();
    let mut a = ev(1, "web01", "ssh", EventKind::AuthAttempt, "127.1.0.1")
        .with("username", "root")
        .with("password", "p\u{e4}ss\"'\\")
        .with("n", 5);
    a.session_id = Some(Uuid::now_v7());
    a.src_ip = "::1".parse().unwrap();
    let b = ev(2, "web01", "http", EventKind::Request, "127.1.0.2").with("path", "/x");
    assert_eq!(s.insert_events(&[a.clone(), b.clone()]).await.unwrap(), 2);
    assert_eq!(
        s.insert_events(&[b.clone(), a.clone()]).await.unwrap(),
        0,
        "replay must insert nothing"
    );
    assert_eq!(s.insert_events(&[]).await.unwrap(), 0);
    let page = s.query_logs(&q(10)).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.data, vec![b, a], "newest first, every field intact");
    assert_eq!(s.count_events().await.unwrap(), 2);
    // Larger than one INSERT chunk, with duplicates inside the same batch.
    let many: Vec<Event> = (0..1200)
        .map(|i| ev(10 + i, "d", "s", EventKind::Scan, "127.1.0.3"))
        .collect();
    let mut with_dups = many.clone();
    with_dups.extend_from_slice(&many[..300]);
    assert_eq!(s.insert_events(&with_dups).await.unwrap(), 1200);
    assert_eq!(s.count_events().await.unwrap(), 1202);
}

async fn log_filters_and_pagination(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let sess = Uuid::now_v7();
    let mut evs = Vec::new();
    for i in 0..30 {
        let decky = if i % 2 == 0 { "web01" } else { "db01" };
        let service = if i % 3 == 0 { "ssh" } else { "http" };
        let kind = if i % 5 == 0 {
            EventKind::AuthAttempt
        } else {
            EventKind::Request
        };
        let ip = format!("127.2.0.{}", i % 4);
        let mut e = ev(i, decky, service, kind, &ip).with("path", format!("/p{i}"));
        if i < 3 {
            e.session_id = Some(sess);
        }
        evs.push(e);
    }
    evs.push(ev(100, "web01", "http", EventKind::Request, "127.2.0.9").with("path", "/100%_Done"));
    s.insert_events(&evs).await.unwrap();
    let total = |lq: LogQuery| {
        let s = s.clone();
        async move { s.query_logs(&lq).await.unwrap().total }
    };
    assert_eq!(
        total(LogQuery {
            decky: Some("web01".into()),
            ..q(5)
        })
        .await,
        16
    );
    assert_eq!(
        total(LogQuery {
            service: Some("ssh".into()),
            ..q(5)
        })
        .await,
        10
    );
    assert_eq!(
        total(LogQuery {
            kind: Some("auth_attempt".into()),
            ..q(5)
        })
        .await,
        6
    );
    assert_eq!(
        total(LogQuery {
            src_ip: Some("127.2.0.1".into()),
            ..q(5)
        })
        .await,
        8
    );
    assert_eq!(
        total(LogQuery {
            session_id: Some(sess),
            ..q(5)
        })
        .await,
        3
    );
    let t0 = evs[0].ts;
    assert_eq!(
        total(LogQuery {
            since: Some(t0 + chrono::Duration::seconds(10)),
            until: Some(t0 + chrono::Duration::seconds(20)),
            ..q(5)
        })
        .await,
        10
    );
    // Substring search is case-insensitive and treats % and _ literally.
    assert_eq!(
        total(LogQuery {
            search: Some("/P1".into()),
            ..q(5)
        })
        .await,
        11
    );
    assert_eq!(
        total(LogQuery {
            search: Some("100%_d".into()),
            ..q(5)
        })
        .await,
        1
    );
    assert_eq!(
        total(LogQuery {
            search: Some("%".into()),
            ..q(5)
        })
        .await,
        1
    );
    assert_eq!(
        total(LogQuery {
            search: Some("'; DROP TABLE events; --".into()),
            ..q(5)
        })
        .await,
        0
    );
    // Pagination walks every row exactly once, newest first.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let p = s.query_logs(&LogQuery { offset, ..q(7) }).await.unwrap();
        assert_eq!(p.total, 31);
        assert_eq!(p.limit, 7);
        if p.data.is_empty() {
            break;
        }
        offset += p.data.len() as u64;
        seen.extend(p.data.into_iter().map(|e| e.ts));
    }
    assert_eq!(seen.len(), 31);
    assert!(seen.windows(2).all(|w| w[0] >= w[1]));
}

async fn histogram_and_stats(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let mut evs: Vec<Event> = (0..25)
        .map(|i| ev(i * 10, "web01", "ssh", EventKind::AuthAttempt, "127.3.0.1"))
        .collect();
    evs.push(ev(5, "db01", "mysql", EventKind::Connect, "127.3.0.2"));
    let mut recent = ev(0, "db01", "mysql", EventKind::Connect, "127.3.0.3");
    recent.ts = Utc::now();
    evs.push(recent);
    s.insert_events(&evs).await.unwrap();
    let h = s
        .histogram(
            &LogQuery {
                decky: Some("web01".into()),
                ..q(0)
            },
            60,
        )
        .await
        .unwrap();
    assert_eq!(
        h.iter().map(|b| b.count).collect::<Vec<_>>(),
        vec![6, 6, 6, 6, 1]
    );
    assert_eq!(h[1].ts - h[0].ts, chrono::Duration::seconds(60));
    assert_eq!(h[0].ts, evs[0].ts);
    let st = s.stats().await.unwrap();
    assert_eq!(st.total_events, 27);
    assert_eq!(st.unique_attackers, 3);
    assert_eq!(st.auth_attempts, 25);
    assert_eq!(st.active_deckies, 2);
    assert_eq!(st.events_last_hour, 1);
}

fn user(name: &str) -> User {
    let now = Utc::now();
    let now = chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap();
    User {
        uuid: Uuid::new_v4(),
        username: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$abc$def".into(),
        role: Role::Admin,
        must_change_password: true,
        password_changed_at: now,
        created_at: now,
    }
}

async fn users_and_conflicts(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let mut a = user("admin");
    let b = User {
        role: Role::Viewer,
        ..user("bob")
    };
    s.create_user(&a).await.unwrap();
    s.create_user(&b).await.unwrap();
    assert!(matches!(
        s.create_user(&user("admin")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.user_by_name("admin").await.unwrap(), Some(a.clone()));
    assert_eq!(s.user_by_id(b.uuid).await.unwrap(), Some(b.clone()));
    assert_eq!(s.user_by_name("nobody").await.unwrap(), None);
    assert_eq!(
        s.list_users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["admin", "bob"]
    );
    a.must_change_password = false;
    a.role = Role::Viewer;
    a.password_hash = "new".into();
    s.update_user(&a).await.unwrap();
    assert_eq!(s.user_by_id(a.uuid).await.unwrap(), Some(a.clone()));
    let renamed = User {
        username: "bob".into(),
        ..a.clone()
    };
    assert!(matches!(
        s.update_user(&renamed).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.update_user(&user("ghost")).await,
        Err(StoreError::NotFound(_))
    ));
    s.delete_user(b.uuid).await.unwrap();
    assert!(matches!(
        s.delete_user(b.uuid).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.list_users().await.unwrap().len(), 1);
}

async fn tokens_and_settings(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let live = Uuid::new_v4();
    let expired = Uuid::new_v4();
    s.revoke_token(expired, Utc::now() - chrono::Duration::minutes(1))
        .await
        .unwrap();
    s.revoke_token(live, Utc::now() + chrono::Duration::minutes(240))
        .await
        .unwrap();
    assert!(s.is_token_revoked(live).await.unwrap());
    assert!(!s.is_token_revoked(Uuid::new_v4()).await.unwrap());
    // Revocations past their expiry are purged (the token is dead anyway).
    assert!(!s.is_token_revoked(expired).await.unwrap());
    s.revoke_token(live, Utc::now() + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert!(s.is_token_revoked(live).await.unwrap());
    assert_eq!(s.get_setting("deployment_limit").await.unwrap(), None);
    s.put_setting("deployment_limit", &serde_json::json!({"limit": 10}))
        .await
        .unwrap();
    s.put_setting(
        "deployment_limit",
        &serde_json::json!({"limit": 20, "s": "é\"x"}),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_setting("deployment_limit").await.unwrap(),
        Some(serde_json::json!({"limit": 20, "s": "é\"x"}))
    );
}

async fn retention_prunes_by_age_and_rows(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let evs: Vec<Event> = (0..100)
        .map(|i| ev(i, "d", "s", EventKind::Scan, "127.4.0.1"))
        .collect();
    s.insert_events(&evs).await.unwrap();
    let cut = evs[20].ts;
    assert_eq!(s.prune_events(Some(cut), None).await.unwrap(), 20);
    assert_eq!(s.prune_events(None, Some(50)).await.unwrap(), 30);
    let left = s.query_logs(&q(100)).await.unwrap();
    assert_eq!(left.total, 50);
    assert_eq!(
        left.data.last().unwrap().ts,
        evs[50].ts,
        "the newest rows are kept"
    );
    assert_eq!(s.prune_events(None, Some(50)).await.unwrap(), 0);
    // The ingester's retention job runs on its own.
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let h = Ingester::start(
        s.clone(),
        sub,
        IngestConfig {
            retention: Some(Retention {
                max_age: None,
                max_rows: Some(10),
                interval: Duration::from_millis(20),
            }),
            ..Default::default()
        },
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.count_events().await.unwrap() > 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "retention job never pruned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = h.finish().await.unwrap();
    assert!(st.pruned >= 40, "{st:?}");
}

async fn ingester_is_lossless_and_idempotent(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let observed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let h = Ingester::start(
        s.clone(),
        sub,
        IngestConfig {
            batch_size: 64,
            batch_wait: Duration::from_millis(5),
            retention: None,
            observer: Some(decnet_store::ingest::CommitObserver(Arc::new({
                let seen = observed.clone();
                move |took| {
                    assert!(took < Duration::from_secs(60));
                    seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }))),
            ..Default::default()
        },
    );
    let monitor = h.monitor();
    assert_eq!(
        monitor.newest_committed_micros(),
        0,
        "nothing committed yet"
    );
    let evs: Vec<Event> = (0..5000)
        .map(|i| ev(i, "web01", "ssh", EventKind::Connect, "127.5.0.1"))
        .collect();
    // At-least-once delivery: every tenth event arrives twice.
    for (i, e) in evs.iter().enumerate() {
        bus.publish_event(e.clone());
        if i % 10 == 0 {
            bus.publish_event(e.clone());
        }
    }
    // Non-event messages on the same subscription are ignored.
    bus.publish(decnet_bus::Envelope::json(
        "events.x.y.z",
        "odd",
        serde_json::json!({}),
    ));
    let st = h.finish().await.unwrap();
    // `received` counts events; the non-event message is not one.
    assert_eq!(st.received, 5500);
    assert_eq!(st.committed, 5500);
    assert_eq!(st.inserted, 5000);
    assert!(st.batches >= 5500 / 64);
    // The commit observer saw every committed batch, and the monitor
    // knows the newest event stored.
    assert_eq!(
        observed.load(std::sync::atomic::Ordering::Relaxed),
        st.batches
    );
    let newest = evs.iter().map(|e| e.ts.timestamp_micros()).max().unwrap();
    assert_eq!(monitor.newest_committed_micros(), newest);
    assert_eq!(s.count_events().await.unwrap(), 5000);
    assert_eq!(bus.stats().dropped, 0);
}

async fn ingester_flushes_partial_batch_on_finish(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    // A long wait and a big batch: only finish() can flush these.
    let h = Ingester::start(
        s.clone(),
        sub,
        IngestConfig {
            batch_size: 10_000,
            batch_wait: Duration::from_secs(3600),
            retention: None,
            ..Default::default()
        },
    );
    for i in 0..37 {
        bus.publish_event(
            ev(i, "web01", "ssh", EventKind::Command, "127.5.0.2").with("command", "id"),
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        s.count_events().await.unwrap(),
        0,
        "the batch waits for size or time"
    );
    let mut acked = h.committed();
    let st = h.finish().await.unwrap();
    assert_eq!(st.committed, 37);
    assert_eq!(*acked.borrow_and_update(), 37);
    assert_eq!(s.count_events().await.unwrap(), 37);
    // And with a short wait, a lone event is committed without finish().
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let h = Ingester::start(
        s.clone(),
        sub,
        IngestConfig {
            batch_wait: Duration::from_millis(20),
            ..Default::default()
        },
    );
    bus.publish_event(ev(999, "web01", "ssh", EventKind::Command, "127.5.0.2"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.count_events().await.unwrap() < 38 {
        assert!(
            std::time::Instant::now() < deadline,
            "lone event never committed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.finish().await.unwrap();
}

async fn reopen_keeps_data_and_skips_applied_migrations(url: &str) {
    {
        let s = decnet_store::open(url).await.unwrap();
        s.insert_events(&[ev(1, "d", "s", EventKind::Scan, "127.6.0.1")])
            .await
            .unwrap();
        s.create_user(&user("keep")).await.unwrap();
    }
    let s = decnet_store::open(url).await.unwrap();
    assert_eq!(s.count_events().await.unwrap(), 1);
    assert!(s.user_by_name("keep").await.unwrap().is_some());
}

/// The unfiltered total comes from a counter row; it must equal `COUNT(*)`
/// (here: a filter matching every row) through duplicates and both prunes.
async fn unfiltered_total_counter_follows_inserts_and_prunes(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let counted = |s: std::sync::Arc<dyn decnet_store::Store>| async move {
        let all = LogQuery {
            kind: Some("scan".into()),
            limit: 1,
            ..Default::default()
        };
        (
            s.count_events().await.unwrap(),
            s.query_logs(&q(1)).await.unwrap().total,
            s.query_logs(&all).await.unwrap().total,
            s.stats().await.unwrap().total_events,
        )
    };
    let evs: Vec<Event> = (0..40)
        .map(|i| ev(i, "d", "s", EventKind::Scan, "127.4.0.2"))
        .collect();
    assert_eq!(s.insert_events(&evs[..30]).await.unwrap(), 30);
    assert_eq!(counted(s.clone()).await, (30, 30, 30, 30));
    // 20 already stored, 10 new: only the new ones count.
    assert_eq!(s.insert_events(&evs[10..40]).await.unwrap(), 10);
    assert_eq!(counted(s.clone()).await, (40, 40, 40, 40));
    s.prune_events(Some(evs[5].ts), None).await.unwrap();
    assert_eq!(counted(s.clone()).await, (35, 35, 35, 35));
    s.prune_events(None, Some(12)).await.unwrap();
    assert_eq!(counted(s.clone()).await, (12, 12, 12, 12));
}

/// Every single-column filter value the events below use, plus one absent.
const DIMS: [(&str, [&str; 4]); 4] = [
    ("decky", ["d0", "d1", "d2", "none"]),
    ("service", ["ssh", "http", "ftp", "none"]),
    ("kind", ["scan", "auth_attempt", "request", "none"]),
    (
        "src_ip",
        ["127.6.0.0", "127.6.0.1", "127.6.0.2", "127.6.0.3"],
    ),
];

fn filter_on(dim: &str, val: &str) -> LogQuery {
    let v = Some(val.to_owned());
    let mut lq = q(3);
    match dim {
        "decky" => lq.decky = v,
        "service" => lq.service = v,
        "kind" => lq.kind = v,
        _ => lq.src_ip = v,
    }
    lq
}

/// For every value of every counted column: the counter-answered total
/// equals a real `COUNT(*)` (the same filter plus a `since` no counter can
/// answer) and the count of matching events `alive` holds.
async fn assert_counters_exact(s: &Arc<dyn decnet_store::Store>, alive: &[Event], step: &str) {
    for (dim, vals) in DIMS {
        for val in vals {
            let fast = s.query_logs_json(&filter_on(dim, val)).await.unwrap();
            let counted = s
                .query_logs_json(&LogQuery {
                    since: Some(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()),
                    ..filter_on(dim, val)
                })
                .await
                .unwrap();
            let want = alive
                .iter()
                .filter(|e| match dim {
                    "decky" => e.decky == val,
                    "service" => e.service == val,
                    "kind" => e.kind.as_str() == val,
                    _ => e.src_ip.to_string() == val,
                })
                .count() as u64;
            assert!(
                fast.total_exact && counted.total_exact,
                "{step}: {dim}={val}"
            );
            assert_eq!(
                fast.total, counted.total,
                "{step}: {dim}={val} counter vs COUNT(*)"
            );
            assert_eq!(
                fast.total, want,
                "{step}: {dim}={val} counter vs events kept"
            );
            let page: Vec<Event> = serde_json::from_str(&fast.data).unwrap();
            assert_eq!(page.len() as u64, want.min(3), "{step}: {dim}={val} page");
        }
    }
}

fn mixed(i: i64) -> Event {
    let kinds = [EventKind::Scan, EventKind::AuthAttempt, EventKind::Request];
    // Co-prime strides so the columns vary independently.
    ev(
        i,
        ["d0", "d1", "d2"][(i % 3) as usize],
        ["ssh", "http", "ftp"][((i / 3) % 3) as usize],
        kinds[((i * 7) % 3) as usize],
        &format!("127.6.0.{}", (i * 5) % 4),
    )
    .with("n", i)
}

async fn filter_counters_equal_count_star_through_inserts_and_prunes(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let evs: Vec<Event> = (0..700).map(mixed).collect();
    assert_counters_exact(&s, &[], "empty").await;
    assert_eq!(s.insert_events(&evs[..400]).await.unwrap(), 400);
    assert_counters_exact(&s, &evs[..400], "first batch").await;
    // A replay overlapping stored rows, with duplicates inside the batch:
    // only the 300 new rows may move a counter.
    let mut replay: Vec<Event> = evs[200..700].to_vec();
    replay.extend_from_slice(&evs[650..700]);
    assert_eq!(s.insert_events(&replay).await.unwrap(), 300);
    assert_counters_exact(&s, &evs, "replay").await;
    // Through the batched ingester too (the path production uses).
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let ing = Ingester::start(
        s.clone(),
        sub,
        IngestConfig {
            batch_size: 64,
            batch_wait: Duration::from_millis(5),
            retention: None,
            ..Default::default()
        },
    );
    let more: Vec<Event> = (700..900).map(mixed).collect();
    for e in more.iter().chain(&evs[..50]) {
        bus.publish_event(e.clone());
    }
    ing.finish().await.unwrap();
    let all: Vec<Event> = evs.iter().chain(&more).cloned().collect();
    assert_counters_exact(&s, &all, "ingester").await;
    s.prune_events(Some(all[250].ts), None).await.unwrap();
    assert_counters_exact(&s, &all[250..], "pruned by age").await;
    s.prune_events(None, Some(333)).await.unwrap();
    assert_counters_exact(&s, &all[all.len() - 333..], "pruned by rows").await;
}

async fn combined_filters_count_up_to_a_cap(url: &str) {
    let s = decnet_store::open(url).await.unwrap();
    let over = decnet_store::COUNT_AHEAD as i64 + 120;
    let evs: Vec<Event> = (0..over)
        .map(|i| {
            let kind = if i % 2 == 0 {
                EventKind::Scan
            } else {
                EventKind::Request
            };
            ev(i, "big", "http", kind, "127.7.0.1")
        })
        .collect();
    s.insert_events(&evs).await.unwrap();
    let both = |kind: &str, limit: u32, offset: u64| LogQuery {
        decky: Some("big".into()),
        kind: Some(kind.into()),
        limit,
        offset,
        ..Default::default()
    };
    // Half the rows are scans: under the cap, counted exactly.
    let p = s.query_logs_json(&both("scan", 50, 0)).await.unwrap();
    assert_eq!((p.total, p.total_exact), ((over / 2) as u64, true));
    // Every row matches decky+service: counting stops at offset+limit+cap.
    let capped = LogQuery {
        decky: Some("big".into()),
        service: Some("http".into()),
        limit: 50,
        offset: 20,
        ..Default::default()
    };
    let p = s.query_logs_json(&capped).await.unwrap();
    assert_eq!(p.total, 20 + 50 + decnet_store::COUNT_AHEAD);
    assert!(!p.total_exact, "a capped total must say so");
    let page: Vec<Event> = serde_json::from_str(&p.data).unwrap();
    assert_eq!(page[0], evs[evs.len() - 21], "the page itself is exact");
    // Deep enough that the cap passes the end: exact again.
    let p = s
        .query_logs_json(&LogQuery {
            offset: 200,
            ..capped
        })
        .await
        .unwrap();
    assert_eq!((p.total, p.total_exact), (over as u64, true));
    // A single counted column on the same data is exact and uncapped.
    let p = s.query_logs_json(&filter_on("decky", "big")).await.unwrap();
    assert_eq!((p.total, p.total_exact), (over as u64, true));
}

async fn counters_backfilled_for_events_stored_before_the_migration(url: &str) {
    // Build the schema as it was before the counters (v4), store events
    // with plain SQL, then let `open` migrate: the counters must be
    // backfilled from the existing rows.
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite");
    let backend = if sqlite {
        decnet_store::Backend::Sqlite
    } else {
        decnet_store::Backend::Postgres
    };
    let raw_url = if sqlite {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    let pool = sqlx::AnyPool::connect(&raw_url).await.unwrap();
    decnet_store::migrations::run_until(&pool, backend, 4)
        .await
        .unwrap();
    let evs: Vec<Event> = (0..90).map(mixed).collect();
    for e in &evs {
        sqlx::query(
            "INSERT INTO events (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)",
        )
        .bind(e.id.to_string())
        .bind(e.ts.timestamp_micros())
        .bind(e.decky.as_str())
        .bind(e.service.as_str())
        .bind(e.kind.as_str())
        .bind(e.src_ip.to_string())
        .bind(i64::from(e.src_port))
        .bind(e.dst_ip.to_string())
        .bind(i64::from(e.dst_port))
        .bind(serde_json::to_string(&e.fields).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE event_total SET n = 90 WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let s = decnet_store::open(url).await.unwrap();
    assert_counters_exact(&s, &evs, "backfilled").await;
    // And they keep moving afterwards.
    let later: Vec<Event> = (90..120).map(mixed).collect();
    s.insert_events(&later).await.unwrap();
    let all: Vec<Event> = evs.into_iter().chain(later).collect();
    assert_counters_exact(&s, &all, "after backfill").await;
}

async fn page_json_is_exactly_what_event_serialises_to(url: &str) {
    // The page JSON is built by the database; every event in it must be
    // byte-for-byte what serde writes for the `Event` (key order, chrono's
    // RFC 3339 fraction digits, session_id omitted when absent, escapes).
    let s = decnet_store::open(url).await.unwrap();
    let offsets_us = [0i64, 123_000, 123_456, 1, 999_999, 500_000];
    let mut evs: Vec<Event> = offsets_us
        .iter()
        .enumerate()
        .map(|(i, us)| {
            let mut e = ev(
                i as i64 * 10,
                "dé\"cky\\1",
                "s\u{1}vc",
                EventKind::AuthAttempt,
                "::1",
            )
            .with("password", "p\u{e4}ss\"'\\\n\u{7f}")
            .with("n", -5)
            .with(
                "nested",
                serde_json::json!({"a": [1, 2.5, null, true], "b": {}}),
            );
            e.ts += chrono::Duration::microseconds(*us);
            if i % 2 == 0 {
                e.session_id = Some(Uuid::now_v7());
            }
            e
        })
        .collect();
    // Before 1970, with and without a fraction.
    for us in [-1_500_000i64, -3_000_000] {
        let mut e = ev(0, "old", "ssh", EventKind::Scan, "127.8.0.1");
        e.ts = chrono::DateTime::from_timestamp_micros(us).unwrap();
        evs.push(e);
    }
    s.insert_events(&evs).await.unwrap();
    let p = s.query_logs_json(&q(100)).await.unwrap();
    let mut want = evs.clone();
    want.sort_by_key(|e| std::cmp::Reverse((e.ts, e.id)));
    assert_eq!(p.data, serde_json::to_string(&want).unwrap());
    let empty = s
        .query_logs_json(&LogQuery {
            decky: Some("nobody".into()),
            ..q(5)
        })
        .await
        .unwrap();
    assert_eq!((empty.data.as_str(), empty.total), ("[]", 0));
}
