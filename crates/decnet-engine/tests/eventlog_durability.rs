//! The event log writer under rotation, reopen (SIGHUP), a journal, a
//! full disk (root only: a small tmpfs) and a collector that stops reading.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, MemoryBus};
use decnet_core::{Event, EventKind};
use decnet_engine::eventlog::{rotated_files, EventLogConfig, Rotation};
use decnet_engine::{EventLog, SyslogTarget};
use decnet_store::ingest::journal_channel;
use decnet_store::journal::{self, JournalPos, JournalWriter};

#[path = "../../decnet-store/tests/support/small_disk.rs"]
mod small_disk;
use small_disk::SmallDisk;
#[path = "support/log_text.rs"]
mod log_text;
use log_text::{all_log_text, event_ids as ids};

fn event(i: usize) -> Event {
    let mut e = Event::new("web01", "ssh", EventKind::Command).with("command", format!("cmd-{i}"));
    e.src_ip = "127.0.0.9".parse().unwrap();
    e
}

/// Ids of the journaled events from `start` on, in order.
fn journal_ids(jdir: &Path, start: JournalPos) -> Vec<String> {
    let end = JournalPos {
        segment: u64::MAX,
        offset: 0,
    };
    journal::read(jdir, start, end, usize::MAX)
        .unwrap()
        .events
        .iter()
        .map(|e| e.id.to_string())
        .collect()
}

async fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rotation_compresses_keeps_n_and_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decnet.log");
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let mut cfg = EventLogConfig::new(&path);
    cfg.rotation = Rotation {
        max_bytes: 8 * 1024,
        keep: 100,
    };
    let log = EventLog::start_with(&bus, cfg).await.unwrap();
    let mut published = BTreeSet::new();
    for round in 0..20 {
        for i in 0..25 {
            let e = event(round * 25 + i);
            published.insert(e.id.to_string());
            bus.publish_event(e);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(log.finish().await.written, 500);
    let rotated = rotated_files(&path);
    assert!(rotated.len() >= 5, "{rotated:?}");
    assert!(
        rotated
            .iter()
            .all(|(_, f)| f.extension().is_some_and(|e| e == "gz")),
        "every rotated file is compressed: {rotated:?}"
    );
    let got = ids(&all_log_text(&path));
    assert_eq!(got.len(), 500, "no line lost or doubled");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), published);
    assert!(std::fs::metadata(&path).unwrap().len() <= 8 * 1024);

    // A later run with keep = 2 prunes the older copies.
    let mut cfg = EventLogConfig::new(&path);
    cfg.rotation = Rotation {
        max_bytes: 8 * 1024,
        keep: 2,
    };
    let log = EventLog::start_with(&bus, cfg).await.unwrap();
    for i in 0..100 {
        bus.publish_event(event(i));
    }
    log.finish().await;
    assert_eq!(rotated_files(&path).len(), 2);
}

#[cfg(unix)]
#[tokio::test]
async fn log_files_are_not_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decnet.log");
    // An older version's world-readable log is tightened.
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let mut cfg = EventLogConfig::new(&path);
    cfg.rotation.max_bytes = 2048;
    let log = EventLog::start_with(&bus, cfg).await.unwrap();
    for round in 0..4 {
        for i in 0..10 {
            bus.publish_event(event(round * 10 + i));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    log.finish().await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o640);
    let rotated = rotated_files(&path);
    assert!(!rotated.is_empty());
    for (_, f) in rotated {
        assert_eq!(mode(&f), 0o640, "{}", f.display());
    }
}

/// logrotate moves the file and sends SIGHUP (here: `reopen()`): later
/// lines go to a new file at the same path, none to the moved one.
#[tokio::test]
async fn reopen_after_the_file_was_moved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decnet.log");
    let moved = dir.path().join("decnet.log.1");
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let log = EventLog::start(&bus, &path, None).await.unwrap();
    let monitor = log.monitor();
    for i in 0..10 {
        bus.publish_event(event(i));
    }
    wait_for("10 lines", 5, || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .count()
            == 10
    })
    .await;
    std::fs::rename(&path, &moved).unwrap();
    monitor.reopen();
    // Reopened without waiting for an event.
    wait_for("the new file", 5, || path.exists()).await;
    for i in 10..25 {
        bus.publish_event(event(i));
    }
    assert_eq!(log.finish().await.written, 25);
    assert_eq!(std::fs::read_to_string(&moved).unwrap().lines().count(), 10);
    let new = std::fs::read_to_string(&path).unwrap();
    assert_eq!(new.lines().count(), 15);
    assert!(new.contains("cmd-10") && !new.contains("cmd-9\""), "{new}");
}

/// Every line of the log is in the journal, in the same order, and the
/// ingester's end of the hand-off got every batch.
#[tokio::test]
async fn every_logged_event_is_journaled_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decnet.log");
    let jdir = dir.path().join("journal");
    let w = JournalWriter::open(&jdir).unwrap();
    let start = w.position();
    let (sink, feed) = journal_channel(&w);
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let mut cfg = EventLogConfig::new(&path);
    cfg.journal = Some((w, sink));
    let log = EventLog::start_with(&bus, cfg).await.unwrap();
    for i in 0..3000 {
        bus.publish_event(event(i));
    }
    let r = log.finish().await;
    assert_eq!(
        (r.written, r.journaled, r.dropped, r.unwritten),
        (3000, 3000, 0, 0)
    );
    drop(feed);
    let logged = ids(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(logged, journal_ids(&jdir, start));
}

/// A collector that accepts and never reads must not hold up the log.
#[tokio::test]
async fn a_stalled_collector_never_stalls_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decnet.log");
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target =
        SyslogTarget::parse(&format!("tcp://{}", collector.local_addr().unwrap())).unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let log = EventLog::start(&bus, &path, Some(target)).await.unwrap();
    let monitor = log.monitor();
    let filler = "x".repeat(2000);
    for i in 0..20_000 {
        bus.publish_event(event(i).with("blob", filler.as_str()));
    }
    wait_for("every line in the file", 30, || {
        std::fs::metadata(&path).map_or(0, |m| m.len()) > 20_000 * 2000
    })
    .await;
    let t = Instant::now();
    let r = log.finish().await;
    assert_eq!(r.written, 20_000);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let h = monitor.health();
    assert!(
        h.ok && h.detail.contains("not forwarded to syslog"),
        "{}",
        h.detail
    );
    drop(collector);
}

/// A full disk: the writer keeps the first `max_backlog` events, drops and
/// counts the rest, says so in its health, and writes the backlog — journal
/// first — by itself once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_backlog_is_bounded_counted_and_written_when_space_returns() {
    let Some(disk) = SmallDisk::mount(
        "4m",
        "full_disk_backlog_is_bounded_counted_and_written_when_space_returns",
    ) else {
        return;
    };
    let path = disk.path().join("decnet.log");
    let jdir = disk.path().join("journal");
    let w = JournalWriter::open(&jdir).unwrap();
    let start = w.position();
    let (sink, _feed) = journal_channel(&w);
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let mut cfg = EventLogConfig::new(&path);
    cfg.journal = Some((w, sink));
    cfg.max_backlog = 3000;
    let log = EventLog::start_with(&bus, cfg).await.unwrap();
    let monitor = log.monitor();
    for i in 0..100 {
        bus.publish_event(event(i));
    }
    wait_for("the first lines", 5, || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .count()
            == 100
    })
    .await;
    let filler = disk.fill();
    for i in 100..5100 {
        bus.publish_event(event(i));
    }
    wait_for("a reported failure", 10, || !monitor.health().ok).await;
    wait_for("the drops", 10, || {
        monitor
            .health()
            .detail
            .contains("3000 waiting, 2000 dropped")
    })
    .await;
    let h = monitor.health();
    assert!(h.detail.contains("No space left"), "{}", h.detail);
    assert_eq!(monitor.dropped(), 2000);
    std::fs::remove_file(filler).unwrap();
    wait_for("recovery", 15, || monitor.health().ok).await;
    let r = log.finish().await;
    assert_eq!(
        (r.written, r.dropped, r.unwritten),
        (3100, 2000, 0),
        "{r:?}"
    );
    let logged = ids(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(logged.len(), 3100);
    assert_eq!(
        logged,
        journal_ids(&jdir, start),
        "the log and the journal hold the same events"
    );
}

/// Stopping while the disk stays full is bounded and reports what was not
/// written, instead of failing with the write error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_on_a_full_disk_is_bounded_and_says_what_was_left() {
    let Some(disk) = SmallDisk::mount(
        "1m",
        "finish_on_a_full_disk_is_bounded_and_says_what_was_left",
    ) else {
        return;
    };
    let path = disk.path().join("decnet.log");
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let mut cfg = EventLogConfig::new(&path);
    cfg.finish_within = Duration::from_secs(1);
    let log = EventLog::start_with(&bus, cfg).await.unwrap();
    let monitor = log.monitor();
    let _filler = disk.fill();
    for i in 0..500 {
        bus.publish_event(event(i));
    }
    wait_for("a reported failure", 10, || !monitor.health().ok).await;
    let t = Instant::now();
    let r = log.finish().await;
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(r.unwritten, 500, "{r:?}");
    assert!(r.error.unwrap_or_default().contains("No space left"));
}
