//! SSH load: full handshake + one password attempt per connection, and
//! N held logged-in sessions with a PTY shell.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use russh::keys::PublicKeyOrCertificate;
use russh::{client, kex, Preferred};

use crate::measure::{run_attempts, AuthResult, Bounds, IdleResult};

struct Client;

impl client::Handler for Client {
    type Error = russh::Error;
    async fn check_server_key(&mut self, _k: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Key exchange the ssh-auth client offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kex {
    /// `curve25519-sha256` only: what libssh (hydra), Go's x/crypto/ssh and
    /// paramiko brute-forcers negotiate — the bulk of SSH login attempts.
    Curve25519,
    /// russh's default list, led by the `mlkem768x25519-sha256` hybrid that
    /// OpenSSH 9.9+ clients negotiate (about twice the key-exchange work).
    Mlkem768x25519,
    /// `sntrup761x25519-sha512@openssh.com`: what OpenSSH 8.5+ clients pick
    /// against a Debian 12 sshd (and so against its persona).
    Sntrup761x25519,
}

/// The client configuration for `kex`.
fn client_config(kex: Kex) -> client::Config {
    const CURVE25519_ONLY: &[kex::Name] = &[
        kex::CURVE25519,
        kex::EXTENSION_SUPPORT_AS_CLIENT,
        kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    ];
    const SNTRUP761_ONLY: &[kex::Name] = &[
        kex::SNTRUP761X25519_SHA512_OPENSSH,
        kex::EXTENSION_SUPPORT_AS_CLIENT,
        kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    ];
    let preferred = match kex {
        Kex::Curve25519 => Preferred {
            kex: Cow::Borrowed(CURVE25519_ONLY),
            ..Preferred::DEFAULT
        },
        Kex::Mlkem768x25519 => Preferred::DEFAULT,
        Kex::Sntrup761x25519 => Preferred {
            kex: Cow::Borrowed(SNTRUP761_ONLY),
            ..Preferred::DEFAULT
        },
    };
    client::Config {
        preferred,
        // A load client must not wait for delayed ACKs between handshake
        // messages (Nagle): that made every attempt take ~44 ms on loopback
        // and the figure a latency bound, not the server's capacity.
        nodelay: true,
        ..Default::default()
    }
}

async fn one(addr: SocketAddr, user: &str, password: &str, kex: Kex) -> anyhow::Result<bool> {
    let cfg = Arc::new(client_config(kex));
    let mut h = client::connect(cfg, addr, Client).await?;
    let ok = h.authenticate_password(user, password).await?.success();
    let _ = h
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(ok)
}

/// Handshake (negotiating `kex`) + password attempt per connection, within `bounds`.
pub async fn ssh_auth(
    addr: SocketAddr,
    user: String,
    password: String,
    kex: Kex,
    bounds: Bounds,
    server_pid: Option<u32>,
) -> anyhow::Result<AuthResult> {
    let (user, password) = (Arc::new(user), Arc::new(password));
    run_attempts(bounds, server_pid, move || {
        let (user, password) = (user.clone(), password.clone());
        async move { one(addr, &user, &password, kex).await }
    })
    .await
}

/// Opens `n` logged-in sessions with a PTY shell, holds them, measures server RSS growth.
/// Client source addresses rotate over 127.0.200.x so the ephemeral-port space never runs out.
pub async fn ssh_idle(
    addr: SocketAddr,
    user: String,
    password: String,
    n: u64,
    server_pid: u32,
    hold: u64,
) -> anyhow::Result<IdleResult> {
    let before = crate::rss_kib(server_pid)?;
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let (user, password) = (user.clone(), password.clone());
        tasks.push(tokio::spawn(async move {
            let r = async {
                let cfg = Arc::new(client::Config {
                    inactivity_timeout: None,
                    ..client_config(Kex::Curve25519)
                });
                let mut h = client::connect(cfg, addr, Client).await?;
                if !h.authenticate_password(&user, &password).await?.success() {
                    anyhow::bail!("login refused");
                }
                let ch = h.channel_open_session().await?;
                ch.request_pty(true, "xterm", 80, 24, 0, 0, &[]).await?;
                ch.request_shell(true).await?;
                Ok::<_, anyhow::Error>((h, ch))
            }
            .await;
            drop(permit);
            r
        }));
    }
    let mut held = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Ok(x) => held.push(x),
            Err(_) => failed += 1,
        }
    }
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = crate::rss_kib(server_pid)?;
    let ok = held.len() as u64;
    drop(held);
    Ok(IdleResult::new(ok, failed, before, after))
}
