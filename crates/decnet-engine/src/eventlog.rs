//! The RFC 5424 event log (`DATA_DIR/decnet.log`) and syslog forwarding.
//!
//! Fed by a lossless bus subscription: every event that reaches the bus is
//! written, and [`EventLog::finish`] drains the queue before returning.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use decnet_bus::{Bus, Delivery, Envelope};
use decnet_core::syslog::format_event_into;
use tokio::fs::OpenOptions;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// Most lines written per wake-up.
const LOG_BATCH: usize = 1024;
/// Longest a line waits for its batch: one write (and one wake-up of this
/// task) per batch instead of per event under load; invisible to a reader.
const LOG_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Handle of the running log writer.
pub struct EventLog {
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<u64>>,
}

impl EventLog {
    /// Subscribes to `events.>` and starts writing `path` (appending).
    pub async fn start(
        bus: &Arc<dyn Bus>,
        path: &Path,
        forward: Option<SyslogTarget>,
    ) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let mut sub = bus
            .subscribe("events.>", Delivery::Lossless)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let mut out = BufWriter::with_capacity(64 * 1024, file);
            let mut fwd = Forwarder::new(forward).await;
            let mut written = 0u64;
            let mut batch: Vec<Arc<Envelope>> = Vec::with_capacity(LOG_BATCH);
            let mut line = String::new();
            loop {
                batch.clear();
                let got = tokio::select! {
                    biased;
                    ok = sub.next_batch(LOG_BATCH, LOG_WAIT, &mut batch) => ok,
                    _ = stop.cancelled() => false,
                };
                if !got {
                    while let Some(e) = sub.try_recv() {
                        batch.push(e);
                    }
                }
                for env in &batch {
                    if let Some(e) = env.as_event() {
                        line.clear();
                        format_event_into(&mut line, e);
                        line.push('\n');
                        out.write_all(line.as_bytes()).await?;
                        fwd.send(line.trim_end()).await;
                        written += 1;
                    }
                }
                out.flush().await?;
                if !got {
                    return Ok(written);
                }
            }
        });
        Ok(EventLog { cancel, task })
    }

    /// Writes whatever is queued, flushes and stops. Returns lines written.
    pub async fn finish(self) -> std::io::Result<u64> {
        self.cancel.cancel();
        self.task.await.map_err(std::io::Error::other)?
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
    async fn new(t: Option<SyslogTarget>) -> Self {
        match t {
            None => Forwarder::None,
            Some(SyslogTarget::Udp(addr)) => {
                let bind: SocketAddr = if addr.starts_with('[') {
                    "[::]:0".parse().unwrap()
                } else {
                    "0.0.0.0:0".parse().unwrap()
                };
                match UdpSocket::bind(bind).await {
                    Ok(s) => Forwarder::Udp(s, addr),
                    Err(e) => {
                        tracing::warn!("syslog forwarding disabled: {e}");
                        Forwarder::None
                    }
                }
            }
            Some(SyslogTarget::Tcp(addr)) => Forwarder::Tcp { addr, stream: None },
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
                            std::time::Duration::from_secs(2),
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
