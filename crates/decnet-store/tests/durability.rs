//! Durability of the store side: the journal catch-up after a crash, the
//! hand-off overflow read back from the journal, a full disk under SQLite
//! (root only: a small tmpfs), truthful and prompt open failures, and the
//! modes of the files the store creates.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_core::{Event, EventKind};
use decnet_store::ingest::{journal_channel, IngestConfig, Ingester, JournaledBatch};
use decnet_store::journal::{self, JournalWriter};
use decnet_store::Store;
use uuid::Uuid;

#[path = "support/small_disk.rs"]
mod small_disk;
use small_disk::SmallDisk;

fn event(i: u64) -> Event {
    let mut e = Event::new("web01", "http", EventKind::Request).with("path", format!("/p{i}"));
    e.id = Uuid::from_u128(u128::from(i) + 1);
    e.src_ip = "127.0.9.9".parse().unwrap();
    e
}

async fn sqlite(dir: &Path) -> Arc<dyn Store> {
    decnet_store::open(&format!("sqlite://{}/d.db", dir.display()))
        .await
        .unwrap()
}

fn quick() -> IngestConfig {
    IngestConfig {
        batch_size: 500,
        batch_wait: Duration::from_millis(10),
        ..Default::default()
    }
}

/// A previous run journaled 0..3000, committed 0..1000 and saved a cursor
/// at 500 (the cursor lags the store), then died. The next run stores
/// 1000..3000 from the journal, then its own live events, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_tail_is_stored_after_a_crash_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let jdir = data.path().join("journal");
    let store = sqlite(data.path()).await;
    {
        let mut w = JournalWriter::open_with_segment_bytes(&jdir, 64 * 1024).unwrap();
        let mut cursor = None;
        for chunk in (0..3000u64).collect::<Vec<_>>().chunks(100) {
            let evs: Vec<Event> = chunk.iter().map(|&i| event(i)).collect();
            let r = w.append(&evs).unwrap();
            if chunk[0] == 400 {
                cursor = Some(r.end);
            }
        }
        journal::save_cursor(&jdir, cursor.unwrap()).unwrap();
        let stored: Vec<Event> = (0..1000).map(event).collect();
        store.insert_events(&stored).await.unwrap();
    }
    let old_segments = journal::segments(&jdir).unwrap();
    assert!(old_segments.len() > 3, "{old_segments:?}");

    let mut w = JournalWriter::open(&jdir).unwrap();
    let (sink, feed) = journal_channel(&w);
    let ing = Ingester::start_journaled(store.clone(), feed, quick());
    for chunk in (3000..3500u64).collect::<Vec<_>>().chunks(50) {
        let evs: Vec<Arc<Event>> = chunk.iter().map(|&i| Arc::new(event(i))).collect();
        let range = w.append(evs.iter().map(|e| &**e)).unwrap();
        sink.publish(JournaledBatch { events: evs, range });
    }
    let end = w.position();
    drop(sink);
    let st = ing.finish().await.unwrap();
    assert_eq!(store.count_events().await.unwrap(), 3500);
    assert_eq!(st.inserted, 2500, "{st:?}");
    assert!(st.replayed >= 2500, "replayed from the cursor on: {st:?}");
    assert_eq!(st.unstored, 0);
    assert_eq!(journal::load_cursor(&jdir), Some(end));
    // Every segment before the live one is committed and gone.
    assert_eq!(journal::segments(&jdir).unwrap(), vec![end.segment]);
}

/// Batches the hand-off could not hold (the ingester was not reading) are
/// read back from the journal, in order, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_overflow_is_read_back_from_the_journal() {
    let data = tempfile::tempdir().unwrap();
    let store = sqlite(data.path()).await;
    let mut w = JournalWriter::open(&data.path().join("journal")).unwrap();
    let (sink, feed) = journal_channel(&w);
    let total = decnet_store::ingest::HANDOFF_EVENTS as u64 + 7_000;
    for chunk in (0..total).collect::<Vec<_>>().chunks(1000) {
        let evs: Vec<Arc<Event>> = chunk.iter().map(|&i| Arc::new(event(i))).collect();
        let range = w.append(evs.iter().map(|e| &**e)).unwrap();
        sink.publish(JournaledBatch { events: evs, range });
    }
    let ing = Ingester::start_journaled(store.clone(), feed, quick());
    drop(sink);
    let st = ing.finish().await.unwrap();
    assert_eq!(store.count_events().await.unwrap(), total);
    assert_eq!(st.inserted, total);
    assert!(st.replayed >= 7_000, "{st:?}");
}

async fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SQLite on a full disk: the ingester keeps retrying (health says why),
/// and once space returns every event is stored — no transaction left
/// open on the writer connection (sqlx's lost rollback, see sql.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_under_sqlite_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount("24m", "full_disk_under_sqlite_recovers_by_itself") else {
        return;
    };
    let store = sqlite(disk.path()).await;
    let jdir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(jdir.path()).unwrap();
    let (sink, feed) = journal_channel(&w);
    let ing = Ingester::start_journaled(store.clone(), feed, quick());
    let monitor = ing.monitor();
    let publish = |w: &mut JournalWriter, from: u64, to: u64| {
        let evs: Vec<Arc<Event>> = (from..to).map(|i| Arc::new(event(i))).collect();
        let range = w.append(evs.iter().map(|e| &**e)).unwrap();
        sink.publish(JournaledBatch { events: evs, range });
    };
    publish(&mut w, 0, 100);
    wait_for("the first batch", 10, || monitor.stats().committed == 100).await;
    let filler = disk.fill();
    // Enough rows that the WAL must grow.
    for k in 0..20 {
        publish(&mut w, 100 + k * 500, 600 + k * 500);
    }
    wait_for("a reported failure", 20, || !monitor.health().ok).await;
    let h = monitor.health();
    assert!(h.detail.contains("full"), "{}", h.detail);
    // It keeps retrying (attempts grow) rather than stopping.
    let retries = monitor.stats().retries;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(monitor.stats().retries > retries, "retrying stopped");
    std::fs::remove_file(filler).unwrap();
    wait_for("recovery", 30, || {
        let done = monitor.stats().committed == 10_100;
        if !done {
            eprintln!("{:?} {}", monitor.stats(), monitor.health().detail);
        }
        done
    })
    .await;
    assert!(monitor.health().ok, "{}", monitor.health().detail);
    // Visible to a reader: really committed, not inside an open transaction.
    assert_eq!(store.count_events().await.unwrap(), 10_100);
    drop(sink);
    let st = ing.finish().await.unwrap();
    assert_eq!(st.unstored, 0);
}

/// Shutdown while the disk stays full is bounded and says what was left
/// (in the journal, for the next start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_gives_up_promptly_on_a_full_disk_and_reports() {
    let Some(disk) = SmallDisk::mount("3m", "finish_gives_up_promptly_on_a_full_disk_and_reports")
    else {
        return;
    };
    let store = sqlite(disk.path()).await;
    let jdir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(jdir.path()).unwrap();
    let (sink, feed) = journal_channel(&w);
    let ing = Ingester::start_journaled(
        store.clone(),
        feed,
        IngestConfig {
            finish_within: Duration::from_secs(1),
            ..quick()
        },
    );
    let _filler = disk.fill();
    let evs: Vec<Arc<Event>> = (0..3000).map(|i| Arc::new(event(i))).collect();
    let range = w.append(evs.iter().map(|e| &**e)).unwrap();
    sink.publish(JournaledBatch { events: evs, range });
    let monitor = ing.monitor();
    wait_for("a reported failure", 20, || !monitor.health().ok).await;
    drop(sink);
    let t = Instant::now();
    let st = ing.finish().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(st.unstored, 3000, "{st:?}");
}

#[tokio::test]
async fn a_corrupt_sqlite_file_fails_at_once_with_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("decnet.db");
    std::fs::write(&db, vec![0x5au8; 8192]).unwrap();
    let t = Instant::now();
    let e = decnet_store::open_with_retry(
        &format!("sqlite://{}", db.display()),
        Duration::from_secs(10),
    )
    .await
    .err()
    .expect("a corrupt file must not open");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(!e.transient);
    let msg = e.to_string();
    assert!(msg.contains("file is not a database"), "{msg}");
    assert!(msg.contains(&db.display().to_string()), "{msg}");
}

#[tokio::test]
async fn an_unusable_path_fails_at_once() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let t = Instant::now();
    let e = decnet_store::open_with_retry(
        &format!("sqlite://{}/sub/decnet.db", f.path().display()),
        Duration::from_secs(10),
    )
    .await
    .err()
    .unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(e.to_string().contains("cannot create"), "{e}");
}

#[tokio::test]
async fn unsupported_database_type_is_not_retried() {
    let t = Instant::now();
    let e =
        decnet_store::open_with_retry("mysql://root:pw@127.0.0.1/decnet", Duration::from_secs(10))
            .await
            .err()
            .unwrap();
    assert!(t.elapsed() < Duration::from_millis(500));
    let msg = e.to_string();
    assert!(msg.contains("unsupported database type 'mysql'"), "{msg}");
    assert!(!msg.contains("pw"), "password shown: {msg}");
}

#[tokio::test]
async fn a_refused_postgres_port_is_retried_briefly_then_named() {
    // A port nothing listens on: bind one, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://decnet:secret@127.0.0.1:{port}/decnet");
    let t = Instant::now();
    let e = decnet_store::open_with_retry(&url, Duration::from_secs(2))
        .await
        .err()
        .unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("postgres://decnet@127.0.0.1:{port}/decnet")),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert!(msg.contains("still failing after"), "{msg}");
    assert!(!msg.contains("secret"), "{msg}");
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("new-data");
    let db = data.join("decnet.db");
    let store = decnet_store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store.insert_events(&[event(1)]).await.unwrap();
    assert_eq!(mode(&data), 0o700, "a directory the store creates");
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data.join("decnet.db-wal")), 0o600);
    assert_eq!(mode(&data.join("decnet.db-shm")), 0o600);
    // A database an older version left world-readable is tightened.
    drop(store);
    for f in ["decnet.db", "decnet.db-wal", "decnet.db-shm"] {
        let p = data.join(f);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let _store = decnet_store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    assert_eq!(mode(&db), 0o600);
}
