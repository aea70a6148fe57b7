//! The listener framework: connect/disconnect events, panics contained,
//! per-decky connection cap, shutdown ends sessions.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{EventKind, FleetSpec};
use decnet_services::{
    start_service, Conn, DeckyCtx, Handler, Limits, Service, ServiceError, Session,
};
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Test protocol: says hello, then panics on "boom", echoes otherwise, holds on "hold".
struct Echo;
struct EchoHandler;

impl Service for Echo {
    fn name(&self) -> &'static str {
        "telnet" // borrows telnet's catalog port (23)
    }
    fn bind(&self, _d: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(EchoHandler))
    }
}

impl Handler for EchoHandler {
    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            conn.stream.write_all(b"hello\n").await.unwrap();
            let mut buf = [0u8; 64];
            let n = conn.stream.read(&mut buf).await.unwrap_or(0);
            let msg = &buf[..n];
            if msg.starts_with(b"boom") {
                panic!("handler exploded");
            }
            if msg.starts_with(b"hold") {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            session.emit(EventKind::Command, decnet_services::fields! {"command" => String::from_utf8_lossy(msg).trim().to_string()});
            let _ = conn.stream.write_all(msg).await;
        })
    }
}

fn decky(ip: &str, bus: Arc<dyn Bus>, max_conns: usize, offset: u16) -> Arc<DeckyCtx> {
    let text = format!("[d1]\nip = {ip}\nservices = telnet\n");
    let (fleet, _): (FleetSpec, _) = decnet_core::fleet::parse_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap().keep();
    let limits = Limits {
        max_conns_per_decky: max_conns,
        ..Limits::default()
    };
    Arc::new(DeckyCtx::new(
        fleet.deckies[0].clone(),
        0,
        dir,
        bus,
        limits,
        offset,
    ))
}

async fn next_kind(
    sub: &mut Subscription,
) -> (EventKind, serde_json::Map<String, serde_json::Value>) {
    let env = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("event in time")
        .unwrap();
    let e = env.as_event().unwrap();
    (e.kind, e.fields.clone())
}

#[tokio::test]
async fn panic_is_contained_and_recorded() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let d = decky("127.0.65.1", bus.clone(), 16, 45000);
    let cancel = CancellationToken::new();
    let running = start_service(d, &Echo, &cancel).await.unwrap();
    let addr = running.addrs[0].1;

    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut hello = [0u8; 6];
    c.read_exact(&mut hello).await.unwrap();
    c.write_all(b"boom").await.unwrap();
    assert_eq!(next_kind(&mut sub).await.0, EventKind::Connect);
    let (k, f) = next_kind(&mut sub).await;
    assert_eq!(k, EventKind::Error);
    assert!(
        f["error"].as_str().unwrap().contains("handler exploded"),
        "{f:?}"
    );
    assert_eq!(next_kind(&mut sub).await.0, EventKind::Disconnect);

    // The listener still serves after the panic.
    let mut c2 = TcpStream::connect(addr).await.unwrap();
    c2.read_exact(&mut hello).await.unwrap();
    c2.write_all(b"ls -la").await.unwrap();
    let mut back = [0u8; 6];
    c2.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ls -la");
    assert_eq!(next_kind(&mut sub).await.0, EventKind::Connect);
    let (k, f) = next_kind(&mut sub).await;
    assert_eq!(
        (k, f["command"].as_str()),
        (EventKind::Command, Some("ls -la"))
    );
    running.stop().await;
}

#[tokio::test]
async fn connection_cap_and_shutdown_end_sessions() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let d = decky("127.0.65.2", bus.clone(), 2, 45000);
    let cancel = CancellationToken::new();
    let running = start_service(d, &Echo, &cancel).await.unwrap();
    let addr = running.addrs[0].1;

    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut hello = [0u8; 6];
        c.read_exact(&mut hello).await.unwrap();
        c.write_all(b"hold").await.unwrap();
        held.push(c);
    }
    assert_eq!(next_kind(&mut sub).await.0, EventKind::Connect);
    assert_eq!(next_kind(&mut sub).await.0, EventKind::Connect);

    // Third connection is over the cap: closed at once, recorded.
    let mut c3 = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), c3.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "over-cap connection must be closed without a banner");
    let (k, f) = next_kind(&mut sub).await;
    assert_eq!(k, EventKind::Error);
    assert!(f["error"].as_str().unwrap().contains("connection limit"));

    // Stopping ends the held sessions and publishes their disconnects before returning.
    tokio::time::timeout(Duration::from_secs(5), running.stop())
        .await
        .expect("stop in time");
    assert_eq!(next_kind(&mut sub).await.0, EventKind::Disconnect);
    assert_eq!(next_kind(&mut sub).await.0, EventKind::Disconnect);
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}
