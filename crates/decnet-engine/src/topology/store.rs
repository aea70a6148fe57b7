//! Topologies and their mutations as versioned store documents: every
//! write is a compare-and-swap on the version read, so a stale writer gets
//! a conflict; engine-side edits re-read and retry.

use std::net::Ipv4Addr;

use chrono::Utc;
use decnet_bus::Envelope;
use decnet_core::subject::sanitize_token;
use decnet_store::StoreError;
use ipnet::Ipv4Net;

use super::model::{
    Mutation, MutationOp, MutationStatus, TopoResult, Topology, TopologyError, TopologySpec,
    TopologyStatus,
};
use super::validate::validate;
use super::{Topologies, KIND, MUT_KIND};

impl Topologies {
    pub(super) fn publish(&self, id: &str, event: &str, payload: serde_json::Value) {
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
            tarpit: spec.tarpit,
            error: None,
            created_at: Utc::now(),
        };
        validate(&t)?;
        t.version = self.put_topology(&t.id, None, &t).await?;
        self.publish(
            &t.id,
            "created",
            serde_json::json!({"topology_id": t.id, "status": t.status}),
        );
        Ok(t)
    }

    /// A blank topology (see [`TopologySpec::blank`]) named `name`, its DMZ
    /// on the first free /24 of 127.100.0.0/16 (loopback: deployable
    /// without privileges; the LAN can be edited before deploying) and its
    /// gateway `dmz-gateway` — or `dmz-gateway-N`, decky names being
    /// fleet-wide. A name already taken, or no free /24, is a conflict.
    pub async fn create_blank(&self, name: &str) -> TopoResult<Topology> {
        let existing = self.list().await?;
        if existing.iter().any(|t| t.name == name) {
            return Err(TopologyError::Conflict(format!(
                "a topology named '{name}' already exists"
            )));
        }
        let taken: Vec<Ipv4Net> = existing
            .iter()
            .flat_map(|t| &t.lans)
            .filter_map(|l| l.cidr.parse::<Ipv4Net>().ok())
            .collect();
        let (_, running) = self.fleet.in_use().await;
        let cidr = (0..=255u8)
            .map(|n| Ipv4Net::new(Ipv4Addr::new(127, 100, n, 0), 24).expect("valid /24"))
            .find(|net| {
                !taken.iter().any(|t| t.contains(net) || net.contains(t))
                    && !running.iter().any(|ip| ipnet::IpNet::V4(*net).contains(ip))
            })
            .ok_or_else(|| {
                TopologyError::Conflict("no free /24 left in 127.100.0.0/16 for a DMZ".into())
            })?;
        let names: Vec<&str> = existing
            .iter()
            .flat_map(|t| &t.deckies)
            .map(|d| d.name.as_str())
            .collect();
        let gateway = std::iter::once("dmz-gateway".to_owned())
            .chain((2..).map(|n| format!("dmz-gateway-{n}")))
            .find(|g| !names.contains(&g.as_str()) && self.fleet.topology_of(g).is_none())
            .expect("an unused name");
        self.create(TopologySpec::blank(name, cidr.to_string(), &gateway))
            .await
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
        t.version = self.put_topology(id, Some(expected), &t).await?;
        self.publish(
            id,
            "updated",
            serde_json::json!({"topology_id": id, "version": t.version}),
        );
        Ok(t)
    }

    pub(super) async fn set_status(
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
            match self.put_topology(id, Some(t.version), &t).await {
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

    pub(super) async fn put_mutation(&self, m: &mut Mutation) -> TopoResult<()> {
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

    /// Writes topology `id`: created when `expected` is `None`, else replaced
    /// only while the stored version is still `expected` (compare and swap).
    /// Returns the new version.
    pub(super) async fn put_topology(
        &self,
        id: &str,
        expected: Option<i64>,
        t: &Topology,
    ) -> Result<i64, StoreError> {
        self.store
            .doc_put(
                KIND,
                id,
                None,
                expected,
                &serde_json::to_value(t).unwrap_or_default(),
            )
            .await
    }

    pub(super) async fn record_error(&self, id: &str, msg: String) -> TopoResult<()> {
        self.modify(id, |t| t.error = Some(msg.clone())).await
    }

    /// Engine-side edit of a topology (no client version): re-read and
    /// retry on concurrent writes, at most 16 times.
    pub(super) async fn modify(&self, id: &str, edit: impl Fn(&mut Topology)) -> TopoResult<()> {
        for _ in 0..16 {
            let mut t = self.get(id).await?;
            edit(&mut t);
            match self.put_topology(id, Some(t.version), &t).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(TopologyError::Conflict(format!(
            "topology '{id}' kept changing"
        )))
    }
}
