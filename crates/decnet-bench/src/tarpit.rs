//! `tarpit-hold`: opens N connections to a tarpit (decnet's or endlessh),
//! keeps them all reading for a while, and reports the server's RSS growth
//! and CPU use while it holds them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Connections opened at once while ramping up.
const CONNECT_IN_FLIGHT: usize = 256;

/// What the harness reads: the server's memory while holding the
/// connections (`sessions` = connections held) and its CPU meanwhile.
#[derive(serde::Serialize)]
pub struct HoldResult {
    #[serde(flatten)]
    pub memory: crate::measure::IdleResult,
    /// Server CPU over the hold window, percent of one core.
    pub server_cpu_pct: f64,
    /// Bytes the clients received during the whole run.
    pub bytes_received: u64,
    pub hold_seconds: u64,
}

/// Opens `n` connections to `addr`, holds them `hold` seconds, closes them.
pub async fn hold(
    addr: SocketAddr,
    n: u64,
    server_pid: u32,
    hold: u64,
) -> anyhow::Result<HoldResult> {
    let before = crate::rss_kib(server_pid)?;
    let received = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(CONNECT_IN_FLIGHT));
    let mut tasks = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let (received, closed) = (received.clone(), closed.clone());
        tasks.push(tokio::spawn(async move {
            let connected =
                tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await;
            drop(permit);
            let Ok(Ok(mut s)) = connected else {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let mut buf = [0u8; 64];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(k) => {
                        received.fetch_add(k as u64, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Every connection is up (or failed) once the last permit comes back.
    let _all = sem.acquire_many(CONNECT_IN_FLIGHT as u32).await?;
    let ticks0 = crate::measure::cpu_ticks(server_pid)?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let ticks1 = crate::measure::cpu_ticks(server_pid)?;
    let elapsed = t0.elapsed().as_secs_f64();
    let held_kib = crate::rss_kib(server_pid)?;
    // Read the count before the clients go: closing is ours, not a failure.
    let failed = closed.load(Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    Ok(HoldResult {
        memory: crate::measure::IdleResult::new(n.saturating_sub(failed), failed, before, held_kib),
        server_cpu_pct: (ticks1 - ticks0) as f64 / crate::measure::ticks_per_sec() / elapsed
            * 100.0,
        bytes_received: received.load(Ordering::Relaxed),
        hold_seconds: hold,
    })
}
