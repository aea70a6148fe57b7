//! Authoritative DNS for the decoy zone (udp/53 + tcp/53, BIND-like):
//! A/AAAA/MX/NS/SOA/TXT answers for the persona's domain (hostname, www,
//! mail, ns1, dc01… all pointing at the decky), `version.bind` CH TXT with
//! the persona's BIND version, recursion refused, zone transfers (AXFR)
//! refused as BIND's `allow-transfer { none; }` does and recorded as
//! `command` events; every query is a `request` event.
//!
//! Answers carry what BIND 9.18 adds: an EDNS OPT record (1232-byte UDP
//! size, the DO bit echoed, a server COOKIE) when the query had one,
//! BADVERS for EDNS versions above 0, glue A/AAAA records for MX and NS
//! targets, `hostname.bind` and an `id.server` without a server id.
//! Debian and Ubuntu personas also serve the package's default zones
//! (`localhost`, `127.in-addr.arpa`…) as their BIND does.

mod default_zones;
mod zone;

use std::net::SocketAddr;
use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::udp::{DatagramHandler, UdpPort};
use crate::wire::dns::{self as w, Query, Rr};

use crate::{fields, Conn, Handler, Service, ServiceError};
use zone::{soa_rdata, Answer, Zone};

const SERVICE: &str = "dns";
const A: u16 = 1;
const AAAA: u16 = 28;
const NS: u16 = 2;
const SOA: u16 = 6;
const MX: u16 = 15;
const TXT: u16 = 16;
const AXFR: u16 = 252;
const ANY: u16 = 255;

/// The `dns` service.
pub struct Dns;

/// The UDP payload size BIND 9.18 advertises and answers within.
const EDNS_UDP_SIZE: u16 = 1232;
/// Extended rcode BADVERS (16), its upper 8 bits as the OPT record holds them.
const BADVERS_HIGH: u8 = 1;

/// Per-decky zones.
pub struct DnsHandler {
    version: String,
    /// What `hostname.bind` says (the persona's host name).
    hostname: String,
    /// The decoy zone first, then the distribution's default zones.
    zones: Vec<Zone>,
}

fn qtype_name(t: u16) -> String {
    match t {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        252 => "AXFR".into(),
        255 => "ANY".into(),
        n => format!("TYPE{n}"),
    }
}

impl Service for Dns {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let p = &decky.persona;
        let zone = decky
            .config(SERVICE, "zone")
            // DECNET's name of the same key.
            .or_else(|| decky.config(SERVICE, "domain"))
            .unwrap_or(&p.domain)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let os = crate::product::os_kind(decky);
        let version = decky
            .config(SERVICE, "version")
            // DECNET's name of the same key.
            .or_else(|| decky.config(SERVICE, "bind_version"))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                match os {
                    OsKind::Ubuntu => "9.18.18-0ubuntu0.22.04.2-Ubuntu",
                    OsKind::RedHat => "9.16.23-RH",
                    OsKind::Windows => "Microsoft DNS 10.0.17763 (4B1F3C5C)",
                    _ => "9.18.24-1-Debian",
                }
                .to_owned()
            });
        // A v6-only decky names itself with AAAA records instead.
        let (a_or_aaaa, ip) = match decky.ip() {
            std::net::IpAddr::V4(v4) => (A, v4.octets().to_vec()),
            std::net::IpAddr::V6(v6) => (AAAA, v6.octets().to_vec()),
        };
        let host = p
            .hostname
            .split('.')
            .next()
            .unwrap_or("ns1")
            .to_ascii_lowercase();
        let mut records: Vec<(String, u16, Vec<u8>)> = Vec::new();
        for n in [
            host.as_str(),
            "ns1",
            "www",
            "mail",
            "vpn",
            "dc01",
            "intranet",
            "git",
            "backup",
        ] {
            records.push((n.to_owned(), a_or_aaaa, ip.clone()));
        }
        // Apex records in the order BIND lists them for ANY when the zone
        // file has them sorted by type.
        records.push((String::new(), a_or_aaaa, ip.clone()));
        let mut mx = 10u16.to_be_bytes().to_vec();
        mx.extend_from_slice(&w::encode_name(&format!("mail.{zone}")));
        records.push((String::new(), MX, mx));
        records.push((String::new(), NS, w::encode_name(&format!("ns1.{zone}"))));
        records.push((String::new(), TXT, w::txt("v=spf1 mx a -all")));
        records.push(("_dmarc".into(), TXT, w::txt("v=DMARC1; p=none")));
        let serial = 2_026_010_100_u32 + (decky.persona.mac[5] as u32);
        let soa = soa_rdata(
            &format!("ns1.{zone}"),
            &format!("hostmaster.{zone}"),
            [serial, 604_800, 86_400, 2_419_200, 604_800],
        );
        let mut zones = vec![Zone {
            apex: zone,
            ttl: 3600,
            records,
            soa,
        }];
        if matches!(os, OsKind::Debian | OsKind::Ubuntu) {
            // A decoy zone of the same name replaces the default one, as
            // named refuses to load a zone twice.
            let decoy_apex = zones[0].apex.clone();
            zones.extend(
                default_zones::debian()
                    .into_iter()
                    .filter(|d| d.apex != decoy_apex),
            );
        }
        Ok(Arc::new(DnsHandler {
            version,
            hostname: p.hostname.clone(),
            zones,
        }))
    }
}

impl DnsHandler {
    /// Answers one query with BIND's EDNS handling around [`Self::records`].
    pub fn answer(&self, q: &Query) -> Answer {
        let Some(edns) = &q.edns else {
            return self.records(q);
        };
        if edns.version > 0 {
            let mut resp = w::response(q, false, 0, &[], &[], &[]);
            w::append_opt(&mut resp, EDNS_UDP_SIZE, BADVERS_HIGH, false, &[]);
            return (resp, "badvers");
        }
        let (mut resp, outcome) = self.records(q);
        let mut options = Vec::new();
        if let Some(client) = &edns.client_cookie {
            // RFC 7873 / BIND's server cookie: version 1, reserved, time,
            // and a hash BIND keys with its secret (random here).
            let mut server = vec![1, 0, 0, 0];
            server.extend_from_slice(&(chrono::Utc::now().timestamp() as u32).to_be_bytes());
            server.extend_from_slice(&rand::random::<[u8; 8]>());
            options.extend_from_slice(&10u16.to_be_bytes());
            options.extend_from_slice(&((client.len() + server.len()) as u16).to_be_bytes());
            options.extend_from_slice(client);
            options.extend_from_slice(&server);
        }
        w::append_opt(&mut resp, EDNS_UDP_SIZE, 0, edns.dnssec_ok, &options);
        (resp, outcome)
    }

    /// The largest UDP answer the query allows.
    fn udp_limit(q: &Query) -> usize {
        q.edns
            .as_ref()
            .map_or(512, |e| e.udp_size.clamp(512, EDNS_UDP_SIZE) as usize)
    }

    /// The CHAOS-class names BIND answers: version, host name, server id.
    fn chaos(&self, q: &Query) -> Option<Answer> {
        let txt = |text: &str| Rr {
            name: q.name.clone(),
            rtype: TXT,
            class: 3,
            ttl: 0,
            rdata: w::txt(text),
        };
        match q.name.as_str() {
            "version.bind" | "version.server" if q.qtype == TXT => Some((
                w::response(q, true, 0, &[txt(&self.version)], &[], &[]),
                "version",
            )),
            "hostname.bind" if q.qtype == TXT => Some((
                w::response(q, true, 0, &[txt(&self.hostname)], &[], &[]),
                "hostname",
            )),
            "id.server" => {
                // No server-id configured: an empty zone with its SOA.
                let soa = soa_rdata(
                    "id.server",
                    "hostmaster.id.server",
                    [0, 28_800, 7_200, 604_800, 86_400],
                );
                let rr = Rr {
                    name: "id.server".into(),
                    rtype: SOA,
                    class: 3,
                    ttl: 86_400,
                    rdata: soa,
                };
                Some((w::response(q, true, 0, &[], &[rr], &[]), "nodata"))
            }
            _ => None,
        }
    }

    /// The zones' answer to one query.
    fn records(&self, q: &Query) -> Answer {
        if q.qclass == 3 {
            if let Some(answer) = self.chaos(q) {
                return answer;
            }
        }
        // The most specific zone holding the name, as BIND picks it.
        let found = self
            .zones
            .iter()
            .filter_map(|z| z.relative(&q.name).map(|rel| (z, rel)))
            .max_by_key(|(z, _)| z.apex.len());
        let Some((zone, rel)) = found else {
            // Not our zone and no recursion: REFUSED like an authoritative BIND.
            return (w::response(q, false, 5, &[], &[], &[]), "refused");
        };
        if q.qtype == AXFR {
            // Debian's BIND lets nobody transfer a zone by default.
            return (w::response(q, false, 5, &[], &[], &[]), "refused");
        }
        zone.answer(q, &rel)
    }

    fn log(
        &self,
        emit: &dyn Fn(EventKind, decnet_core::Fields),
        q: &Query,
        outcome: &str,
        tcp: bool,
    ) {
        emit(
            EventKind::Request,
            fields! {"query" => q.name.clone(), "qtype" => qtype_name(q.qtype), "qclass" => q.qclass as u64, "outcome" => outcome, "transport" => if tcp {"tcp"} else {"udp"}},
        );
        if q.qtype == AXFR {
            emit(
                EventKind::Command,
                fields! {"command" => format!("AXFR {}", q.name), "exploit" => "zone_transfer", "outcome" => outcome},
            );
        }
    }
}

impl DatagramHandler for DnsHandler {
    fn handle(self: Arc<Self>, port: &UdpPort, peer: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
        let emit = |k: EventKind, f: decnet_core::Fields| port.emit(peer, k, f);
        if let Some(early) = screened(bytes, &emit) {
            return early.into_iter().collect();
        }
        let q = match w::parse_query(bytes) {
            Ok(q) => q,
            Err(e) => {
                emit(
                    EventKind::Error,
                    fields! {"error" => format!("dns: {e}"), "bytes" => bytes.len() as u64},
                );
                return Vec::new();
            }
        };
        let (mut resp, outcome) = self.answer(&q);
        self.log(&emit, &q, outcome, false);
        if resp.len() > Self::udp_limit(&q) {
            // Truncated: set TC and send the header + question only.
            resp = w::response(&q, true, 0, &[], &[], &[]);
            resp[2] |= 0x02;
        }
        vec![resp]
    }
}

impl Handler for DnsHandler {
    fn datagram(self: Arc<Self>) -> Option<Arc<dyn DatagramHandler>> {
        Some(self)
    }

    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session
                .limits()
                .idle_timeout
                .min(std::time::Duration::from_secs(30));
            loop {
                let mut len = [0u8; 2];
                match crate::io::read_exact_idle(&mut conn.stream, &mut len, idle).await {
                    Ok(()) => {}
                    Err(ReadError::Eof) => return,
                    Err(e) => {
                        session.emit_error(format!("dns: {e}"));
                        return;
                    }
                }
                let n = u16::from_be_bytes(len) as usize;
                if n < 12 {
                    session.emit_error(format!("dns: bad TCP message length {n}"));
                    return;
                }
                if n > w::MAX_TCP {
                    // BIND waits for the whole message whatever its
                    // length; read it (bounded by the u16) and drop it.
                    session.emit_error(format!("dns: TCP message of {n} bytes over limit"));
                    let mut left = n;
                    let mut chunk = [0u8; 4096];
                    while left > 0 {
                        match crate::io::read_some_idle(&mut conn.stream, &mut chunk, idle).await {
                            Ok(got) => left = left.saturating_sub(got),
                            Err(_) => return,
                        }
                    }
                    return;
                }
                let mut msg = vec![0u8; n];
                if crate::io::read_exact_idle(&mut conn.stream, &mut msg, idle)
                    .await
                    .is_err()
                {
                    return;
                }
                if let Some(early) = screened(&msg, &|k, f| session.emit(k, f)) {
                    match early {
                        Some(reply) => {
                            let mut out = (reply.len() as u16).to_be_bytes().to_vec();
                            out.extend_from_slice(&reply);
                            if conn.stream.write_all(&out).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        None => return,
                    }
                }
                let q = match w::parse_query(&msg) {
                    Ok(q) => q,
                    Err(e) => {
                        session.emit_error(format!("dns: {e}"));
                        return;
                    }
                };
                let (resp, outcome) = self.answer(&q);
                self.log(&|k, f| session.emit(k, f), &q, outcome, true);
                let mut out = (resp.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&resp);
                if conn.stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        })
    }
}

/// A message BIND would not answer from the zone: `Some(None)` to drop it,
/// `Some(Some(reply))` to send BIND's early reply; logged as an error.
fn screened(msg: &[u8], emit: &dyn Fn(EventKind, decnet_core::Fields)) -> Option<Option<Vec<u8>>> {
    let (early, reason) = match w::screen(msg) {
        w::Screening::Query => return None,
        w::Screening::Drop { reason } => (None, reason),
        w::Screening::Reply { message, reason } => (Some(message), reason),
    };
    emit(
        EventKind::Error,
        fields! {"error" => format!("dns: {reason}"), "bytes" => msg.len() as u64, "answered" => early.is_some()},
    );
    Some(early)
}
