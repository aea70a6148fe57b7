//! A burst of failed telnet logins: `logins` connections, `concurrency` at
//! a time, each reading the banner up to `login: `, sending a user, reading
//! up to `Password: `, sending a wrong password and leaving (as a
//! credential-stuffing client that does not wait for the verdict), or
//! waiting for the failure line first. Every connection is classified: a
//! decky that keeps the slots of sessions whose client has gone turns the
//! later ones away without a banner.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one login attempt met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Banner and password prompt, the wrong password sent (and, when
    /// waited for, its failure line read).
    Served,
    /// Closed (or reset) before a byte of banner.
    NoBanner,
    /// Anything else: closed or timed out midway.
    Failed,
}

/// The burst's figures (the JSON the harness reads).
#[derive(serde::Serialize)]
pub struct BurstResult {
    pub logins: u64,
    pub served: u64,
    pub closed_without_banner: u64,
    pub failed: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Shape of the burst.
#[derive(Clone, clap::Args)]
pub struct Burst {
    #[arg(long)]
    pub addr: SocketAddr,
    #[arg(long, default_value_t = 3000)]
    pub logins: u64,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    #[arg(long, default_value = "root")]
    pub user: String,
    #[arg(long, default_value = "wrong-password")]
    pub password: String,
    /// Read the failure reply (`incorrect`) before closing (default:
    /// leave as soon as the password is sent).
    #[arg(long)]
    pub wait_verdict: bool,
    /// Per-connection bound, seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Reads until `want` appears; `Ok(false)` if the peer closed first.
async fn read_until(s: &mut TcpStream, got: &mut Vec<u8>, want: &[u8]) -> std::io::Result<bool> {
    let mut buf = [0u8; 1024];
    while !got.windows(want.len()).any(|w| w == want) {
        let n = s.read(&mut buf).await?;
        if n == 0 || got.len() > 64 * 1024 {
            return Ok(false);
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(true)
}

async fn one_login(b: &Burst) -> Outcome {
    let Ok(mut s) = TcpStream::connect(b.addr).await else {
        return Outcome::NoBanner;
    };
    let _ = s.set_nodelay(true);
    let mut got = Vec::with_capacity(512);
    match read_until(&mut s, &mut got, b"login: ").await {
        Ok(true) => {}
        // Nothing at all before the close: turned away.
        _ if got.is_empty() => return Outcome::NoBanner,
        _ => return Outcome::Failed,
    }
    got.clear();
    let user = format!("{}\r\n", b.user);
    if s.write_all(user.as_bytes()).await.is_err()
        || !matches!(read_until(&mut s, &mut got, b"assword: ").await, Ok(true))
    {
        return Outcome::Failed;
    }
    got.clear();
    let pass = format!("{}\r\n", b.password);
    if s.write_all(pass.as_bytes()).await.is_err() {
        return Outcome::Failed;
    }
    if b.wait_verdict && !matches!(read_until(&mut s, &mut got, b"incorrect").await, Ok(true)) {
        return Outcome::Failed;
    }
    Outcome::Served
}

/// Runs the burst to the end (every login attempted once).
pub async fn run(b: Burst) -> anyhow::Result<BurstResult> {
    let b = Arc::new(b);
    let next = Arc::new(AtomicU64::new(0));
    let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..b.concurrency.max(1) {
        let (b, next, counts) = (b.clone(), next.clone(), counts.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < b.logins {
                let t = Instant::now();
                let outcome = tokio::time::timeout(Duration::from_secs(b.timeout), one_login(&b))
                    .await
                    .unwrap_or(Outcome::Failed);
                counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
                if outcome == Outcome::Served {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let seconds = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| crate::measure::percentile_ms(&all, p);
    let count = |o: Outcome| counts[o as usize].load(Ordering::Relaxed);
    Ok(BurstResult {
        logins: b.logins,
        served: count(Outcome::Served),
        closed_without_banner: count(Outcome::NoBanner),
        failed: count(Outcome::Failed),
        seconds,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}
