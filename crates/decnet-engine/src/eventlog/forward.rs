//! Forwarding log lines to a syslog collector, on a task of its own.
//!
//! The event log writer hands over rendered batches through a queue
//! bounded in bytes and never waits: a collector that is slow or unreachable (each
//! TCP reconnect may take its 2 s timeout) used to stall the writer, and
//! with it `decnet.log` and the store. A batch the queue cannot take is
//! dropped and counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Where to forward log lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    /// One datagram per line.
    Udp(String),
    /// RFC 6587 octet-counted frames over TCP.
    Tcp(String),
}

impl SyslogTarget {
    /// Parses `udp://host:port` / `tcp://host:port`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(a) = s.strip_prefix("udp://") {
            Ok(SyslogTarget::Udp(a.to_owned()))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            Ok(SyslogTarget::Tcp(a.to_owned()))
        } else if s.starts_with("tls://") {
            Err("syslog over TLS is not supported yet; use udp:// or tcp://".to_owned())
        } else {
            Err(format!("unsupported syslog target '{s}'"))
        }
    }
}

/// Most rendered bytes waiting for the collector.
const QUEUE_BYTES: usize = 8 << 20;

/// The writer's end: batches of newline-terminated lines.
pub(crate) struct ForwardQueue {
    tx: Option<mpsc::UnboundedSender<String>>,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

impl ForwardQueue {
    /// No forwarding.
    pub(crate) fn none() -> Self {
        ForwardQueue {
            tx: None,
            queued: Arc::new(AtomicUsize::new(0)),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Starts the forwarding task for `target`.
    pub(crate) fn start(target: SyslogTarget) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(target, rx, queued.clone()));
        (
            ForwardQueue {
                tx: Some(tx),
                queued,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            task,
        )
    }

    /// Whether lines are forwarded at all (a `[general] syslog` target).
    pub(crate) fn active(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a batch of `lines` lines; drops (and counts) it when full.
    pub(crate) fn send(&self, batch: String, lines: u64) {
        if let Some(tx) = &self.tx {
            let len = batch.len();
            let room = self.queued.load(Ordering::Acquire) + len <= QUEUE_BYTES;
            if room {
                self.queued.fetch_add(len, Ordering::AcqRel);
            }
            if !room || tx.send(batch).is_err() {
                if room {
                    self.queued.fetch_sub(len, Ordering::AcqRel);
                }
                self.dropped.fetch_add(lines, Ordering::Relaxed);
            }
        }
    }

    /// Lines not forwarded because the collector could not keep up.
    pub(crate) fn dropped(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }
}

async fn run(
    target: SyslogTarget,
    mut rx: mpsc::UnboundedReceiver<String>,
    queued: Arc<AtomicUsize>,
) {
    let mut out = Forwarder::new(target).await;
    while let Some(batch) = rx.recv().await {
        for line in batch.lines() {
            out.send(line).await;
        }
        queued.fetch_sub(batch.len(), Ordering::AcqRel);
    }
}

enum Forwarder {
    None,
    Udp(UdpSocket, String),
    Tcp {
        addr: String,
        stream: Option<TcpStream>,
    },
}

impl Forwarder {
    async fn new(t: SyslogTarget) -> Self {
        match t {
            SyslogTarget::Udp(addr) => {
                let bind: SocketAddr = if addr.starts_with('[') {
                    SocketAddr::from(([0u16; 8], 0))
                } else {
                    SocketAddr::from(([0u8; 4], 0))
                };
                match UdpSocket::bind(bind).await {
                    Ok(s) => Forwarder::Udp(s, addr),
                    Err(e) => {
                        tracing::warn!("syslog forwarding disabled: {e}");
                        Forwarder::None
                    }
                }
            }
            SyslogTarget::Tcp(addr) => Forwarder::Tcp { addr, stream: None },
        }
    }

    async fn send(&mut self, line: &str) {
        match self {
            Forwarder::None => {}
            Forwarder::Udp(sock, addr) => {
                let _ = sock.send_to(line.as_bytes(), addr.as_str()).await;
            }
            Forwarder::Tcp { addr, stream } => {
                let frame = format!("{} {line}", line.len());
                for _ in 0..2 {
                    if stream.is_none() {
                        match tokio::time::timeout(
                            Duration::from_secs(2),
                            TcpStream::connect(addr.as_str()),
                        )
                        .await
                        {
                            Ok(Ok(s)) => *stream = Some(s),
                            _ => return,
                        }
                    }
                    if let Some(s) = stream.as_mut() {
                        if s.write_all(frame.as_bytes()).await.is_ok() {
                            return;
                        }
                    }
                    *stream = None;
                }
            }
        }
    }
}
