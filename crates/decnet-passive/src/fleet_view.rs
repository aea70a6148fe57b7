//! What the sensor knows of the fleet: which addresses are deckies, and
//! which ports each one listens on (a probe elsewhere is a closed-port probe).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// One decky's address and listening ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeckyPorts {
    /// Decky name (the events' `decky`).
    pub name: String,
    /// TCP ports something listens on.
    pub tcp: HashSet<u16>,
    /// UDP ports something listens on.
    pub udp: HashSet<u16>,
}

/// The deckies by address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetView {
    deckies: HashMap<IpAddr, DeckyPorts>,
}

impl FleetView {
    /// An empty view (every packet is foreign).
    pub fn new() -> FleetView {
        FleetView::default()
    }

    /// Adds (or replaces) the decky at `ip`.
    pub fn insert(&mut self, ip: IpAddr, decky: DeckyPorts) {
        self.deckies.insert(ip, decky);
    }

    /// Adds a decky from `tcp/22`-style port strings (the engine's
    /// service summaries); others are ignored.
    pub fn insert_summary<'a>(
        &mut self,
        ip: IpAddr,
        name: &str,
        ports: impl IntoIterator<Item = &'a str>,
    ) {
        let mut d = DeckyPorts {
            name: name.to_owned(),
            ..DeckyPorts::default()
        };
        for p in ports {
            let Some((proto, port)) = p.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            match proto {
                "tcp" => {
                    d.tcp.insert(port);
                }
                "udp" => {
                    d.udp.insert(port);
                }
                _ => {}
            }
        }
        self.insert(ip, d);
    }

    /// The decky at `ip`.
    pub fn decky(&self, ip: &IpAddr) -> Option<&DeckyPorts> {
        self.deckies.get(ip)
    }

    /// Deckies known.
    pub fn len(&self) -> usize {
        self.deckies.len()
    }

    /// True when no decky is known.
    pub fn is_empty(&self) -> bool {
        self.deckies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_become_port_sets() {
        let mut v = FleetView::new();
        let ip: IpAddr = "10.0.0.2".parse().expect("ip");
        v.insert_summary(
            ip,
            "web01",
            ["tcp/22", "udp/161", "sctp/9", "tcp/x", "junk"],
        );
        let d = v.decky(&ip).expect("decky");
        assert_eq!(d.name, "web01");
        assert!(d.tcp.contains(&22) && d.udp.contains(&161));
        assert_eq!((d.tcp.len(), d.udp.len()), (1, 1));
    }
}
