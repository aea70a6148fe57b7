//! decnet-core: the vocabulary every other decnet crate speaks.
//!
//! Nothing in here does I/O except reading a fleet file from disk; the types
//! are plain data so they can cross the bus, the store and the API unchanged.

pub mod archetype;
pub mod canary;
pub mod catalog;
pub mod clock;
pub mod compat;
pub mod content;
pub mod enrich;
pub mod event;
pub mod fleet;
pub mod parse;
pub mod passive;
pub mod persona;
pub mod probe_text;
pub mod secret;
pub mod seed;
pub mod service_keys;
pub mod subject;
pub mod syslog;
pub mod tarpit;

pub use archetype::{Archetype, ARCHETYPES};
pub use catalog::{ServiceInfo, Transport, SERVICE_CATALOG};
pub use event::{Event, EventKind, Fields};
pub use fleet::{DeckySpec, FleetSpec, General, NetMode, ValidationError, ValidationReport};
pub use persona::{format_mac, Distro, OsFamily, Persona, DISTROS};
pub use seed::DeckySeed;
