//! The one UDP receive loop. A UDP service implements only
//! [`DatagramHandler::handle`] — datagram in, replies out — and the
//! framework receives (into a bounded buffer), stamps events
//! ([`UdpPort::emit`]), sends the replies within a per-source budget, and
//! stops on shutdown.
//!
//! The reply budget exists because every UDP decoy is a potential
//! reflector: a spoofed source would otherwise turn DNS, SNMP or NBNS
//! answers into traffic aimed at a third party.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use decnet_core::{EventKind, Fields};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ctx::DeckyCtx;
use crate::session::Session;

/// Replies per second one source address may receive from one port.
pub const REPLIES_PER_SECOND: f64 = 100.0;
/// Replies a quiet source may receive at once.
pub const REPLY_BURST: f64 = 200.0;
/// Sources whose budget is tracked per port; when full the table is
/// cleared (an attacker spraying sources gains at most one burst each).
const MAX_TRACKED_SOURCES: usize = 4096;

/// A UDP service bound to one decky.
pub trait DatagramHandler: Send + Sync + 'static {
    /// Largest datagram read; longer ones arrive truncated to this size.
    fn max_datagram(&self) -> usize {
        4096
    }

    /// Answers one datagram from `peer`: the replies to send back to it.
    fn handle(self: Arc<Self>, port: &UdpPort, peer: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>>;
}

/// One listening UDP port of a decky, as a service sees it.
pub struct UdpPort {
    /// The decky.
    pub decky: Arc<DeckyCtx>,
    /// Service name stamped on events.
    pub service: &'static str,
    /// The address actually bound (after any port shift).
    pub local: SocketAddr,
    /// The catalog port this listener was declared for.
    pub nominal_port: u16,
    /// Cancelled when the service stops.
    pub shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl UdpPort {
    /// Publishes an event about a datagram from `peer`.
    pub fn emit(&self, peer: SocketAddr, kind: EventKind, fields: Fields) {
        // The fleet's own lookups are no attacker's (see crate::chatter).
        if crate::chatter::is_chatter(peer) {
            return;
        }
        self.decky
            .emit_raw(self.service, kind, peer, self.local, fields);
    }

    /// A session for an exchange that outlives one datagram (a TFTP
    /// transfer), with the usual connect-less stamping.
    pub fn session(&self, peer: SocketAddr) -> Session {
        Session::new(self.decky.clone(), self.service, peer, self.local)
    }

    /// Runs `fut` as part of this service: it ends when the service stops
    /// and the service's `stop` waits for it.
    pub fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let stop = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = fut => {}
            }
        });
    }
}

/// Per-source token buckets of one port.
#[derive(Default)]
struct ReplyBudget {
    sources: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl ReplyBudget {
    /// Takes one reply's token for `ip`; false when it has none left.
    fn take(&self, ip: IpAddr, now: Instant) -> bool {
        let mut sources = self.sources.lock();
        if sources.len() >= MAX_TRACKED_SOURCES && !sources.contains_key(&ip) {
            sources.clear();
        }
        let (tokens, last) = sources.entry(ip).or_insert((REPLY_BURST, now));
        let refill = now.duration_since(*last).as_secs_f64() * REPLIES_PER_SECOND;
        *tokens = (*tokens + refill).min(REPLY_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Serves `socket` until `port.shutdown`: one datagram at a time, each
/// handler call guarded so a panic becomes an `error` event.
pub(crate) async fn serve(
    socket: UdpSocket,
    handler: Arc<dyn DatagramHandler>,
    decky: Arc<DeckyCtx>,
    service: &'static str,
    nominal_port: u16,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(decky.ip(), nominal_port));
    let port = UdpPort {
        decky,
        service,
        local,
        nominal_port,
        shutdown,
        tasks,
    };
    let budget = ReplyBudget::default();
    let mut buf = vec![0u8; handler.max_datagram().clamp(512, 65_536)];
    loop {
        let (n, peer) = tokio::select! {
            _ = port.shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors from earlier sends surface here; the socket is fine.
                Err(_) => continue,
            },
        };
        let h = handler.clone();
        let call = std::panic::AssertUnwindSafe(|| h.handle(&port, peer, &buf[..n]));
        let replies = match std::panic::catch_unwind(call) {
            Ok(r) => r,
            Err(panic) => {
                let msg = crate::listener::panic_message(&panic);
                tracing::error!(
                    decky = port.decky.name(),
                    service,
                    "udp handler panicked: {msg}"
                );
                port.emit(
                    peer,
                    EventKind::Error,
                    crate::fields! {"error" => format!("datagram handler panicked: {msg}")},
                );
                continue;
            }
        };
        for reply in replies {
            if !budget.take(peer.ip(), Instant::now()) {
                break;
            }
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reply_budget_refills_over_time() {
        let b = ReplyBudget::default();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let t0 = Instant::now();
        let burst = (0..1000).filter(|_| b.take(ip, t0)).count();
        assert_eq!(burst, REPLY_BURST as usize);
        assert!(!b.take(ip, t0));
        // A tenth of a second later, a tenth of the rate is back.
        let t1 = t0 + Duration::from_millis(100);
        let more = (0..1000).filter(|_| b.take(ip, t1)).count();
        assert_eq!(more, (REPLIES_PER_SECOND / 10.0) as usize);
        // Another source has its own budget.
        assert!(b.take("127.0.0.10".parse().unwrap(), t1));
    }
}
