//! The engine handles the fleet and topology routes drive. Optional: an API
//! process without deckies answers those routes with 503.

use std::sync::Arc;

use decnet_engine::topology::Topologies;
use decnet_engine::Fleet;

/// Handles to the running fleet and topology manager.
#[derive(Clone)]
pub struct Engine {
    /// The deckies of this process.
    pub fleet: Arc<Fleet>,
    /// Topologies and their mutation queue.
    pub topologies: Arc<Topologies>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}
