//! Crash safety: kill -9 a process during sustained ingest, reopen the
//! database: every acknowledged (committed) event is there, the stored
//! events are exactly a prefix of what was published, and a replay after
//! the restart adds no duplicates.
//!
//! The child is this same test binary re-executed with `DECNET_KILL9_DB`
//! set; it ingests until killed and prints `ACK <n>` after each commit.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::{Event, EventKind};
use decnet_store::ingest::{IngestConfig, Ingester};
use decnet_store::LogQuery;
use uuid::Uuid;

const BATCH: usize = 500;

fn event(i: u64) -> Event {
    let mut e = Event::new("web01", "ssh", EventKind::AuthAttempt)
        .with("username", "root")
        .with("password", format!("pw{i}"));
    e.id = Uuid::from_u128(u128::from(i) + 1);
    e.ts = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        + chrono::Duration::microseconds(i as i64);
    e.src_ip = "127.0.64.77".parse().unwrap();
    e
}

fn index_of(id: Uuid) -> u64 {
    (id.as_u128() - 1) as u64
}

#[test]
fn kill9_child_entry() {
    let Ok(url) = std::env::var("DECNET_KILL9_DB") else {
        return; // only meaningful as the child
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = decnet_store::open(&url).await.unwrap();
        let bus = MemoryBus::new();
        let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
        let h = Ingester::start(
            store,
            sub,
            IngestConfig {
                batch_size: BATCH,
                batch_wait: Duration::from_millis(10),
                retention: None,
                ..Default::default()
            },
        );
        let mut acked = h.committed();
        let b2 = bus.clone();
        tokio::spawn(async move {
            // Sustained load, bounded: at most 60 s or 5M events.
            let start = std::time::Instant::now();
            let mut i = 0u64;
            while start.elapsed() < Duration::from_secs(60) && i < 5_000_000 {
                for _ in 0..200 {
                    b2.publish_event(event(i));
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        use std::io::Write;
        while acked.changed().await.is_ok() {
            let n = *acked.borrow_and_update();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ACK {n}");
            let _ = out.flush();
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_sustained_ingest_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/crash.db", dir.path().display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill9_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DECNET_KILL9_DB", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read acknowledgements until at least 30000 events are committed.
    let reader = std::thread::spawn(move || {
        let mut last = 0u64;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line
                .strip_prefix("ACK ")
                .and_then(|n| n.parse::<u64>().ok())
            {
                last = last.max(n);
                if last >= 30_000 {
                    break;
                }
            }
        }
        last
    });
    let acked = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !reader.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        reader.is_finished().then(|| reader.join().unwrap())
    })
    .await
    .unwrap();
    // SIGKILL mid-ingest (std's kill is SIGKILL on Unix).
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let acked = acked.unwrap_or(0);
    assert!(
        acked >= 30_000,
        "child acknowledged only {acked} events (status {status:?})"
    );
    // `acked` is the last acknowledgement we read; the child may have
    // committed more before the kill landed. Nothing acknowledged may be lost.
    let store = decnet_store::open(&url).await.unwrap();
    let stored = store.count_events().await.unwrap();
    assert!(
        stored >= acked,
        "acknowledged {acked} but only {stored} stored"
    );
    // Stored events are exactly the first `stored` published ones.
    let page = store
        .query_logs(&LogQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let newest = index_of(page.data[0].id);
    assert_eq!(
        newest + 1,
        stored,
        "a hole: newest stored index {newest}, count {stored}"
    );
    eprintln!("kill -9 after >= {acked} acknowledged; {stored} stored, prefix intact");
    // Restart: at-least-once replay of everything plus new events.
    let bus = MemoryBus::new();
    let h = Ingester::start(
        store.clone(),
        bus.subscribe("events.>", Delivery::Lossless).unwrap(),
        IngestConfig::default(),
    );
    for i in 0..stored + 1234 {
        bus.publish_event(event(i));
    }
    let st = h.finish().await.unwrap();
    assert_eq!(st.inserted, 1234);
    assert_eq!(store.count_events().await.unwrap(), stored + 1234);
}
