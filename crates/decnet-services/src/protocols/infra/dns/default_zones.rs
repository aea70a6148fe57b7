//! The zones Debian's bind9 package serves out of the box
//! (`named.conf.default-zones`): `localhost` and the loopback, "this
//! network" and broadcast reverse zones of RFC 1912, with the contents of
//! `/etc/bind/db.local`, `db.127`, `db.0` and `db.255`.

use super::zone::{soa_rdata, Zone};
use super::{A, AAAA, NS};
use crate::wire::dns as w;

/// The `$TTL` of Debian's default zone files.
const TTL: u32 = 604_800;
const PTR: u16 = 12;

fn zone(apex: &str, serial: u32, mut records: Vec<(String, u16, Vec<u8>)>) -> Zone {
    records.insert(0, (String::new(), NS, w::encode_name("localhost")));
    Zone {
        apex: apex.to_owned(),
        ttl: TTL,
        records,
        soa: soa_rdata(
            "localhost",
            "root.localhost",
            [serial, 604_800, 86_400, 2_419_200, 604_800],
        ),
    }
}

/// Debian's default zones.
pub fn debian() -> Vec<Zone> {
    vec![
        zone(
            "localhost",
            2,
            vec![
                (String::new(), A, vec![127, 0, 0, 1]),
                (
                    String::new(),
                    AAAA,
                    std::net::Ipv6Addr::LOCALHOST.octets().to_vec(),
                ),
            ],
        ),
        zone(
            "127.in-addr.arpa",
            1,
            vec![("1.0.0".into(), PTR, w::encode_name("localhost"))],
        ),
        zone("0.in-addr.arpa", 1, Vec::new()),
        zone("255.in-addr.arpa", 1, Vec::new()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_names_the_loopback_addresses() {
        let zones = debian();
        let localhost = &zones[0];
        assert_eq!(localhost.apex, "localhost");
        let types: Vec<u16> = localhost.records.iter().map(|r| r.1).collect();
        assert_eq!(types, [NS, A, AAAA]);
        assert_eq!(localhost.records[1].2, [127, 0, 0, 1]);
        let reverse = &zones[1];
        assert_eq!(
            reverse.relative("1.0.0.127.in-addr.arpa").as_deref(),
            Some("1.0.0")
        );
        assert!(zones.iter().all(|z| z.ttl == TTL));
    }
}
