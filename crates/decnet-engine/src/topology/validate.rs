//! Consistency checks every stored topology passes: valid names, known
//! services/archetypes/OS families, parseable addresses, unique names and
//! IPs, edges between things that exist.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use decnet_core::catalog;
use decnet_core::fleet::{valid_decky_name, NMAP_OS};
use ipnet::Ipv4Net;

use super::model::{Lan, TopoResult, Topology, TopologyDecky, TopologyError};

pub(super) fn check_lan(l: &Lan) -> TopoResult<Ipv4Net> {
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
    super::tarpit::check(t)
}
