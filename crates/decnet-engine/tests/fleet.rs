//! A fleet deployed in-process: exact events on the bus for real protocol
//! exchanges, deterministic personas, teardown closes listeners.
#![allow(clippy::unwrap_used)]

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

#[tokio::test]
async fn live_service_add_remove_keeps_other_sessions_and_mutate_rerolls() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, bus) = fleet(dir.path(), 73).await;
    let mut decky_events = bus.subscribe("decky.a.>", Delivery::Lossless).unwrap();

    // Hold a telnet session open on decky a.
    let mut held = TcpStream::connect(("127.0.73.10", 23 + OFFSET))
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = held.read(&mut buf).await.unwrap();
    assert!(n > 0);

    // Removing http and adding it back does not disturb the telnet session.
    let list = fleet.remove_service("a", "http").await.unwrap();
    assert_eq!(list, ["telnet"]);
    assert!(TcpStream::connect(("127.0.73.10", 80 + OFFSET))
        .await
        .is_err());
    assert!(matches!(
        fleet.remove_service("a", "http").await,
        Err(decnet_engine::EngineError::ServiceMissing { .. })
    ));
    let list = fleet.add_service("a", "http", None).await.unwrap();
    assert_eq!(list, ["telnet", "http"]);
    assert!(matches!(
        fleet.add_service("a", "http", None).await,
        Err(decnet_engine::EngineError::ServiceExists { .. })
    ));
    assert!(matches!(
        fleet.add_service("a", "nosuch", None).await,
        Err(decnet_engine::EngineError::UnknownService(_))
    ));
    let mut s = TcpStream::connect(("127.0.73.10", 80 + OFFSET))
        .await
        .unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    assert!(resp.starts_with(b"HTTP/1.0 200") || resp.starts_with(b"HTTP/1.1 200"));
    held.write_all(b"root\r\n").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), held.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(n > 0, "held telnet session still alive");

    let mut kinds = Vec::new();
    while let Some(env) = decky_events.try_recv() {
        kinds.push(env.kind.clone());
    }
    assert!(
        kinds.contains(&"service_removed".to_owned())
            && kinds.contains(&"service_added".to_owned()),
        "{kinds:?}"
    );

    // Mutation: next generation, new hostname, same services.
    let before = fleet
        .summary()
        .await
        .into_iter()
        .find(|d| d.name == "a")
        .unwrap();
    let after = fleet.mutate("a").await.unwrap();
    assert_eq!(after.generation, before.generation + 1);
    assert_ne!(after.hostname, before.hostname);
    assert_eq!(
        after
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>(),
        before
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    );
    let lc = fleet.lifecycle();
    assert!(
        lc.iter()
            .all(|l| l.state == decnet_engine::DeckyState::Running),
        "{lc:?}"
    );
    fleet.teardown("b").await.unwrap();
    let b = fleet
        .lifecycle()
        .into_iter()
        .find(|l| l.name == "b")
        .unwrap();
    assert_eq!(b.state, decnet_engine::DeckyState::Removed);
    fleet.shutdown().await;
}
