//! LLMNR (UDP 5355) and NBNS (UDP 137) in one responder: queries for the
//! decky's own names (hostname, FQDN, NetBIOS name, workgroup) are
//! answered with its address so Windows scanners see a host; a NetBIOS
//! node-status query (`nbtstat -A`, `nmap --script nbstat`) lists its
//! names and MAC. Every query is logged (who looks for what), including
//! the ones for other names, which are not answered (this is a decoy,
//! not a poisoner).

use std::net::SocketAddr;
use std::sync::Arc;

use decnet_core::EventKind;

use crate::ctx::DeckyCtx;
use crate::udp::{DatagramHandler, UdpPort};
use crate::wire::nbns::{self, Query};
use crate::{fields, Handler, Service, ServiceError};

/// The `llmnr` service.
pub struct Llmnr;

/// Per-decky names.
pub struct LlmnrHandler {
    host: String,
    fqdn: String,
    nb_name: String,
    workgroup: String,
    mac: [u8; 6],
}

impl Service for Llmnr {
    fn name(&self) -> &'static str {
        "llmnr"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let id = super::ntlm::ServerIdentity::for_decky(decky);
        let p = &decky.persona;
        let host = p
            .hostname
            .split('.')
            .next()
            .unwrap_or(&p.hostname)
            .to_owned();
        Ok(Arc::new(LlmnrHandler {
            fqdn: format!("{}.{}", host, p.domain),
            host,
            nb_name: id.nb_computer,
            workgroup: id.nb_domain,
            mac: p.mac,
        }))
    }
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, an: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&an.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
}

impl LlmnrHandler {
    /// LLMNR answer for `q` (None: not our name or not an A/ANY query).
    pub fn llmnr_answer(&self, q: &Query, ip: std::net::Ipv4Addr) -> Option<Vec<u8>> {
        let ours = q.name.eq_ignore_ascii_case(&self.host)
            || q.name.eq_ignore_ascii_case(&self.fqdn)
            || q.name.eq_ignore_ascii_case(&self.nb_name);
        if !ours || q.is_response() || q.opcode() != 0 || !matches!(q.qtype, 1 | 255) {
            return None;
        }
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&q.id.to_be_bytes());
        out.extend_from_slice(&0x8000u16.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
        out.extend_from_slice(&q.qname_wire);
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&q.qclass.to_be_bytes());
        out.extend_from_slice(&q.qname_wire);
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&30u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
        Some(out)
    }

    /// NBNS answer for `q`.
    pub fn nbns_answer(&self, q: &Query, ip: std::net::Ipv4Addr) -> Option<Vec<u8>> {
        if q.is_response() || q.opcode() != 0 || q.qname_wire.len() != 34 {
            return None;
        }
        let (name, _suffix) = nbns::netbios_decode(&q.name)?;
        let mut out = Vec::with_capacity(200);
        match q.qtype {
            0x20 => {
                let group = name.eq_ignore_ascii_case(&self.workgroup);
                if !(name.eq_ignore_ascii_case(&self.nb_name) || group) {
                    return None;
                }
                header(&mut out, q.id, 0x8500, 1);
                out.extend_from_slice(&q.qname_wire);
                out.extend_from_slice(&[0, 0x20, 0, 1]);
                out.extend_from_slice(&300_000u32.to_be_bytes());
                out.extend_from_slice(&6u16.to_be_bytes());
                out.extend_from_slice(&(if group { 0x8000u16 } else { 0 }).to_be_bytes());
                out.extend_from_slice(&ip.octets());
            }
            0x21 => {
                if name != "*" && !name.eq_ignore_ascii_case(&self.nb_name) {
                    return None;
                }
                let names: [(&str, u8, u16); 4] = [
                    (&self.nb_name, 0x00, 0x0400),
                    (&self.workgroup, 0x00, 0x8400),
                    (&self.nb_name, 0x20, 0x0400),
                    (&self.workgroup, 0x1e, 0x8400),
                ];
                let mut rd = vec![names.len() as u8];
                for (n, sfx, fl) in names {
                    let mut raw = [b' '; 16];
                    for (i, c) in n.bytes().take(15).enumerate() {
                        raw[i] = c;
                    }
                    raw[15] = sfx;
                    rd.extend_from_slice(&raw);
                    rd.extend_from_slice(&fl.to_be_bytes());
                }
                rd.extend_from_slice(&self.mac);
                rd.extend_from_slice(&[0; 40]);
                header(&mut out, q.id, 0x8400, 1);
                out.extend_from_slice(&q.qname_wire);
                out.extend_from_slice(&[0, 0x21, 0, 1]);
                out.extend_from_slice(&0u32.to_be_bytes());
                out.extend_from_slice(&(rd.len() as u16).to_be_bytes());
                out.extend_from_slice(&rd);
            }
            _ => return None,
        }
        Some(out)
    }
}

impl DatagramHandler for LlmnrHandler {
    fn handle(self: Arc<Self>, port: &UdpPort, peer: SocketAddr, b: &[u8]) -> Vec<Vec<u8>> {
        let proto = if port.nominal_port == 137 {
            "nbns"
        } else {
            "llmnr"
        };
        let q = match nbns::query(b) {
            Ok(q) => q,
            Err(e) => {
                port.emit(
                    peer,
                    EventKind::Error,
                    fields! {"error" => format!("{proto}: {e}"), "protocol" => proto},
                );
                return Vec::new();
            }
        };
        if q.is_response() {
            return Vec::new();
        }
        // LLMNR and NBNS answers here carry IPv4 addresses: a v6-only
        // decky logs the query and stays silent.
        let ip = port.decky.spec.ipv4();
        let (name, answer) = if proto == "nbns" {
            let name = nbns::netbios_decode(&q.name)
                .map(|(n, s)| format!("{n}<{s:02x}>"))
                .unwrap_or_else(|| q.name.clone());
            (name, ip.and_then(|ip| self.nbns_answer(&q, ip)))
        } else {
            (q.name.clone(), ip.and_then(|ip| self.llmnr_answer(&q, ip)))
        };
        port.emit(
            peer,
            EventKind::Request,
            fields! {
                "protocol" => proto,
                "query" => crate::wire::excerpt(name.as_bytes(), 255),
                "qtype" => q.qtype as u64,
                "answered" => answer.is_some(),
            },
        );
        answer.into_iter().collect()
    }
}

impl Handler for LlmnrHandler {
    fn datagram(self: Arc<Self>) -> Option<Arc<dyn DatagramHandler>> {
        Some(self)
    }
}
