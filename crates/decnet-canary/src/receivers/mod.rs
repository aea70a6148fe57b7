//! Call-home receivers: the HTTP server (`[canary] http = ADDR`) and the
//! authoritative DNS server for `[canary] dns_zone` (UDP and TCP).
//!
//! Both look tokens up in the shared [`crate::TokenIndex`], publish one
//! `canary_trigger` event per hit, and otherwise answer exactly like an
//! ordinary server would, so probing them tells an intruder nothing.

pub mod dns;
pub mod http;
mod nginx;

use std::sync::Arc;

use decnet_bus::Bus;

use crate::index::TokenIndex;
use crate::trigger::TriggerCounter;

/// What every receiver shares.
#[derive(Clone)]
pub struct Shared {
    /// Live tokens.
    pub index: Arc<TokenIndex>,
    /// Where triggers go.
    pub bus: Arc<dyn Bus>,
    /// Repeat counter.
    pub counter: Arc<TriggerCounter>,
}

impl Shared {
    /// Receivers over an index and a bus, with their own counter.
    pub fn new(index: Arc<TokenIndex>, bus: Arc<dyn Bus>) -> Self {
        Shared {
            index,
            bus,
            counter: Arc::new(TriggerCounter::default()),
        }
    }
}
