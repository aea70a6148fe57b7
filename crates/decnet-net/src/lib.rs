//! Host networking for deckies that are hosts rather than ports (DESIGN §6).
//!
//! * `alias` mode: the decky IP is added to a host interface
//!   ([`Network::attach`] → `ip addr add`, then a gratuitous ARP, or an
//!   unsolicited neighbour advertisement for IPv6).
//! * `netns` mode: one network namespace per decky holding a macvlan
//!   (ipvlan when the parent cannot do macvlan) child of the host interface
//!   with the persona's MAC, the decky's addresses and default routes
//!   (`gw`, `gw6`), announced like alias addresses; the
//!   persona's OS family sets the namespace's TCP/IP sysctls
//!   ([`StackProfile`]). Sockets are opened inside it by this process
//!   ([`run_in`]); nothing else runs there.
//!
//! * Passive capture: [`capture::PacketSocket`], a BPF-filtered AF_PACKET
//!   receive socket on the deckies' LAN (used by `decnet-passive`).
//!
//! Everything this crate creates is first written to a state file, so a
//! crashed run's namespaces and addresses are removed on the next start
//! ([`Network::open`]). Functions here block (they run `ip` and switch
//! namespaces on a dedicated thread): call them from `spawn_blocking`.

mod arp;
pub mod capture;
mod cmd;
pub mod dhcp;
mod ndp;
mod netns;
mod network;
pub mod personality;
mod stack;

pub use arp::send_gratuitous_arp;
pub use ndp::send_unsolicited_na;
pub use netns::{bind_tcp_in, bind_udp_in, run_in, NETNS_DIR};
pub use network::{netns_name, AttachSpec, DeckyNet, NetConfig, Network, Rejoined, RenewReport};
pub use stack::StackProfile;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A command (`ip …`) could not be run or failed.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr, or why it could not start.
        message: String,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration cannot work (missing interface, bad mode).
    #[error("{0}")]
    Config(String),
    /// DHCP gave no usable lease (no answer in time, malformed replies).
    #[error("DHCP: {0}")]
    Dhcp(String),
    /// A DHCP server refused the address (DHCPNAK): it must not be used.
    #[error("DHCP: {server} refused {ip} (DHCPNAK)")]
    DhcpRefused {
        /// The refusing server.
        server: std::net::Ipv4Addr,
        /// The refused address.
        ip: std::net::Ipv4Addr,
    },
}

impl NetError {
    fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io {
            what: what.into(),
            source,
        }
    }
}
