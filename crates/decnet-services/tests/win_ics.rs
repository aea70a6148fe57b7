//! LLMNR/NBNS, Modbus/TCP, S7comm (alone and through conpot) and the
//! printer, each driven by a raw client built from its specification
//! (the frames nmap's nbstat/s7-info scripts and Modbus masters send).
#![allow(clippy::unwrap_used)]

mod win_common;

use std::time::Duration;

use decnet_core::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use win_common::*;

async fn udp(addr: &str, q: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(q, addr).await.unwrap();
    let mut b = [0u8; 1500];
    match tokio::time::timeout(Duration::from_millis(500), s.recv_from(&mut b)).await {
        Ok(Ok((n, _))) => Some(b[..n].to_vec()),
        _ => None,
    }
}

fn dns_query(id: u16, labels: &[&[u8]], qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in labels {
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

fn nb_encode(name: &str, suffix: u8) -> Vec<u8> {
    let mut raw = [b' '; 16];
    if name == "*" {
        raw = [0; 16];
        raw[0] = b'*';
    } else {
        for (i, c) in name.bytes().take(15).enumerate() {
            raw[i] = c;
        }
    }
    raw[15] = suffix;
    raw.iter()
        .flat_map(|b| [b'A' + (b >> 4), b'A' + (b & 0xf)])
        .collect()
}

#[tokio::test]
async fn llmnr_and_nbns_answer_own_names_and_log_every_query() {
    let mut env = deploy("127.0.72.40", "services = llmnr\ndistro = windows10\n").await;
    let ctx = env.fleet.summary().await;
    let host = ctx[0].hostname.clone();
    // LLMNR A query for the decky's own name → its address.
    let r = udp(&env.addr(5355), &dns_query(0x1234, &[host.as_bytes()], 1))
        .await
        .expect("answer");
    assert_eq!(&r[..2], &[0x12, 0x34]);
    assert_eq!(r[2] & 0x80, 0x80, "response");
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
    assert_eq!(&r[r.len() - 4..], &[127, 0, 72, 40]);
    let e = env.next(EventKind::Request).await;
    assert_eq!(e.fields["protocol"], "llmnr");
    assert_eq!(e.fields["answered"], true);
    // Someone else's name: logged, not answered.
    assert!(udp(&env.addr(5355), &dns_query(7, &[b"wpad"], 1))
        .await
        .is_none());
    let e = env.next(EventKind::Request).await;
    assert_eq!(e.fields["query"], "wpad");
    assert_eq!(e.fields["answered"], false);

    // NBNS node status (nbtstat -A / nmap nbstat).
    let star = nb_encode("*", 0);
    let r = udp(&env.addr(137), &dns_query(0x4242, &[&star], 0x21))
        .await
        .expect("node status");
    assert_eq!(&r[..2], &[0x42, 0x42]);
    let rd = &r[12 + 34 + 10..];
    let count = rd[0] as usize;
    assert_eq!(count, 4);
    let first = String::from_utf8_lossy(&rd[1..16]).trim().to_owned();
    assert_eq!(
        first,
        host.to_uppercase().chars().take(15).collect::<String>()
    );
    // NB query for the NetBIOS name → address.
    let nb = nb_encode(&first, 0x20);
    let r = udp(&env.addr(137), &dns_query(9, &[&nb], 0x20))
        .await
        .expect("nb");
    assert_eq!(&r[r.len() - 4..], &[127, 0, 72, 40]);
    // Garbage is an error event, not a crash.
    assert!(udp(&env.addr(137), b"\x01").await.is_none());
    env.next(EventKind::Error).await;
}

async fn modbus(s: &mut TcpStream, tid: u16, pdu: &[u8]) -> Vec<u8> {
    let mut f = tid.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    f.push(1);
    f.extend_from_slice(pdu);
    s.write_all(&f).await.unwrap();
    let mut h = [0u8; 7];
    s.read_exact(&mut h).await.unwrap();
    assert_eq!(&h[..2], &tid.to_be_bytes());
    let mut p = vec![0; u16::from_be_bytes([h[4], h[5]]) as usize - 1];
    s.read_exact(&mut p).await.unwrap();
    p
}

#[tokio::test]
async fn modbus_reads_writes_and_identifies() {
    let mut env = deploy("127.0.72.41", "services = modbus\n").await;
    let mut s = TcpStream::connect(env.addr(502)).await.unwrap();
    let r = modbus(&mut s, 1, &[3, 0, 10, 0, 3]).await;
    assert_eq!(&r[..2], &[3, 6]);
    let r = modbus(&mut s, 2, &[6, 0, 10, 0xbe, 0xef]).await;
    assert_eq!(r, vec![6, 0, 10, 0xbe, 0xef]);
    let e = env.next(EventKind::Command).await;
    assert_eq!(e.fields["function"], "write_single_register");
    assert_eq!(e.fields["address"], 10);
    // The write sticks.
    let r = modbus(&mut s, 3, &[3, 0, 10, 0, 1]).await;
    assert_eq!(r, vec![3, 2, 0xbe, 0xef]);
    let r = modbus(&mut s, 4, &[16, 0, 20, 0, 2, 4, 0, 1, 0, 2]).await;
    assert_eq!(r, vec![16, 0, 20, 0, 2]);
    let r = modbus(&mut s, 5, &[1, 0, 0, 0, 9]).await;
    assert_eq!((r[0], r[1]), (1, 2));
    // Out of range / bad quantity / unknown function → exceptions.
    assert_eq!(
        modbus(&mut s, 6, &[3, 0x03, 0xff, 0, 10]).await,
        vec![0x83, 2]
    );
    assert_eq!(modbus(&mut s, 7, &[3, 0, 0, 0, 200]).await, vec![0x83, 3]);
    assert_eq!(modbus(&mut s, 8, &[0x5a]).await, vec![0xda, 1]);
    // Device identification names a Siemens PLC.
    let r = modbus(&mut s, 9, &[0x2b, 0x0e, 1, 0]).await;
    assert_eq!(&r[..3], &[0x2b, 0x0e, 1]);
    assert!(String::from_utf8_lossy(&r).contains("Siemens"));
    // A bad MBAP (protocol id ≠ 0) closes the connection.
    s.write_all(&[0, 1, 0, 9, 0, 2, 1, 3]).await.unwrap();
    let mut b = [0u8; 8];
    assert_eq!(s.read(&mut b).await.unwrap_or(0), 0);
}

async fn tpkt(s: &mut TcpStream, hexframe: &str) -> Vec<u8> {
    s.write_all(&hex::decode(hexframe).unwrap()).await.unwrap();
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.unwrap();
    let mut b = vec![0; u16::from_be_bytes([h[2], h[3]]) as usize - 4];
    s.read_exact(&mut b).await.unwrap();
    let mut all = h.to_vec();
    all.extend_from_slice(&b);
    all
}

/// nmap s7-info's parsing: NUL-terminated string at a 1-based offset.
fn z(b: &[u8], lua_offset: usize) -> String {
    let s = &b[lua_offset - 1..];
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

#[tokio::test]
async fn conpot_serves_s7_identity_and_modbus_on_one_persona() {
    let mut env = deploy(
        "127.0.72.42",
        "services = conpot\n[t.conpot]\nplant = Tank Farm 9\n",
    )
    .await;
    let mut s = TcpStream::connect(env.addr(102)).await.unwrap();
    // The exact frames of nmap's s7-info script.
    let cc = tpkt(&mut s, "0300001611e00000001400c1020100c2020102c0010a").await;
    assert_eq!(cc[5], 0xd0, "COTP connection confirm");
    assert_eq!(&cc[6..8], &[0, 0x14], "destination reference = our source");
    let setup = tpkt(&mut s, "0300001902f08032010000000000080000f0000001000101e0").await;
    assert_eq!((setup[7], setup[8]), (0x32, 3));
    let r = tpkt(
        &mut s,
        "0300002102f080320700000000000800080001120411440100ff09000400110001",
    )
    .await;
    assert!(r.len() >= 125);
    let module = z(&r, 44);
    assert!(module.starts_with("6ES7 "), "{module}");
    assert!(z(&r, 72).starts_with("6ES7 "));
    assert_eq!(r[121], b'V');
    let r = tpkt(
        &mut s,
        "0300002102f080320700000000000800080001120411440100ff090004001c0001",
    )
    .await;
    assert!(z(&r, 78).starts_with("CPU "), "module type");
    assert_eq!(z(&r, 112), "Tank Farm 9", "plant identification");
    assert_eq!(z(&r, 146), "Original Siemens Equipment");
    assert!(z(&r, 180).starts_with("S C-"), "serial");
    let e = env
        .next_with(EventKind::Request, "request", "szl_read")
        .await;
    assert_eq!(e.service, "conpot");
    // S7 write var is recorded as a command.
    tpkt(
        &mut s,
        "0300002402f08032010000000500 0e00 05 0501120a10020001000184000000 00040008ff"
            .replace(' ', "")
            .as_str(),
    )
    .await;
    let e = env.next(EventKind::Command).await;
    assert_eq!(e.fields["function"], "write_var");

    // Modbus on 502 of the same decky names the same module.
    let mut m = TcpStream::connect(env.addr(502)).await.unwrap();
    let r = modbus(&mut m, 1, &[0x2b, 0x0e, 1, 0]).await;
    assert!(String::from_utf8_lossy(&r).contains(&module.trim().to_owned()));
}

#[tokio::test]
async fn printer_answers_pjl_and_ipp_and_captures_jobs() {
    let mut env = deploy(
        "127.0.72.43",
        "services = printer\n[t.printer]\nmodel = HP LaserJet 4250\n",
    )
    .await;
    let mut s = TcpStream::connect(env.addr(9100)).await.unwrap();
    s.write_all(b"\x1b%-12345X@PJL INFO ID\r\n").await.unwrap();
    let mut b = vec![0u8; 256];
    let n = s.read(&mut b).await.unwrap();
    assert_eq!(&b[..n], b"@PJL INFO ID\r\n\"HP LaserJet 4250\"\r\n\x0c");
    s.write_all(b"@PJL FSDIRLIST NAME=\"0:\\..\\..\\etc\" ENTRY=1\r\n%!PS\nsecret job\nshowpage\n")
        .await
        .unwrap();
    drop(s);
    let e = env.next_with(EventKind::Command, "protocol", "pjl").await;
    assert_eq!(e.fields["command"], "@PJL INFO ID");
    let e = env.next(EventKind::FileUpload).await;
    assert_eq!(e.fields["protocol"], "jetdirect");
    let sha = e.fields["sha256"].as_str().unwrap();
    let stored = std::fs::read(env.dir.path().join("artifacts").join(sha)).unwrap();
    assert_eq!(stored, b"%!PS\nsecret job\nshowpage");

    // IPP Get-Printer-Attributes then Print-Job over one keep-alive connection.
    let mut s = TcpStream::connect(env.addr(631)).await.unwrap();
    fn attr(b: &mut Vec<u8>, tag: u8, n: &str, v: &[u8]) {
        b.push(tag);
        b.extend_from_slice(&(n.len() as u16).to_be_bytes());
        b.extend_from_slice(n.as_bytes());
        b.extend_from_slice(&(v.len() as u16).to_be_bytes());
        b.extend_from_slice(v);
    }
    let ipp = |op: u16, extra: &[u8]| {
        let mut b = vec![2, 0];
        b.extend_from_slice(&op.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.push(1);
        attr(&mut b, 0x47, "attributes-charset", b"utf-8");
        attr(&mut b, 0x48, "attributes-natural-language", b"en");
        attr(&mut b, 0x45, "printer-uri", b"ipp://127.0.72.43/ipp/print");
        attr(&mut b, 0x42, "job-name", b"q3-salaries.pdf");
        b.push(3);
        b.extend_from_slice(extra);
        b
    };
    let mut resp = Vec::new();
    for (op, doc) in [(0x0b, &b""[..]), (0x02, &b"%PDF-1.4 salaries"[..])] {
        let body = ipp(op, doc);
        let req = format!(
            "POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..i]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if got.len() >= i + 4 + len {
                    resp.push(got[i + 4..i + 4 + len].to_vec());
                    break;
                }
            }
        }
    }
    let attrs = &resp[0];
    assert_eq!(&attrs[2..4], &[0, 0], "successful-ok");
    let text = String::from_utf8_lossy(attrs);
    assert!(text.contains("printer-make-and-model"));
    assert!(text.contains("HP LaserJet 4250"));
    assert!(String::from_utf8_lossy(&resp[1]).contains("job-id"));
    let e = env
        .next_with(EventKind::FileUpload, "protocol", "ipp")
        .await;
    assert_eq!(e.fields["filename"], "q3-salaries.pdf");
}
