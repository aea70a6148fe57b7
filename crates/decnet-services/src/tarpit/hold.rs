//! One tarpit port: accept, then once per interval service every held
//! connection from this one task.

use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_core::tarpit::TarpitKind;
use decnet_core::EventKind;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{trickle, TarpitPermit, SERVICE};
use crate::ctx::DeckyCtx;
use crate::fields;

/// One tarpit listener and what it needs.
pub(crate) struct Tarpit {
    pub(crate) listener: TcpListener,
    pub(crate) local: SocketAddr,
    pub(crate) kind: TarpitKind,
    pub(crate) interval: Duration,
    pub(crate) decky: Arc<DeckyCtx>,
    pub(crate) cancel: CancellationToken,
}

/// A held connection: a non-blocking socket outside the reactor and the
/// counters its exit event reports.
struct Held {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    since: Instant,
    sent: u64,
    _permit: TarpitPermit,
}

/// Why a held connection ended.
#[derive(Clone, Copy)]
enum Exit {
    /// The peer closed or reset it.
    PeerClosed,
    /// Writing to it failed.
    WriteFailed,
    /// The tarpit stopped (teardown, shutdown).
    Shutdown,
}

impl Exit {
    fn as_str(self) -> &'static str {
        match self {
            Exit::PeerClosed => "peer_closed",
            Exit::WriteFailed => "write_failed",
            Exit::Shutdown => "shutdown",
        }
    }
}

/// Accepts and holds until cancelled; every held connection's exit event
/// is published before this returns.
pub(crate) async fn drive(t: Tarpit) {
    let mut held: Vec<Held> = Vec::new();
    let mut tick = tokio::time::interval(t.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = t.cancel.cancelled() => {
                for h in held.drain(..) {
                    t.exit(&h, Exit::Shutdown);
                }
                return;
            }
            accepted = t.listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Some(h) = t.admit(stream, peer) {
                        held.push(h);
                    }
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(decky = t.decky.name(), "tarpit accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = tick.tick() => t.service_all(&mut held),
        }
    }
}

impl Tarpit {
    /// Takes a place under the process cap and leaves the reactor, or
    /// closes the connection at once when the cap is reached.
    fn admit(&self, stream: tokio::net::TcpStream, peer: SocketAddr) -> Option<Held> {
        let Some(permit) = self.decky.limits.tarpit_slots.try_take() else {
            self.emit(
                EventKind::Error,
                peer,
                fields! {
                    "error" => "tarpit connection limit reached; connection refused",
                    "reason" => "tarpit_full",
                    "tarpit" => self.kind.as_str(),
                },
            );
            return None;
        };
        // Held sockets are polled in bulk once per interval, so they need
        // no reactor registration (into_std leaves them non-blocking).
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(decky = self.decky.name(), "tarpit: {e}");
                return None;
            }
        };
        self.emit(
            EventKind::Connect,
            peer,
            fields! {
                "event_type" => "tarpit_enter",
                "tarpit" => self.kind.as_str(),
                "interval_secs" => self.interval.as_secs(),
            },
        );
        Some(Held {
            stream,
            peer,
            since: Instant::now(),
            sent: 0,
            _permit: permit,
        })
    }

    /// One interval's work: drop who hung up, write to the others.
    fn service_all(&self, held: &mut Vec<Held>) {
        let gone = hung_up(held);
        let mut rng = rand::thread_rng();
        let mut index = 0;
        held.retain_mut(|h| {
            let verdict = if gone.get(index).copied().unwrap_or(false) {
                Some(Exit::PeerClosed)
            } else {
                self.trickle(h, &mut rng)
            };
            index += 1;
            match verdict {
                Some(why) => {
                    self.exit(h, why);
                    false
                }
                None => true,
            }
        });
    }

    /// Writes this interval's bytes; `Some` when the connection is dead.
    fn trickle(&self, h: &mut Held, rng: &mut impl rand::Rng) -> Option<Exit> {
        let written = match self.kind {
            TarpitKind::Tcp => return None,
            TarpitKind::Ssh => {
                let mut buf = trickle::ssh_buf();
                let n = trickle::ssh_line(&mut buf, rng);
                (&h.stream).write(&buf[..n])
            }
            TarpitKind::Http => {
                let mut buf = [0u8; trickle::HTTP_CHUNK];
                trickle::http_bytes(h.sent, &mut buf);
                (&h.stream).write(&buf)
            }
        };
        match written {
            Ok(n) => {
                h.sent += n as u64;
                None
            }
            // The peer stopped reading and its window is closed: exactly
            // what a tarpit wants; try again next interval.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(_) => Some(Exit::WriteFailed),
        }
    }

    fn exit(&self, h: &Held, why: Exit) {
        let held_for = h.since.elapsed();
        self.emit(
            EventKind::Disconnect,
            h.peer,
            fields! {
                "event_type" => "tarpit_exit",
                "tarpit" => self.kind.as_str(),
                "held_secs" => held_for.as_secs(),
                "duration_ms" => held_for.as_millis() as u64,
                "bytes_sent" => h.sent,
                "reason" => why.as_str(),
            },
        );
    }

    fn emit(&self, kind: EventKind, peer: SocketAddr, fields: decnet_core::Fields) {
        self.decky.emit_raw(SERVICE, kind, peer, self.local, fields);
    }
}

/// Which held connections the peer closed or reset, by index: one
/// non-blocking `poll(2)` per batch, asking for `POLLRDHUP` (the peer's
/// FIN, even when its unread data is still queued — a plain TCP hold never
/// reads).
fn hung_up(held: &[Held]) -> Vec<bool> {
    /// pollfds per system call: bounds the transient array.
    const BATCH: usize = 1024;
    let rdhup = PollFlags::from_bits_retain(nix::libc::POLLRDHUP);
    let mut gone = Vec::with_capacity(held.len());
    for batch in held.chunks(BATCH) {
        let mut fds: Vec<PollFd<'_>> = batch
            .iter()
            .map(|h| PollFd::new(h.stream.as_fd(), rdhup))
            .collect();
        if poll(&mut fds, PollTimeout::ZERO).is_err() {
            // EINTR or ENOMEM: nobody is judged gone this time.
            gone.extend(std::iter::repeat_n(false, fds.len()));
            continue;
        }
        // `revents` is None for bits nix does not name, i.e. POLLRDHUP;
        // any other reported bit is POLLHUP, POLLERR or POLLNVAL.
        gone.extend(fds.iter().map(|fd| fd.any() != Some(false)));
    }
    gone
}
