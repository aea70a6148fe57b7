//! Intel throughput: events/s through the Intel worker into SQLite.
//!
//! `cargo run --release -p decnet-intel --example intel_bench -- [EVENTS] [SOURCES]`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::{Event, EventKind};
use decnet_intel::{Intel, IntelConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let sources: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let store = decnet_store::open(&format!("sqlite://{}/intel.db", dir.path().display()))
        .await
        .unwrap();
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let h = Intel::start(
        store.clone(),
        dynbus,
        sub,
        IntelConfig {
            batch_wait: Duration::from_millis(50),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let kinds = [
        EventKind::Connect,
        EventKind::AuthAttempt,
        EventKind::AuthAttempt,
        EventKind::Command,
    ];
    let evs: Vec<Event> = (0..n)
        .map(|i| {
            let s = i % sources;
            let mut e = Event::new(format!("d{}", i % 7), "ssh", kinds[i % 4]);
            e.src_ip = format!("10.{}.{}.{}", s / 65536 % 256, s / 256 % 256, s % 256)
                .parse()
                .unwrap();
            e.dst_port = 22;
            match e.kind {
                EventKind::AuthAttempt => {
                    let pw = format!("pw{}", i % 500);
                    decnet_core::event::credential_fields(
                        &mut e.fields,
                        "root",
                        "password",
                        pw.as_bytes(),
                    );
                    e = e
                        .with("client_version", format!("SSH-2.0-Tool{}", s / 4))
                        .with("hassh", format!("{:032x}", s / 4));
                }
                EventKind::Command => e = e.with("command", format!("cmd{}", i % 40)),
                _ => {}
            }
            e
        })
        .collect();
    let t = Instant::now();
    for e in &evs {
        bus.publish_event(e.clone());
    }
    let st = h.finish().await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(st.processed, n as u64);
    let ids = store.list_identities(false, 1, 0).await.unwrap();
    println!(
        "intel: {n} events from {sources} sources in {secs:.2}s = {:.0} events/s; {} batches, {} identities, {} identity events",
        n as f64 / secs,
        st.batches,
        ids.total,
        st.identity_events
    );
}
