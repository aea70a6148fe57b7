//! The event log file and syslog forwarding over UDP and TCP (RFC 6587 octet counting).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, MemoryBus};
use decnet_core::{Event, EventKind};
use decnet_engine::{EventLog, SyslogTarget};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

fn event(i: usize) -> Event {
    let mut e =
        Event::new("web01", "ssh", EventKind::AuthAttempt).with("username", format!("user{i}"));
    e.src_ip = "127.0.0.9".parse().unwrap();
    e
}

#[tokio::test]
async fn udp_forwarding_and_file_flush() {
    let dir = tempfile::tempdir().unwrap();
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target =
        SyslogTarget::parse(&format!("udp://{}", collector.local_addr().unwrap())).unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let path = dir.path().join("decnet.log");
    let log = EventLog::start(&bus, &path, Some(target)).await.unwrap();
    for i in 0..50 {
        bus.publish_event(event(i));
    }
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while got.len() < 50 {
        let n = tokio::time::timeout(Duration::from_secs(5), collector.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    assert!(
        got[0].starts_with("<134>1 ") && got[0].contains("username=\"user0\""),
        "{}",
        got[0]
    );
    assert!(got[49].contains("username=\"user49\""));
    assert_eq!(log.finish().await.written, 50);
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(file.lines().count(), 50);
    assert_eq!(file.lines().next().unwrap(), got[0]);
}

#[tokio::test]
async fn tcp_forwarding_uses_octet_counting() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = SyslogTarget::parse(&format!("tcp://{}", listener.local_addr().unwrap())).unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let log = EventLog::start(&bus, &dir.path().join("decnet.log"), Some(target))
        .await
        .unwrap();
    for i in 0..3 {
        bus.publish_event(event(i));
    }
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.finish().await.written, 3);
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await.unwrap();
    // Parse "LEN SP MSG" frames.
    let mut rest = raw.as_str();
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        frames.push(&tail[..len]);
        rest = &tail[len..];
    }
    assert_eq!(frames.len(), 3);
    assert!(frames[2].contains("username=\"user2\"") && frames[2].ends_with("login attempt"));
    assert!(SyslogTarget::parse("tls://x:1").is_err());
}
