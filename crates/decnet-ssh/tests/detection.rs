//! Public honeypot-detection checks (Kippo/Cowrie tells, HASSHServer)
//! run against a Debian 12 SSH decky with a real SSH client (russh) and
//! raw sockets. Each check, with its public source, is listed in
//! `scripts/realism/DETECTION.md`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{connect, Client};
use decnet_bus::MemoryBus;
use decnet_services::{start_service, Limits, RunningService};
use russh::client;
use russh::ChannelMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const OFFSET: u16 = 36300;

/// HASSHServer of Debian 12's sshd (openssh-server 1:9.2p1-2+deb12u10,
/// default sshd_config): md5 of its KEXINIT's kex;enc_s2c;mac_s2c;cmp_s2c,
/// read from the real sshd on 2026-12-07 (`scripts/realism` machine).
const DEBIAN12_HASSH_SERVER: &str = "425d29fe50d8e4f5e37efb6e24bcf660";

struct Decky {
    running: RunningService,
    _cancel: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn start(ip: &str) -> Decky {
    let dir = tempfile::tempdir().unwrap();
    let ctx = common::decky_ctx_with(
        ip,
        MemoryBus::new(),
        dir.path().to_owned(),
        "services = ssh\ndistro = debian\n[t{n}.ssh]\npassword = toor\n",
        Limits::default(),
        OFFSET,
    );
    let cancel = CancellationToken::new();
    let running = start_service(ctx, &decnet_ssh::Ssh, &cancel).await.unwrap();
    Decky {
        running,
        _cancel: cancel,
        _dir: dir,
    }
}

impl Decky {
    fn addr(&self) -> std::net::SocketAddr {
        self.running.addrs[0].1
    }
}

/// Everything the server sends within `wait` after `send`.
async fn raw(addr: std::net::SocketAddr, send: &[u8], wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(send).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(wait, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn name_lists(payload: &[u8]) -> Vec<String> {
    let mut p = &payload[17..];
    let mut out = Vec::new();
    for _ in 0..10 {
        let n = u32::from_be_bytes(p[..4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&p[4..4 + n]).into_owned());
        p = &p[4 + n..];
    }
    out
}

#[tokio::test]
async fn hassh_server_is_the_claimed_openssh_releases() {
    let d = start("127.0.61.71").await;
    let out = raw(
        d.addr(),
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n",
        Duration::from_millis(500),
    )
    .await;
    let nl = out.iter().position(|&b| b == b'\n').unwrap();
    assert_eq!(&out[..nl], b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r");
    let pkt = &out[nl + 1..];
    let len = u32::from_be_bytes(pkt[..4].try_into().unwrap()) as usize;
    let payload = &pkt[5..4 + len - pkt[4] as usize];
    assert_eq!(payload[0], 20, "KEXINIT");
    let l = name_lists(payload);
    let algorithms = format!("{};{};{};{}", l[0], l[3], l[5], l[7]);
    assert_eq!(
        decnet_ssh::hello::hassh(&algorithms),
        DEBIAN12_HASSH_SERVER,
        "{algorithms}"
    );
}

#[tokio::test]
async fn kippo_version_and_junk_tells_are_absent() {
    let d = start("127.0.61.72").await;
    let wait = Duration::from_millis(400);
    // Kippo answered an SSH-1.x client with "bad version"; OpenSSH says
    // the major versions differ.
    let out = String::from_utf8_lossy(&raw(d.addr(), b"SSH-1.5-Nmap\r\n", wait).await).into_owned();
    assert!(out.contains("Protocol major versions differ."), "{out}");
    assert!(!out.to_lowercase().contains("bad version"), "{out}");
    // SSH-1.99 is a protocol 2 client to OpenSSH: it gets a KEXINIT.
    let out = raw(d.addr(), b"SSH-1.99-OpenSSH_3.9\r\n", wait).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("curve25519-sha256"), "{text}");
    // Non-SSH junk: OpenSSH's refusal, never Kippo's "bad packet length".
    let out =
        String::from_utf8_lossy(&raw(d.addr(), b"GET / HTTP/1.0\r\n\r\n", wait).await).into_owned();
    assert!(out.contains("Invalid SSH identification string."), "{out}");
    // A corrupt first packet after a good identification: the connection
    // ends without a plaintext complaint.
    let mut bad = b"SSH-2.0-OpenSSH_9.2p1\r\n".to_vec();
    bad.extend_from_slice(&[0xff; 64]);
    let out = String::from_utf8_lossy(&raw(d.addr(), &bad, wait).await).to_lowercase();
    assert!(!out.contains("bad packet length"), "{out}");
    // A client that ends its identification with a bare \n is accepted
    // as OpenSSH accepts it (Kippo/Cowrie handled only \r\n at first).
    let out = raw(d.addr(), b"SSH-2.0-PuTTY_Release_0.78\n", wait).await;
    assert!(String::from_utf8_lossy(&out).contains("curve25519-sha256"));
}

/// Runs `cmd` over exec on a connection of its own (the decky, like
/// sshd's `MaxSessions`, caps the channels of one connection).
async fn exec(addr: std::net::SocketAddr, cmd: &str) -> (String, String, Option<u32>) {
    let h = login(addr).await;
    let mut ch = h.channel_open_session().await.unwrap();
    ch.exec(true, cmd).await.unwrap();
    let (mut out, mut err, mut code) = (Vec::new(), Vec::new(), None);
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), ch.wait()).await {
        match msg {
            ChannelMsg::Data { data } => out.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, .. } => err.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        code,
    )
}

async fn login(addr: std::net::SocketAddr) -> client::Handle<Client> {
    let mut h = connect(addr).await;
    let ok = h.authenticate_password("root", "toor").await.unwrap();
    assert!(ok.success());
    h
}

#[tokio::test]
async fn cowrie_shell_tells_are_absent() {
    let d = start("127.0.61.73").await;
    let h = d.addr();
    // Cowrie's echo ignored -e escapes.
    assert_eq!(exec(h, r#"echo -e "\x41\x42\tc""#).await.0, "AB\tc\n");
    // Cowrie's defaults: host svr04, users phil/richard, kernel 3.2.0-4.
    let (host, ..) = exec(h, "hostname").await;
    assert_ne!(host.trim(), "svr04");
    let (passwd, ..) = exec(h, "cat /etc/passwd").await;
    assert!(
        !passwd.contains("phil:") && !passwd.contains("richard:"),
        "{passwd}"
    );
    let (uname, ..) = exec(h, "uname -r").await;
    assert!(
        uname.starts_with("6.1.0-") && !uname.contains("3.2.0-4"),
        "{uname}"
    );
    // uptime agrees with /proc/uptime (Cowrie's did not).
    let (proc_up, ..) = exec(h, "cat /proc/uptime").await;
    let secs: f64 = proc_up.split_whitespace().next().unwrap().parse().unwrap();
    let (up, ..) = exec(h, "uptime -p").await;
    let days = (secs / 86_400.0) as u64;
    if days > 0 {
        assert!(up.contains(&format!("{days} day")), "{up} vs {secs}");
    }
    // /proc/cpuinfo lists as many processors as nproc says.
    let (cpuinfo, ..) = exec(h, "cat /proc/cpuinfo").await;
    let (nproc, ..) = exec(h, "nproc").await;
    let listed = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(listed.to_string(), nproc.trim(), "{cpuinfo}");
    // /proc has the running processes' directories.
    let (proc_ls, ..) = exec(h, "ls /proc").await;
    assert!(proc_ls.split_whitespace().any(|w| w == "1"), "{proc_ls}");
    // wget without a URL answers as GNU Wget does. (Its words only: the
    // decky sends stderr on the channel's data stream, see DETECTION.md.)
    let (out, err, code) = exec(h, "wget").await;
    let both = format!("{err}{out}");
    assert!(
        both.starts_with("wget: missing URL\nUsage: wget [OPTION]... [URL]...\n"),
        "{out:?} {err:?} {code:?}"
    );
    assert_eq!(code, Some(1));
    // Debian 12 installs no net-tools: Cowrie's canned ifconfig is a tell.
    let (out, err, code) = exec(h, "ifconfig").await;
    assert_eq!(
        format!("{err}{out}"),
        "bash: line 1: ifconfig: command not found\n"
    );
    assert_eq!(code, Some(127));
}
