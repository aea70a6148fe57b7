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

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use decnet_bus::{Bus, Envelope};
use decnet_core::catalog;
use decnet_core::fleet::{valid_decky_name, NMAP_OS};
use decnet_core::subject::sanitize_token;
use decnet_core::DeckySpec;
use decnet_store::{Store, StoreError};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::fleet::{EngineError, Fleet};

const KIND: &str = "topology";
const MUT_KIND: &str = "topology_mutation";

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
    /// Address range (`127.0.80.0/24` on loopback).
    pub cidr: String,
}

/// A decky of a topology.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct TopologyDecky {
    /// Unique decky name (fleet-wide).
    pub name: String,
    /// Address; allocated from its first LAN when absent.
    #[serde(default)]
    pub ip: Option<String>,
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

/// Owns topologies: CRUD, deploy/teardown, the mutation queue and its worker.
pub struct Topologies {
    store: Arc<dyn Store>,
    fleet: Arc<Fleet>,
    bus: Arc<dyn Bus>,
    wake: Notify,
}

fn check_lan(l: &Lan) -> TopoResult<Ipv4Net> {
    if l.name.is_empty() || l.name.len() > 63 {
        return Err(TopologyError::Invalid(format!(
            "invalid LAN name '{}'",
            l.name
        )));
    }
    l.cidr.parse::<Ipv4Net>().map(|n| n.trunc()).map_err(|_| {
        TopologyError::Invalid(format!(
            "LAN '{}': '{}' is not an IPv4 CIDR",
            l.name, l.cidr
        ))
    })
}

fn check_decky(d: &TopologyDecky) -> TopoResult<()> {
    if !valid_decky_name(&d.name) {
        return Err(TopologyError::Invalid(format!(
            "invalid decky name '{}'",
            d.name
        )));
    }
    for s in &d.services {
        if catalog::service(s).is_none() {
            return Err(TopologyError::Invalid(format!(
                "unknown service '{s}'; valid services: {}",
                catalog::service_names()
            )));
        }
    }
    if let Some(a) = &d.archetype {
        if decnet_core::archetype::archetype(a).is_none() {
            return Err(TopologyError::Invalid(format!("unknown archetype '{a}'")));
        }
    }
    if d.services.is_empty() && d.archetype.is_none() {
        return Err(TopologyError::Invalid(format!(
            "decky '{}' needs services or an archetype",
            d.name
        )));
    }
    if let Some(os) = &d.nmap_os {
        if !NMAP_OS.contains(&os.as_str()) {
            return Err(TopologyError::Invalid(format!("unknown nmap_os '{os}'")));
        }
    }
    if let Some(ip) = &d.ip {
        ip.parse::<Ipv4Addr>().map_err(|_| {
            TopologyError::Invalid(format!("decky '{}': '{ip}' is not an IPv4 address", d.name))
        })?;
    }
    Ok(())
}

/// Checks internal consistency: unique names, edges point at existing things.
pub fn validate(t: &Topology) -> TopoResult<()> {
    let mut lans = BTreeSet::new();
    for l in &t.lans {
        check_lan(l)?;
        if !lans.insert(l.name.as_str()) {
            return Err(TopologyError::Invalid(format!(
                "duplicate LAN '{}'",
                l.name
            )));
        }
    }
    let mut deckies = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for d in &t.deckies {
        check_decky(d)?;
        if !deckies.insert(d.name.as_str()) {
            return Err(TopologyError::Invalid(format!(
                "duplicate decky '{}'",
                d.name
            )));
        }
        if let Some(ip) = &d.ip {
            if !ips.insert(ip.as_str()) {
                return Err(TopologyError::Invalid(format!("duplicate IP {ip}")));
            }
        }
    }
    for e in &t.edges {
        if !deckies.contains(e.decky.as_str()) {
            return Err(TopologyError::Invalid(format!(
                "edge refers to unknown decky '{}'",
                e.decky
            )));
        }
        if !lans.contains(e.lan.as_str()) {
            return Err(TopologyError::Invalid(format!(
                "edge refers to unknown LAN '{}'",
                e.lan
            )));
        }
    }
    Ok(())
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

    fn publish(&self, id: &str, event: &str, payload: serde_json::Value) {
        self.bus.publish(Envelope::json(
            format!("topology.{}.{event}", sanitize_token(id)),
            event,
            payload,
        ));
    }

    fn from_doc(doc: decnet_store::Doc) -> TopoResult<Topology> {
        let mut t: Topology =
            serde_json::from_value(doc.body).map_err(|e| TopologyError::Store(e.to_string()))?;
        t.version = doc.version;
        Ok(t)
    }

    /// Creates a topology in `pending`.
    pub async fn create(&self, spec: TopologySpec) -> TopoResult<Topology> {
        let mut t = Topology {
            id: uuid::Uuid::now_v7().to_string(),
            name: if spec.name.trim().is_empty() {
                "topology".into()
            } else {
                spec.name
            },
            status: TopologyStatus::Pending,
            version: 0,
            lans: spec.lans,
            deckies: spec.deckies,
            edges: spec.edges,
            error: None,
            created_at: Utc::now(),
        };
        validate(&t)?;
        t.version = self
            .store
            .doc_put(
                KIND,
                &t.id,
                None,
                None,
                &serde_json::to_value(&t).unwrap_or_default(),
            )
            .await?;
        self.publish(
            &t.id,
            "created",
            serde_json::json!({"topology_id": t.id, "status": t.status}),
        );
        Ok(t)
    }

    /// One topology.
    pub async fn get(&self, id: &str) -> TopoResult<Topology> {
        let doc = self
            .store
            .doc_get(KIND, id)
            .await?
            .ok_or_else(|| TopologyError::NotFound(format!("topology '{id}'")))?;
        Self::from_doc(doc)
    }

    /// All topologies.
    pub async fn list(&self) -> TopoResult<Vec<Topology>> {
        self.store
            .doc_list(KIND, None)
            .await?
            .into_iter()
            .map(Self::from_doc)
            .collect()
    }

    /// Applies `edit` to the topology if its version is still `expected`.
    pub async fn update(
        &self,
        id: &str,
        expected: i64,
        edit: impl FnOnce(&mut Topology) -> TopoResult<()>,
    ) -> TopoResult<Topology> {
        let mut t = self.get(id).await?;
        if t.version != expected {
            return Err(TopologyError::Conflict(format!(
                "topology '{id}' is at version {}, not {expected}",
                t.version
            )));
        }
        edit(&mut t)?;
        validate(&t)?;
        t.version = self
            .store
            .doc_put(
                KIND,
                id,
                None,
                Some(expected),
                &serde_json::to_value(&t).unwrap_or_default(),
            )
            .await?;
        self.publish(
            id,
            "updated",
            serde_json::json!({"topology_id": id, "version": t.version}),
        );
        Ok(t)
    }

    async fn set_status(
        &self,
        id: &str,
        to: TopologyStatus,
        error: Option<String>,
    ) -> TopoResult<Topology> {
        // Status changes come from the engine itself: retry on concurrent edits.
        for _ in 0..16 {
            let mut t = self.get(id).await?;
            if t.status == to && t.error == error {
                return Ok(t);
            }
            if t.status != to && !t.status.can_become(to) {
                return Err(TopologyError::Conflict(format!(
                    "topology '{id}' cannot go from {:?} to {:?}",
                    t.status, to
                )));
            }
            let from = t.status;
            t.status = to;
            t.error = error.clone();
            match self
                .store
                .doc_put(
                    KIND,
                    id,
                    None,
                    Some(t.version),
                    &serde_json::to_value(&t).unwrap_or_default(),
                )
                .await
            {
                Ok(v) => {
                    t.version = v;
                    if from != to {
                        self.publish(id, "status", serde_json::json!({"topology_id": id, "status": to, "previous": from, "error": error}));
                    }
                    return Ok(t);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(TopologyError::Conflict(format!(
            "topology '{id}' kept changing"
        )))
    }

    fn decky_spec(
        &self,
        t: &Topology,
        d: &TopologyDecky,
        taken: &BTreeSet<Ipv4Addr>,
    ) -> TopoResult<DeckySpec> {
        let ip = match &d.ip {
            Some(ip) => ip
                .parse()
                .map_err(|_| TopologyError::Invalid(format!("bad ip {ip}")))?,
            None => {
                let lan = t
                    .edges
                    .iter()
                    .find(|e| e.decky == d.name)
                    .and_then(|e| t.lans.iter().find(|l| l.name == e.lan))
                    .ok_or_else(|| {
                        TopologyError::Invalid(format!(
                            "decky '{}' has no ip and no LAN to allocate one from",
                            d.name
                        ))
                    })?;
                let net = check_lan(lan)?;
                net.hosts()
                    .find(|h| h.octets()[3] > 1 && !taken.contains(h))
                    .ok_or_else(|| TopologyError::Invalid(format!("LAN '{}' is full", lan.name)))?
            }
        };
        let arch = d
            .archetype
            .as_deref()
            .and_then(decnet_core::archetype::archetype);
        let services = if d.services.is_empty() {
            arch.map(|a| a.services.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        } else {
            d.services.clone()
        };
        Ok(DeckySpec {
            name: d.name.clone(),
            ip,
            services,
            archetype: d.archetype.clone(),
            nmap_os: d
                .nmap_os
                .clone()
                .or_else(|| arch.map(|a| a.nmap_os.to_owned()))
                .unwrap_or_else(|| "linux".into()),
            distro: d.distro.clone(),
            mutate_interval: None,
            dhcp: false,
            service_config: d.config.clone(),
            line: 0,
        })
    }

    async fn start_decky(&self, t: &Topology, d: &TopologyDecky) -> TopoResult<()> {
        let (_, used) = self.fleet.in_use().await;
        let mut taken: BTreeSet<Ipv4Addr> = used.into_iter().collect();
        taken.extend(
            t.deckies
                .iter()
                .filter_map(|x| x.ip.as_ref()?.parse::<Ipv4Addr>().ok()),
        );
        let spec = self.decky_spec(t, d, &taken)?;
        self.fleet.deploy_in(spec, Some(&t.id)).await?;
        Ok(())
    }

    /// Deploys every decky: `deploying`, then `active` (all up), `degraded`
    /// (some up) or `failed` (none up).
    pub async fn deploy(&self, id: &str) -> TopoResult<Topology> {
        let t = self.set_status(id, TopologyStatus::Deploying, None).await?;
        let mut errors = Vec::new();
        for d in &t.deckies {
            if self.fleet.topology_of(&d.name).as_deref() == Some(id)
                && self.fleet.decky(&d.name).await.is_some()
            {
                continue;
            }
            if let Err(e) = self.start_decky(&t, d).await {
                errors.push(format!("{}: {e}", d.name));
            }
        }
        let (status, error) = if errors.is_empty() {
            (TopologyStatus::Active, None)
        } else if errors.len() == t.deckies.len() {
            (TopologyStatus::Failed, Some(errors.join("; ")))
        } else {
            (TopologyStatus::Degraded, Some(errors.join("; ")))
        };
        self.set_status(id, status, error).await
    }

    /// Stops every decky: `tearing_down` then `torn_down`.
    pub async fn teardown(&self, id: &str) -> TopoResult<Topology> {
        let t = self
            .set_status(id, TopologyStatus::TearingDown, None)
            .await?;
        for d in &t.deckies {
            if self.fleet.topology_of(&d.name).as_deref() == Some(id) {
                let _ = self.fleet.teardown(&d.name).await;
            }
        }
        self.set_status(id, TopologyStatus::TornDown, None).await
    }

    /// Tears down (if live) and deletes a topology with its mutations.
    pub async fn delete(&self, id: &str) -> TopoResult<()> {
        let t = self.get(id).await?;
        if !matches!(
            t.status,
            TopologyStatus::Pending | TopologyStatus::TornDown | TopologyStatus::Failed
        ) {
            self.teardown(id).await?;
        }
        self.store.doc_delete(KIND, id).await?;
        self.publish(id, "deleted", serde_json::json!({"topology_id": id}));
        Ok(())
    }

    /// Queues a mutation; the worker applies it in order.
    pub async fn enqueue(
        &self,
        id: &str,
        op: MutationOp,
        args: serde_json::Value,
    ) -> TopoResult<Mutation> {
        self.get(id).await?;
        let now = Utc::now();
        let mut m = Mutation {
            id: uuid::Uuid::now_v7().to_string(),
            topology_id: id.to_owned(),
            op,
            args,
            status: MutationStatus::Pending,
            error: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        m.version = self
            .store
            .doc_put(
                MUT_KIND,
                &m.id,
                Some(id),
                None,
                &serde_json::to_value(&m).unwrap_or_default(),
            )
            .await?;
        self.publish(
            id,
            "mutation.enqueued",
            serde_json::to_value(&m).unwrap_or_default(),
        );
        self.wake.notify_one();
        Ok(m)
    }

    /// Mutations of a topology, queue order; optionally only one state.
    pub async fn mutations(
        &self,
        id: &str,
        status: Option<MutationStatus>,
    ) -> TopoResult<Vec<Mutation>> {
        let mut out = Vec::new();
        for doc in self.store.doc_list(MUT_KIND, Some(id)).await? {
            let v = doc.version;
            let mut m: Mutation = serde_json::from_value(doc.body)
                .map_err(|e| TopologyError::Store(e.to_string()))?;
            m.version = v;
            if status.is_none_or(|s| s == m.status) {
                out.push(m);
            }
        }
        Ok(out)
    }

    async fn put_mutation(&self, m: &mut Mutation) -> TopoResult<()> {
        m.updated_at = Utc::now();
        m.version = self
            .store
            .doc_put(
                MUT_KIND,
                &m.id,
                Some(&m.topology_id),
                Some(m.version),
                &serde_json::to_value(&*m).unwrap_or_default(),
            )
            .await?;
        Ok(())
    }

    /// Puts mutations left `applying` by a crashed process back in the queue.
    pub async fn resume(&self) -> TopoResult<usize> {
        let mut n = 0;
        for t in self.list().await? {
            for mut m in self
                .mutations(&t.id, Some(MutationStatus::Applying))
                .await?
            {
                m.status = MutationStatus::Pending;
                if self.put_mutation(&mut m).await.is_ok() {
                    n += 1;
                }
            }
        }
        self.wake.notify_one();
        Ok(n)
    }

    /// Claims and applies every pending mutation (all topologies, queue order).
    /// Returns how many this call applied or failed.
    pub async fn drain(&self) -> TopoResult<usize> {
        let mut done = 0;
        for t in self.list().await? {
            for mut m in self.mutations(&t.id, Some(MutationStatus::Pending)).await? {
                m.status = MutationStatus::Applying;
                match self.put_mutation(&mut m).await {
                    Ok(()) => {}
                    Err(TopologyError::Conflict(_)) => continue, // another worker claimed it
                    Err(e) => return Err(e),
                }
                self.publish(
                    &m.topology_id,
                    "mutation.applying",
                    serde_json::to_value(&m).unwrap_or_default(),
                );
                match self.apply(&m).await {
                    Ok(()) => {
                        m.status = MutationStatus::Applied;
                        m.error = None;
                        self.put_mutation(&mut m).await?;
                        self.publish(
                            &m.topology_id,
                            "mutation.applied",
                            serde_json::to_value(&m).unwrap_or_default(),
                        );
                    }
                    Err(e) => {
                        m.status = MutationStatus::Failed;
                        m.error = Some(e.to_string());
                        self.put_mutation(&mut m).await?;
                        self.publish(
                            &m.topology_id,
                            "mutation.failed",
                            serde_json::to_value(&m).unwrap_or_default(),
                        );
                        let t = self.get(&m.topology_id).await?;
                        let msg = format!("mutation {} ({:?}) failed: {e}", m.id, m.op);
                        if t.status == TopologyStatus::Active {
                            let _ = self
                                .set_status(&m.topology_id, TopologyStatus::Degraded, Some(msg))
                                .await;
                        } else {
                            let _ = self.record_error(&m.topology_id, msg).await;
                        }
                    }
                }
                done += 1;
            }
        }
        Ok(done)
    }

    async fn record_error(&self, id: &str, msg: String) -> TopoResult<()> {
        self.modify(id, |t| t.error = Some(msg.clone())).await
    }

    /// Engine-side edit of a topology (no client version): re-read and
    /// retry on concurrent writes, at most 16 times.
    async fn modify(&self, id: &str, edit: impl Fn(&mut Topology)) -> TopoResult<()> {
        for _ in 0..16 {
            let mut t = self.get(id).await?;
            edit(&mut t);
            let body = serde_json::to_value(&t).unwrap_or_default();
            match self
                .store
                .doc_put(KIND, id, None, Some(t.version), &body)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(TopologyError::Conflict(format!(
            "topology '{id}' kept changing"
        )))
    }

    /// Runs the queue worker until `stop` is cancelled.
    pub async fn run_worker(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        if let Err(e) = self.resume().await {
            tracing::warn!("topology queue resume failed: {e}");
        }
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!("topology mutation worker: {e}");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
        }
    }

    fn arg_str<'a>(m: &'a Mutation, key: &str) -> TopoResult<&'a str> {
        m.args
            .get(key)
            .and_then(|v| v.as_str())
            .ok_or_else(|| TopologyError::Invalid(format!("{:?} needs '{key}'", m.op)))
    }

    async fn apply(&self, m: &Mutation) -> TopoResult<()> {
        // Model change under CAS (retried on concurrent edits), then live change.
        let id = &m.topology_id;
        for attempt in 0..16 {
            let t = self.get(id).await?;
            let mut next = t.clone();
            let live = t.status.is_live();
            let mut start: Option<TopologyDecky> = None;
            let mut stop: Option<String> = None;
            match m.op {
                MutationOp::AddLan => {
                    let lan: Lan = serde_json::from_value(m.args.clone())
                        .map_err(|e| TopologyError::Invalid(format!("add_lan: {e}")))?;
                    if next.lans.iter().any(|l| l.name == lan.name) {
                        return Err(TopologyError::Conflict(format!(
                            "LAN '{}' exists",
                            lan.name
                        )));
                    }
                    next.lans.push(lan);
                }
                MutationOp::UpdateLan => {
                    let lan: Lan = serde_json::from_value(m.args.clone())
                        .map_err(|e| TopologyError::Invalid(format!("update_lan: {e}")))?;
                    let slot = next
                        .lans
                        .iter_mut()
                        .find(|l| l.name == lan.name)
                        .ok_or_else(|| TopologyError::NotFound(format!("LAN '{}'", lan.name)))?;
                    *slot = lan;
                }
                MutationOp::RemoveLan => {
                    let name = Self::arg_str(m, "name")?;
                    if !next.lans.iter().any(|l| l.name == name) {
                        return Err(TopologyError::NotFound(format!("LAN '{name}'")));
                    }
                    next.lans.retain(|l| l.name != name);
                    next.edges.retain(|e| e.lan != name);
                }
                MutationOp::AddDecky => {
                    let d: TopologyDecky = serde_json::from_value(m.args.clone())
                        .map_err(|e| TopologyError::Invalid(format!("add_decky: {e}")))?;
                    if next.deckies.iter().any(|x| x.name == d.name) {
                        return Err(TopologyError::Conflict(format!(
                            "decky '{}' exists",
                            d.name
                        )));
                    }
                    if live {
                        start = Some(d.clone());
                    }
                    next.deckies.push(d);
                }
                MutationOp::UpdateDecky => {
                    let d: TopologyDecky = serde_json::from_value(m.args.clone())
                        .map_err(|e| TopologyError::Invalid(format!("update_decky: {e}")))?;
                    let slot = next
                        .deckies
                        .iter_mut()
                        .find(|x| x.name == d.name)
                        .ok_or_else(|| TopologyError::NotFound(format!("decky '{}'", d.name)))?;
                    *slot = d.clone();
                    if live {
                        stop = Some(d.name.clone());
                        start = Some(d);
                    }
                }
                MutationOp::Remove => {
                    let name = Self::arg_str(m, "name")?.to_owned();
                    if !next.deckies.iter().any(|x| x.name == name) {
                        return Err(TopologyError::NotFound(format!("decky '{name}'")));
                    }
                    next.deckies.retain(|x| x.name != name);
                    next.edges.retain(|e| e.decky != name);
                    if live {
                        stop = Some(name);
                    }
                }
                MutationOp::Attach => {
                    let e: Edge = serde_json::from_value(m.args.clone())
                        .map_err(|e| TopologyError::Invalid(format!("attach: {e}")))?;
                    if !next.edges.contains(&e) {
                        next.edges.push(e);
                    }
                }
                MutationOp::Detach => {
                    let e: Edge = serde_json::from_value(m.args.clone())
                        .map_err(|e| TopologyError::Invalid(format!("detach: {e}")))?;
                    if !next.edges.contains(&e) {
                        return Err(TopologyError::NotFound(format!(
                            "edge {} ↔ {}",
                            e.decky, e.lan
                        )));
                    }
                    next.edges.retain(|x| *x != e);
                }
            }
            validate(&next)?;
            // Live part first for additions (so a failing start leaves the model unchanged).
            if let Some(name) = &stop {
                if self.fleet.topology_of(name).as_deref() == Some(id.as_str()) {
                    let _ = self.fleet.teardown(name).await;
                }
            }
            if let Some(d) = &start {
                self.start_decky(&next, d).await?;
            }
            match self
                .store
                .doc_put(
                    KIND,
                    id,
                    None,
                    Some(t.version),
                    &serde_json::to_value(&next).unwrap_or_default(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) if attempt < 15 => {
                    if let Some(d) = &start {
                        let _ = self.fleet.teardown(&d.name).await;
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(TopologyError::Conflict("topology kept changing".into()))
    }

    /// Adds a service to a running decky of this topology (seed DTO semantics).
    pub async fn add_service(
        &self,
        id: &str,
        decky: &str,
        service: &str,
    ) -> TopoResult<Vec<String>> {
        let t = self.get(id).await?;
        if !t.deckies.iter().any(|d| d.name == decky) {
            return Err(TopologyError::NotFound(format!("decky '{decky}'")));
        }
        if catalog::service(service).is_none() || self.fleet.registry().get(service).is_none() {
            return Err(TopologyError::Invalid(format!(
                "unknown service '{service}'"
            )));
        }
        if self.fleet.topology_of(decky).as_deref() != Some(id)
            || self.fleet.decky(decky).await.is_none()
        {
            return Err(TopologyError::Conflict(format!(
                "decky '{decky}' is not running; deploy the topology first"
            )));
        }
        let list = self
            .fleet
            .add_service(decky, service, None)
            .await
            .map_err(|e| match e {
                EngineError::ServiceExists { .. } => TopologyError::Conflict(e.to_string()),
                EngineError::UnknownService(_) => TopologyError::Invalid(e.to_string()),
                other => TopologyError::Engine(other),
            })?;
        self.sync_services(id, decky, &list).await?;
        Ok(list)
    }

    /// Removes a service from a running decky of this topology.
    pub async fn remove_service(
        &self,
        id: &str,
        decky: &str,
        service: &str,
    ) -> TopoResult<Vec<String>> {
        let t = self.get(id).await?;
        if !t.deckies.iter().any(|d| d.name == decky)
            || self.fleet.topology_of(decky).as_deref() != Some(id)
        {
            return Err(TopologyError::NotFound(format!("decky '{decky}'")));
        }
        let list = self
            .fleet
            .remove_service(decky, service)
            .await
            .map_err(|e| match e {
                EngineError::ServiceMissing { .. } => TopologyError::NotFound(e.to_string()),
                other => TopologyError::Engine(other),
            })?;
        self.sync_services(id, decky, &list).await?;
        Ok(list)
    }

    /// Replaces one service's config on a running decky.
    pub async fn update_service_config(
        &self,
        id: &str,
        decky: &str,
        service: &str,
        config: BTreeMap<String, String>,
    ) -> TopoResult<Vec<String>> {
        let t = self.get(id).await?;
        if !t.deckies.iter().any(|d| d.name == decky)
            || self.fleet.topology_of(decky).as_deref() != Some(id)
        {
            return Err(TopologyError::NotFound(format!("decky '{decky}'")));
        }
        let list = self
            .fleet
            .update_service_config(decky, service, config.clone())
            .await
            .map_err(|e| match e {
                EngineError::ServiceMissing { .. } => TopologyError::NotFound(e.to_string()),
                EngineError::InvalidConfig { .. } => TopologyError::Invalid(e.to_string()),
                other => TopologyError::Engine(other),
            })?;
        self.modify(id, |t| {
            if let Some(d) = t.deckies.iter_mut().find(|d| d.name == decky) {
                d.config.insert(service.to_owned(), config.clone());
            }
        })
        .await?;
        Ok(list)
    }

    async fn sync_services(&self, id: &str, decky: &str, list: &[String]) -> TopoResult<()> {
        self.modify(id, |t| {
            if let Some(d) = t.deckies.iter_mut().find(|d| d.name == decky) {
                d.services = list.to_vec();
            }
        })
        .await
    }
}
