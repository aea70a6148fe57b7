//! Tagging throughput on the serve path: events published on a MemoryBus,
//! the real `TagWorker` (lossless subscription, tagger, tags stored in
//! SQLite, `attack.tag` published, STIX objects rebuilt), rules on vs. an
//! empty rule set.
//!
//! `cargo run --release -p decnet-attack --example serve_path_bench [EVENTS]`
//!
//! The event mix is `tag_bench`'s (200 events per source).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "tag_bench.rs"]
mod tag_bench;

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_attack::live::{TagWorker, TagWorkerConfig};
use decnet_attack::{RuleHandle, RuleSet};
use decnet_bus::{Bus, Delivery, MemoryBus};

/// (wall seconds until every event is tagged and stored, tags stored).
async fn run(rules: RuleHandle, events: &[decnet_core::Event]) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = decnet_store::open(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .expect("store");
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let sub = bus
        .subscribe("events.>", Delivery::Lossless)
        .expect("subscribe");
    let worker = TagWorker::start(store, bus.clone(), sub, rules, TagWorkerConfig::default());
    let t0 = Instant::now();
    for e in events {
        bus.publish_event(e.clone());
    }
    while worker.stats().events < events.len() as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = worker.finish().await.expect("finish");
    (t0.elapsed().as_secs_f64(), stats.new_tags)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let events = tag_bench::mix(n, 200);
    let empty = RuleHandle::from(RuleSet::from_rules(Vec::new()));
    let (off, _) = run(empty, &events).await;
    let (on, tags) = run(RuleHandle::builtin(), &events).await;
    println!("events: {n}");
    println!("  rules off: {:>9.0} events/s", n as f64 / off);
    println!(
        "  rules on:  {:>9.0} events/s ({tags} tags stored, {:.1} tags per 1,000 events)",
        n as f64 / on,
        tags as f64 * 1000.0 / n as f64
    );
}
