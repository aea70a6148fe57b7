//! Robustness: random and half-valid frames thrown at every Windows/ICS
//! service of one decky (SMB2 headers with random bodies, MBAP with random
//! PDUs, TPKT/COTP with random S7, random TSRequests after a real X.224
//! exchange, random RFB, random IPP/PJL, random LLMNR/NBNS datagrams).
//! No handler may panic, and every service must still answer afterwards.
#![allow(clippy::unwrap_used)]

mod win_common;

use std::time::Duration;

use decnet_core::EventKind;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use win_common::*;

async fn poke(addr: &str, payload: &[u8]) {
    let Ok(Ok(mut s)) =
        tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await
    else {
        panic!("{addr} refused a connection");
    };
    let _ = s.write_all(payload).await;
    let _ = s.shutdown().await;
    let mut b = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut b)).await;
}

fn frames() -> Vec<(u16, Vec<u8>)> {
    let mut runner = TestRunner::new(Config {
        cases: 40,
        ..Config::default()
    });
    let strat = proptest::collection::vec(any::<u8>(), 0..600);
    let mut out = Vec::new();
    for _ in 0..40 {
        let body = strat.new_tree(&mut runner).unwrap().current();
        // SMB2: valid NetBIOS + protocol id, random rest.
        let mut smb = b"\xfeSMB".to_vec();
        smb.extend_from_slice(&body);
        let mut f = vec![0, 0, (smb.len() >> 8) as u8, smb.len() as u8];
        f.extend_from_slice(&smb);
        out.push((445, f));
        out.push((445, body.clone()));
        out.push((139, body.clone()));
        // Modbus: valid MBAP, random PDU.
        let pdu = &body[..body.len().min(200)];
        let mut m = vec![0, 1, 0, 0];
        m.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        m.push(1);
        m.extend_from_slice(pdu);
        out.push((502, m));
        // S7: CR then DT with random S7 payload.
        let mut s7 = hex::decode("0300001611e00000001400c1020100c2020102c0010a").unwrap();
        let mut dt = vec![3, 0, 0, 0, 2, 0xf0, 0x80, 0x32];
        dt.extend_from_slice(pdu);
        let n = dt.len() as u16;
        dt[2..4].copy_from_slice(&n.to_be_bytes());
        s7.extend_from_slice(&dt);
        out.push((102, s7));
        // RDP: random after a plain X.224 CR.
        let mut rdp =
            b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x00\x00\x00\x00"
                .to_vec();
        rdp.extend_from_slice(&body);
        out.push((3389, rdp));
        out.push((3389, body.clone()));
        // VNC: random version/response.
        out.push((5900, body.clone()));
        // Printer.
        let mut ipp = format!(
            "POST / HTTP/1.1\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        ipp.extend_from_slice(&body);
        out.push((631, ipp));
        let mut pjl = b"\x1b%-12345X@PJL ".to_vec();
        pjl.extend_from_slice(&body);
        out.push((9100, pjl));
    }
    out
}

#[tokio::test]
async fn random_input_never_breaks_a_service() {
    let mut env = deploy(
        "127.0.72.60",
        "services = smb, rdp, vnc, llmnr, conpot, printer\ndistro = windows2019\n",
    )
    .await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (port, payload) in frames() {
        poke(&env.addr(port), &payload).await;
        if port == 445 {
            let _ = udp
                .send_to(&payload[..payload.len().min(512)], env.addr(5355))
                .await;
            let _ = udp
                .send_to(&payload[..payload.len().min(512)], env.addr(137))
                .await;
        }
    }
    // No handler panicked (the listener turns panics into error events).
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(300), env.sub.recv()).await
    {
        let e = ev.as_event().unwrap();
        if e.kind == EventKind::Error {
            let msg = e.fields.get("error").and_then(|v| v.as_str()).unwrap_or("");
            assert!(!msg.contains("panic"), "{}: {msg}", e.service);
        }
    }
    // Every service still answers.
    let mut s = TcpStream::connect(env.addr(5900)).await.unwrap();
    let mut v = [0u8; 12];
    s.read_exact(&mut v).await.unwrap();
    assert_eq!(&v, b"RFB 003.008\n");
    let mut s = TcpStream::connect(env.addr(502)).await.unwrap();
    s.write_all(&[0, 9, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1])
        .await
        .unwrap();
    let mut r = [0u8; 11];
    s.read_exact(&mut r).await.unwrap();
    assert_eq!(&r[7..9], &[3, 2]);
    let mut s = TcpStream::connect(env.addr(3389)).await.unwrap();
    s.write_all(b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00")
        .await
        .unwrap();
    let mut cc = [0u8; 19];
    s.read_exact(&mut cc).await.unwrap();
    assert_eq!(cc[5], 0xd0);
    // The UDP responder survived too (a panic there would end its loop).
    let mut q = vec![0x55, 0x55, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x20, b'C', b'K'];
    q.extend_from_slice(&[b'A'; 30]);
    q.extend_from_slice(&[0, 0, 0x21, 0, 1]);
    udp.send_to(&q, env.addr(137)).await.unwrap();
    let mut b = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), udp.recv_from(&mut b))
        .await
        .expect("nbns still answers")
        .unwrap();
    assert_eq!(&b[..2], &[0x55, 0x55]);
    assert!(n > 60);
    let mut s = TcpStream::connect(env.addr(445)).await.unwrap();
    s.write_all(&[0, 0, 0, 1, 0]).await.unwrap();
    let mut b = [0u8; 4];
    let _ = s.read(&mut b).await;
}
