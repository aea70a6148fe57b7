//! Topologies: named groups of deckies on LANs, edited through a persisted
//! mutation queue with optimistic concurrency.
//!
//! A topology is one versioned document in the store; every write names
//! the version it read, so a stale writer gets [`TopologyError::Conflict`].
//! Mutations are documents too (`topology_mutation`, parent = topology);
//! a worker claims one by compare-and-swapping `pending → applying`, so two
//! workers never apply the same mutation, and a restart resumes whatever
//! was pending or in flight.
//!
//! Status machine: pending → deploying → active | failed | degraded;
//! active ↔ degraded; any → tearing_down → torn_down.
//!
//! * [`model`] — the documents, the status machine, errors;
//! * [`edit`] — the model edits (shared by direct writes and mutations);
//! * [`validate`] — the consistency every stored topology keeps;
//! * [`tarpit`] — tarpits for all deckies, a LAN's or one decky's;
//! * `store` — CRUD and the CAS writes; `deploy` — the fleet side;
//!   `worker` — the mutation queue.

mod deploy;
pub mod edit;
pub mod model;
mod store;
pub mod tarpit;
pub mod validate;
mod worker;

use std::sync::Arc;

use decnet_bus::Bus;
use decnet_store::Store;
use tokio::sync::Notify;

use crate::fleet::Fleet;

pub use model::{
    Edge, Lan, Mutation, MutationOp, MutationStatus, TopoResult, Topology, TopologyDecky,
    TopologyError, TopologySpec, TopologyStatus,
};
pub use tarpit::TarpitPlan;
pub use validate::validate;

const KIND: &str = "topology";
const MUT_KIND: &str = "topology_mutation";

/// Owns topologies: CRUD, deploy/teardown, the mutation queue and its worker.
pub struct Topologies {
    store: Arc<dyn Store>,
    fleet: Arc<Fleet>,
    bus: Arc<dyn Bus>,
    wake: Notify,
}

impl Topologies {
    /// New manager over a store, a fleet and a bus.
    pub fn new(store: Arc<dyn Store>, fleet: Arc<Fleet>, bus: Arc<dyn Bus>) -> Arc<Self> {
        Arc::new(Topologies {
            store,
            fleet,
            bus,
            wake: Notify::new(),
        })
    }
}
