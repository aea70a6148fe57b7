//! What the metrics event counter costs the publishing side: events per
//! second through a `MemoryBus` with one lossless batching consumer (as
//! the event log / store ingester drain it), without and with the
//! `EventCounter` subscribed, alternated in one run.
//!
//! `cargo run -p decnet-api --example metrics_cost [EVENTS]`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_api::metrics::{EventCounter, Metrics};
use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::{Event, EventKind};

const PUBLISHERS: usize = 4;

async fn pass(events: usize, with_metrics: bool) -> f64 {
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let mut sink = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let counter = with_metrics.then(|| EventCounter::start(Metrics::new(), &bus).unwrap());
    let drain = tokio::spawn(async move {
        let mut got = 0;
        let mut batch = Vec::with_capacity(4096);
        while got < events {
            batch.clear();
            sink.next_batch(4096, Duration::from_millis(10), &mut batch)
                .await;
            got += batch.len();
        }
    });
    let kinds = [
        EventKind::Connect,
        EventKind::AuthAttempt,
        EventKind::Disconnect,
    ];
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let bus = bus.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..events / PUBLISHERS {
                let decky = format!("decky{}", (p * 7 + i) % 20);
                let e = Event::new(decky, "ssh", kinds[i % 3]);
                bus.publish_event(e);
                if i % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drain.await.unwrap();
    let rate = events as f64 / t0.elapsed().as_secs_f64();
    if let Some(c) = counter {
        assert_eq!(c.dropped(), 0, "the counter fell behind");
        c.finish().await;
    }
    rate
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400_000)
        / PUBLISHERS
        * PUBLISHERS;
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        off.push(pass(events, false).await);
        on.push(pass(events, true).await);
    }
    off.sort_by(f64::total_cmp);
    on.sort_by(f64::total_cmp);
    println!(
        "{events} events, {PUBLISHERS} publishers, median of 3: without metrics {:.0} events/s, with metrics {:.0} events/s ({:+.1} %)",
        off[1],
        on[1],
        (on[1] / off[1] - 1.0) * 100.0
    );
}
