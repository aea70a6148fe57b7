//! Passive LAN sensor (DESIGN §6, "Passive sensor").
//!
//! In netns (or, with an explicit flag, alias) mode, a BPF-filtered
//! AF_PACKET socket on the deckies' LAN ([`filter`], `decnet_net::capture`)
//! sees clients before any service answers them, and turns what it sees
//! into ordinary bus events ([`analyzer`]):
//!
//! * `fingerprint` events: JA3/JA4 of TLS ClientHellos and HASSH of SSH
//!   KEXINITs (the same parsers and field names the TLS front and the SSH
//!   service use, so intel links them alike), and p0f-style SYN signatures
//!   ([`syn`]) with an OS guess ([`os`]: p0f's database when installed,
//!   else a small built-in table);
//! * `scan` events: SYNs to closed ports, UDP probes of ports nothing
//!   listens on, and sweeps of many ports or deckies ([`scan`]).
//!
//! Bounded everywhere: flows ([`flow`]), sources, repeated fingerprints,
//! the queue to the bus; what does not fit is dropped and counted
//! ([`sensor::SensorStats`]).

pub mod analyzer;
pub mod filter;
pub mod fleet_view;
pub mod flow;
pub mod os;
pub mod packet;
pub mod replay;
pub mod scan;
pub mod sensor;
pub mod syn;

pub use analyzer::{Analyzer, AnalyzerLimits, SERVICE};
pub use fleet_view::{DeckyPorts, FleetView};
pub use os::OsTable;
pub use sensor::{FleetSetter, Sensor, SensorConfig, StatsSnapshot};

/// Why the sensor could not run.
#[derive(Debug, thiserror::Error)]
pub enum PassiveError {
    /// The capture socket could not be opened.
    #[error("passive capture: {0}")]
    Capture(#[from] decnet_net::NetError),
    /// The capture thread could not be started.
    #[error("passive capture thread: {0}")]
    Thread(String),
    /// A capture file could not be read.
    #[error("pcap: {0}")]
    Pcap(String),
}
