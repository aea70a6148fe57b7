//! Consistency checks every stored topology passes: valid names, known
//! services/archetypes/OS families, parseable addresses, unique names and
//! IPs, edges between things that exist.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};

use decnet_core::catalog;
use decnet_core::fleet::{valid_decky_name, NMAP_OS};
use ipnet::{Ipv4Net, Ipv6Net};

use super::model::{Lan, TopoResult, Topology, TopologyDecky, TopologyError};

/// A LAN's networks: IPv4, IPv6 or both (dual-stack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LanNets {
    pub v4: Option<Ipv4Net>,
    pub v6: Option<Ipv6Net>,
}

pub(super) fn check_lan(l: &Lan) -> TopoResult<LanNets> {
    if l.name.is_empty() || l.name.len() > 63 {
        return Err(TopologyError::Invalid(format!(
            "invalid LAN name '{}'",
            l.name
        )));
    }
    let invalid = |m: String| TopologyError::Invalid(format!("LAN '{}': {m}", l.name));
    let mut nets = match (l.cidr.parse::<Ipv4Net>(), l.cidr.parse::<Ipv6Net>()) {
        (Ok(v4), _) => LanNets {
            v4: Some(v4.trunc()),
            v6: None,
        },
        (_, Ok(v6)) => LanNets {
            v4: None,
            v6: Some(v6.trunc()),
        },
        _ => {
            return Err(invalid(format!(
                "cidr '{}' is not a CIDR like 127.0.80.0/24 or fd00:dec::/64",
                l.cidr
            )))
        }
    };
    if let Some(c6) = &l.cidr6 {
        let v6 = c6.parse::<Ipv6Net>().map_err(|_| {
            invalid(format!(
                "cidr6 '{c6}' is not an IPv6 CIDR like fd00:dec::/64"
            ))
        })?;
        if nets.v6.is_some() {
            return Err(invalid(
                "a second IPv6 network: give cidr6 (or an IPv6 cidr) once".into(),
            ));
        }
        nets.v6 = Some(v6.trunc());
    }
    if let Some(v6) = nets.v6 {
        if v6.prefix_len() > 126 {
            return Err(invalid(format!(
                "IPv6 network {v6} has no room for deckies (at most /126)"
            )));
        }
    }
    Ok(nets)
}

/// A decky's explicit addresses: `ip` (either family) and `ip6` (IPv6),
/// at most one of each family, as in the fleet file.
pub(super) fn decky_addrs(d: &TopologyDecky) -> TopoResult<Vec<IpAddr>> {
    let invalid = |m: String| TopologyError::Invalid(format!("decky '{}': {m}", d.name));
    let mut addrs = Vec::new();
    if let Some(ip) = &d.ip {
        let ip = ip
            .parse::<IpAddr>()
            .map_err(|_| invalid(format!("ip = '{ip}' is not an IP address")))?;
        addrs.push(ip.to_canonical());
    }
    if let Some(ip6) = &d.ip6 {
        let v6 = ip6
            .parse::<Ipv6Addr>()
            .map_err(|_| invalid(format!("ip6 = '{ip6}' is not an IPv6 address")))?;
        if addrs.iter().any(IpAddr::is_ipv6) {
            return Err(invalid(format!(
                "ip6 = {v6}: it already has an IPv6 address; a decky has at most one IPv4 (ip) and one IPv6 (ip6) address"
            )));
        }
        addrs.push(IpAddr::V6(v6));
    }
    for a in &addrs {
        if a.is_unspecified() || a.is_multicast() {
            return Err(invalid(format!("{a} cannot be a host address")));
        }
    }
    Ok(addrs)
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
    decky_addrs(d)?;
    Ok(())
}

/// An explicit address must be on one of the LANs the decky is attached
/// to, when those LANs have a network of its family.
fn check_on_lans(t: &Topology, d: &TopologyDecky, nets: &[(&str, LanNets)]) -> TopoResult<()> {
    let on: Vec<LanNets> = t
        .edges
        .iter()
        .filter(|e| e.decky == d.name)
        .filter_map(|e| nets.iter().find(|(n, _)| *n == e.lan).map(|(_, n)| *n))
        .collect();
    for addr in decky_addrs(d)? {
        let (fits, ranges): (bool, Vec<String>) = match addr {
            IpAddr::V4(v4) => (
                on.iter().any(|n| n.v4.is_some_and(|net| net.contains(&v4))),
                on.iter()
                    .filter_map(|n| n.v4.map(|x| x.to_string()))
                    .collect(),
            ),
            IpAddr::V6(v6) => (
                on.iter().any(|n| n.v6.is_some_and(|net| net.contains(&v6))),
                on.iter()
                    .filter_map(|n| n.v6.map(|x| x.to_string()))
                    .collect(),
            ),
        };
        if !fits && !ranges.is_empty() {
            return Err(TopologyError::Invalid(format!(
                "decky '{}': {addr} is outside its LANs ({})",
                d.name,
                ranges.join(", ")
            )));
        }
    }
    Ok(())
}

/// Checks internal consistency: unique names, edges point at existing things.
pub fn validate(t: &Topology) -> TopoResult<()> {
    let mut lans = BTreeSet::new();
    let mut nets = Vec::new();
    for l in &t.lans {
        nets.push((l.name.as_str(), check_lan(l)?));
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
        for ip in decky_addrs(d)? {
            if !ips.insert(ip) {
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
    for d in &t.deckies {
        check_on_lans(t, d, &nets)?;
    }
    super::tarpit::check(t)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::topology::model::Edge;

    /// One LAN `dmz` with `cidr`/`cidr6` and deckies attached to it.
    pub(crate) fn topo(cidr: &str, cidr6: Option<&str>, deckies: Vec<TopologyDecky>) -> Topology {
        let mut t = crate::topology::edit::tests::topo();
        t.lans[0].cidr = cidr.into();
        t.lans[0].cidr6 = cidr6.map(str::to_owned);
        t.edges = deckies
            .iter()
            .map(|d| Edge {
                decky: d.name.clone(),
                lan: "dmz".into(),
            })
            .collect();
        t.deckies = deckies;
        t
    }

    pub(crate) fn decky(name: &str, ip: Option<&str>, ip6: Option<&str>) -> TopologyDecky {
        TopologyDecky {
            name: name.into(),
            ip: ip.map(str::to_owned),
            ip6: ip6.map(str::to_owned),
            services: vec!["http".into()],
            ..Default::default()
        }
    }

    fn error(t: &Topology) -> String {
        validate(t).expect_err("invalid").to_string()
    }

    #[test]
    fn dual_stack_and_v6_only_lans_validate() {
        let dual = topo(
            "10.9.0.0/24",
            Some("fd00:dec:1::/64"),
            vec![
                decky("a", Some("10.9.0.7"), Some("fd00:dec:1::7")),
                decky("b", None, None),
                decky("c", Some("fd00:dec:1::9"), None),
            ],
        );
        assert!(validate(&dual).is_ok(), "{:?}", validate(&dual));
        let nets = check_lan(&dual.lans[0]).expect("valid");
        assert_eq!(nets.v6, Some("fd00:dec:1::/64".parse().unwrap()));
        let v6_only = topo("fd00:dec:2::/64", None, vec![decky("d", None, None)]);
        let nets = check_lan(&v6_only.lans[0]).expect("valid");
        assert_eq!((nets.v4, nets.v6.is_some()), (None, true));
    }

    #[test]
    fn ipv6_misuse_is_refused_with_the_reason() {
        let d = || vec![decky("a", None, None)];
        assert_eq!(
            error(&topo("10.9.0.0/24", Some("10.8.0.0/24"), d())),
            "LAN 'dmz': cidr6 '10.8.0.0/24' is not an IPv6 CIDR like fd00:dec::/64"
        );
        assert_eq!(
            error(&topo("fd00:1::/64", Some("fd00:2::/64"), d())),
            "LAN 'dmz': a second IPv6 network: give cidr6 (or an IPv6 cidr) once"
        );
        assert_eq!(
            error(&topo("10.9.0.0/24", Some("fd00::/127"), d())),
            "LAN 'dmz': IPv6 network fd00::/127 has no room for deckies (at most /126)"
        );
        assert_eq!(
            error(&topo("nonsense", None, d())),
            "LAN 'dmz': cidr 'nonsense' is not a CIDR like 127.0.80.0/24 or fd00:dec::/64"
        );
        let lan6 = Some("fd00:dec:1::/64");
        assert_eq!(
            error(&topo(
                "10.9.0.0/24",
                lan6,
                vec![decky("a", None, Some("10.9.0.4"))]
            )),
            "decky 'a': ip6 = '10.9.0.4' is not an IPv6 address"
        );
        assert_eq!(
            error(&topo(
                "10.9.0.0/24",
                lan6,
                vec![decky("a", Some("fd00:dec:1::4"), Some("fd00:dec:1::5"))]
            )),
            "decky 'a': ip6 = fd00:dec:1::5: it already has an IPv6 address; a decky has at most one IPv4 (ip) and one IPv6 (ip6) address"
        );
        assert_eq!(
            error(&topo(
                "10.9.0.0/24",
                lan6,
                vec![decky("a", None, Some("fd00:beef::1"))]
            )),
            "decky 'a': fd00:beef::1 is outside its LANs (fd00:dec:1::/64)"
        );
        assert_eq!(
            error(&topo(
                "10.9.0.0/24",
                lan6,
                vec![decky("a", Some("10.8.0.1"), None)]
            )),
            "decky 'a': 10.8.0.1 is outside its LANs (10.9.0.0/24)"
        );
        assert_eq!(
            error(&topo(
                "10.9.0.0/24",
                lan6,
                vec![
                    decky("a", None, Some("fd00:dec:1::4")),
                    decky("b", Some("fd00:dec:1:0::4"), None)
                ]
            )),
            "duplicate IP fd00:dec:1::4"
        );
        assert_eq!(
            error(&topo(
                "10.9.0.0/24",
                lan6,
                vec![decky("a", None, Some("ff02::1"))]
            )),
            "decky 'a': ff02::1 cannot be a host address"
        );
    }
}
