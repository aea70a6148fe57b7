//! Shared measurement loop for "one attempt per connection" modes (SSH and
//! database logins): N workers until a count or time bound, latency
//! percentiles, and the server's CPU per attempt read from /proc.
#![allow(unsafe_code)] // raw syscalls; each block has its SAFETY comment

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU ticks (user + system) of a process so far.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(0) ... utime is field 14 overall → index 11 here, stime 12.
    Ok(f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
}

pub fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The `p` quantile (0–1) of sorted latencies, in ms (0 when empty).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Outcome of an attempts run (the JSON the harness reads).
#[derive(serde::Serialize)]
pub struct AuthResult {
    /// Attempts that completed with an expected reply.
    pub attempts: u64,
    /// Of those, how many logged in.
    pub accepted: u64,
    /// Attempts that failed, timed out or got an unexpected reply.
    pub errors: u64,
    pub seconds: f64,
    pub per_sec: f64,
    pub server_cpu_ms_per_attempt: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Bounds of an attempts run.
#[derive(Clone, Copy)]
pub struct Bounds {
    pub concurrency: usize,
    pub max: u64,
    pub seconds: u64,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

/// Runs `attempt` from `concurrency` workers until `max` attempts or
/// `seconds` elapse. `attempt` returns whether it logged in; an `Err` (or a
/// timeout) counts as an error and is not in the latency figures.
pub async fn run_attempts<F, Fut>(
    bounds: Bounds,
    server_pid: Option<u32>,
    attempt: F,
) -> anyhow::Result<AuthResult>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<bool>> + Send,
{
    let before = server_pid.map(cpu_ticks).transpose()?;
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(bounds.seconds);
    let mut tasks = Vec::new();
    for _ in 0..bounds.concurrency {
        let (issued, errors, accepted, attempt) = (
            issued.clone(),
            errors.clone(),
            accepted.clone(),
            attempt.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < bounds.max {
                let t = Instant::now();
                match tokio::time::timeout(bounds.timeout, attempt()).await {
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
    let pct = |p: f64| percentile_ms(&all, p);
    let n = all.len() as u64;
    Ok(AuthResult {
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

/// Outcome of holding N idle sessions (the JSON the harness reads).
#[derive(serde::Serialize)]
pub struct IdleResult {
    pub sessions: u64,
    pub failed: u64,
    pub server_rss_before_mib: f64,
    pub server_rss_after_mib: f64,
    pub kib_per_session: f64,
}

impl IdleResult {
    /// Figures from the server's RSS before and after `held` sessions.
    pub fn new(held: u64, failed: u64, before_kib: u64, after_kib: u64) -> Self {
        IdleResult {
            sessions: held,
            failed,
            server_rss_before_mib: before_kib as f64 / 1024.0,
            server_rss_after_mib: after_kib as f64 / 1024.0,
            kib_per_session: if held > 0 {
                after_kib.saturating_sub(before_kib) as f64 / held as f64
            } else {
                0.0
            },
        }
    }
}
