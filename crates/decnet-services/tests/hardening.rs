//! Attacks found against a running fleet, reproduced: a full artifact
//! quota answered like a full disk (FTP 452, SMTP 452 4.3.1) and counted
//! as `artifact_dropped` events; one source cannot starve a decky; a burst
//! of failed logins whose clients leave at once never turns anyone away.
#![allow(clippy::unwrap_used)]

mod webmail_util;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_core::EventKind;
use decnet_services::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use webmail_util::{pasv_addr, s, Client, Env};

/// Anonymous FTP STOR of `payload`; returns the final reply.
async fn ftp_stor(c: &mut Client<TcpStream>, name: &str, payload: &[u8]) -> String {
    let r = c.cmd("PASV").await;
    let mut d = TcpStream::connect(pasv_addr(&r)).await.unwrap();
    assert!(c.cmd(&format!("STOR {name}")).await.starts_with("150"));
    // The server may close the data connection early (no space): ignore
    // the write error, the control reply says what happened.
    let _ = d.write_all(payload).await;
    drop(d);
    c.line().await
}

fn artifact_files(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.dir.path().join("artifacts"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn full_artifact_quota_is_a_full_disk_for_ftp_and_smtp() {
    let ini = "[general]\nnet = 127.0.63.0/24\n\n[q1]\nip = 127.0.63.10\nservices = ftp, smtp\ndistro = debian\n";
    let limits = Limits {
        auth_fail_delay: Duration::from_millis(10),
        artifact_quota: 4096,
        ..Limits::default()
    };
    let mut env = Env::start(ini, 20900, limits).await;
    let mut c = Client::new(
        TcpStream::connect(env.addr("127.0.63.10", 21))
            .await
            .unwrap(),
    );
    assert!(c.line().await.starts_with("220"));
    assert!(c.cmd("USER anonymous").await.starts_with("331"));
    assert!(c.cmd("PASS x@y").await.starts_with("230"));

    // Fits: stored.
    let small = b"small file\n".repeat(100);
    assert!(ftp_stor(&mut c, "a.txt", &small).await.starts_with("226"));
    env.wait_kind("ftp", EventKind::FileUpload, |_| true).await;
    // Over the quota: refused like a full disk, and nothing left on disk.
    let big = vec![0x41u8; 64 * 1024];
    let r = ftp_stor(&mut c, "b.bin", &big).await;
    assert!(r.starts_with("452"), "{r}");
    let dropped = env
        .wait_kind("ftp", EventKind::Error, |e| {
            e.fields.get("artifact_dropped") == Some(&true.into())
        })
        .await;
    assert_eq!(s(&dropped, "reason"), "quota");
    assert_eq!(s(&dropped, "filename"), "b.bin");
    let files = artifact_files(&env);
    assert_eq!(files.len(), 1, "{files:?}");
    // The session goes on: what still fits is stored.
    assert!(ftp_stor(&mut c, "c.txt", b"tiny\n")
        .await
        .starts_with("226"));

    // SMTP: a message over the quota gets Postfix's "insufficient storage".
    let mut m = Client::new(
        TcpStream::connect(env.addr("127.0.63.10", 25))
            .await
            .unwrap(),
    );
    assert!(m.line().await.starts_with("220"));
    m.send("HELO x\r\n").await;
    assert!(m.line().await.starts_with("250"));
    assert!(m.cmd("MAIL FROM:<a@b.c>").await.starts_with("250"));
    assert!(m.cmd("RCPT TO:<root>").await.starts_with("250"));
    assert!(m.cmd("DATA").await.starts_with("354"));
    let line = format!("{}\r\n", "x".repeat(900));
    for _ in 0..20 {
        m.send(&line).await;
    }
    let r = m.cmd(".").await;
    assert_eq!(r, "452 4.3.1 Insufficient system storage\r\n");
    env.wait_kind("smtp", EventKind::Error, |e| {
        e.fields.get("artifact_dropped") == Some(&true.into())
    })
    .await;
    assert_eq!(artifact_files(&env).len(), 2);
    let usage = decnet_services::artifacts::usage(&env.dir.path().join("deckies").join("q1"))
        .expect("usage");
    assert!(usage.used <= usage.quota && usage.dropped >= 2, "{usage:?}");
    env.stop().await;
}

/// A connection from `src` to `addr`.
async fn connect_from(src: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(format!("{src}:0").parse().unwrap())?;
    sock.connect(addr).await
}

/// Reads until `needle` or `limit` passes; true when it came.
async fn read_until(s: &mut TcpStream, needle: &[u8], limit: Duration) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let fut = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(needle.len()).any(|w| w == needle) {
                        return true;
                    }
                }
            }
        }
    };
    tokio::time::timeout(limit, fut).await.unwrap_or(false)
}

#[tokio::test]
async fn one_source_holding_idle_sockets_cannot_starve_the_decky() {
    let ini = "[general]\nnet = 127.0.63.0/24\n\n[q2]\nip = 127.0.63.20\nservices = telnet, http\ndistro = debian\n";
    let limits = Limits {
        max_conns_per_decky: 64,
        max_conns_per_source: 16,
        ..Limits::default()
    };
    let mut env = Env::start(ini, 20900, limits).await;
    let telnet = env.addr("127.0.63.20", 23);
    let http = env.addr("127.0.63.20", 80);
    // The attacker opens far more idle sockets than the decky has slots.
    let mut held = Vec::new();
    for i in 0..200 {
        let to = if i % 2 == 0 { telnet } else { http };
        if let Ok(s) = connect_from("127.0.63.99", to).await {
            held.push(s);
        }
    }
    // Everyone else is still served.
    let mut t = connect_from("127.0.63.98", telnet).await.unwrap();
    assert!(
        read_until(&mut t, b"login: ", Duration::from_secs(5)).await,
        "telnet banner for a second source"
    );
    let mut h = connect_from("127.0.63.98", http).await.unwrap();
    h.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_until(&mut h, b"HTTP/1.1 200", Duration::from_secs(5)).await,
        "http answer for a second source"
    );
    let refused = env
        .wait_kind("telnet", EventKind::Error, |e| {
            s(e, "reason") == "source_full"
        })
        .await;
    assert!(s(&refused, "error").contains("per source"));
    drop(held);
    env.stop().await;
}

#[tokio::test]
async fn failed_login_burst_whose_clients_leave_never_turns_anyone_away() {
    // 3,000 wrong-password telnet logins, 32 at a time, each client gone
    // right after its password, against the stock 2 s failure delay.
    let ini = "[general]\nnet = 127.0.63.0/24\n\n[q3]\nip = 127.0.63.30\nservices = telnet\ndistro = debian\n";
    let mut env = Env::start(ini, 20900, Limits::default()).await;
    let addr = env.addr("127.0.63.30", 23);
    let bannered = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (bannered, next) = (bannered.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < 3000 {
                    let Ok(mut s) = connect_from("127.0.63.97", addr).await else {
                        continue;
                    };
                    if !read_until(&mut s, b"login: ", Duration::from_secs(5)).await {
                        continue;
                    }
                    bannered.fetch_add(1, Ordering::Relaxed);
                    let _ = s.write_all(b"root\r\n").await;
                    if read_until(&mut s, b"Password: ", Duration::from_secs(5)).await {
                        let _ = s.write_all(b"wrong\r\n").await;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(120), w)
            .await
            .expect("burst within two minutes")
            .unwrap();
    }
    let mut reasons = std::collections::BTreeMap::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), env.sub.recv()).await {
        if let Some(e) = e.as_event() {
            if e.kind == EventKind::Error {
                *reasons
                    .entry(
                        e.fields
                            .get("reason")
                            .cloned()
                            .unwrap_or_default()
                            .to_string(),
                    )
                    .or_insert(0) += 1;
            }
        }
    }
    assert_eq!(
        bannered.load(Ordering::Relaxed),
        3000,
        "every login got a banner (took {:?}; refusals {reasons:?})",
        started.elapsed()
    );
    env.stop().await;
}
