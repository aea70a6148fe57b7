//! N live-stream subscribers (`/api/v1/stream` with a ticket, as the
//! dashboard opens it) counting the injected events they receive and their
//! latency from the socket write to the SSE frame's arrival.
//!
//! Frames are not JSON-parsed: each `logs` frame carries the request path of
//! every event, so the reader scans for the run marker `/b/<run>/<seq>`.
//! That keeps the reader cheap enough that the load generator is not what
//! limits 1,000 streams.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::stream::{self, StreamExt};
use memchr::memmem;

use super::client::Api;
use super::hist::LatencyHist;
use super::inject::{inject, Injected, Plan, SendLog};

/// Counters shared by the subscribers of one API.
#[derive(Default)]
pub struct Counters {
    /// Marked events received, per subscriber.
    pub received: Vec<AtomicU64>,
    /// `event: error` frames ("client too slow; reconnect").
    pub slow_errors: AtomicU64,
    /// Streams that ended before the run did.
    pub ended: AtomicU64,
    /// Socket write → frame received.
    pub hist: LatencyHist,
}

/// Per-API outcome.
#[derive(Debug, serde::Serialize)]
pub struct StreamReport {
    pub api: String,
    pub subscribers: usize,
    /// Injected events × subscribers.
    pub expected: u64,
    pub received: u64,
    /// expected − received (every missing frame is counted here).
    pub dropped: u64,
    /// Subscribers that received every injected event.
    pub complete: usize,
    pub per_subscriber_min: u64,
    pub per_subscriber_median: u64,
    pub per_subscriber_max: u64,
    pub slow_errors: u64,
    pub ended_early: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
}

/// Whole-run outcome.
#[derive(Debug, serde::Serialize)]
pub struct RunReport {
    pub rate: u64,
    pub seconds: f64,
    pub injected: Injected,
    /// Stored `request` events of the target decky afterwards (first API).
    pub stored: u64,
    /// Injected and answered but not stored.
    pub lost: u64,
    /// Time to open every stream (ticket + GET + first bytes).
    pub open_ms: f64,
    pub streams: Vec<StreamReport>,
}

/// Parses the marker occurrences in `data` and records them.
fn scan(
    data: &[u8],
    finder: &memmem::Finder<'_>,
    log: &SendLog,
    mine: &AtomicU64,
    c: &Counters,
    now: Instant,
) {
    let mut n = 0;
    for at in finder.find_iter(data) {
        let digits = &data[at + finder.needle().len()..];
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let Some(seq) = std::str::from_utf8(&digits[..end])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        n += 1;
        if let Some(ns) = log.latency_ns(seq, now) {
            c.hist.record(ns);
        }
    }
    mine.fetch_add(n, Ordering::Relaxed);
}

/// Reads one stream until it ends; whole lines only (a marker never spans two reads).
async fn read_stream(
    mut resp: reqwest::Response,
    idx: usize,
    needle: Arc<Vec<u8>>,
    log: Arc<SendLog>,
    c: Arc<Counters>,
) {
    let finder = memmem::Finder::new(needle.as_slice());
    let mut carry: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let now = Instant::now();
        if carry.is_empty() && chunk.last() == Some(&b'\n') {
            // The usual case (the server writes whole frames): no copy.
            if memmem::find(&chunk, b"event: error").is_some() {
                c.slow_errors.fetch_add(1, Ordering::Relaxed);
            }
            scan(&chunk, &finder, &log, &c.received[idx], &c, now);
            continue;
        }
        carry.extend_from_slice(&chunk);
        let Some(last_nl) = memchr::memrchr(b'\n', &carry) else {
            continue;
        };
        let whole = &carry[..=last_nl];
        if memmem::find(whole, b"event: error").is_some() {
            c.slow_errors.fetch_add(1, Ordering::Relaxed);
        }
        scan(whole, &finder, &log, &c.received[idx], &c, now);
        carry.drain(..=last_nl);
    }
    c.ended.fetch_add(1, Ordering::Relaxed);
}

/// Opens `n` streams on `api`; returns once each has answered 200.
async fn open(
    api: &Api,
    n: usize,
    needle: Arc<Vec<u8>>,
    log: Arc<SendLog>,
    c: Arc<Counters>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let opened: Vec<anyhow::Result<reqwest::Response>> = stream::iter(0..n)
        .map(|_| async {
            let url = api.stream_url().await?;
            let r = api.http().get(url).send().await?;
            if !r.status().is_success() {
                bail!("stream: {}", r.status());
            }
            Ok(r)
        })
        .buffered(16)
        .collect()
        .await;
    let mut tasks = Vec::with_capacity(n);
    for (i, r) in opened.into_iter().enumerate() {
        tasks.push(tokio::spawn(read_stream(
            r?,
            i,
            needle.clone(),
            log.clone(),
            c.clone(),
        )));
    }
    Ok(tasks)
}

fn report(api: &Api, c: &Counters, sent: u64) -> StreamReport {
    let mut per: Vec<u64> = c
        .received
        .iter()
        .map(|r| r.load(Ordering::Relaxed))
        .collect();
    per.sort_unstable();
    let received: u64 = per.iter().sum();
    let expected = sent * per.len() as u64;
    StreamReport {
        api: api.base.clone(),
        subscribers: per.len(),
        expected,
        received,
        dropped: expected.saturating_sub(received),
        complete: per.iter().filter(|&&r| r >= sent).count(),
        per_subscriber_min: per.first().copied().unwrap_or(0),
        per_subscriber_median: per.get(per.len() / 2).copied().unwrap_or(0),
        per_subscriber_max: per.last().copied().unwrap_or(0),
        slow_errors: c.slow_errors.load(Ordering::Relaxed),
        ended_early: c.ended.load(Ordering::Relaxed),
        p50_ms: c.hist.quantile_ms(0.50),
        p99_ms: c.hist.quantile_ms(0.99),
        max_ms: c.hist.max_ms(),
        samples: c.hist.count(),
    }
}

/// Opens `per_api` streams on every API, injects `plan` into the decky,
/// waits up to `drain` for the streams to catch up, and checks the store
/// (through the first API) for the injected events of `decky`.
pub async fn run(
    apis: &[Api],
    per_api: usize,
    plan: &Plan,
    decky: &str,
    drain: Duration,
) -> anyhow::Result<RunReport> {
    let log = SendLog::new(plan.total());
    let needle = Arc::new(format!("/b/{}/", plan.run).into_bytes());
    let t = Instant::now();
    let mut all = Vec::new();
    for api in apis {
        let c = Arc::new(Counters {
            received: (0..per_api).map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        });
        let tasks = open(api, per_api, needle.clone(), log.clone(), c.clone()).await?;
        all.push((api, c, tasks));
    }
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let injected = inject(plan, log).await?;
    let until = Instant::now() + drain;
    while Instant::now() < until {
        let done = all.iter().all(|(_, c, _)| {
            c.received
                .iter()
                .all(|r| r.load(Ordering::Relaxed) >= injected.sent)
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let streams = all
        .iter()
        .map(|(api, c, _)| report(api, c, injected.sent))
        .collect();
    for (_, _, tasks) in all {
        for t in tasks {
            t.abort();
        }
    }
    let stored = match apis.first() {
        Some(api) => {
            let marker = format!("/b/{}/", plan.run);
            api.wait_count(decky, "request", &marker, injected.sent, 20)
                .await?
        }
        None => 0,
    };
    Ok(RunReport {
        rate: plan.rate,
        seconds: plan.seconds,
        lost: injected.sent.saturating_sub(stored),
        injected,
        stored,
        open_ms,
        streams,
    })
}
