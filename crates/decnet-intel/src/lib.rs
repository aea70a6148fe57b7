//! decnet-intel: turns raw events into what an analyst reads (DESIGN §9).
//!
//! [`Intel`] consumes decky events from its own lossless bus subscription
//! and maintains, incrementally and restart-safely:
//!
//! * attackers — one row per source address ([`profile`]), with a behaviour
//!   class and the rule and numbers that decided it;
//! * credentials (dedupe key ip, decky, service, secret kind, secret hash,
//!   principal) and bounty (uploaded payload hashes, download URLs);
//! * identities ([`identity`]): addresses linked into actors, soft-merged
//!   and unmerged, announced on the bus as `identity.formed`,
//!   `identity.observation.linked`, `identity.merged`, `identity.unmerged`;
//! * campaigns ([`campaign`]).
//!
//! Each batch is applied in one store transaction together with the ids of
//! the events it consumed, so replays and at-least-once delivery never count
//! twice, and a restart reloads the rows and continues counting.

pub mod behaviour;
pub mod campaign;
pub mod enrich;
pub mod geo;
pub mod harvest;
pub mod identity;
pub mod linker;
pub mod profile;
pub mod rarity;
pub mod state;
pub mod worker;

use std::time::Duration;

pub use state::{IntelState, CAMPAIGN_REFRESH};
pub use worker::{Intel, IntelHandle, IntelMonitor, IntelStats};

/// Intel tuning.
#[derive(Clone, Debug)]
pub struct IntelConfig {
    /// Events per batch (upper bound).
    pub batch_size: usize,
    /// Longest an event waits for its batch.
    pub batch_wait: Duration,
    /// The rarity floor: an evidence value (fingerprint, payload, C2 URL,
    /// credential) held by more addresses than this weighs nothing; below
    /// it, its weight falls with the number of holders ([`rarity`]).
    pub max_fanout: usize,
    /// Campaign time window.
    pub campaign_window: chrono::Duration,
    /// Lease tenure every batch is committed under (scale-out singleton):
    /// once another server took the lease, this worker stops instead of
    /// overwriting the new holder's rows.
    pub fence: Option<decnet_store::lease::Fence>,
    /// The user's geolocation databases: each attacker row gets its
    /// country and ASN once ([`geo`]). `None`: rows carry no `geo`.
    pub geo: Option<std::sync::Arc<geo::GeoDb>>,
    /// Online enrichment (`[enrich]`): started beside the worker, fed the
    /// addresses of every committed batch ([`enrich`]). `None`: off.
    pub enrich: Option<std::sync::Arc<enrich::EnrichSettings>>,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            batch_size: 1000,
            batch_wait: Duration::from_millis(250),
            max_fanout: 16,
            campaign_window: chrono::Duration::hours(24),
            fence: None,
            geo: None,
            enrich: None,
        }
    }
}
