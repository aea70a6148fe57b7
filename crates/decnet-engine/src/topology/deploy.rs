//! Topologies meeting the fleet: deploy and teardown of every decky, and
//! live service changes on a running topology decky.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use decnet_core::{catalog, DeckySpec};

use super::model::{TopoResult, Topology, TopologyDecky, TopologyError, TopologyStatus};
use super::validate::check_lan;
use super::Topologies;
use crate::fleet::EngineError;

impl Topologies {
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
        let (tarpits, tarpit_interval) = super::tarpit::tarpits_of(t, d)?;
        let services = if d.services.is_empty() {
            arch.map(|a| a.services.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        } else {
            d.services.clone()
        };
        Ok(DeckySpec {
            name: d.name.clone(),
            ip: std::net::IpAddr::V4(ip),
            ip6: None,
            services,
            archetype: d.archetype.clone(),
            nmap_os: d
                .nmap_os
                .clone()
                .or_else(|| arch.map(|a| a.nmap_os.to_owned()))
                .unwrap_or_else(|| "linux".into()),
            distro: d.distro.clone(),
            mutate_interval: None,
            tarpits,
            tarpit_interval,
            dhcp: false,
            service_config: d.config.clone(),
            line: 0,
        })
    }

    pub(super) async fn start_decky(&self, t: &Topology, d: &TopologyDecky) -> TopoResult<()> {
        let (_, used) = self.fleet.in_use().await;
        // Topology LANs are IPv4: only IPv4 addresses can collide.
        let mut taken: BTreeSet<Ipv4Addr> = used
            .into_iter()
            .filter_map(|ip| match ip {
                std::net::IpAddr::V4(v4) => Some(v4),
                std::net::IpAddr::V6(_) => None,
            })
            .collect();
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
        self.deployed_decky(id, decky).await?;
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
        self.deployed_decky(id, decky).await?;
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

    /// `NotFound` unless `decky` belongs to topology `id` and runs under it.
    async fn deployed_decky(&self, id: &str, decky: &str) -> TopoResult<()> {
        let t = self.get(id).await?;
        if !t.deckies.iter().any(|d| d.name == decky)
            || self.fleet.topology_of(decky).as_deref() != Some(id)
        {
            return Err(TopologyError::NotFound(format!("decky '{decky}'")));
        }
        Ok(())
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
