//! Packet personality: in netns mode, a Windows persona's namespace sends
//! its fingerprinted packets (SYN/ACKs, RSTs, ICMP) through an NFQUEUE
//! and this module rewrites them so `nmap -O` reads Windows, where the
//! sysctls of [`crate::StackProfile`] cannot reach: TCP option order, the
//! SYN/ACK window, IP ID sequence, bare-RST acknowledgement, echo-reply
//! code, and resets to nmap's T2/T3 probes (firewall rules).
//!
//! Fail open everywhere: the rules `bypass` the queue when no reader is
//! bound, the queue accepts when full, and a packet the rewriter does not
//! understand goes out unchanged. Linux personas keep the kernel's stack.

mod nfqueue;
pub mod packet;
mod rules;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use decnet_core::OsFamily;

pub use packet::{Rewriter, Shape};
pub use rules::Backend;

use crate::netns::run_in;
use nfqueue::QueueSocket;

/// How often the reader looks at its stop flag while the queue is idle.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Why a namespace could not be shaped (the decky still deploys).
#[derive(Debug, thiserror::Error)]
pub enum PersonalityError {
    /// The queue socket could not be opened or bound (no NFQUEUE support,
    /// no CAP_NET_ADMIN).
    #[error("NFQUEUE unavailable: {0}")]
    Queue(#[source] std::io::Error),
    /// Neither nftables nor iptables accepted the rules.
    #[error("firewall rules not loaded: {nft}; {iptables}")]
    Rules {
        /// Why `nft` failed.
        nft: String,
        /// Why `iptables-restore` failed.
        iptables: String,
    },
    /// The reader thread could not be started.
    #[error("packet personality thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The packet shape for a persona family, `None` when the kernel's own
/// stack is already the right one (Linux) or no shape exists yet.
pub fn shape_for(nmap_os: &str) -> Option<Shape> {
    match OsFamily::from_nmap_os(nmap_os) {
        Some(OsFamily::Windows) => Some(Shape::WINDOWS),
        _ => None,
    }
}

/// A running personality: the namespace's queue reader. Stop it before
/// deleting the namespace — its socket keeps the namespace alive.
pub struct Personality {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    backend: Backend,
}

impl Personality {
    /// Binds the queue in namespace `ns_name` (handle `ns`), loads the
    /// rules and starts rewriting with `shape`.
    pub fn start(ns_name: &str, ns: &Path, shape: Shape) -> Result<Personality, PersonalityError> {
        // The socket first, so queued packets find a reader at once.
        let socket =
            run_in(ns, || QueueSocket::bind(rules::QUEUE)).map_err(PersonalityError::Queue)?;
        let backend = rules::install(ns_name)?;
        let stop = Arc::new(AtomicBool::new(false));
        let rewriter = Rewriter::new(shape, rand::random());
        let flag = Arc::clone(&stop);
        // Thread names are cut at 15 bytes: keep the decky's part.
        let decky = ns_name.strip_prefix("decnet-").unwrap_or(ns_name);
        let name = format!("osfp-{}", decky.chars().take(10).collect::<String>());
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || serve(socket, rewriter, &flag))
            .map_err(PersonalityError::Thread)?;
        Ok(Personality {
            stop,
            thread: Some(thread),
            backend,
        })
    }

    /// Which tool loaded the rules.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Stops the reader and closes its socket (waits at most one poll).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Personality {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The reader loop: every queued packet gets a verdict, rewritten when the
/// rewriter changed it. Returns (closing the socket, so the rules bypass
/// the queue) on stop or on a socket error.
fn serve(mut socket: QueueSocket, mut rewriter: Rewriter, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let batch = match socket.next_batch(STOP_POLL) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!("packet personality stopped (packets now leave unshaped): {e}");
                return;
            }
        };
        for mut packet in batch {
            let changed = !packet.truncated && rewriter.rewrite(&mut packet.payload);
            let replacement = changed.then_some(&packet.payload[..]);
            if let Err(e) = socket.accept(packet.id, replacement) {
                tracing::debug!(id = packet.id, "nfqueue verdict failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_windows_families_are_shaped() {
        assert_eq!(shape_for("windows"), Some(Shape::WINDOWS));
        assert_eq!(shape_for("windows_server"), Some(Shape::WINDOWS));
        assert_eq!(shape_for("linux"), None);
        assert_eq!(shape_for("embedded"), None);
        assert_eq!(shape_for("bsd"), None);
    }
}
