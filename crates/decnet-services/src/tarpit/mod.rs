//! Tarpits: ports of a decky that hold attackers' connections open for as
//! long as their clients will wait, at almost no cost to us.
//!
//! Each tarpit port has one task ([`hold::drive`]) that accepts and, once
//! per interval, services every connection it holds: one `poll(2)` over
//! all of them to see who hung up, then a few bytes written to each
//! (nothing for the plain TCP hold). A held connection is a non-blocking
//! socket and a few counters — no task, no buffer, no reactor
//! registration — so tens of thousands cost little more than their kernel
//! sockets. Tarpit connections take no slot of the decky's
//! [`crate::admission::Slots`]; they have their own process-wide cap,
//! [`TarpitSlots`].
//!
//! Events (service `tarpit`): `connect` with `event_type = tarpit_enter`
//! when a connection is caught, `disconnect` with `event_type =
//! tarpit_exit`, `held_secs`, `duration_ms`, `bytes_sent` and `reason`
//! when it ends.

mod hold;
mod trickle;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_core::catalog::Transport;
use decnet_core::tarpit::{TarpitKind, TarpitSpec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ctx::DeckyCtx;
use crate::listener::{bind_tcp_listener, RunningService};
use crate::ServiceError;

/// Service name of every tarpit event.
pub const SERVICE: &str = "tarpit";
/// Tarpitted connections one process holds at most when not configured.
pub const DEFAULT_MAX_CONNS: usize = 10_000;

/// The process-wide cap on held tarpit connections (shared by every
/// decky through [`crate::Limits::tarpit_slots`]).
#[derive(Debug)]
pub struct TarpitSlots {
    held: AtomicUsize,
    cap: usize,
}

/// One held connection's place under the cap; released when dropped.
#[derive(Debug)]
pub struct TarpitPermit(Arc<TarpitSlots>);

impl Drop for TarpitPermit {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::AcqRel);
    }
}

impl TarpitSlots {
    /// A cap of `cap` connections.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(TarpitSlots {
            held: AtomicUsize::new(0),
            cap,
        })
    }

    /// A place for one more connection, unless the cap is reached.
    pub fn try_take(self: &Arc<Self>) -> Option<TarpitPermit> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cap).then_some(n + 1)
            })
            .ok()
            .map(|_| TarpitPermit(self.clone()))
    }

    /// Connections held now, across every decky.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

/// Name a tarpit is reported under in decky summaries (`tarpit-ssh`).
pub fn summary_name(kind: TarpitKind) -> &'static str {
    match kind {
        TarpitKind::Ssh => "tarpit-ssh",
        TarpitKind::Http => "tarpit-http",
        TarpitKind::Tcp => "tarpit-tcp",
    }
}

/// Binds one tarpit port on every address of the decky and starts holding
/// what connects. Stopping the returned service emits every held
/// connection's exit event before it returns.
pub async fn start_tarpit(
    decky: Arc<DeckyCtx>,
    spec: TarpitSpec,
    parent: &CancellationToken,
) -> Result<RunningService, ServiceError> {
    let interval = Duration::from_secs(u64::from(decky.spec.tarpit_interval.max(1)));
    let name = summary_name(spec.kind);
    let cancel = parent.child_token();
    let tasks = TaskTracker::new();
    let mut addrs = Vec::new();
    let mut listeners = Vec::new();
    for ip in decky.addrs() {
        let port = spec
            .port
            .checked_add(decky.port_offset)
            .unwrap_or(spec.port);
        let addr = SocketAddr::new(ip, port);
        let bind_err = |source| ServiceError::Bind {
            service: name,
            addr,
            transport: Transport::Tcp,
            source,
        };
        let listener = bind_tcp_listener(&decky, addr).await.map_err(bind_err)?;
        if spec.kind == TarpitKind::Tcp {
            // Accepted sockets inherit the listener's receive buffer, and
            // the window they advertise (and its scale) is sized from it at
            // the handshake: the kernel's minimum makes the peer's window
            // close after a couple of kilobytes.
            socket2::SockRef::from(&listener)
                .set_recv_buffer_size(1)
                .map_err(bind_err)?;
        }
        // The address really bound (port 0 asks for any free port).
        let addr = listener.local_addr().unwrap_or(addr);
        listeners.push((listener, addr));
        addrs.push((Transport::Tcp, addr));
    }
    for (listener, addr) in listeners {
        tasks.spawn(hold::drive(hold::Tarpit {
            listener,
            local: addr,
            kind: spec.kind,
            interval,
            decky: decky.clone(),
            cancel: cancel.clone(),
        }));
    }
    Ok(RunningService::new(name, addrs, cancel, tasks))
}
