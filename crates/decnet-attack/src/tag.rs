//! A technique tag: what the tagger yields for an event.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use uuid::Uuid;

/// Why a rule fired.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The events that made the rule fire (the tagged event last); for
    /// sequences every step, for aggregates the latest few of the window.
    pub event_ids: SmallVec<[Uuid; 4]>,
    /// Field name → the text that matched (or the value of an `evidence` field).
    #[serde(default, skip_serializing_if = "SmallVec::is_empty")]
    pub matched: SmallVec<[(Arc<str>, String); 2]>,
    /// Aggregate measures at the time of firing (`count=12 distinct(username)=5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One technique attributed to one event by one rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// The event the tag attaches to (the one that completed the match).
    pub event_id: Uuid,
    /// `T1110.001`.
    pub technique_id: Arc<str>,
    /// The rule that fired.
    pub rule_id: Arc<str>,
    /// 0–100.
    pub confidence: u8,
    /// Why.
    pub evidence: Evidence,
    /// Attacker address.
    pub src_ip: IpAddr,
    /// Session of the tagged event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// Decky of the tagged event.
    pub decky: String,
    /// Time of the tagged event.
    pub ts: DateTime<Utc>,
}

/// What `Tagger::process` returns: almost always zero to two tags.
pub type Tags = SmallVec<[Tag; 2]>;
