//! The SSH decoy driven by a real SSH client (russh's client and
//! russh-sftp), deckies on 127.0.61.x with a port offset.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, events_until, wait_ack, Client};
use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_services::{start_service, DeckyCtx, Limits, RunningService};
use russh::client;
use russh::ChannelMsg;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const OFFSET: u16 = 36100;
const FAIL_DELAY: Duration = Duration::from_millis(60);

struct Decky {
    ctx: Arc<DeckyCtx>,
    running: RunningService,
    addr: std::net::SocketAddr,
    sub: Subscription,
    _cancel: CancellationToken,
}

fn decky_ctx(
    ip: &str,
    bus: Arc<dyn Bus>,
    dir: std::path::PathBuf,
    idle: Duration,
    sections: &str,
) -> Arc<DeckyCtx> {
    let limits = Limits {
        auth_fail_delay: FAIL_DELAY,
        idle_timeout: idle,
        ..Limits::default()
    };
    common::decky_ctx_with(ip, bus, dir, sections, limits, OFFSET)
}

const SECTIONS: &str =
    "services = ssh\n[t{n}.ssh]\npassword = toor\nuser = deploy\nuser_password = s3cret\n";

async fn start(ip: &str, dir: std::path::PathBuf) -> Decky {
    start_with(ip, dir, Limits::default().idle_timeout).await
}

async fn start_with(ip: &str, dir: std::path::PathBuf, idle: Duration) -> Decky {
    start_sections(ip, dir, idle, SECTIONS).await
}

async fn start_sections(
    ip: &str,
    dir: std::path::PathBuf,
    idle: Duration,
    sections: &str,
) -> Decky {
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let ctx = decky_ctx(ip, bus, dir, idle, sections);
    let cancel = CancellationToken::new();
    let running = start_service(ctx.clone(), &decnet_ssh::Ssh, &cancel)
        .await
        .unwrap();
    let addr = running.addrs[0].1;
    Decky {
        ctx,
        running,
        addr,
        sub,
        _cancel: cancel,
    }
}

async fn exec(h: &client::Handle<Client>, cmd: &str) -> (String, Option<u32>) {
    let mut ch = h.channel_open_session().await.unwrap();
    ch.exec(true, cmd).await.unwrap();
    let mut out = Vec::new();
    let mut code = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), ch.wait()).await {
        match msg {
            ChannelMsg::Data { data } => out.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), code)
}

#[tokio::test]
async fn banner_login_exec_and_auth_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start("127.0.61.21", dir.path().to_owned()).await;
    // The identification string is the persona's, byte for byte.
    let mut raw = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    let mut line = vec![0u8; 256];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut raw, &mut line),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&line[..n]),
        format!("{}\r\n", d.ctx.persona.ssh_banner)
    );
    drop(raw);

    let mut h = connect(d.addr).await;
    let t = Instant::now();
    assert!(!h
        .authenticate_password("root", "wrong")
        .await
        .unwrap()
        .success());
    assert!(
        t.elapsed() >= FAIL_DELAY,
        "failure answered after the configured delay"
    );
    assert!(h
        .authenticate_password("root", "toor")
        .await
        .unwrap()
        .success());
    let (out, code) = exec(&h, "uname -a").await;
    let host = d.ctx.persona.hostname.split('.').next().unwrap().to_owned();
    assert!(
        out.starts_with(&format!("Linux {host} {} ", d.ctx.persona.kernel)),
        "{out}"
    );
    assert!(out.ends_with(" x86_64 GNU/Linux\n"), "{out}");
    assert_eq!(code, Some(0));
    let (out, code) = exec(&h, "cat /etc/passwd | grep deploy; nosuchcmd").await;
    assert_eq!(
        out,
        // sshd runs an exec request as `bash -c`, whose errors bash 5.2
        // prefixes with "bash: line N:" (a login shell's would be "-bash:").
        "deploy:x:1000:1000:deploy,,,:/home/deploy:/bin/bash\nbash: line 1: nosuchcmd: command not found\n"
    );
    assert_eq!(code, Some(127));

    let evs = events_until(&mut d.sub, |e| {
        e.iter().filter(|x| x.kind == EventKind::Command).count() >= 2
    })
    .await;
    let auths: Vec<&Event> = evs
        .iter()
        .filter(|e| e.kind == EventKind::AuthAttempt)
        .collect();
    assert_eq!(auths.len(), 2, "{evs:#?}");
    assert_eq!(auths[0].fields["username"], "root");
    assert_eq!(auths[0].fields["password"], "wrong");
    assert_eq!(auths[0].fields["success"], false);
    assert_eq!(auths[1].fields["success"], true);
    let cv = auths[0].fields["client_version"].as_str().unwrap();
    assert!(cv.starts_with("SSH-2.0-russh"), "{cv}");
    let hassh = auths[0].fields["hassh"].as_str().unwrap();
    assert_eq!(hassh.len(), 32, "{hassh}");
    let algos = auths[0].fields["hassh_algorithms"].as_str().unwrap();
    assert_eq!(hassh, hex::encode(md5_digest(algos)));
    assert!(algos.contains("curve25519-sha256"), "{algos}");
    // Every event of the connection carries the same session id.
    let sid = auths[0].session_id.unwrap();
    assert!(evs
        .iter()
        .filter(|e| e.src_port == auths[0].src_port)
        .all(|e| e.session_id == Some(sid)));
    let cmds: Vec<&str> = evs
        .iter()
        .filter(|e| e.kind == EventKind::Command)
        .map(|e| e.fields["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        cmds,
        ["uname -a", "cat /etc/passwd | grep deploy; nosuchcmd"]
    );
    d.running.stop().await;
}

fn md5_digest(s: &str) -> Vec<u8> {
    use md5::Digest as _;
    md5::Md5::digest(s.as_bytes()).to_vec()
}

async fn read_until(ch: &mut russh::Channel<client::Msg>, acc: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !acc.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ch.wait()).await {
            Ok(Some(ChannelMsg::Data { data })) => acc.push_str(&String::from_utf8_lossy(&data)),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("waiting for {needle:?}; got {acc:?}"),
        }
    }
}

/// Logs `user` in and opens a PTY shell on a `term` terminal `cols` wide.
async fn pty_shell(
    d: &Decky,
    user: &str,
    password: &str,
    term: &str,
    cols: u32,
) -> (client::Handle<Client>, russh::Channel<client::Msg>) {
    let mut h = connect(d.addr).await;
    assert!(h
        .authenticate_password(user, password)
        .await
        .unwrap()
        .success());
    let ch = h.channel_open_session().await.unwrap();
    ch.request_pty(true, term, cols, 40, 0, 0, &[])
        .await
        .unwrap();
    ch.request_shell(true).await.unwrap();
    (h, ch)
}

#[tokio::test]
async fn typed_ahead_lines_are_echoed_before_the_first_prompt_then_run_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    // Debian 12: bash 5.2, whose readline brackets pastes.
    let d = start_sections(
        "127.0.61.29",
        dir.path().to_owned(),
        Limits::default().idle_timeout,
        &format!("distro = debian\n{SECTIONS}"),
    )
    .await;
    let (h, mut ch) = pty_shell(&d, "root", "toor", "xterm", 80).await;
    // Pasted at once, before the login shell has prompted.
    ch.data(&b"echo one\recho two\r"[..]).await.unwrap();
    let host = d.ctx.persona.hostname.split('.').next().unwrap().to_owned();
    let prompt = format!("\x1b[?2004hroot@{host}:~# ");
    let mut acc = String::new();
    read_until(&mut ch, &mut acc, &format!("\x1b[?2004l\rtwo\r\n{prompt}")).await;
    // sshd's greeting first, then the terminal's echo of what was typed
    // while bash was starting…
    assert!(acc.starts_with(&format!("Linux {host} ")), "{acc:?}");
    assert!(
        acc.contains(&format!("\r\r\necho one\r\necho two\r\n{prompt}")),
        "{acc:?}"
    );
    // …then each line echoed by readline only once the one before ran.
    let (_, after_echo) = acc.split_once("echo two\r\n").expect("terminal echo");
    assert_eq!(
        after_echo,
        format!(
            "{prompt}echo one\r\n\x1b[?2004l\rone\r\n{prompt}echo two\r\n\x1b[?2004l\rtwo\r\n{prompt}"
        )
    );
    drop(h);
    d.running.stop().await;
}

#[tokio::test]
async fn pty_shell_commands_and_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start("127.0.61.22", dir.path().to_owned()).await;
    let (h, mut ch) = pty_shell(&d, "deploy", "s3cret", "xterm-256color", 120).await;
    let host = d.ctx.persona.hostname.split('.').next().unwrap().to_owned();
    // Debian's bash 5.2 with /etc/skel/.bashrc on an xterm-256color
    // terminal: bracketed paste on, the window title, a coloured PS1.
    let prompt = format!(
        "\x1b[?2004h\x1b]0;deploy@{host}: ~\x07\x1b[01;32mdeploy@{host}\x1b[00m:\x1b[01;34m~\x1b[00m$ "
    );
    let mut acc = String::new();
    read_until(&mut ch, &mut acc, &prompt).await;
    assert!(
        acc.starts_with(&format!("Linux {host} ")),
        "motd first: {acc:?}"
    );
    // sshd's own line, through the terminal's ONLCR.
    assert!(
        acc.contains(" from 127.0.61.") && acc.contains("\r\r\n\x1b[?2004h"),
        "{acc:?}"
    );

    for (cmd, want) in [
        ("whoami", "deploy\r\n".to_owned()),
        ("pwd", "/home/deploy\r\n".to_owned()),
        (
            "id",
            "uid=1000(deploy) gid=1000(deploy) groups=1000(deploy)".to_owned(),
        ),
        ("cd /tmp && echo hi > x && cat x", "hi\r\n".to_owned()),
        ("cat /etc/hostname", format!("{host}\r\n")),
        ("foo", "-bash: foo: command not found\r\n".to_owned()),
    ] {
        acc.clear();
        ch.data(format!("{cmd}\r").as_bytes()).await.unwrap();
        // Echo, output, then the next prompt.
        read_until(&mut ch, &mut acc, "$ ").await;
        // Readline's echo, then bracketed paste off before the output.
        assert!(
            acc.starts_with(&format!("{cmd}\r\n\x1b[?2004l\r")),
            "echo of {cmd}: {acc:?}"
        );
        assert!(acc.contains(&want), "{cmd}: {acc:?}");
    }
    // Backspace editing: "whoamx<BS>i".
    acc.clear();
    ch.data(&b"whoamx\x7fi\r"[..]).await.unwrap();
    read_until(&mut ch, &mut acc, "$ ").await;
    assert!(acc.contains("\r\n\x1b[?2004l\rdeploy\r\n"), "{acc:?}");
    // Up arrow recalls the last command.
    acc.clear();
    ch.data(&b"\x1b[A\r"[..]).await.unwrap();
    read_until(&mut ch, &mut acc, "$ ").await;
    assert!(acc.contains("whoami\r\n\x1b[?2004l\rdeploy\r\n"), "{acc:?}");
    // su asks for root's password without echo and records it (this
    // Debian persona has no sudo).
    acc.clear();
    ch.data(&b"su -\r"[..]).await.unwrap();
    read_until(&mut ch, &mut acc, "Password: ").await;
    ch.data(&b"toor\r"[..]).await.unwrap();
    read_until(&mut ch, &mut acc, "# ").await;
    assert!(!acc.contains("toor"), "password echoed: {acc:?}");
    acc.clear();
    ch.data(&b"id\r"[..]).await.unwrap();
    read_until(&mut ch, &mut acc, "# ").await;
    assert!(
        acc.contains("uid=0(root) gid=0(root) groups=0(root)"),
        "{acc:?}"
    );
    // The first exit leaves su's shell, the second the session.
    ch.data(&b"exit\r"[..]).await.unwrap();
    read_until(&mut ch, &mut acc, "$ ").await;
    ch.data(&b"exit\r"[..]).await.unwrap();
    let mut code = None;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), ch.wait()).await {
        match m {
            ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    assert_eq!(code, Some(0));
    let evs = events_until(&mut d.sub, |e| {
        e.iter()
            .any(|x| x.kind == EventKind::Command && x.fields["command"] == "exit")
    })
    .await;
    let su = evs
        .iter()
        .find(|e| e.kind == EventKind::AuthAttempt && e.fields.get("prompt").is_some())
        .expect("su password event");
    assert_eq!(su.fields["password"], "toor");
    let sid = su.session_id.unwrap();
    drop(h);
    d.running.stop().await;
    // The asciicast transcript is named by the session id.
    let path = d
        .ctx
        .data_dir
        .join("transcripts")
        .join(format!("{sid}.cast"));
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("exit") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().expect("header")).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 120);
    assert_eq!(header["title"], sid.to_string());
    let events: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events
        .iter()
        .any(|e| e[1] == "i" && e[2].as_str().unwrap().contains("whoami")));
    assert!(events
        .iter()
        .any(|e| e[1] == "o" && e[2].as_str().unwrap().contains("deploy\r\n")));
    let times: Vec<f64> = events.iter().map(|e| e[0].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn six_failures_then_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start("127.0.61.23", dir.path().to_owned()).await;
    let mut h = connect(d.addr).await;
    for i in 1..=6 {
        let r = h.authenticate_password("root", format!("guess{i}")).await;
        assert!(
            !matches!(r, Ok(ref a) if a.success()),
            "attempt {i} must fail"
        );
    }
    // The 7th attempt never gets an answer: the server hung up.
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        h.authenticate_password("root", "toor"),
    )
    .await;
    assert!(
        matches!(r, Ok(Err(_))),
        "7th attempt must see a disconnect, got {r:?}"
    );
    let evs = events_until(&mut d.sub, |e| {
        e.iter().any(|x| x.kind == EventKind::Disconnect)
    })
    .await;
    let n = evs
        .iter()
        .filter(|e| e.kind == EventKind::AuthAttempt)
        .count();
    assert_eq!(n, 6, "{evs:#?}");
    d.running.stop().await;
}

#[tokio::test]
async fn keyboard_interactive_and_publickey() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start("127.0.61.24", dir.path().to_owned()).await;
    let mut h = connect(d.addr).await;
    // Public key: recorded with type and fingerprint, rejected.
    let key =
        russh::keys::PrivateKey::random(&mut rand_010::rng(), russh::keys::Algorithm::Ed25519)
            .unwrap();
    let fp = key
        .public_key()
        .fingerprint(russh::keys::HashAlg::Sha256)
        .to_string();
    let r = h
        .authenticate_publickey(
            "root",
            russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key), None),
        )
        .await
        .unwrap();
    assert!(!r.success());
    // Keyboard-interactive with a password prompt.
    let resp = h
        .authenticate_keyboard_interactive_start("root", None)
        .await
        .unwrap();
    let client::KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } = resp else {
        panic!("expected a prompt, got {resp:?}")
    };
    assert!(prompts[0].prompt.ends_with("Password: "), "{prompts:?}");
    let resp = h
        .authenticate_keyboard_interactive_respond(vec!["toor".into()])
        .await
        .unwrap();
    assert!(
        matches!(resp, client::KeyboardInteractiveAuthResponse::Success),
        "{resp:?}"
    );
    let evs = events_until(&mut d.sub, |e| {
        e.iter()
            .filter(|x| x.kind == EventKind::AuthAttempt)
            .count()
            >= 2
    })
    .await;
    let auths: Vec<&Event> = evs
        .iter()
        .filter(|e| e.kind == EventKind::AuthAttempt)
        .collect();
    assert_eq!(auths[0].fields["method"], "publickey");
    assert_eq!(auths[0].fields["key_type"], "ssh-ed25519");
    assert_eq!(auths[0].fields["fingerprint"], fp.as_str());
    assert_eq!(auths[0].fields["success"], false);
    assert_eq!(auths[1].fields["method"], "keyboard-interactive");
    assert_eq!(auths[1].fields["success"], true);
    d.running.stop().await;
}

fn artifact_path(d: &Decky, sha: &str) -> std::path::PathBuf {
    decnet_services::artifacts::artifacts_dir(&d.ctx.data_dir).join(sha)
}

#[tokio::test]
async fn scp_upload_stored_with_sha256_and_visible() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start("127.0.61.25", dir.path().to_owned()).await;
    let mut h = connect(d.addr).await;
    assert!(h
        .authenticate_password("root", "toor")
        .await
        .unwrap()
        .success());
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = hex::encode(Sha256::digest(&payload));
    let mut ch = h.channel_open_session().await.unwrap();
    ch.exec(true, "scp -t /tmp").await.unwrap();
    let mut acks = 0;
    assert_eq!(wait_ack(&mut ch).await, vec![0]);
    ch.data(format!("C0755 {} dropper.bin\n", payload.len()).as_bytes())
        .await
        .unwrap();
    assert_eq!(wait_ack(&mut ch).await, vec![0]);
    ch.data(&payload[..]).await.unwrap();
    ch.data(&[0u8][..]).await.unwrap();
    acks += wait_ack(&mut ch).await.len();
    assert_eq!(acks, 1);
    ch.eof().await.unwrap();
    let evs = events_until(&mut d.sub, |e| {
        e.iter().any(|x| x.kind == EventKind::FileUpload)
    })
    .await;
    let up = evs
        .iter()
        .find(|e| e.kind == EventKind::FileUpload)
        .unwrap();
    assert_eq!(up.fields["sha256"], sha.as_str());
    assert_eq!(up.fields["size"], payload.len() as u64);
    assert_eq!(up.fields["path"], "/tmp/dropper.bin");
    assert_eq!(up.fields["via"], "scp");
    assert_eq!(std::fs::read(artifact_path(&d, &sha)).unwrap(), payload);
    // Legacy scp download (`scp -f`) of the uploaded file.
    let mut ch = h.channel_open_session().await.unwrap();
    ch.exec(true, "scp -f /tmp/dropper.bin").await.unwrap();
    ch.data(&[0u8][..]).await.unwrap();
    let header = wait_ack(&mut ch).await;
    assert_eq!(
        header,
        format!("C0755 {} dropper.bin\n", payload.len()).into_bytes()
    );
    ch.data(&[0u8][..]).await.unwrap();
    let mut got = Vec::new();
    while got.len() < payload.len() + 1 {
        got.extend(wait_ack(&mut ch).await);
    }
    assert_eq!(&got[..payload.len()], &payload[..]);
    assert_eq!(got[payload.len()], 0);
    ch.data(&[0u8][..]).await.unwrap();
    let mut ch2 = h.channel_open_session().await.unwrap();
    ch2.exec(true, "scp -f /nope").await.unwrap();
    assert_eq!(
        wait_ack(&mut ch2).await,
        b"\x01scp: /nope: No such file or directory\n"
    );
    // The upload is in the decky's filesystem for every later session.
    let (out, _) = exec(&h, "ls -l /tmp").await;
    assert!(
        out.contains("-rwxr-xr-x 1 root root 10000 ") && out.contains(" dropper.bin\n"),
        "{out}"
    );
    d.running.stop().await;
}

#[tokio::test]
async fn sftp_upload_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start("127.0.61.26", dir.path().to_owned()).await;
    let mut h = connect(d.addr).await;
    let first_key = h.authenticate_password("root", "toor").await.unwrap();
    assert!(first_key.success());
    let ch = h.channel_open_session().await.unwrap();
    ch.request_subsystem(true, "sftp").await.unwrap();
    let sftp = russh_sftp::client::SftpSession::new(ch.into_stream())
        .await
        .unwrap();
    assert_eq!(sftp.canonicalize(".").await.unwrap(), "/root");
    let names: Vec<String> = sftp
        .read_dir("/etc")
        .await
        .unwrap()
        .map(|e| e.file_name())
        .collect();
    assert!(names.iter().any(|n| n == "passwd"), "{names:?}");
    let body = b"#!/bin/sh\necho pwned\n".repeat(500);
    let mut f = sftp.create("/root/x.sh").await.unwrap();
    f.write_all(&body).await.unwrap();
    f.shutdown().await.unwrap();
    drop(f);
    let sha = hex::encode(Sha256::digest(&body));
    let evs = events_until(&mut d.sub, |e| {
        e.iter().any(|x| x.kind == EventKind::FileUpload)
    })
    .await;
    let up = evs
        .iter()
        .find(|e| e.kind == EventKind::FileUpload)
        .unwrap();
    assert_eq!(up.fields["sha256"], sha.as_str());
    assert_eq!(up.fields["via"], "sftp");
    assert_eq!(std::fs::read(artifact_path(&d, &sha)).unwrap(), body);
    assert_eq!(
        d.ctx.vfs().get("/root/x.sh").unwrap().size,
        body.len() as u64
    );
    d.running.stop().await;
}

#[tokio::test]
async fn host_keys_persist_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let d = start("127.0.61.27", dir.path().to_owned()).await;
    let mut h = connect(d.addr).await;
    let _ = h.authenticate_password("root", "toor").await;
    let fp1 = h.disconnect(russh::Disconnect::ByApplication, "", "").await;
    drop(fp1);
    let key1 = std::fs::read_to_string(d.ctx.data_dir.join("ssh_host_ed25519_key")).unwrap();
    d.running.stop().await;
    let d2 = start("127.0.61.27", dir.path().to_owned()).await;
    let key2 = std::fs::read_to_string(d2.ctx.data_dir.join("ssh_host_ed25519_key")).unwrap();
    assert_eq!(key1, key2);
    assert!(d2.ctx.data_dir.join("ssh_host_ecdsa_key").exists());
    d2.running.stop().await;
}

#[tokio::test]
async fn login_grace_time_drops_unauthenticated_clients() {
    // Grace time is min(120 s, idle timeout): 1 s here.
    let dir = tempfile::tempdir().unwrap();
    let mut d = start_with("127.0.61.28", dir.path().to_owned(), Duration::from_secs(1)).await;
    let mut h = connect(d.addr).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        h.authenticate_password("root", "toor"),
    )
    .await;
    assert!(
        matches!(r, Ok(Err(_))),
        "expected a dropped connection, got {r:?}"
    );
    let evs = events_until(&mut d.sub, |e| {
        e.iter().any(|x| x.kind == EventKind::Disconnect)
    })
    .await;
    assert!(evs.iter().all(|e| e.kind != EventKind::AuthAttempt));
    d.running.stop().await;
}

/// Logs in with a client that offers only `kex` and `mac` (with aes128-ctr,
/// whose MAC is negotiated, unlike chacha20-poly1305's) and runs a command
/// whose output spans more than one 1 KiB UMAC chunk.
async fn login_with(addr: std::net::SocketAddr, kex: russh::kex::Name, mac: russh::mac::Name) {
    let preferred = russh::Preferred {
        kex: std::borrow::Cow::Owned(vec![kex]),
        mac: std::borrow::Cow::Owned(vec![mac]),
        cipher: std::borrow::Cow::Owned(vec![russh::cipher::AES_128_CTR]),
        ..russh::Preferred::default()
    };
    let cfg = Arc::new(client::Config {
        preferred,
        ..client::Config::default()
    });
    let mut h = client::connect(cfg, addr, Client::default())
        .await
        .unwrap_or_else(|e| panic!("{kex:?}/{mac:?} handshake: {e}"));
    assert!(h
        .authenticate_password("root", "toor")
        .await
        .unwrap()
        .success());
    let (out, code) = exec(&h, "echo algorithms-ok; cat /proc/cpuinfo").await;
    assert!(out.starts_with("algorithms-ok\n"), "{kex:?}/{mac:?}: {out}");
    assert!(out.len() > 2048, "{kex:?}/{mac:?}: {} bytes", out.len());
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn sntrup761_key_exchange_and_umac_macs_carry_a_session() {
    use russh::{kex, mac};
    let dir = tempfile::tempdir().unwrap();
    let d = start("127.0.61.30", dir.path().to_owned()).await;
    for kex in [
        kex::SNTRUP761X25519_SHA512,
        kex::SNTRUP761X25519_SHA512_OPENSSH,
    ] {
        login_with(d.addr, kex, mac::HMAC_SHA256_ETM).await;
    }
    for mac in [
        mac::UMAC_64_ETM,
        mac::UMAC_128_ETM,
        mac::UMAC_64,
        mac::UMAC_128,
    ] {
        login_with(d.addr, kex::CURVE25519, mac).await;
    }
    d.running.stop().await;
}
