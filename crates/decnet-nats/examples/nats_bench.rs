//! Scale-out figures: events/s from 2 sensors through JetStream into the
//! store (counted end to end), and spool replay rate after an outage.
//! Needs `nats-server` on PATH (or /usr/sbin). Bounded: N events per sensor.
//!
//! `cargo run --release -p decnet-nats --example nats_bench -- [N] [postgres://…|pg]`
//! (`pg`: a throw-away PostgreSQL cluster started for the run; default SQLite)
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, MemoryBus};
use decnet_core::{Event, EventKind};
use decnet_nats::{NatsBus, NatsConfig, Pump};

fn ev(s: &str, i: u64) -> Event {
    let mut e = Event::new(format!("{s}-d{}", i % 5), "ssh", EventKind::AuthAttempt)
        .with("username", format!("u{i}"))
        .with("password", "hunter2");
    e.src_ip = "127.0.0.9".parse().unwrap();
    e
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let db = std::env::args().nth(2);
    let bin = [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("nats-server");
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let spawn = || {
        Command::new(bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    };
    let mut nats = spawn()?;
    std::thread::sleep(Duration::from_millis(500));
    let url = format!("nats://127.0.0.1:{port}");
    // Kept alive for the run: dropping it stops the cluster.
    let mut pg = None;
    let db = match db.as_deref() {
        Some("pg") => {
            let cluster = decnet_store::testing::PgCluster::start()
                .ok_or_else(|| anyhow::anyhow!("no PostgreSQL server binaries found"))?;
            let url = cluster.fresh_database().await;
            pg = Some(cluster);
            url
        }
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}/b.db", dir.path().display()),
    };
    println!(
        "store: {}",
        if pg.is_some() {
            "throw-away PostgreSQL"
        } else {
            &db
        }
    );
    let store = decnet_store::open(&db).await?;
    let client = decnet_nats::connect(&NatsConfig::new(&url, dir.path().join("s"))).await?;
    let local: Arc<dyn Bus> = MemoryBus::new();
    let pump = Pump::start(client, store.clone(), local, 1000, Duration::from_secs(30)).await?;
    let s1 = NatsBus::start(&NatsConfig::new(&url, dir.path().join("sp1"))).await?;
    let s2 = NatsBus::start(&NatsConfig::new(&url, dir.path().join("sp2"))).await?;
    let t = Instant::now();
    for i in 0..n {
        s1.publish_event(ev("a", i));
        s2.publish_event(ev("b", i));
    }
    while store.count_events().await? < 2 * n {
        tokio::time::sleep(Duration::from_millis(20)).await;
        anyhow::ensure!(t.elapsed() < Duration::from_secs(300), "timeout");
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"events\":{},\"seconds\":{secs:.3},\"events_per_sec\":{:.0},\"store\":\"{}\"}}",
        2 * n,
        2.0 * n as f64 / secs,
        store.backend()
    );

    // Outage: spool n events, restart, time the replay.
    let _ = nats.kill();
    let _ = nats.wait();
    for i in n..2 * n {
        s1.publish_event(ev("a", i));
    }
    while s1.nats_stats().spooled < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut nats = spawn()?;
    let t = Instant::now();
    while s1.nats_stats().replayed < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
        anyhow::ensure!(t.elapsed() < Duration::from_secs(300), "replay timeout");
    }
    let secs = t.elapsed().as_secs_f64();
    while store.count_events().await? < 3 * n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("{{\"spool_replayed\":{n},\"seconds\":{secs:.3},\"replay_per_sec\":{:.0},\"stored_total\":{}}}", n as f64 / secs, store.count_events().await?);
    pump.finish().await;
    let _ = nats.kill();
    Ok(())
}
