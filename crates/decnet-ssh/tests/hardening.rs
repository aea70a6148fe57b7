//! Attacks on the SSH side of a decky, reproduced with a real SSH client:
//! uploads over the artifact quota are failures the client sees (SFTP
//! SSH_FX_FAILURE, scp's "No space left on device"), and one source
//! holding idle sockets to ssh, telnet and http does not keep a second
//! source from getting their banners.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{connect, decky_ctx_with, events_until, wait_ack};
use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::EventKind;
use decnet_services::protocols::remote::telnet::Telnet;
use decnet_services::protocols::web::http::Http;
use decnet_services::{start_service, Limits, Service};
use russh::ChannelMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

const OFFSET: u16 = 36300;

#[tokio::test]
async fn uploads_over_the_quota_fail_like_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let limits = Limits {
        auth_fail_delay: Duration::from_millis(10),
        artifact_quota: 4096,
        ..Limits::default()
    };
    let ctx = decky_ctx_with(
        "127.0.61.40",
        bus.clone() as Arc<dyn Bus>,
        dir.path().to_owned(),
        "services = ssh\n[t{n}.ssh]\npassword = toor\n",
        limits,
        OFFSET,
    );
    let cancel = CancellationToken::new();
    let running = start_service(ctx.clone(), &decnet_ssh::Ssh, &cancel)
        .await
        .unwrap();
    let mut h = connect(running.addrs[0].1).await;
    assert!(h
        .authenticate_password("root", "toor")
        .await
        .unwrap()
        .success());

    // SFTP: the write (or the close) fails, the file is not kept.
    let ch = h.channel_open_session().await.unwrap();
    ch.request_subsystem(true, "sftp").await.unwrap();
    let sftp = russh_sftp::client::SftpSession::new(ch.into_stream())
        .await
        .unwrap();
    let mut f = sftp.create("/root/big.bin").await.unwrap();
    let body = vec![0x55u8; 64 * 1024];
    let wrote = f.write_all(&body).await;
    let closed = f.shutdown().await;
    assert!(
        wrote.is_err() || closed.is_err(),
        "the client must see the upload fail"
    );
    drop(f);
    let evs = events_until(&mut sub, |e| {
        e.iter()
            .any(|x| x.kind == EventKind::Error && x.fields.get("artifact_dropped").is_some())
    })
    .await;
    assert!(!evs.iter().any(|e| e.kind == EventKind::FileUpload));

    // scp: the acknowledgement becomes scp's error line, exit status 1.
    let mut ch = h.channel_open_session().await.unwrap();
    ch.exec(true, "scp -t /tmp").await.unwrap();
    assert_eq!(wait_ack(&mut ch).await, vec![0]);
    let payload = vec![0x66u8; 8192];
    ch.data(format!("C0644 {} x.bin\n", payload.len()).as_bytes())
        .await
        .unwrap();
    assert_eq!(wait_ack(&mut ch).await, vec![0]);
    ch.data(&payload[..]).await.unwrap();
    ch.data(&[0u8][..]).await.unwrap();
    assert_eq!(
        wait_ack(&mut ch).await,
        b"\x01scp: /tmp/x.bin: No space left on device\n"
    );
    ch.eof().await.unwrap();
    let mut status = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), ch.wait()).await {
        if let ChannelMsg::ExitStatus { exit_status } = msg {
            status = Some(exit_status);
        }
    }
    assert_eq!(status, Some(1));
    let files: Vec<_> = std::fs::read_dir(dir.path().join("artifacts"))
        .map(|rd| rd.flatten().collect())
        .unwrap_or_default();
    assert!(files.is_empty(), "{files:?}");
    running.stop().await;
}

async fn connect_from(src: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(format!("{src}:0").parse().unwrap())?;
    sock.connect(addr).await
}

async fn first_bytes(s: &mut TcpStream, want: &[u8]) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let fut = async {
        while !got.windows(want.len()).any(|w| w == want) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .unwrap_or(false)
}

#[tokio::test]
async fn slowloris_from_one_source_leaves_ssh_telnet_and_http_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let limits = Limits {
        max_conns_per_decky: 96,
        max_conns_per_source: 24,
        ..Limits::default()
    };
    let ctx = decky_ctx_with(
        "127.0.61.41",
        bus as Arc<dyn Bus>,
        dir.path().to_owned(),
        "services = ssh, telnet, http\n",
        limits,
        OFFSET,
    );
    let cancel = CancellationToken::new();
    let services: [&dyn Service; 3] = [&decnet_ssh::Ssh, &Telnet, &Http];
    let mut running = Vec::new();
    for s in services {
        running.push(start_service(ctx.clone(), s, &cancel).await.unwrap());
    }
    let addrs: Vec<SocketAddr> = running.iter().map(|r| r.addrs[0].1).collect();
    // The attacker: 300 sockets that never say a word (or half a request).
    let mut held = Vec::new();
    for i in 0..300 {
        if let Ok(mut s) = connect_from("127.0.61.99", addrs[i % 3]).await {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nX-a: b").await;
            held.push(s);
        }
    }
    let (ssh, telnet, http) = (addrs[0], addrs[1], addrs[2]);
    let mut s = connect_from("127.0.61.98", ssh).await.unwrap();
    assert!(first_bytes(&mut s, b"SSH-2.0-").await, "ssh banner");
    let mut t = connect_from("127.0.61.98", telnet).await.unwrap();
    assert!(first_bytes(&mut t, b"login: ").await, "telnet banner");
    let mut w = connect_from("127.0.61.98", http).await.unwrap();
    w.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(first_bytes(&mut w, b"HTTP/1.1 ").await, "http answer");
    assert!(ctx.slots.held_by("127.0.61.99".parse().unwrap()) <= 24);
    drop(held);
    for r in running {
        r.stop().await;
    }
}
