//! Synthetic events through a real decky socket: HTTP/1.1 keep-alive
//! requests `GET /b/<run>/<seq>` to a decky's http service at a fixed rate.
//! Each request is one `request` event; `<seq>` is the marker the stream
//! readers use to find the send time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What to send.
#[derive(Clone, Debug)]
pub struct Plan {
    /// A decky's http port (loopback).
    pub target: SocketAddr,
    /// Requests (= events) per second.
    pub rate: u64,
    /// Duration of the injection.
    pub seconds: f64,
    /// Keep-alive connections used.
    pub conns: usize,
    /// Marker of this run (path prefix `/b/<run>/`).
    pub run: String,
}

impl Plan {
    /// Requests the plan sends.
    pub fn total(&self) -> u64 {
        (self.rate as f64 * self.seconds) as u64
    }
}

/// Send time of every sequence number (ns after `t0`, 0 = not sent).
pub struct SendLog {
    t0: Instant,
    sent_ns: Vec<AtomicU64>,
}

impl SendLog {
    /// Room for `n` sequence numbers.
    pub fn new(n: u64) -> Arc<Self> {
        Arc::new(SendLog {
            t0: Instant::now(),
            sent_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    fn mark(&self, seq: u64) {
        if let Some(s) = self.sent_ns.get(seq as usize) {
            s.store(
                self.t0.elapsed().as_nanos().max(1) as u64,
                Ordering::Release,
            );
        }
    }

    /// Time from sending `seq` to `now`, if `seq` was sent.
    pub fn latency_ns(&self, seq: u64, now: Instant) -> Option<u64> {
        let s = self.sent_ns.get(seq as usize)?.load(Ordering::Acquire);
        (s != 0).then(|| (now.duration_since(self.t0).as_nanos() as u64).saturating_sub(s))
    }
}

/// Outcome of an injection.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Injected {
    /// Requests answered (each produced its event).
    pub sent: u64,
    /// Requests that failed (the event may or may not exist).
    pub errors: u64,
    pub seconds: f64,
    /// Achieved rate.
    pub per_sec: f64,
    /// Worst lag behind the schedule (ms): > 0 means the generator could not keep the rate.
    pub max_behind_ms: f64,
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn one(
    sender: &mut Option<SendRequest<Empty<Bytes>>>,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<()> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        *sender = Some(connect(addr).await?);
    }
    let s = sender.as_mut().expect("just connected");
    s.ready().await?;
    let req = hyper::Request::get(path)
        .header("host", addr.ip().to_string())
        .header("user-agent", "decnet-load")
        .body(Empty::new())?;
    let resp = s.send_request(req).await?;
    resp.into_body().collect().await?;
    Ok(())
}

/// Sends the plan's requests on schedule (`seq` at `seq / rate` seconds).
pub async fn inject(plan: &Plan, log: Arc<SendLog>) -> anyhow::Result<Injected> {
    crate::check_loopback(&plan.target)?;
    let total = plan.total();
    let conns = plan.conns.max(1) as u64;
    let start = tokio::time::Instant::now();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conns {
        let (plan, log) = (plan.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut err, mut behind) = (0u64, 0u64, Duration::ZERO);
            let mut sender = None;
            let mut seq = w;
            while seq < total {
                let due = start + Duration::from_secs_f64(seq as f64 / plan.rate as f64);
                tokio::time::sleep_until(due).await;
                behind = behind.max(tokio::time::Instant::now() - due);
                let path = format!("/b/{}/{seq}", plan.run);
                log.mark(seq);
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    one(&mut sender, plan.target, &path),
                )
                .await
                {
                    Ok(Ok(())) => ok += 1,
                    _ => {
                        err += 1;
                        sender = None;
                    }
                }
                seq += conns;
            }
            (ok, err, behind)
        }));
    }
    let mut r = Injected::default();
    let mut behind = Duration::ZERO;
    for task in tasks {
        let (ok, err, b) = task.await?;
        r.sent += ok;
        r.errors += err;
        behind = behind.max(b);
    }
    r.seconds = t.elapsed().as_secs_f64();
    r.per_sec = r.sent as f64 / r.seconds;
    r.max_behind_ms = behind.as_secs_f64() * 1000.0;
    Ok(r)
}
