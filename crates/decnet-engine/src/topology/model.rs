//! What a topology is: its documents (topology, LAN, decky, edge,
//! mutation), the status machine, and the errors the API maps to statuses.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use decnet_store::StoreError;
use serde::{Deserialize, Serialize};

use super::tarpit::TarpitPlan;
use crate::fleet::EngineError;

/// Topology status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyStatus {
    /// Defined, not deployed.
    Pending,
    /// Deckies being started.
    Deploying,
    /// Every decky running.
    Active,
    /// Deployment failed entirely.
    Failed,
    /// Running with problems (a decky or a mutation failed).
    Degraded,
    /// Being stopped.
    TearingDown,
    /// Stopped.
    TornDown,
}

impl TopologyStatus {
    /// Whether the machine allows `self → to`.
    pub fn can_become(self, to: TopologyStatus) -> bool {
        use TopologyStatus::*;
        matches!(
            (self, to),
            (Pending, Deploying)
                | (Deploying, Active | Failed | Degraded)
                | (Active, Degraded)
                | (Degraded, Active)
                | (TornDown | Failed, Deploying)
                | (_, TearingDown)
                | (TearingDown, TornDown)
        ) && self != to
    }

    /// Deckies are (supposed to be) running.
    pub fn is_live(self) -> bool {
        matches!(self, TopologyStatus::Active | TopologyStatus::Degraded)
    }
}

/// A LAN of a topology.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lan {
    /// Unique within the topology.
    pub name: String,
    /// Address range (`127.0.80.0/24` on loopback), IPv4 — or IPv6 for a
    /// v6-only LAN, like the fleet's `net`.
    pub cidr: String,
    /// The LAN's IPv6 range beside an IPv4 `cidr` (`fd00:dec:1::/64`):
    /// deckies on a dual-stack LAN get an address from each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr6: Option<String>,
    /// Tarpits of the deckies attached to this LAN (`tarpit`, `tarpit_interval`).
    #[serde(flatten)]
    pub tarpit: TarpitPlan,
}

/// A decky of a topology.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct TopologyDecky {
    /// Unique decky name (fleet-wide).
    pub name: String,
    /// Address (IPv4, or IPv6 for a v6-only decky); with neither `ip` nor
    /// `ip6`, one of each family its first LAN has is allocated.
    #[serde(default)]
    pub ip: Option<String>,
    /// IPv6 address of a dual-stack decky.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<String>,
    /// Services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Archetype (fills services when none are given).
    #[serde(default)]
    pub archetype: Option<String>,
    /// Pinned distro.
    #[serde(default)]
    pub distro: Option<String>,
    /// OS family.
    #[serde(default)]
    pub nmap_os: Option<String>,
    /// Per-service config (`{"ssh": {"password": "x"}}`).
    #[serde(default)]
    pub config: BTreeMap<String, BTreeMap<String, String>>,
    /// This decky's own tarpits (`tarpit`, `tarpit_interval`).
    #[serde(flatten)]
    pub tarpit: TarpitPlan,
}

/// Decky ↔ LAN attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Decky name.
    pub decky: String,
    /// LAN name.
    pub lan: String,
}

/// A topology as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Status.
    pub status: TopologyStatus,
    /// Optimistic-concurrency version (from the store).
    #[serde(default)]
    pub version: i64,
    /// LANs.
    #[serde(default)]
    pub lans: Vec<Lan>,
    /// Deckies.
    #[serde(default)]
    pub deckies: Vec<TopologyDecky>,
    /// Attachments.
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// Tarpits of every decky (`tarpit`, `tarpit_interval`).
    #[serde(flatten)]
    pub tarpit: TarpitPlan,
    /// Last error (failed deploy or mutation).
    #[serde(default)]
    pub error: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What a new topology starts with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TopologySpec {
    /// Display name.
    pub name: String,
    /// LANs.
    #[serde(default)]
    pub lans: Vec<Lan>,
    /// Deckies.
    #[serde(default)]
    pub deckies: Vec<TopologyDecky>,
    /// Attachments.
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// Tarpits of every decky (`tarpit`, `tarpit_interval`).
    #[serde(flatten)]
    pub tarpit: TarpitPlan,
}

impl TopologyDecky {
    /// The services it runs: its own list, else its archetype's.
    pub fn effective_services(&self) -> Vec<String> {
        if !self.services.is_empty() {
            return self.services.clone();
        }
        self.archetype
            .as_deref()
            .and_then(decnet_core::archetype::archetype)
            .map(|a| a.services.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    }
}

impl TopologySpec {
    /// DECNET's blank topology: one DMZ LAN on `cidr` and its gateway
    /// decky `gateway` (the entry-point archetype with ssh) attached to
    /// it, ready for an editor to grow.
    pub fn blank(name: &str, cidr: String, gateway: &str) -> Self {
        TopologySpec {
            name: name.to_owned(),
            lans: vec![Lan {
                name: "dmz".into(),
                cidr,
                cidr6: None,
                tarpit: TarpitPlan::default(),
            }],
            deckies: vec![TopologyDecky {
                name: gateway.to_owned(),
                services: vec!["ssh".into()],
                archetype: Some("deaddeck".into()),
                ..Default::default()
            }],
            edges: vec![Edge {
                decky: gateway.to_owned(),
                lan: "dmz".into(),
            }],
            tarpit: TarpitPlan::default(),
        }
    }
}

/// Mutation operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationOp {
    /// `{name, cidr}`
    AddLan,
    /// `{name}`
    RemoveLan,
    /// `{name, cidr}`
    UpdateLan,
    /// A [`TopologyDecky`].
    AddDecky,
    /// A [`TopologyDecky`] replacing the one with that name.
    UpdateDecky,
    /// `{name}`: remove a decky.
    Remove,
    /// `{decky, lan}`
    Attach,
    /// `{decky, lan}`
    Detach,
}

/// Mutation state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationStatus {
    /// Queued.
    Pending,
    /// Claimed by a worker.
    Applying,
    /// Done.
    Applied,
    /// Failed; `error` says why.
    Failed,
}

/// A queued change to a topology.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mutation {
    /// Id (UUIDv7: queue order).
    pub id: String,
    /// Topology.
    pub topology_id: String,
    /// Operation.
    pub op: MutationOp,
    /// Arguments.
    pub args: serde_json::Value,
    /// State.
    pub status: MutationStatus,
    /// Failure reason.
    #[serde(default)]
    pub error: Option<String>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Last transition.
    pub updated_at: DateTime<Utc>,
    /// Document version (for claims).
    #[serde(default)]
    pub version: i64,
}

/// Topology failures, mapped to HTTP statuses by the API.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// No such topology / decky / LAN (404).
    #[error("{0} not found")]
    NotFound(String),
    /// Stale version or state conflict (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Invalid input (422).
    #[error("{0}")]
    Invalid(String),
    /// Store failure (500).
    #[error("store: {0}")]
    Store(String),
    /// Engine failure while deploying (reported on the topology).
    #[error("{0}")]
    Engine(#[from] EngineError),
}

impl From<StoreError> for TopologyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => TopologyError::Conflict(m),
            StoreError::NotFound(m) => TopologyError::NotFound(m),
            other => TopologyError::Store(other.to_string()),
        }
    }
}

/// Result alias.
pub type TopoResult<T> = Result<T, TopologyError>;
