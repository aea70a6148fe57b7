//! One zone the DNS decky is authoritative for: its records and how a
//! query for a name inside it is answered (answer, NODATA, NXDOMAIN).

use crate::wire::dns::{self as w, Query, Rr};

use super::{A, AAAA, ANY, MX, NS, SOA};

/// A zone: apex, default TTL, SOA RDATA and the other records.
pub struct Zone {
    /// Apex, lower-cased, without the trailing dot.
    pub apex: String,
    /// TTL of every record (the zone file's `$TTL`).
    pub ttl: u32,
    /// (relative name or "" for the apex, type, rdata), in the order an
    /// ANY query lists them.
    pub records: Vec<(String, u16, Vec<u8>)>,
    /// RDATA of the apex SOA record.
    pub soa: Vec<u8>,
}

/// What a zone answered and the outcome recorded for it.
pub type Answer = (Vec<u8>, &'static str);

impl Zone {
    /// The name relative to the apex ("" for the apex), if it is inside
    /// the zone.
    pub fn relative(&self, name: &str) -> Option<String> {
        if name == self.apex {
            return Some(String::new());
        }
        name.strip_suffix(&self.apex)
            .and_then(|head| head.strip_suffix('.'))
            .map(str::to_owned)
    }

    fn rr(&self, rel: &str, rtype: u16, rdata: &[u8]) -> Rr {
        Rr {
            name: if rel.is_empty() {
                self.apex.clone()
            } else {
                format!("{rel}.{}", self.apex)
            },
            rtype,
            class: 1,
            ttl: self.ttl,
            rdata: rdata.to_vec(),
        }
    }

    fn soa_rr(&self) -> Rr {
        self.rr("", SOA, &self.soa)
    }

    /// Glue for MX and NS answers: the A/AAAA records of their targets.
    fn glue(&self, answers: &[Rr]) -> Vec<Rr> {
        let mut out = Vec::new();
        for rr in answers {
            let target = match rr.rtype {
                MX => rr.rdata.get(2..),
                NS => Some(&rr.rdata[..]),
                _ => None,
            };
            let Some(Ok((name, _))) = target.map(|t| w::read_name(t, 0)) else {
                continue;
            };
            let Some(rel) = self.relative(&name) else {
                continue;
            };
            out.extend(
                self.records
                    .iter()
                    .filter(|(n, t, _)| *n == rel && matches!(*t, A | AAAA))
                    .map(|(n, t, d)| self.rr(n, *t, d)),
            );
        }
        out
    }

    /// Answers `q` for `rel`, a name inside this zone.
    pub fn answer(&self, q: &Query, rel: &str) -> Answer {
        let hits: Vec<Rr> = self
            .records
            .iter()
            .filter(|(n, t, _)| n == rel && (q.qtype == ANY || *t == q.qtype))
            .map(|(n, t, d)| self.rr(n, *t, d))
            .chain((rel.is_empty() && matches!(q.qtype, SOA | ANY)).then(|| self.soa_rr()))
            .collect();
        if !hits.is_empty() {
            let glue = if matches!(q.qtype, MX | NS) {
                self.glue(&hits)
            } else {
                Vec::new()
            };
            return (w::response(q, true, 0, &hits, &[], &glue), "answer");
        }
        // A name with records below it (an empty non-terminal such as
        // 0.0.127.in-addr.arpa) exists: NODATA, not NXDOMAIN.
        let below = format!(".{rel}");
        let exists = rel.is_empty()
            || self
                .records
                .iter()
                .any(|(n, ..)| n == rel || n.ends_with(&below));
        let (rcode, outcome) = if exists {
            (0, "nodata")
        } else {
            (3, "nxdomain")
        };
        (
            w::response(q, true, rcode, &[], &[self.soa_rr()], &[]),
            outcome,
        )
    }
}

/// SOA RDATA from its fields.
pub fn soa_rdata(mname: &str, rname: &str, numbers: [u32; 5]) -> Vec<u8> {
    let mut soa = w::encode_name(mname);
    soa.extend_from_slice(&w::encode_name(rname));
    for v in numbers {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    soa
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        Zone {
            apex: "127.in-addr.arpa".into(),
            ttl: 604_800,
            records: vec![
                (String::new(), NS, w::encode_name("localhost")),
                ("1.0.0".into(), 12, w::encode_name("localhost")),
            ],
            soa: soa_rdata("localhost", "root.localhost", [1, 2, 3, 4, 5]),
        }
    }

    fn query(name: &str, qtype: u16) -> Query {
        let mut m = vec![0, 7, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&w::encode_name(name));
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        w::parse_query(&m).unwrap()
    }

    #[test]
    fn relative_names_stop_at_label_boundaries() {
        let z = zone();
        assert_eq!(z.relative("127.in-addr.arpa").as_deref(), Some(""));
        assert_eq!(
            z.relative("1.0.0.127.in-addr.arpa").as_deref(),
            Some("1.0.0")
        );
        assert_eq!(z.relative("x127.in-addr.arpa"), None);
        assert_eq!(z.relative("in-addr.arpa"), None);
    }

    #[test]
    fn answers_nodata_for_empty_non_terminals_and_nxdomain_below() {
        let z = zone();
        let (r, outcome) = z.answer(&query("1.0.0.127.in-addr.arpa", 12), "1.0.0");
        assert_eq!((outcome, r[3] & 0x0f, r[7]), ("answer", 0, 1));
        // 604800 as the record's TTL.
        assert!(r.windows(4).any(|w| w == 604_800u32.to_be_bytes()));
        let (r, outcome) = z.answer(&query("0.0.127.in-addr.arpa", 12), "0.0");
        assert_eq!(
            (outcome, r[3] & 0x0f, r[9]),
            ("nodata", 0, 1),
            "SOA in authority"
        );
        let (r, outcome) = z.answer(&query("2.0.0.127.in-addr.arpa", 12), "2.0.0");
        assert_eq!((outcome, r[3] & 0x0f), ("nxdomain", 3));
    }
}
