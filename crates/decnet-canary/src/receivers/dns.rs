//! Authoritative DNS for the canary zone, over UDP and TCP.
//!
//! Every name in the zone resolves (A to the configured address; SOA/NS at
//! the apex; other types get NODATA with the SOA), so a token hostname
//! looks like any other host and resolvers cache nothing odd. Names outside
//! the zone are REFUSED, as an authoritative-only server answers them.
//! A query names a token when any label left of the zone is a live slug;
//! labels left of it are recorded as data (`<data>.<slug>.<zone>`). The
//! event's source is the resolver that asked.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::Shared;
use crate::error::{CanaryError, CanaryResult};
use crate::index::KeyKind;
use crate::trigger::{self, Via};

/// What the server answers for.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// The zone (`t.example.com`).
    pub zone: String,
    /// What every name in it resolves to.
    pub address: Ipv4Addr,
    /// TTL of answers (short: every resolution should reach us).
    pub ttl: u32,
}

/// TCP connections served at once.
const MAX_TCP: usize = 256;
/// Idle time allowed between TCP messages.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// UDP answers fit this without EDNS.
const UDP_PLAIN: usize = 512;
/// Our EDNS buffer size (the DNS flag day value).
const EDNS_PAYLOAD: u16 = 1232;

/// The receiver.
pub struct DnsReceiver {
    shared: Shared,
    zone: Name,
    zone_labels: usize,
    cfg: DnsConfig,
}

impl DnsReceiver {
    /// A server for `cfg.zone`; the zone must be a valid name.
    pub fn new(shared: Shared, cfg: DnsConfig) -> CanaryResult<Arc<Self>> {
        let mut zone = Name::from_ascii(cfg.zone.trim_end_matches('.'))
            .map_err(|e| CanaryError::InvalidText {
                field: "dns_zone",
                reason: e.to_string(),
            })?
            .to_lowercase();
        zone.set_fqdn(true);
        if zone.num_labels() == 0 {
            return Err(CanaryError::InvalidText {
                field: "dns_zone",
                reason: "the root zone cannot be a canary zone".into(),
            });
        }
        Ok(Arc::new(DnsReceiver {
            shared,
            zone_labels: zone.num_labels() as usize,
            zone,
            cfg,
        }))
    }

    /// Serves UDP until the task is dropped.
    pub async fn serve_udp(self: Arc<Self>, sock: UdpSocket) {
        let local = sock
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 53)));
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = match sock.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(_) => continue,
            };
            if let Some(reply) = self.answer(&buf[..n], peer, local, "udp") {
                let _ = sock.send_to(&reply, peer).await;
            }
        }
    }

    /// Serves TCP (length-prefixed messages, several per connection) until the task is dropped.
    pub async fn serve_tcp(self: Arc<Self>, listener: TcpListener) {
        super::accept_loop(listener, MAX_TCP, move |mut stream, peer| {
            let me = self.clone();
            async move {
                let local = stream.local_addr().unwrap_or(peer);
                let mut msg = Vec::new();
                loop {
                    let mut len = [0u8; 2];
                    let read = tokio::time::timeout(TCP_IDLE, async {
                        stream.read_exact(&mut len).await?;
                        msg.resize(u16::from_be_bytes(len) as usize, 0);
                        stream.read_exact(&mut msg).await
                    })
                    .await;
                    if !matches!(read, Ok(Ok(_))) {
                        return;
                    }
                    let Some(reply) = me.answer(&msg, peer, local, "tcp") else {
                        return;
                    };
                    let mut out = (reply.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&reply);
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                }
            }
        })
        .await
    }

    /// The reply to one message (`None`: drop it, as for responses sent to us).
    pub fn answer(
        &self,
        packet: &[u8],
        peer: SocketAddr,
        local: SocketAddr,
        transport: &str,
    ) -> Option<Vec<u8>> {
        let req = match Message::from_vec(packet) {
            Ok(m) => m,
            Err(_) => return formerr(packet),
        };
        if req.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.metadata.checking_disabled = req.metadata.checking_disabled;
        if req.edns.is_some() {
            let mut e = Edns::new();
            e.set_max_payload(EDNS_PAYLOAD);
            resp.edns = Some(e);
        }
        if req.metadata.op_code != OpCode::Query {
            resp.metadata.response_code = ResponseCode::NotImp;
            return encode(resp, transport, req.edns.as_ref());
        }
        let [q] = req.queries.as_slice() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return encode(resp, transport, req.edns.as_ref());
        };
        resp.add_query(q.clone());
        let name = q.name().to_lowercase();
        if !self.zone.zone_of(&name) {
            resp.metadata.response_code = ResponseCode::Refused;
            return encode(resp, transport, req.edns.as_ref());
        }
        resp.metadata.authoritative = true;
        self.fill(&mut resp, q, &name);
        self.trigger(q, &name, peer, local, transport);
        encode(resp, transport, req.edns.as_ref())
    }

    fn soa(&self) -> Record {
        let mname = Name::from_ascii("ns1").and_then(|n| n.append_domain(&self.zone));
        let rname = Name::from_ascii("hostmaster").and_then(|n| n.append_domain(&self.zone));
        let (mname, rname) = (
            mname.unwrap_or_else(|_| self.zone.clone()),
            rname.unwrap_or_else(|_| self.zone.clone()),
        );
        let serial = 2025010101;
        Record::from_rdata(
            self.zone.clone(),
            self.cfg.ttl.max(60),
            RData::SOA(SOA::new(mname, rname, serial, 3600, 900, 604_800, 60)),
        )
    }

    fn fill(&self, resp: &mut Message, q: &Query, name: &Name) {
        let apex = name.num_labels() as usize == self.zone_labels;
        let owner = q.name().clone();
        match q.query_type() {
            RecordType::A | RecordType::ANY => {
                resp.add_answer(Record::from_rdata(
                    owner,
                    self.cfg.ttl,
                    RData::A(A(self.cfg.address)),
                ));
            }
            RecordType::SOA if apex => {
                resp.add_answer(self.soa());
            }
            RecordType::NS if apex => {
                if let Ok(ns) = Name::from_ascii("ns1").and_then(|n| n.append_domain(&self.zone)) {
                    resp.add_answer(Record::from_rdata(
                        owner,
                        self.cfg.ttl.max(60),
                        RData::NS(NS(ns)),
                    ));
                }
            }
            _ => {
                // NODATA: the name exists, the type does not.
                resp.add_authority(self.soa());
            }
        }
    }

    fn trigger(
        &self,
        q: &Query,
        name: &Name,
        peer: SocketAddr,
        local: SocketAddr,
        transport: &str,
    ) {
        let labels: Vec<String> = name
            .iter()
            .take((name.num_labels() as usize).saturating_sub(self.zone_labels))
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        // Nearest the zone first: `<data>.<slug>.<zone>`.
        let Some((pos, token)) = labels
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, l)| self.shared.index.lookup(KeyKind::Slug, l).map(|t| (i, t)))
        else {
            return;
        };
        let data = labels[..pos].join(".");
        let qname = q.name().to_ascii();
        let qtype = q.query_type().to_string();
        let via = Via::Dns {
            qname: &qname,
            qtype: &qtype,
            data: (!data.is_empty()).then_some(data.as_str()),
            transport,
        };
        let count = self.shared.counter.bump(token.id, peer.ip());
        self.shared
            .bus
            .publish_event(trigger::event(&token, peer, local, &via, count));
    }
}

/// FORMERR for a query we cannot parse but whose header we can read (what
/// BIND does); nothing for fragments and responses.
fn formerr(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None;
    }
    let mut out = packet[..12].to_vec();
    out[2] = 0x80 | (packet[2] & 0x79); // QR, keep opcode and RD
    out[3] = ResponseCode::FormErr.low();
    out[4..12].fill(0);
    Some(out)
}

fn encode(resp: Message, transport: &str, edns: Option<&Edns>) -> Option<Vec<u8>> {
    let bytes = resp.to_vec().ok()?;
    let limit = match edns {
        Some(e) => e.max_payload().clamp(UDP_PLAIN as u16, EDNS_PAYLOAD) as usize,
        None => UDP_PLAIN,
    };
    if transport == "udp" && bytes.len() > limit {
        return resp.truncate().to_vec().ok();
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, ty: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), ty));
        m.to_vec().unwrap()
    }

    fn receiver() -> Arc<DnsReceiver> {
        let shared = Shared::new(
            Arc::new(crate::TokenIndex::new()),
            decnet_bus::MemoryBus::new(),
        );
        DnsReceiver::new(
            shared,
            DnsConfig {
                zone: "T.Example.net.".into(),
                address: Ipv4Addr::new(192, 0, 2, 10),
                ttl: 5,
            },
        )
        .unwrap()
    }

    fn ask(r: &DnsReceiver, name: &str, ty: RecordType) -> Message {
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        Message::from_vec(&r.answer(&query(name, ty), a, a, "udp").unwrap()).unwrap()
    }

    #[test]
    fn answers_the_zone_refuses_the_rest() {
        let r = receiver();
        let m = ask(&r, "anything.t.example.net.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(
            &m.answers[0].data,
            &RData::A(A(Ipv4Addr::new(192, 0, 2, 10)))
        );
        let m = ask(&r, "t.example.net.", RecordType::SOA);
        assert!(matches!(m.answers[0].data, RData::SOA(_)));
        let m = ask(&r, "x.t.example.net.", RecordType::AAAA);
        assert!(m.answers.is_empty() && matches!(m.authorities[0].data, RData::SOA(_)));
        let m = ask(&r, "example.com.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert!(!m.metadata.authoritative);
    }

    #[test]
    fn garbage_gets_formerr_or_silence() {
        let r = receiver();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(r.answer(b"\x12\x34", a, a, "udp"), None);
        let mut bad = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        bad.extend_from_slice(&[63, b'a']);
        let reply = r.answer(&bad, a, a, "udp").unwrap();
        assert_eq!(&reply[..2], &[0x12, 0x34]);
        assert_eq!(reply[3] & 0x0f, 1, "FORMERR");
        let mut response = query("x.t.example.net.", RecordType::A);
        response[2] |= 0x80;
        assert_eq!(
            r.answer(&response, a, a, "udp"),
            None,
            "responses are never answered"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let r = receiver();
            let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
            let _ = r.answer(&bytes, a, a, "udp");
        }
    }
}
