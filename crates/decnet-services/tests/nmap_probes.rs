//! `nmap -sV` against telnet and redis: the probes nmap sends to a port
//! whose banner it does not recognise (bytes as in nmap's
//! `nmap-service-probes`) are recorded as one `scan` event (`event_type`
//! `probe`) per connection, never as login attempts or redis commands.
//! redis's own probe (a RESP `info`) is still a command.
#![allow(clippy::unwrap_used)]

mod db_common;

use std::time::{Duration, Instant};

use db_common::deploy;
use decnet_bus::Subscription;
use decnet_core::{Event, EventKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// nmap's GetRequest probe.
const GET_REQUEST: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
/// nmap's RTSPRequest probe.
const RTSP_REQUEST: &[u8] = b"OPTIONS / RTSP/1.0\r\n\r\n";
/// nmap's SIPOptions probe.
const SIP_OPTIONS: &[u8] = b"OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/TCP nm;branch=foo\r\nFrom: <sip:nm@nm>;tag=root\r\nTo: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\nContact: <sip:nm@nm>\r\nAccept: application/sdp\r\n\r\n";
/// nmap's redis-server probe: real RESP, a real command.
const REDIS_INFO: &[u8] = b"*1\r\n$4\r\ninfo\r\n";

/// Sends `probe` on a fresh connection as nmap does (one write, then a
/// wait for the answer), closes, and returns the session's events and
/// what the service answered.
async fn probe_once(addr: &str, sub: &mut Subscription, probe: &[u8]) -> (Vec<Event>, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(probe).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_millis(600);
    while let Ok(Ok(n)) = tokio::time::timeout(
        until.saturating_duration_since(Instant::now()),
        s.read(&mut buf),
    )
    .await
    {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    drop(s);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.iter().any(|e: &Event| e.kind == EventKind::Disconnect) {
        let left = deadline.saturating_duration_since(Instant::now());
        let env = tokio::time::timeout(left, sub.recv())
            .await
            .expect("events")
            .unwrap();
        seen.push(Event::clone(env.as_event().unwrap()));
    }
    (seen, String::from_utf8_lossy(&answer).into_owned())
}

fn probes_of(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Scan && e.field_str("event_type") == Some("probe"))
        .map(|e| {
            (
                e.field_str("probe").unwrap_or_default().to_owned(),
                e.field_str("taken_as").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn kinds(events: &[Event], kind: EventKind) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

#[tokio::test]
async fn telnet_records_nmap_probes_as_scans_not_logins() {
    let mut d = deploy("127.0.63.201", "services = telnet\ndistro = debian").await;
    let addr = d.addr(23);
    for (probe, first_line) in [
        (GET_REQUEST, "GET / HTTP/1.0"),
        (RTSP_REQUEST, "OPTIONS / RTSP/1.0"),
        (SIP_OPTIONS, "OPTIONS sip:nm SIP/2.0"),
    ] {
        let (events, answer) = probe_once(&addr, &mut d.sub, probe).await;
        assert_eq!(kinds(&events, EventKind::AuthAttempt), 0, "{events:?}");
        assert_eq!(
            probes_of(&events),
            [(first_line.to_owned(), "login".to_owned())],
            "one probe event per connection: {events:?}"
        );
        // Answered as login(1) answers a wrong login.
        assert!(answer.contains("Login incorrect"), "{answer:?}");
    }
    // A real login attempt is still one.
    let (events, _) = probe_once(&addr, &mut d.sub, b"admin\r\nadmin\r\n").await;
    assert_eq!(kinds(&events, EventKind::AuthAttempt), 1, "{events:?}");
    assert!(probes_of(&events).is_empty());
    d.stop().await;
}

#[tokio::test]
async fn redis_records_nmap_probes_as_scans_not_commands() {
    let mut d = deploy("127.0.63.202", "services = redis\ndistro = debian").await;
    let addr = d.addr(6379);
    let (events, answer) = probe_once(&addr, &mut d.sub, SIP_OPTIONS).await;
    assert_eq!(kinds(&events, EventKind::Command), 0, "{events:?}");
    assert_eq!(
        probes_of(&events),
        [("OPTIONS sip:nm SIP/2.0".to_owned(), "command".to_owned())]
    );
    // Still answered line by line, as redis-server answers inline text
    // (Redis 7 leaves a space after each quoted argument).
    assert!(
        answer.starts_with(
            "-ERR unknown command 'OPTIONS', with args beginning with: 'sip:nm' 'SIP/2.0' \r\n"
        ),
        "{answer:?}"
    );
    assert_eq!(answer.matches("-ERR").count(), 10, "{answer:?}");

    let (events, answer) = probe_once(&addr, &mut d.sub, GET_REQUEST).await;
    assert_eq!(kinds(&events, EventKind::Command), 0, "{events:?}");
    assert_eq!(probes_of(&events).len(), 1);
    assert!(answer.starts_with("-ERR"), "{answer:?}");

    // nmap's redis probe speaks RESP: a command, answered with INFO.
    let (events, answer) = probe_once(&addr, &mut d.sub, REDIS_INFO).await;
    assert_eq!(kinds(&events, EventKind::Command), 1, "{events:?}");
    assert!(probes_of(&events).is_empty());
    assert!(answer.contains("redis_version:"), "{answer:?}");
    // Typed inline by hand: still a command.
    let (events, _) = probe_once(&addr, &mut d.sub, b"CONFIG GET dir\r\n").await;
    assert_eq!(kinds(&events, EventKind::Command), 1, "{events:?}");
    assert!(probes_of(&events).is_empty());
    d.stop().await;
}
