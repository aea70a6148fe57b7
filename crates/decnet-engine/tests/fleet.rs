//! A fleet deployed in-process: exact events on the bus for real protocol
//! exchanges, deterministic personas, teardown closes listeners.

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OFFSET: u16 = 42000;

async fn fleet(dir: &std::path::Path, net: u8) -> (Arc<Fleet>, Arc<dyn Bus>) {
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let limits = Limits {
        auth_fail_delay: Duration::from_millis(10),
        ..Limits::default()
    };
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: dir.to_owned(),
            port_offset: OFFSET,
            limits,
        },
        Registry::builtin(),
        bus.clone(),
    );
    let text = format!("[general]\nnet = 127.0.{net}.0/24\n[a]\nip = 127.0.{net}.10\nservices = http, telnet\n[b]\nip = 127.0.{net}.11\nservices = http\n[c]\nip = 127.0.{net}.12\nservices = telnet, ssh\n");
    let (spec, _) = decnet_core::fleet::parse_str(&text).unwrap();
    for d in spec.deckies {
        fleet.deploy(d).await.unwrap();
    }
    (fleet, bus)
}

async fn next(sub: &mut Subscription) -> Arc<Event> {
    let env = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("event")
        .unwrap();
    env.as_event().unwrap().clone()
}

#[tokio::test]
async fn http_request_produces_exact_event_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, bus) = fleet(dir.path(), 67).await;
    let mut sub = bus.subscribe("events.b.>", Delivery::Lossless).unwrap();
    let mut s = TcpStream::connect(("127.0.67.11", 80 + OFFSET))
        .await
        .unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(
        b"GET /.env?x=1 HTTP/1.1\r\nHost: b\r\nUser-Agent: sqlmap/1.7\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();

    let connect = next(&mut sub).await;
    let request = next(&mut sub).await;
    let disconnect = next(&mut sub).await;
    assert_eq!(
        [connect.kind, request.kind, disconnect.kind],
        [
            EventKind::Connect,
            EventKind::Request,
            EventKind::Disconnect
        ]
    );
    for e in [&connect, &request, &disconnect] {
        assert_eq!(e.decky, "b");
        assert_eq!(e.service, "http");
        assert_eq!(e.src_ip, local.ip());
        assert_eq!(e.src_port, local.port());
        assert_eq!(e.dst_port, 80 + OFFSET);
        assert_eq!(e.session_id, connect.session_id);
    }
    assert_eq!(request.field_str("path"), Some("/.env"));
    assert_eq!(request.field_str("query"), Some("x=1"));
    assert_eq!(request.field_str("user_agent"), Some("sqlmap/1.7"));
    assert!(
        connect.id < request.id && request.id < disconnect.id,
        "UUIDv7 ids are time ordered"
    );
    assert!(sub.try_recv().is_none());
    fleet.shutdown().await;
}

#[tokio::test]
async fn summary_reports_unimplemented_services_and_teardown_closes() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, _bus) = fleet(dir.path(), 68).await;
    let summary = fleet.summary().await;
    assert_eq!(
        summary.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let c = &summary[2];
    let telnet = c.services.iter().find(|s| s.name == "telnet").unwrap();
    assert_eq!(telnet.ports, [format!("tcp/{}", 23 + OFFSET)]);
    // ssh lives in its own crate and is not in Registry::builtin(): reported, not silently dropped.
    let ssh = c.services.iter().find(|s| s.name == "ssh").unwrap();
    assert!(ssh.ports.is_empty() && ssh.unavailable.is_some());
    // Personas are reproducible: the same name gives the same hostname in a second fleet.
    let dir2 = tempfile::tempdir().unwrap();
    fleet.shutdown().await;
    let (fleet2, _) = fleet_again(dir2.path()).await;
    assert_eq!(fleet2.summary().await[0].hostname, summary[0].hostname);
    fleet2.teardown("a").await.unwrap();
    assert!(TcpStream::connect(("127.0.68.10", 80 + OFFSET))
        .await
        .is_err());
    assert!(fleet2.teardown("a").await.is_err());
    fleet2.shutdown().await;
}

async fn fleet_again(dir: &std::path::Path) -> (Arc<Fleet>, Arc<dyn Bus>) {
    fleet(dir, 68).await
}
