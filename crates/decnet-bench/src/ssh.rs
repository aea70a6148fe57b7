//! SSH load: full handshake + one password attempt per connection, and
//! N held logged-in sessions with a PTY shell.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::PublicKeyOrCertificate;

struct Client;

impl client::Handler for Client {
    type Error = russh::Error;
    async fn check_server_key(&mut self, _k: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// CPU ticks (user + system) of a process so far.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(0) ... utime is field 14 overall → index 11 here, stime 12.
    Ok(f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

#[derive(serde::Serialize)]
pub struct SshAuthResult {
    pub attempts: u64,
    pub accepted: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_sec: f64,
    pub server_cpu_ms_per_attempt: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

async fn one(addr: SocketAddr, user: &str, password: &str) -> anyhow::Result<bool> {
    let cfg = Arc::new(client::Config::default());
    let mut h = client::connect(cfg, addr, Client).await?;
    let ok = h.authenticate_password(user, password).await?.success();
    let _ = h
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(ok)
}

/// Handshake + password attempt per connection, `concurrency` in flight.
pub async fn ssh_auth(
    addr: SocketAddr,
    user: String,
    password: String,
    concurrency: usize,
    max: u64,
    seconds: u64,
    server_pid: Option<u32>,
) -> anyhow::Result<SshAuthResult> {
    let before = server_pid.map(cpu_ticks).transpose()?;
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (issued, errors, accepted, user, password) = (
            issued.clone(),
            errors.clone(),
            accepted.clone(),
            user.clone(),
            password.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
                let t = Instant::now();
                match tokio::time::timeout(Duration::from_secs(10), one(addr, &user, &password))
                    .await
                {
                    Ok(Ok(ok)) => {
                        if ok {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        lat.push(t.elapsed());
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    let after = server_pid.map(cpu_ticks).transpose()?;
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let n = all.len() as u64;
    Ok(SshAuthResult {
        attempts: n,
        accepted: accepted.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        seconds: secs,
        per_sec: n as f64 / secs,
        server_cpu_ms_per_attempt: match (before, after) {
            (Some(b), Some(a)) if n > 0 => {
                Some((a - b) as f64 / ticks_per_sec() * 1000.0 / n as f64)
            }
            _ => None,
        },
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

#[derive(serde::Serialize)]
pub struct SshIdleResult {
    pub sessions: u64,
    pub failed: u64,
    pub server_rss_before_mib: f64,
    pub server_rss_after_mib: f64,
    pub kib_per_session: f64,
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
) -> anyhow::Result<SshIdleResult> {
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
                    ..Default::default()
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
    Ok(SshIdleResult {
        sessions: ok,
        failed,
        server_rss_before_mib: before as f64 / 1024.0,
        server_rss_after_mib: after as f64 / 1024.0,
        kib_per_session: if ok > 0 {
            (after.saturating_sub(before)) as f64 / ok as f64
        } else {
            0.0
        },
    })
}
