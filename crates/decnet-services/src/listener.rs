//! Accept loops: one per (decky, service, port), all sharing the decky's
//! connection slots ([`crate::admission`]); every connection is a task
//! that can panic without affecting anything else.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use decnet_core::catalog::Transport;
use decnet_core::EventKind;
use futures::FutureExt;
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::{fields, Conn, Handler, Service, ServiceError};

/// A service running on a decky; stop it with [`RunningService::stop`].
pub struct RunningService {
    /// Service name.
    pub name: &'static str,
    /// Bound addresses (after any port shift).
    pub addrs: Vec<(Transport, SocketAddr)>,
    /// Ends everything: listeners and sessions.
    cancel: CancellationToken,
    /// Ends the listeners only (a child of `cancel`).
    accepting: CancellationToken,
    /// Accept loops and UDP receive loops (they own the bound sockets).
    listeners: TaskTracker,
    /// TCP sessions.
    sessions: TaskTracker,
}

impl RunningService {
    /// A service whose every task is a listener (it holds its connections
    /// itself, as a tarpit does): `cancel` ends them all.
    pub(crate) fn new(
        name: &'static str,
        addrs: Vec<(Transport, SocketAddr)>,
        cancel: CancellationToken,
        listeners: TaskTracker,
    ) -> Self {
        RunningService {
            name,
            addrs,
            accepting: cancel.child_token(),
            cancel,
            listeners,
            sessions: TaskTracker::new(),
        }
    }

    /// Stops accepting, ends this service's sessions and waits for them
    /// (their disconnect events are published before this returns).
    pub async fn stop(&self) {
        self.cancel.cancel();
        self.listeners.close();
        self.sessions.close();
        self.listeners.wait().await;
        self.sessions.wait().await;
    }

    /// Closes the service's ports and waits until they are released, but
    /// lets the TCP sessions already open run to their end: what a
    /// persona mutation does, so nobody in the middle of a session is cut
    /// off. [`RunningService::stop`] still ends those sessions.
    pub async fn stop_accepting(&self) {
        self.accepting.cancel();
        self.listeners.close();
        self.listeners.wait().await;
    }

    /// Number of live tasks (listeners + sessions).
    pub fn tasks(&self) -> usize {
        self.listeners.len() + self.sessions.len()
    }

    /// Number of TCP sessions still running.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = match addr.ip() {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    sock.set_reuseaddr(true)?;
    sock.set_nodelay(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

/// Binds in the decky's namespace when it has one (netns mode), else here.
/// Namespace binds run on their own thread (see `decnet_net::run_in`).
pub(crate) async fn bind(
    decky: &DeckyCtx,
    transport: Transport,
    addr: SocketAddr,
) -> std::io::Result<Listening> {
    let Some(ns) = decky.net.as_ref().and_then(|n| n.netns.clone()) else {
        return Ok(match transport {
            Transport::Tcp => Listening::Tcp(bind_tcp(addr)?),
            Transport::Udp => Listening::Udp(UdpSocket::bind(addr).await?),
        });
    };
    // Blocking-pool threads run inside the runtime, so the std sockets can
    // be registered with it right there.
    tokio::task::spawn_blocking(move || match transport {
        Transport::Tcp => decnet_net::bind_tcp_in(&ns, addr)
            .and_then(TcpListener::from_std)
            .map(Listening::Tcp),
        Transport::Udp => decnet_net::bind_udp_in(&ns, addr)
            .and_then(UdpSocket::from_std)
            .map(Listening::Udp),
    })
    .await
    .map_err(std::io::Error::other)?
}

/// A TCP listener bound like a service's (in the decky's namespace when it
/// has one).
pub(crate) async fn bind_tcp_listener(
    decky: &DeckyCtx,
    addr: SocketAddr,
) -> std::io::Result<TcpListener> {
    match bind(decky, Transport::Tcp, addr).await? {
        Listening::Tcp(listener) => Ok(listener),
        Listening::Udp(_) => Err(std::io::Error::other("a TCP bind returned a UDP socket")),
    }
}

/// An unconnected TCP socket bound to `local`, made in the decky's
/// namespace when it has one: a connection the decky opens (FTP active
/// mode) must leave from the decky's address, which exists only there.
pub(crate) async fn bound_tcp_socket(
    decky: &DeckyCtx,
    local: SocketAddr,
) -> std::io::Result<TcpSocket> {
    let ns = decky.net.as_ref().and_then(|n| n.netns.clone());
    tcp_socket_in(ns.as_deref(), local).await
}

/// An unconnected TCP socket bound to `local`, made in namespace `netns`
/// (a handle under `/var/run/netns`) when given. A socket belongs to the
/// namespace it was made in; made there on its own thread, it is then
/// driven from here.
pub(crate) async fn tcp_socket_in(
    netns: Option<&std::path::Path>,
    local: SocketAddr,
) -> std::io::Result<TcpSocket> {
    let Some(ns) = netns.map(std::path::Path::to_owned) else {
        let socket = match local {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(local)?;
        return Ok(socket);
    };
    let made = tokio::task::spawn_blocking(move || {
        decnet_net::run_in(&ns, || {
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(local),
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )?;
            socket.set_nonblocking(true)?;
            socket.bind(&local.into())?;
            Ok(std::net::TcpStream::from(socket))
        })
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(TcpSocket::from_std_stream(made))
}

pub(crate) enum Listening {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Binds every port of `service` on the decky and starts serving.
/// `parent` cancels it together with the rest of the fleet.
pub async fn start_service(
    decky: Arc<DeckyCtx>,
    service: &dyn Service,
    parent: &CancellationToken,
) -> Result<RunningService, ServiceError> {
    let handler = service.bind(&decky)?;
    let name = service.name();
    let cancel = parent.child_token();
    let accepting = cancel.child_token();
    let listeners = TaskTracker::new();
    let sessions = TaskTracker::new();
    let mut addrs = Vec::new();
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    // A dual-stack decky listens on each of its addresses, like a host
    // whose daemons bind both families.
    for ip in decky.addrs() {
        for &(transport, port) in service.ports() {
            let real = port.checked_add(decky.port_offset).unwrap_or(port);
            let addr = SocketAddr::new(ip, real);
            let bind_err = |source| ServiceError::Bind {
                service: name,
                addr,
                transport,
                source,
            };
            match bind(&decky, transport, addr).await.map_err(bind_err)? {
                Listening::Tcp(listener) => tcp.push((listener, port)),
                Listening::Udp(socket) => udp.push((socket, port)),
            }
            addrs.push((transport, addr));
        }
    }
    for (listener, nominal) in tcp {
        listeners.spawn(accept_loop(
            listener,
            nominal,
            decky.clone(),
            handler.clone(),
            name,
            Stop {
                accepting: accepting.clone(),
                sessions: cancel.clone(),
            },
            sessions.clone(),
        ));
    }
    for (socket, nominal) in udp {
        // A service that declares a UDP port but has no datagram side
        // keeps the port bound (and silent), like a filtered port.
        let Some(datagram) = handler.clone().datagram() else {
            let c = accepting.clone();
            listeners.spawn(async move {
                c.cancelled().await;
                drop(socket);
            });
            continue;
        };
        // A UDP exchange (a TFTP transfer) belongs to its port: it ends
        // when the port closes.
        listeners.spawn(crate::udp::serve(
            socket,
            datagram,
            decky.clone(),
            name,
            nominal,
            accepting.clone(),
            listeners.clone(),
        ));
    }
    Ok(RunningService {
        name,
        addrs,
        cancel,
        accepting,
        listeners,
        sessions,
    })
}

/// What ends an accept loop and what ends its sessions.
struct Stop {
    accepting: CancellationToken,
    sessions: CancellationToken,
}

async fn accept_loop(
    listener: TcpListener,
    nominal_port: u16,
    decky: Arc<DeckyCtx>,
    handler: Arc<dyn Handler>,
    service: &'static str,
    stop: Stop,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.accepting.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(decky = decky.name(), service, "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::new(decky.ip(), nominal_port));
        let admission = match decky.slots.admit(peer.ip(), &decky.limits) {
            Ok(a) => a,
            Err(refusal) => {
                // Closed at once, like a server with a full backlog or
                // sshd's MaxStartups: no banner, no session.
                let session = Session::new(decky.clone(), service, peer, local);
                session.emit(
                    EventKind::Error,
                    fields! {
                        "error" => format!("{refusal}; connection refused"),
                        "reason" => refusal.reason(),
                    },
                );
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let session = Session::new(decky.clone(), service, peer, local);
        let handler = handler.clone();
        let cancel = stop.sessions.clone();
        tasks.spawn(async move {
            let _admission = admission;
            let started = Instant::now();
            session.emit(EventKind::Connect, Default::default());
            let conn = Conn { stream, peer, local, nominal_port };
            let max_session = session.limits().max_session;
            let run = AssertUnwindSafe(handler.serve_tcp(conn, session.clone())).catch_unwind();
            let outcome = tokio::select! {
                r = tokio::time::timeout(max_session, run) => match r {
                    Ok(Ok(())) => None,
                    Ok(Err(panic)) => Some(format!("session handler panicked: {}", panic_message(&panic))),
                    Err(_) => Some("session time limit reached".to_owned()),
                },
                _ = cancel.cancelled() => None,
            };
            if let Some(err) = outcome {
                tracing::error!(decky = session.decky.name(), service, "{err}");
                session.emit_error(err);
            }
            session.emit(
                EventKind::Disconnect,
                fields! {"duration_ms" => started.elapsed().as_millis() as u64},
            );
        });
    }
}

/// The text of a caught panic.
pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
