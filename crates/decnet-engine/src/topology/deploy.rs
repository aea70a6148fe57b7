//! Topologies meeting the fleet: deploy and teardown of every decky, and
//! live service changes on a running topology decky.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use decnet_core::{catalog, DeckySpec};

use super::model::{TopoResult, Topology, TopologyDecky, TopologyError, TopologyStatus};
use super::validate::{check_lan, decky_addrs};
use super::Topologies;
use crate::fleet::EngineError;

impl Topologies {
    /// The decky's addresses: the ones it gives (exactly those, as in the
    /// fleet file), else the next free one of each network of its first
    /// LAN (IPv4 never `.0` or `.1`; IPv6 from host 2: host 1 is the
    /// LAN's router).
    fn decky_addrs(
        t: &Topology,
        d: &TopologyDecky,
        taken: &BTreeSet<IpAddr>,
    ) -> TopoResult<(IpAddr, Option<Ipv6Addr>)> {
        let given = decky_addrs(d)?;
        if let Some(&first) = given.first() {
            let v6 = given.iter().find_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            });
            return Ok(match given.iter().copied().find(IpAddr::is_ipv4) {
                Some(v4) => (v4, v6),
                None => (first, None),
            });
        }
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
        let nets = check_lan(lan)?;
        let full = || TopologyError::Invalid(format!("LAN '{}' is full", lan.name));
        let v4 = match nets.v4 {
            Some(net) => Some(
                net.hosts()
                    .find(|h| h.octets()[3] > 1 && !taken.contains(&IpAddr::V4(*h)))
                    .ok_or_else(full)?,
            ),
            None => None,
        };
        let v6 = match nets.v6 {
            Some(net) => {
                let router = u128::from(net.network()) + 1;
                Some(
                    net.hosts()
                        .find(|h| u128::from(*h) > router && !taken.contains(&IpAddr::V6(*h)))
                        .ok_or_else(full)?,
                )
            }
            None => None,
        };
        match (v4, v6) {
            (Some(v4), v6) => Ok((IpAddr::V4(v4), v6)),
            (None, Some(v6)) => Ok((IpAddr::V6(v6), None)),
            (None, None) => Err(full()),
        }
    }

    fn decky_spec(
        &self,
        t: &Topology,
        d: &TopologyDecky,
        taken: &BTreeSet<IpAddr>,
    ) -> TopoResult<DeckySpec> {
        let (ip, ip6) = Self::decky_addrs(t, d, taken)?;
        let arch = d
            .archetype
            .as_deref()
            .and_then(decnet_core::archetype::archetype);
        let (tarpits, tarpit_interval) = super::tarpit::tarpits_of(t, d)?;
        let services = d.effective_services();
        Ok(DeckySpec {
            name: d.name.clone(),
            ip,
            ip6,
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
        let mut taken: BTreeSet<IpAddr> = used.into_iter().map(|ip| ip.to_canonical()).collect();
        for x in &t.deckies {
            taken.extend(decky_addrs(x).unwrap_or_default());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::validate::tests::{decky, topo};

    fn addrs(t: &Topology, name: &str, taken: &BTreeSet<IpAddr>) -> (IpAddr, Option<Ipv6Addr>) {
        let d = t.deckies.iter().find(|d| d.name == name).expect("decky");
        Topologies::decky_addrs(t, d, taken).expect("allocated")
    }

    #[test]
    fn a_dual_stack_lan_gives_each_decky_one_address_of_each_family() {
        let t = topo(
            "10.9.0.0/24",
            Some("fd00:dec:1::/64"),
            vec![decky("a", None, None), decky("b", None, None)],
        );
        let first = addrs(&t, "a", &BTreeSet::new());
        // Host 1 of each network is the LAN's router.
        assert_eq!(
            first,
            (
                "10.9.0.2".parse().unwrap(),
                Some("fd00:dec:1::2".parse().unwrap())
            )
        );
        let taken: BTreeSet<IpAddr> = [first.0, IpAddr::V6(first.1.unwrap())].into();
        assert_eq!(
            addrs(&t, "b", &taken),
            (
                "10.9.0.3".parse().unwrap(),
                Some("fd00:dec:1::3".parse().unwrap())
            )
        );
    }

    #[test]
    fn a_v6_only_lan_gives_v6_only_deckies_and_given_addresses_are_kept() {
        let t = topo("fd00:dec:2::/64", None, vec![decky("a", None, None)]);
        assert_eq!(
            addrs(&t, "a", &BTreeSet::new()),
            ("fd00:dec:2::2".parse().unwrap(), None)
        );
        // Given one address, the decky gets exactly that one.
        let t = topo(
            "10.9.0.0/24",
            Some("fd00:dec:1::/64"),
            vec![
                decky("v6", None, Some("fd00:dec:1::9")),
                decky("v4", Some("10.9.0.9"), None),
            ],
        );
        assert_eq!(
            addrs(&t, "v6", &BTreeSet::new()),
            ("fd00:dec:1::9".parse().unwrap(), None)
        );
        assert_eq!(
            addrs(&t, "v4", &BTreeSet::new()),
            ("10.9.0.9".parse().unwrap(), None)
        );
    }

    #[test]
    fn a_full_v6_lan_says_so() {
        let t = topo("fd00::/126", None, vec![decky("a", None, None)]);
        let taken: BTreeSet<IpAddr> =
            ["fd00::2".parse().unwrap(), "fd00::3".parse().unwrap()].into();
        let d = &t.deckies[0];
        assert_eq!(
            Topologies::decky_addrs(&t, d, &taken)
                .unwrap_err()
                .to_string(),
            "LAN 'dmz' is full"
        );
    }
}
