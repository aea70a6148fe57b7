//! Entering a network namespace for one operation.
//!
//! `setns` changes the namespace of the calling *thread*, so every
//! operation runs on a fresh thread that ends with it: a pooled runtime
//! thread must never be left inside a decky's namespace. Sockets keep the
//! namespace they were created in, so a listener opened here serves the
//! decky while being polled by the ordinary runtime.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use nix::sched::{setns, CloneFlags};
use socket2::{Domain, Protocol, Socket, Type};

/// Where `ip netns add NAME` puts the namespace handle.
pub const NETNS_DIR: &str = "/var/run/netns";

/// Runs `f` on a new thread inside the network namespace at `ns`
/// (a `/var/run/netns/NAME` handle) and returns its result.
pub fn run_in<T, F>(ns: &Path, f: F) -> io::Result<T>
where
    T: Send,
    F: FnOnce() -> io::Result<T> + Send,
{
    let handle = File::open(ns)?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns(&handle, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace operation panicked")))
    })
}

/// A non-blocking TCP listener bound to `addr` inside `ns` (backlog 1024,
/// `SO_REUSEADDR`, like the loopback listeners).
pub fn bind_tcp_in(ns: &Path, addr: SocketAddr) -> io::Result<TcpListener> {
    run_in(ns, || {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    })
}

/// A non-blocking UDP socket bound to `addr` inside `ns`.
pub fn bind_udp_in(ns: &Path, addr: SocketAddr) -> io::Result<UdpSocket> {
    run_in(ns, || {
        let socket = UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    })
}
