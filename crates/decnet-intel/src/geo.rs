//! Country and network owner of an attacker address, from MaxMind-format
//! databases (`.mmdb`) the user downloads: GeoLite2 City/Country/ASN or
//! DB-IP's lite City/Country/ASN. Licences forbid shipping them, so they
//! are optional; each file says what it holds, so the user lists paths and
//! every lookup takes the country from whichever file has one and the ASN
//! from whichever has that.
//!
//! Lookups run on the intel worker, once per address: the answer is kept
//! on the attacker row and in a bounded per-address cache (rows restored
//! after a restart and addresses seen again do not touch the files).
//! Addresses the databases do not cover and that cannot be routed on the
//! internet (RFC 1918, loopback, link-local, CGNAT, ULA…) are `private`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use decnet_store::Geo;
use maxminddb::Reader;
use serde::Deserialize;

/// Addresses whose answer is cached; past it the cache starts again.
pub const CACHE_ENTRIES: usize = 65_536;

/// A database that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file is missing, unreadable or not a MaxMind DB.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: maxminddb::MaxMindDbError,
    },
    /// The file holds neither countries nor autonomous systems.
    #[error("{path}: a {kind} database has no country or ASN data")]
    Useless {
        /// The file.
        path: PathBuf,
        /// Its `database_type`.
        kind: String,
    },
}

/// The parts of a City, Country or ASN record decnet shows (field names
/// shared by MaxMind's and DB-IP's files).
#[derive(Deserialize, Default)]
struct Record {
    #[serde(default)]
    country: Option<Place>,
    #[serde(default)]
    registered_country: Option<Place>,
    #[serde(default)]
    city: Option<Place>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default)]
    autonomous_system_organization: Option<String>,
}

#[derive(Deserialize, Default)]
struct Place {
    #[serde(default)]
    iso_code: Option<String>,
    #[serde(default)]
    names: HashMap<String, String>,
}

impl Place {
    fn english(&self) -> Option<String> {
        self.names.get("en").cloned()
    }
}

/// The user's geolocation databases and the per-address cache.
pub struct GeoDb {
    readers: Vec<(PathBuf, Reader<Vec<u8>>)>,
    cache: Mutex<HashMap<IpAddr, Geo>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.describe()).finish()
    }
}

impl GeoDb {
    /// Opens every file (read into memory once). Fails on the first file
    /// that is not a MaxMind DB or holds nothing decnet uses.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self, GeoError> {
        let mut readers = Vec::new();
        for p in paths {
            let path = p.as_ref().to_path_buf();
            let reader = Reader::open_readfile(&path).map_err(|source| GeoError::Open {
                path: path.clone(),
                source,
            })?;
            let kind = reader.metadata().database_type.to_ascii_lowercase();
            let useful = ["city", "country", "asn", "isp", "enterprise"]
                .iter()
                .any(|k| kind.contains(k));
            if !useful {
                return Err(GeoError::Useless {
                    path,
                    kind: reader.metadata().database_type.clone(),
                });
            }
            readers.push((path, reader));
        }
        Ok(GeoDb {
            readers,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// `path (database_type, built YYYY-MM-DD)` per file, for the log.
    pub fn describe(&self) -> Vec<String> {
        self.readers
            .iter()
            .map(|(p, r)| {
                let built = chrono::DateTime::from_timestamp(r.metadata().build_epoch as i64, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                format!(
                    "{} ({}, built {built})",
                    p.display(),
                    r.metadata().database_type
                )
            })
            .collect()
    }

    /// Where `ip` is registered: the databases' answer, else `private` for
    /// a non-routable address, else nothing known.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        let ip = canonical(ip);
        if let Some(g) = self.cache.lock().ok().and_then(|c| c.get(&ip).cloned()) {
            return g;
        }
        let geo = self.read(ip);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_ENTRIES {
                c.clear();
            }
            c.insert(ip, geo.clone());
        }
        geo
    }

    fn read(&self, ip: IpAddr) -> Geo {
        let mut geo = Geo::default();
        for (_, reader) in &self.readers {
            // A damaged record in one file leaves what the others say.
            let Ok(Some(rec)) = reader.lookup(ip).and_then(|r| r.decode::<Record>()) else {
                continue;
            };
            if geo.country.is_none() {
                if let Some(place) = rec.country.or(rec.registered_country) {
                    geo.country = place.iso_code.clone();
                    geo.country_name = place.english();
                }
            }
            if geo.city.is_none() {
                geo.city = rec.city.and_then(|c| c.english());
            }
            if geo.asn.is_none() {
                geo.asn = rec.autonomous_system_number;
                geo.as_org = rec.autonomous_system_organization;
            }
        }
        if geo.country.is_none() && geo.asn.is_none() && !is_routable(ip) {
            geo.private = true;
        }
        geo
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket
/// reports) are looked up as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// False for addresses no registry places anywhere: private, loopback,
/// link-local, CGNAT, documentation, unspecified, multicast; IPv6 ULA and
/// link-local.
pub fn is_routable(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] == 0x2001 && seg[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The test databases `scripts/geo/make_test_mmdb.py` writes.
    fn test_db() -> GeoDb {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        GeoDb::open(&[
            dir.join("geo-test-city.mmdb"),
            dir.join("geo-test-asn.mmdb"),
        ])
        .unwrap()
    }

    #[test]
    fn country_from_the_city_file_and_asn_from_the_asn_file() {
        let db = test_db();
        let g = db.lookup("127.0.77.5".parse().unwrap());
        assert_eq!(g.country.as_deref(), Some("DE"));
        assert_eq!(g.country_name.as_deref(), Some("Germany"));
        assert_eq!(g.city.as_deref(), Some("Berlin"));
        assert_eq!(g.asn, Some(64501));
        assert_eq!(g.as_org.as_deref(), Some("Example Transit DE"));
        assert!(!g.private);
        assert_eq!(g.country_key().as_deref(), Some("DE"));
        // The same answer through the cache, and for the mapped form.
        assert_eq!(db.lookup("::ffff:127.0.77.5".parse().unwrap()), g);
    }

    #[test]
    fn uncovered_non_routable_addresses_are_private_and_public_ones_unknown() {
        let db = test_db();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
        ] {
            let g = db.lookup(ip.parse().unwrap());
            assert!(g.private, "{ip}");
            assert_eq!(g.country_key().as_deref(), Some("private"), "{ip}");
        }
        let g = db.lookup("8.8.8.8".parse().unwrap());
        assert_eq!(g, Geo::default());
        assert_eq!(g.country_key(), None);
    }

    #[test]
    fn a_file_that_is_not_a_maxmind_db_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("not.mmdb");
        std::fs::write(&bad, b"not a database").unwrap();
        let err = GeoDb::open(&[&bad]).unwrap_err().to_string();
        assert!(err.contains("not.mmdb"), "{err}");
        assert!(GeoDb::open(&[dir.path().join("missing.mmdb")]).is_err());
    }

    /// Attackers stored before `[geoip]` was configured are placed with
    /// the next batches after a restart, not only when they return.
    #[test]
    fn rows_restored_without_a_place_are_located_with_the_next_batch() {
        use crate::{IntelConfig, IntelState};
        let old = |ip: &str| {
            (
                decnet_store::AttackerRow::new(ip, chrono::Utc::now()),
                serde_json::json!({}),
            )
        };
        let snap = decnet_store::IntelSnapshot {
            attackers: vec![old("127.0.77.9"), old("127.0.78.1")],
            ..Default::default()
        };
        let cfg = IntelConfig {
            geo: Some(std::sync::Arc::new(test_db())),
            ..Default::default()
        };
        let mut st = IntelState::restore(snap, cfg);
        let mut e = decnet_core::Event::new("web01", "ssh", decnet_core::EventKind::Connect);
        e.src_ip = "10.9.9.9".parse().unwrap();
        let batch = st.process(&[&e], chrono::Utc::now());
        let place = |ip: &str| {
            batch
                .attackers
                .iter()
                .find(|(r, _)| r.ip == ip)
                .and_then(|(r, _)| r.geo.clone())
                .unwrap_or_else(|| panic!("{ip} not rewritten with a place"))
        };
        assert_eq!(place("127.0.77.9").country.as_deref(), Some("DE"));
        assert_eq!(place("127.0.78.1").country.as_deref(), Some("BR"));
        assert!(place("10.9.9.9").private);
        // Once placed, later batches leave them alone.
        let mut e2 = e.clone();
        e2.id = uuid::Uuid::now_v7();
        let again = st.process(&[&e2], chrono::Utc::now());
        assert!(again.attackers.iter().all(|(r, _)| r.ip == "10.9.9.9"));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let db = test_db();
        for i in 0..(CACHE_ENTRIES as u32 + 10) {
            db.lookup(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)));
        }
        assert!(db.cache.lock().unwrap().len() <= CACHE_ENTRIES);
    }
}
