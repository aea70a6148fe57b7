//! The syslog CEF channel to real sockets: one UDP datagram per alert,
//! octet-counted frames over TCP and over TLS (RFC 5425), reconnecting
//! after the collector drops the connection.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use decnet_alerts::channels::{self, Channel, ChannelContext};
use decnet_alerts::{Alert, AlertsConfig};
use tokio::io::{AsyncRead, AsyncReadExt};

fn chan(ini: &str) -> Arc<dyn Channel> {
    let cfg = AlertsConfig::from_ini(ini).unwrap();
    let ctx = ChannelContext {
        node: "node1".into(),
        link: None,
    };
    channels::build(&cfg.channels[0], &ctx).unwrap()
}

/// Reads one octet-counted frame (`LEN SP MSG`).
async fn frame(r: &mut (impl AsyncRead + Unpin)) -> String {
    let mut len = Vec::new();
    loop {
        let b = r.read_u8().await.unwrap();
        if b == b' ' {
            break;
        }
        assert!(b.is_ascii_digit());
        len.push(b);
    }
    let n: usize = String::from_utf8(len).unwrap().parse().unwrap();
    let mut buf = vec![0; n];
    r.read_exact(&mut buf).await.unwrap();
    String::from_utf8(buf).unwrap()
}

fn check(msg: &str, a: &Alert) {
    assert!(msg.starts_with("<134>1 "), "{msg}");
    let cef = &msg[msg.find("CEF:0|").expect("CEF record")..];
    let header: Vec<&str> = cef.splitn(8, '|').collect();
    assert_eq!(header.len(), 8);
    assert_eq!(&header[1..3], &["decnet", "decnet"]);
    assert_eq!(header[4], a.rule);
    assert_eq!(header[6], "1");
    assert!(header[7].contains(&format!("externalId={}", a.id)));
}

#[tokio::test]
async fn udp_datagrams() {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ch = chan(&format!(
        "[alerts.siem]\ntype = syslog\naddress = {}\n",
        sock.local_addr().unwrap()
    ));
    let a = Alert::test("siem");
    ch.send(&a).await.unwrap();
    let mut buf = vec![0; 65536];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    check(std::str::from_utf8(&buf[..n]).unwrap(), &a);
}

#[tokio::test]
async fn tcp_frames_and_reconnect() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ch = chan(&format!(
        "[alerts.siem]\ntype = syslog\nprotocol = tcp\naddress = {}\n",
        l.local_addr().unwrap()
    ));
    let a = Alert::test("siem");
    let b = Alert::test("siem2");
    ch.send(&a).await.unwrap();
    ch.send(&b).await.unwrap();
    let (mut s, _) = l.accept().await.unwrap();
    check(&frame(&mut s).await, &a);
    check(&frame(&mut s).await, &b);
    drop(s); // the collector goes away
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The next send may still hit the dead socket (the kernel accepts the
    // write); a retry then reconnects.
    let c = Alert::test("siem3");
    let mut delivered = false;
    for _ in 0..3 {
        if ch.send(&c).await.is_ok() {
            if let Ok(Ok((mut s2, _))) =
                tokio::time::timeout(Duration::from_millis(500), l.accept()).await
            {
                check(&frame(&mut s2).await, &c);
                delivered = true;
                break;
            }
        }
    }
    assert!(
        delivered,
        "reconnected after the collector dropped the connection"
    );
}

#[tokio::test]
async fn tls_frames() {
    let id = common::identity();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ch = chan(&format!(
        "[alerts.siem]\ntype = syslog\nprotocol = tls\naddress = {}\nca_file = {}\n",
        l.local_addr().unwrap(),
        id.ca_file.display()
    ));
    let a = Alert::test("siem");
    let send = tokio::spawn({
        let ch = ch.clone();
        let a = a.clone();
        async move { ch.send(&a).await }
    });
    let (s, _) = l.accept().await.unwrap();
    let mut tls = tokio_rustls::TlsAcceptor::from(id.server.clone())
        .accept(s)
        .await
        .unwrap();
    check(&frame(&mut tls).await, &a);
    send.await.unwrap().unwrap();
}
