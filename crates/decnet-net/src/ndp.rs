//! Unsolicited neighbour advertisement, IPv6's gratuitous ARP (RFC 4861
//! §7.2.6): tells routers and neighbours on the link that an address is
//! at a MAC, so a decky is reachable over IPv6 at once instead of after
//! the router's first neighbour solicitation.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};

use crate::capture::interface_index;

/// All-nodes multicast: where unsolicited advertisements go.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Receivers drop neighbour discovery with any other hop limit (a packet
/// that crossed a router cannot be from the link).
const NDP_HOP_LIMIT: u32 = 255;

/// Sends one unsolicited neighbour advertisement for `ip` at `mac` from
/// `ip` on `interface` of the calling thread's namespace (needs
/// CAP_NET_RAW; `ip` must already be an address of the interface).
pub fn send_unsolicited_na(interface: &str, mac: [u8; 6], ip: Ipv6Addr) -> io::Result<()> {
    let index = interface_index(interface)?;
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    // The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets.
    socket.set_multicast_hops_v6(NDP_HOP_LIMIT)?;
    socket.set_multicast_if_v6(index)?;
    socket.bind(&SocketAddrV6::new(ip, 0, 0, 0).into())?;
    let to = SocketAddrV6::new(ALL_NODES, 0, 0, index);
    socket.send_to(&advertisement(mac, ip), &to.into())?;
    Ok(())
}

/// The ICMPv6 message: type 136, Override set (this is the address's
/// current MAC), not Solicited, not Router; the target is `ip` and the
/// target link-layer address option carries `mac`.
fn advertisement(mac: [u8; 6], ip: Ipv6Addr) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0] = 136; // Neighbour Advertisement
    m[4] = 0x20; // Override flag
    m[8..24].copy_from_slice(&ip.octets());
    m[24] = 2; // Target Link-Layer Address option
    m[25] = 1; // its length in units of 8 bytes
    m[26..32].copy_from_slice(&mac);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_overrides_the_target_at_the_mac() {
        let mac = [0x00, 0x50, 0x56, 0x01, 0x02, 0x03];
        let ip: Ipv6Addr = "fd00:dec::7".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let m = advertisement(mac, ip);
        assert_eq!(m[0], 136);
        assert_eq!(
            m[4] & 0xe0,
            0x20,
            "override only: unsolicited, not a router"
        );
        assert_eq!(&m[8..24], &ip.octets());
        assert_eq!(&m[24..26], &[2, 1]);
        assert_eq!(&m[26..32], &mac);
    }
}
