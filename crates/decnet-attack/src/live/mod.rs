//! ATT&CK tagging in a running server: the rules in use (reloadable), the
//! tag worker on the bus, STIX objects built from stored tags, and the
//! store-backed TAXII source. The pure parts (rules, tagger, exports,
//! TAXII router) know nothing of the bus or the store; this module wires
//! them to both.

mod rules_in_use;
pub mod stix_feed;
mod store_source;
mod worker;

pub use rules_in_use::RulesInUse;
pub use stix_feed::{FeedConfig, FLEET_COLLECTION};
pub use store_source::{StoreSource, FLEET_COLLECTION_ID, INDICATORS_COLLECTION_ID};
pub use worker::{
    tag_message, tag_row, TagHandle, TagStats, TagWorker, TagWorkerConfig, TAG_TOPIC,
};
