//! Intel under a lease tenure (the scale-out singleton): batches commit
//! while the tenure holds; once another holder took the lease the worker
//! stops with `Conflict` and writes nothing more.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::EventKind;
use decnet_intel::{Intel, IntelConfig};
use decnet_store::lease::Lease;
use decnet_store::StoreError;

#[tokio::test]
async fn a_replaced_holder_stops_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("i.db").display());
    let store = decnet_store::open(&url).await.unwrap();
    let ttl = Duration::from_millis(200);
    let mut a = Lease::new(store.clone(), "intel", "a", ttl);
    assert!(a.acquire_or_renew().await.unwrap());
    let bus = MemoryBus::new();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let intel = Intel::start(
        store.clone(),
        dynbus,
        bus.subscribe("events.>", Delivery::Lossless).unwrap(),
        IntelConfig {
            batch_wait: Duration::from_millis(10),
            fence: a.fence(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut committed = intel.committed();
    let monitor = intel.monitor();
    assert_eq!(monitor.newest_handled_micros(), 0, "nothing handled yet");
    let first = common::ev(0, "10.9.0.1", "d1", "http", EventKind::Request, 80);
    let first_ts = first.ts.timestamp_micros();
    bus.publish_event(first);
    while *committed.borrow_and_update() < 1 {
        committed.changed().await.unwrap();
    }
    assert!(store.get_attacker("10.9.0.1").await.unwrap().is_some());
    // The metrics' intel lag is measured from this.
    assert_eq!(monitor.newest_handled_micros(), first_ts);
    // Another server takes the expired lease; a's worker is now fenced out.
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let mut b = Lease::new(store.clone(), "intel", "b", ttl);
    assert!(b.acquire_or_renew().await.unwrap());
    bus.publish_event(common::ev(
        5,
        "10.9.0.2",
        "d1",
        "http",
        EventKind::Request,
        80,
    ));
    // The worker ends (the committed watch closes) without committing it.
    while committed.changed().await.is_ok() {}
    assert_eq!(*committed.borrow(), 1);
    assert_eq!(
        monitor.newest_handled_micros(),
        first_ts,
        "a refused batch is not handled"
    );
    assert!(matches!(intel.finish().await, Err(StoreError::Conflict(_))));
    assert!(store.get_attacker("10.9.0.2").await.unwrap().is_none());
}
