//! `decnet-load`: bounded load generation against loopback targets, and the
//! reference "limit" server the figures are compared with.
//!
//! Every mode stops by itself (connection count and time bound) and refuses
//! targets outside 127.0.0.0/8.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

mod apiload;
mod burst;
mod db;
mod measure;
mod refs;
mod ssh;
mod tarpit;

#[derive(Parser)]
#[command(
    name = "decnet-load",
    about = "Bounded loopback load generator for decnet benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Minimal tokio server doing the telnet-like banner exchange: the machine's limit.
    LimitServer(ServerArgs),
    /// Connect, read the banner up to --expect, send --send, read a reply, close.
    TcpBanner(TcpBannerArgs),
    /// A burst of failed telnet logins: every connection classified as
    /// served, closed without a banner, or failed midway.
    TelnetBurst(burst::Burst),
    /// Bare hyper hello-world (reference for wrk).
    HyperServer(ServerArgs),
    /// Bare russh server accepting password "bench" (reference for ssh-auth).
    RusshServer(ServerArgs),
    /// Full SSH handshake + one password attempt per connection.
    SshAuth(SshAuthArgs),
    /// Hold N logged-in SSH sessions with a PTY shell; report server RSS per session.
    SshIdle(SshIdleArgs),
    /// Database logins: connect, handshake, one password attempt, check the reply, close.
    DbAuth(DbAuthArgs),
    /// Hold N logged-in database connections; report server RSS per connection.
    DbIdle(DbIdleArgs),
    /// Start `decnet serve` with N generated deckies; report time-to-listening and RSS.
    Startup(StartupArgs),
    /// Hold N connections open on a tarpit and read the server's RSS and CPU.
    TarpitHold(TarpitHoldArgs),
    #[command(flatten)]
    Api(apiload::ApiMode),
}

/// A reference server on loopback for a bounded time.
#[derive(Args)]
struct ServerArgs {
    /// Listen address [default: 127.0.0.1 and the mode's port: 27023
    /// limit-server, 27080 hyper-server, 27022 russh-server].
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
}

#[derive(Args)]
struct TcpBannerArgs {
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value = "login: ")]
    expect: String,
    #[arg(long, default_value = "root\r\n")]
    send: String,
    /// Concurrent connections in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Upper bound on connections.
    #[arg(long, default_value_t = 200_000)]
    max_conns: u64,
    /// Upper bound on time.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// Where an SSH client logs in, and as whom.
#[derive(Args)]
struct SshLogin {
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value = "root")]
    user: String,
    #[arg(long, default_value = "admin")]
    password: String,
}

#[derive(Args)]
struct SshAuthArgs {
    #[command(flatten)]
    login: SshLogin,
    /// Key exchange the client offers.
    #[arg(long, value_enum, default_value = "curve25519")]
    kex: ssh::Kex,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 100_000)]
    max: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Server process, to measure its CPU per attempt.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Args)]
struct SshIdleArgs {
    #[command(flatten)]
    login: SshLogin,
    #[arg(long, default_value_t = 1000)]
    sessions: u64,
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 2)]
    hold: u64,
}

/// Which database server, where, and as whom (the password is per mode).
#[derive(Args)]
struct DbServer {
    #[arg(long, value_enum)]
    proto: db::Proto,
    #[arg(long)]
    addr: SocketAddr,
    /// MySQL user (default root); for Redis, sends `AUTH user pass` instead of `AUTH pass`.
    #[arg(long)]
    user: Option<String>,
}

impl ServerArgs {
    /// The address given, or loopback on the mode's `port`.
    fn addr_or(&self, port: u16) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

impl DbServer {
    fn target(self, password: String) -> anyhow::Result<db::Target> {
        check_loopback(&self.addr)?;
        Ok(db::Target {
            proto: self.proto,
            addr: self.addr,
            user: self.user,
            password,
        })
    }
}

#[derive(Args)]
struct DbAuthArgs {
    #[command(flatten)]
    server: DbServer,
    #[arg(long, default_value = "wrong-guess")]
    password: String,
    /// Reply every attempt must get; any other reply counts as an error.
    #[arg(long, value_enum, default_value = "denied")]
    expect: db::Expect,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 200_000)]
    max: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Server process, to measure its CPU per attempt.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Args)]
struct DbIdleArgs {
    #[command(flatten)]
    server: DbServer,
    #[arg(long)]
    password: String,
    #[arg(long, default_value_t = 1000)]
    conns: u64,
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 2)]
    hold: u64,
}

#[derive(Args)]
struct StartupArgs {
    /// decnet binary.
    #[arg(long)]
    bin: PathBuf,
    #[arg(long)]
    deckies: u32,
    /// Comma-separated services per decky.
    #[arg(long, default_value = "http,telnet,ftp")]
    services: String,
    /// Port offset passed to decnet.
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// Seconds to wait after startup before reading idle RSS.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// Run the bundled demo fleet instead of generated deckies.
    #[arg(long)]
    demo: bool,
}

#[derive(Args)]
struct TarpitHoldArgs {
    #[arg(long)]
    addr: SocketAddr,
    /// Connections to hold (at most 30,000).
    #[arg(long, default_value_t = 10_000)]
    conns: u64,
    #[arg(long)]
    server_pid: u32,
    /// Seconds to hold them all, measuring CPU.
    #[arg(long, default_value_t = 20)]
    hold: u64,
}

fn check_loopback(addr: &SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("refusing non-loopback target {addr}");
    }
    Ok(())
}

/// A measuring mode's result, printed as one JSON line.
fn print_json(result: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(result)?);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().mode {
        Mode::LimitServer(a) => limit_server(a.addr_or(27023), a.seconds).await,
        Mode::TcpBanner(a) => {
            check_loopback(&a.addr)?;
            let (expect, send) = (a.expect.into_bytes(), a.send.into_bytes());
            print_json(
                &tcp_banner(a.addr, expect, send, a.concurrency, a.max_conns, a.seconds).await?,
            )
        }
        Mode::HyperServer(a) => {
            let addr = a.addr_or(27080);
            check_loopback(&addr)?;
            refs::hyper_server(addr, a.seconds).await
        }
        Mode::RusshServer(a) => {
            let addr = a.addr_or(27022);
            check_loopback(&addr)?;
            refs::russh_server(addr, a.seconds).await
        }
        Mode::SshAuth(a) => ssh_auth(a).await,
        Mode::SshIdle(a) => {
            let SshLogin {
                addr,
                user,
                password,
            } = a.login;
            check_loopback(&addr)?;
            print_json(
                &ssh::ssh_idle(addr, user, password, a.sessions, a.server_pid, a.hold).await?,
            )
        }
        Mode::DbAuth(a) => db_auth(a).await,
        Mode::DbIdle(a) => {
            let target = a.server.target(a.password)?;
            print_json(&db::db_idle(target, a.conns, a.server_pid, a.hold).await?)
        }
        Mode::Startup(a) => {
            let r = startup(
                &a.bin,
                a.deckies,
                &a.services,
                a.port_offset,
                a.settle,
                a.demo,
            );
            print_json(&r.await?)
        }
        Mode::TarpitHold(a) => {
            check_loopback(&a.addr)?;
            if a.conns > 30_000 || a.hold > 300 {
                bail!("tarpit-hold is bounded: at most 30,000 connections for 300 s");
            }
            print_json(&tarpit::hold(a.addr, a.conns, a.server_pid, a.hold).await?)
        }
        Mode::TelnetBurst(b) => {
            check_loopback(&b.addr)?;
            let r = burst::run(b).await?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        Mode::Api(m) => apiload::main(m).await,
    }
}

async fn ssh_auth(a: SshAuthArgs) -> anyhow::Result<()> {
    let SshLogin {
        addr,
        user,
        password,
    } = a.login;
    check_loopback(&addr)?;
    let bounds = measure::Bounds {
        concurrency: a.concurrency,
        max: a.max,
        seconds: a.seconds,
        timeout: Duration::from_secs(10),
    };
    print_json(&ssh::ssh_auth(addr, user, password, a.kex, bounds, a.server_pid).await?)
}

async fn db_auth(a: DbAuthArgs) -> anyhow::Result<()> {
    let target = a.server.target(a.password)?;
    let bounds = measure::Bounds {
        concurrency: a.concurrency,
        max: a.max,
        seconds: a.seconds,
        timeout: Duration::from_secs(5),
    };
    print_json(&db::db_auth(target, a.expect, bounds, a.server_pid).await?)
}

/// Banner of the same size and shape as a telnet decky's.
const LIMIT_BANNER: &[u8] = b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x1f\xff\xfd\x18Debian GNU/Linux 12\r\n\r\nweb-alpha-01 login: ";

async fn limit_server(addr: SocketAddr, seconds: u64) -> anyhow::Result<()> {
    check_loopback(&addr)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    eprintln!("limit server on {addr} for {seconds}s");
    let deadline = tokio::time::sleep(Duration::from_secs(seconds));
    tokio::pin!(deadline);
    loop {
        let (mut s, _) = tokio::select! {
            _ = &mut deadline => return Ok(()),
            r = listener.accept() => r?,
        };
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            if s.write_all(LIMIT_BANNER).await.is_err() {
                return;
            }
            let mut buf = [0u8; 256];
            let mut line = Vec::new();
            while !line.contains(&b'\n') {
                match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => line.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let _ = s.write_all(b"root\r\nPassword: ").await;
        });
    }
}

#[derive(serde::Serialize)]
struct BannerResult {
    conns: u64,
    errors: u64,
    seconds: f64,
    conns_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn one_exchange(addr: SocketAddr, expect: &[u8], send: &[u8]) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut got = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !got.windows(expect.len()).any(|w| w == expect) {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            bail!("closed before banner");
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() > 64 * 1024 {
            bail!("banner too long");
        }
    }
    s.write_all(send).await?;
    let n = s.read(&mut buf).await?;
    if n == 0 {
        bail!("no reply");
    }
    Ok(())
}

async fn tcp_banner(
    addr: SocketAddr,
    expect: Vec<u8>,
    send: Vec<u8>,
    concurrency: usize,
    max_conns: u64,
    seconds: u64,
) -> anyhow::Result<BannerResult> {
    let expect = Arc::new(expect);
    let send = Arc::new(send);
    let bounds = measure::Bounds {
        concurrency,
        max: max_conns,
        seconds,
        timeout: Duration::from_secs(5),
    };
    // A banner exchange either matches (counted) or is an error, so the
    // shared attempt loop's "accepted" figure is not reported here.
    let r = measure::run_attempts(bounds, None, move || {
        let (expect, send) = (expect.clone(), send.clone());
        async move { one_exchange(addr, &expect, &send).await.map(|()| true) }
    })
    .await?;
    Ok(BannerResult {
        conns: r.attempts,
        errors: r.errors,
        seconds: r.seconds,
        conns_per_sec: r.per_sec,
        p50_ms: r.p50_ms,
        p99_ms: r.p99_ms,
    })
}

#[derive(serde::Serialize)]
struct StartupResult {
    deckies: u32,
    services: usize,
    listeners: u64,
    /// Spawn → every decky's first port accepting.
    ready_ms: f64,
    /// What decnet itself reports for bringing the fleet up.
    reported_ms: f64,
    rss_mib: f64,
}

/// Resident set size of a process, KiB.
pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("bad VmRSS")?
        .parse()?)
}

async fn startup(
    bin: &PathBuf,
    deckies: u32,
    services: &str,
    offset: u16,
    settle: u64,
    demo: bool,
) -> anyhow::Result<StartupResult> {
    let dir = std::env::temp_dir().join(format!("decnet-bench-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut ini = String::from("[general]\nnet = 127.1.0.0/16\ngw = 127.1.0.1\n");
    let ip = |i: u32| format!("127.1.{}.{}", 1 + i / 250, 2 + i % 250);
    for i in 0..deckies {
        ini.push_str(&format!("[d{i}]\nip = {}\nservices = {services}\n", ip(i)));
    }
    let ini_path = dir.join("fleet.ini");
    std::fs::write(&ini_path, ini)?;
    let first_port = match services.split(',').next().unwrap_or("http").trim() {
        "http" => 80,
        "telnet" => 23,
        "ftp" => 21,
        "ssh" => 22,
        _ => 80,
    } + offset;
    let t0 = Instant::now();
    let mut cmd = tokio::process::Command::new(bin);
    if demo {
        cmd.arg("demo");
    } else {
        cmd.arg("serve").arg("--config").arg(&ini_path);
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--api", "127.0.0.1:0", "--port-offset", &offset.to_string()])
        .env("DECNET_ADMIN_PASSWORD", "bench-admin-password")
        .env("DECNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("no pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut reported_ms = 0.0;
    while let Some(line) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await??
    {
        if let Some(rest) = line.split(" deckies up in ").nth(1) {
            reported_ms = rest
                .split_whitespace()
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0.0);
            break;
        }
    }
    // Ready = the first port of every decky accepts (demo: web01's http).
    let targets: Vec<String> = if demo {
        vec![format!("127.0.50.10:{}", 80 + offset)]
    } else {
        (0..deckies)
            .map(|i| format!("{}:{first_port}", ip(i)))
            .collect()
    };
    for t in &targets {
        let addr: SocketAddr = t.parse()?;
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).await.is_err() {
            if Instant::now() > until {
                bail!("{addr} never accepted");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let ready_ms = t0.elapsed().as_secs_f64() * 1000.0;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let rss = rss_kib(pid)? as f64 / 1024.0;
    // SAFETY: kill(2) on the child we spawned; no memory is involved.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM)
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let _ = std::fs::remove_dir_all(&dir);
    let n = services.split(',').count();
    Ok(StartupResult {
        deckies,
        services: n,
        listeners: deckies as u64 * n as u64,
        ready_ms,
        reported_ms,
        rss_mib: rss,
    })
}
