//! SNMP v1/v2c agent (udp/161): community strings captured (a wrong one is
//! an `auth_attempt`, answered with silence like net-snmp; the configured
//! one, `public` by default, reads a persona MIB-II system/interfaces
//! subtree via GET / GETNEXT / GETBULK), SETs recorded as commands, v3
//! discovery and garbage recorded as `request` / `error` events.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_core::EventKind;
use parking_lot::Mutex;

use crate::ctx::DeckyCtx;
use crate::product::OsKind;
use crate::udp::{DatagramHandler, UdpPort};
use crate::wire::ber;

mod debian_view;
use crate::wire::{self, WResult, WireError};
use crate::{fields, Handler, Service, ServiceError};

/// Largest response datagram we build.
const MAX_RESPONSE: usize = 1400;
const SERVICE: &str = "snmp";

/// A MIB value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// OCTET STRING.
    Str(Vec<u8>),
    /// INTEGER.
    Int(i64),
    /// OBJECT IDENTIFIER.
    Oid(Vec<u32>),
    /// TimeTicks (centiseconds).
    Ticks(u64),
    /// Counter32.
    Counter(u64),
    /// Gauge32.
    Gauge(u64),
    /// NULL (requests).
    Null,
    /// Any other encoded value (tag, contents), kept for SET logging.
    Raw(u8, Vec<u8>),
}

impl Value {
    fn encode(&self) -> Vec<u8> {
        match self {
            Value::Str(s) => ber::tlv(0x04, s),
            Value::Int(n) => ber::int_tlv(0x02, *n),
            Value::Oid(o) => ber::tlv(0x06, &ber::oid_encode(o)),
            Value::Ticks(t) => ber::tlv(0x43, &ber::uint_bytes(*t & 0xffff_ffff)),
            Value::Counter(t) => ber::tlv(0x41, &ber::uint_bytes(*t & 0xffff_ffff)),
            Value::Gauge(t) => ber::tlv(0x42, &ber::uint_bytes(*t & 0xffff_ffff)),
            Value::Null => vec![0x05, 0x00],
            Value::Raw(t, v) => ber::tlv(*t, v),
        }
    }

    fn render(&self) -> String {
        match self {
            Value::Str(s) => wire::excerpt(s, 256),
            Value::Int(n) => n.to_string(),
            Value::Oid(o) => oid_str(o),
            Value::Ticks(t) | Value::Counter(t) | Value::Gauge(t) => t.to_string(),
            Value::Null => "NULL".into(),
            Value::Raw(t, v) => format!("<0x{t:02x}:{}>", hex::encode(&v[..v.len().min(64)])),
        }
    }
}

/// `1.3.6.1…`.
pub fn oid_str(o: &[u32]) -> String {
    o.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// A decoded v1/v2c message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 0 = v1, 1 = v2c, 3 = v3.
    pub version: i64,
    /// Community (empty for v3).
    pub community: Vec<u8>,
    /// PDU tag (0xa0 get, 0xa1 getnext, 0xa3 set, 0xa5 getbulk…).
    pub pdu: u8,
    /// request-id.
    pub request_id: i64,
    /// error-status (non-repeaters for GETBULK).
    pub f1: i64,
    /// error-index (max-repetitions for GETBULK).
    pub f2: i64,
    /// Variable bindings.
    pub varbinds: Vec<(Vec<u32>, Value)>,
    /// v3 user name, when present.
    pub v3_user: Option<String>,
    /// v3 msgID (the request id of v3 framing).
    pub v3_msg_id: i64,
}

fn decode_value(t: &ber::Tlv<'_>) -> WResult<Value> {
    Ok(match t.tag {
        0x04 => Value::Str(t.value.to_vec()),
        0x02 => Value::Int(ber::int(t.value)?),
        0x06 => Value::Oid(ber::oid_decode(t.value)?),
        0x05 => Value::Null,
        tag => Value::Raw(tag, t.value[..t.value.len().min(256)].to_vec()),
    })
}

/// Decodes an SNMP message.
pub fn decode(buf: &[u8]) -> WResult<Message> {
    let (msg, _) = ber::read(buf)?;
    if msg.tag != 0x30 {
        return Err(WireError::new("SNMP message is not a SEQUENCE"));
    }
    let parts = ber::children(msg.value)?;
    let version = match parts.first() {
        Some(v) if v.tag == 0x02 => ber::int(v.value)?,
        _ => return Err(WireError::new("SNMP message without version")),
    };
    if version == 3 {
        // msgSecurityParameters (OCTET STRING wrapping the USM SEQUENCE).
        let user = parts
            .get(2)
            .and_then(|p| ber::read(p.value).ok())
            .and_then(|(usm, _)| ber::children(usm.value).ok())
            .and_then(|f| f.get(3).map(|u| wire::excerpt(u.value, 64)));
        let msg_id = parts
            .get(1)
            .and_then(|g| ber::children(g.value).ok())
            .and_then(|g| g.first().and_then(|t| ber::int(t.value).ok()))
            .unwrap_or(0);
        // Plaintext scopedPDU: contextEngineID, contextName, PDU.
        let (pdu, request_id) = parts
            .get(3)
            .filter(|s| s.tag == 0x30)
            .and_then(|s| ber::children(s.value).ok())
            .and_then(|s| s.get(2).copied())
            .map(|p| {
                let rid = ber::children(p.value)
                    .ok()
                    .and_then(|f| f.first().and_then(|t| ber::int(t.value).ok()))
                    .unwrap_or(0);
                (p.tag, rid)
            })
            .unwrap_or((0, 0));
        return Ok(Message {
            version,
            community: Vec::new(),
            pdu,
            request_id,
            v3_msg_id: msg_id,
            f1: 0,
            f2: 0,
            varbinds: Vec::new(),
            v3_user: user,
        });
    }
    let [_, community, pdu, ..] = parts.as_slice() else {
        return Err(WireError::new("short SNMP message"));
    };
    if community.tag != 0x04 {
        return Err(WireError::new("community is not an OCTET STRING"));
    }
    let fields = ber::children(pdu.value)?;
    let [rid, f1, f2, vbl, ..] = fields.as_slice() else {
        return Err(WireError::new("short SNMP PDU"));
    };
    let mut varbinds = Vec::new();
    for vb in ber::children(vbl.value)?.iter().take(128) {
        let pair = ber::children(vb.value)?;
        let [oid, val, ..] = pair.as_slice() else {
            return Err(WireError::new("short varbind"));
        };
        if oid.tag != 0x06 {
            return Err(WireError::new("varbind name is not an OID"));
        }
        varbinds.push((ber::oid_decode(oid.value)?, decode_value(val)?));
    }
    Ok(Message {
        version,
        community: community.value.to_vec(),
        pdu: pdu.tag,
        request_id: ber::int(rid.value)?,
        f1: ber::int(f1.value)?,
        f2: ber::int(f2.value)?,
        varbinds,
        v3_user: None,
        v3_msg_id: 0,
    })
}

/// Encodes a GetResponse (or any PDU `tag`) message.
pub fn encode(
    version: i64,
    community: &[u8],
    tag: u8,
    request_id: i64,
    status: i64,
    index: i64,
    varbinds: &[(Vec<u32>, Vec<u8>)],
) -> Vec<u8> {
    let mut vbl = Vec::new();
    for (oid, val) in varbinds {
        let mut vb = ber::tlv(0x06, &ber::oid_encode(oid));
        vb.extend_from_slice(val);
        vbl.extend_from_slice(&ber::tlv(0x30, &vb));
    }
    let mut pdu = ber::int_tlv(0x02, request_id);
    pdu.extend_from_slice(&ber::int_tlv(0x02, status));
    pdu.extend_from_slice(&ber::int_tlv(0x02, index));
    pdu.extend_from_slice(&ber::tlv(0x30, &vbl));
    let mut m = ber::int_tlv(0x02, version);
    m.extend_from_slice(&ber::tlv(0x04, community));
    m.extend_from_slice(&ber::tlv(tag, &pdu));
    ber::tlv(0x30, &m)
}

/// The `snmp` service.
pub struct Snmp;

/// Per-decky agent.
pub struct SnmpHandler {
    community: String,
    mib: Vec<(Vec<u32>, Value)>,
    boot: Instant,
    /// The host's uptime when bound (hrSystemUptime), centiseconds.
    host_offset_cs: u64,
    /// snmpd's own uptime when bound (sysUpTime, snmpEngineTime): it
    /// started a few seconds after the kernel.
    agent_offset_cs: u64,
    seen: Mutex<HashMap<(IpAddr, Vec<u8>), Instant>>,
    engine_id: Vec<u8>,
    engine_boots: i64,
    unknown_engine: std::sync::atomic::AtomicU64,
}

fn sys(n: u32) -> Vec<u32> {
    vec![1, 3, 6, 1, 2, 1, 1, n, 0]
}

impl Service for Snmp {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let p = &decky.persona;
        let host = p.hostname.split('.').next().unwrap_or("host").to_owned();
        let (descr, object_id) = match crate::product::os_kind(decky) {
            OsKind::Windows => (
                format!("Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - Software: Windows Version 6.3 (Build {} Multiprocessor Free)", p.kernel.rsplit('.').next().unwrap_or("17763")),
                vec![1, 3, 6, 1, 4, 1, 311, 1, 1, 3, 1, 2],
            ),
            OsKind::Embedded => (format!("Linux {host} {} #1 PREEMPT armv7l", p.kernel), vec![1, 3, 6, 1, 4, 1, 8072, 3, 2, 10]),
            // net-snmp's sysDescr is `uname -snrvm`.
            _ => (
                format!("Linux {host} {} {} x86_64", p.kernel, p.kernel_version),
                vec![1, 3, 6, 1, 4, 1, 8072, 3, 2, 10],
            ),
        };
        let descr = decky
            .config(SERVICE, "sys_descr")
            .map(str::to_owned)
            .unwrap_or(descr);
        let mut mib: Vec<(Vec<u32>, Value)> = vec![
            (sys(1), Value::Str(descr.into_bytes())),
            (sys(2), Value::Oid(object_id)),
            (sys(3), Value::Ticks(0)),
            (
                sys(4),
                Value::Str(
                    decky
                        .config(SERVICE, "sys_contact")
                        .unwrap_or("root@localhost")
                        .as_bytes()
                        .to_vec(),
                ),
            ),
            (sys(5), Value::Str(host.clone().into_bytes())),
            (
                sys(6),
                Value::Str(
                    decky
                        .config(SERVICE, "sys_location")
                        .unwrap_or("Server Room")
                        .as_bytes()
                        .to_vec(),
                ),
            ),
            (sys(7), Value::Int(72)),
        ];
        if matches!(
            crate::product::os_kind(decky),
            OsKind::Debian | OsKind::Ubuntu
        ) {
            // Debian's snmpd.conf gives `public` the `systemonly` view:
            // system (with net-snmp's sysORTable) and hrSystem, nothing else.
            mib.extend(debian_view::entries(decky));
            mib.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(Self::handler(decky, mib));
        }
        mib.push((vec![1, 3, 6, 1, 2, 1, 2, 1, 0], Value::Int(2)));
        for (i, (name, mac, speed)) in [
            ("lo", vec![], 10_000_000u64),
            ("eth0", p.mac.to_vec(), 1_000_000_000),
        ]
        .into_iter()
        .enumerate()
        {
            let idx = i as u32 + 1;
            let e = |col: u32| vec![1, 3, 6, 1, 2, 1, 2, 2, 1, col, idx];
            mib.push((e(1), Value::Int(idx as i64)));
            mib.push((e(2), Value::Str(name.as_bytes().to_vec())));
            mib.push((e(3), Value::Int(if idx == 1 { 24 } else { 6 })));
            mib.push((e(4), Value::Int(if idx == 1 { 65536 } else { 1500 })));
            mib.push((e(5), Value::Gauge(speed)));
            mib.push((e(6), Value::Str(mac)));
            mib.push((e(7), Value::Int(1)));
            mib.push((e(8), Value::Int(1)));
        }
        mib.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self::handler(decky, mib))
    }
}

/// What a net-snmp agent installed with the persona's OS and started at
/// each of its boots reports about itself.
struct AgentStory {
    /// The engine id (kept in `/var/lib/snmp` since the first start).
    engine_id: Vec<u8>,
    /// snmpEngineBoots: one per start since then.
    engine_boots: i64,
    /// When this boot's snmpd started.
    started: chrono::DateTime<chrono::Utc>,
}

impl AgentStory {
    fn of(decky: &DeckyCtx) -> AgentStory {
        use rand::Rng;
        let p = &decky.persona;
        let seed = decnet_core::DeckySeed::new(decky.name(), decky.generation);
        let mut rng = seed.rng("snmp-engine");
        let random: [u8; 4] = rng.gen();
        // snmpd first ran when the package was installed: with the OS or
        // in the weeks after (the OS install is 30+ days before the boot).
        let installed = decnet_shell::gen::install_time(p, &seed)
            + chrono::Duration::seconds(rng.gen_range(600..20 * 86_400));
        // A server rebooted every one to six weeks for kernel updates; the
        // package's own first start counts as one boot.
        let days = (p.boot_time - installed).num_days().max(1);
        let reboots = (days / rng.gen_range(7..42)).max(1);
        // net-snmp's engine id: enterprise 8072, format 0x80 (net-snmp
        // random), then 4 random bytes and the first start's time as a
        // little-endian 64-bit time_t: 17 bytes in all.
        let mut engine_id = vec![0x80, 0x00, 0x1f, 0x88, 0x80];
        engine_id.extend_from_slice(&random);
        engine_id.extend_from_slice(&(installed.timestamp().max(0) as u64).to_le_bytes());
        AgentStory {
            engine_id,
            engine_boots: 1 + reboots,
            started: p.boot_time + chrono::Duration::milliseconds(rng.gen_range(3_000..12_000)),
        }
    }
}

fn centis_since(t: chrono::DateTime<chrono::Utc>) -> u64 {
    (chrono::Utc::now() - t).num_milliseconds().max(0) as u64 / 10
}

impl Snmp {
    fn handler(decky: &DeckyCtx, mib: Vec<(Vec<u32>, Value)>) -> Arc<SnmpHandler> {
        let story = AgentStory::of(decky);
        Arc::new(SnmpHandler {
            community: decky
                .config(SERVICE, "community")
                .unwrap_or("public")
                .to_owned(),
            mib,
            boot: Instant::now(),
            host_offset_cs: centis_since(decky.persona.boot_time),
            agent_offset_cs: centis_since(story.started),
            seen: Mutex::new(HashMap::new()),
            engine_id: story.engine_id,
            engine_boots: story.engine_boots,
            unknown_engine: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

impl SnmpHandler {
    fn value(&self, oid: &[u32], v: &Value) -> Vec<u8> {
        if oid == debian_view::HR_SYSTEM_DATE {
            return Value::Str(debian_view::date_and_time(chrono::Utc::now())).encode();
        }
        match v {
            Value::Ticks(_) => {
                // hrSystemUptime is the host's; sysUpTime the agent's own.
                let offset = if oid == debian_view::HR_SYSTEM_UPTIME {
                    self.host_offset_cs
                } else {
                    self.agent_offset_cs
                };
                Value::Ticks(offset + self.boot.elapsed().as_millis() as u64 / 10).encode()
            }
            v => v.encode(),
        }
    }

    /// snmpEngineTime: seconds since this boot's snmpd started (what
    /// sysUpTime counts in centiseconds), wrapping as RFC 3414 says.
    fn engine_time(&self) -> i64 {
        let secs = self.agent_offset_cs / 100 + self.boot.elapsed().as_secs();
        (secs % 2_147_483_648) as i64
    }

    fn get(&self, oid: &[u32]) -> Option<&(Vec<u32>, Value)> {
        self.mib.iter().find(|(o, _)| o == oid)
    }

    fn next(&self, oid: &[u32]) -> Option<&(Vec<u32>, Value)> {
        self.mib.iter().find(|(o, _)| o.as_slice() > oid)
    }

    /// Builds the answer to a request with the right community.
    pub fn answer(&self, m: &Message) -> Option<Vec<u8>> {
        let v2 = m.version == 1;
        let mut out: Vec<(Vec<u32>, Vec<u8>)> = Vec::new();
        let (mut status, mut index) = (0i64, 0i64);
        let miss = |v2: bool, tag: u8| if v2 { vec![tag, 0] } else { vec![0x05, 0] };
        match m.pdu {
            0xa0 => {
                for (i, (oid, _)) in m.varbinds.iter().enumerate() {
                    match self.get(oid) {
                        Some((o, v)) => out.push((o.clone(), self.value(o, v))),
                        None => {
                            if !v2 && status == 0 {
                                status = 2;
                                index = i as i64 + 1;
                            }
                            out.push((oid.clone(), miss(v2, 0x80)));
                        }
                    }
                }
            }
            0xa1 => {
                for (i, (oid, _)) in m.varbinds.iter().enumerate() {
                    match self.next(oid) {
                        Some((o, v)) => out.push((o.clone(), self.value(o, v))),
                        None => {
                            if !v2 && status == 0 {
                                status = 2;
                                index = i as i64 + 1;
                            }
                            out.push((oid.clone(), miss(v2, 0x82)));
                        }
                    }
                }
            }
            0xa5 if v2 => {
                let non_rep = m.f1.clamp(0, m.varbinds.len() as i64) as usize;
                let reps = m.f2.clamp(0, 50) as usize;
                for (oid, _) in &m.varbinds[..non_rep] {
                    match self.next(oid) {
                        Some((o, v)) => out.push((o.clone(), self.value(o, v))),
                        None => out.push((oid.clone(), vec![0x82, 0])),
                    }
                }
                let mut cursors: Vec<Vec<u32>> = m.varbinds[non_rep..]
                    .iter()
                    .map(|(o, _)| o.clone())
                    .collect();
                'rep: for _ in 0..reps {
                    for c in cursors.iter_mut() {
                        let size: usize = out.iter().map(|(o, v)| o.len() + v.len() + 4).sum();
                        if size > MAX_RESPONSE - 100 {
                            break 'rep;
                        }
                        match self.next(c) {
                            Some((o, v)) => {
                                out.push((o.clone(), self.value(o, v)));
                                *c = o.clone();
                            }
                            None => out.push((c.clone(), vec![0x82, 0])),
                        }
                    }
                }
            }
            0xa3 => {
                status = if v2 { 6 } else { 4 };
                index = 1;
                for (oid, v) in &m.varbinds {
                    out.push((oid.clone(), v.encode()));
                }
            }
            _ => return None,
        }
        let mut resp = encode(
            m.version,
            &m.community,
            0xa2,
            m.request_id,
            status,
            index,
            &out,
        );
        if resp.len() > MAX_RESPONSE {
            // tooBig, no varbinds.
            resp = encode(m.version, &m.community, 0xa2, m.request_id, 1, 0, &[]);
        }
        Some(resp)
    }

    /// SNMPv3 discovery answer: a Report (usmStatsUnknownEngineIDs) that
    /// carries the agent's engine id, boots and time, as net-snmp sends.
    pub fn v3_report(&self, m: &Message) -> Vec<u8> {
        let mut usm = ber::tlv(0x04, &self.engine_id);
        usm.extend_from_slice(&ber::int_tlv(0x02, self.engine_boots));
        usm.extend_from_slice(&ber::int_tlv(0x02, self.engine_time()));
        usm.extend_from_slice(&ber::tlv(0x04, b""));
        usm.extend_from_slice(&ber::tlv(0x04, b""));
        usm.extend_from_slice(&ber::tlv(0x04, b""));
        let mut global = ber::int_tlv(0x02, m.v3_msg_id);
        global.extend_from_slice(&ber::int_tlv(0x02, 65507));
        global.extend_from_slice(&ber::tlv(0x04, &[0]));
        global.extend_from_slice(&ber::int_tlv(0x02, 3));
        let report_oid = [1u32, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];
        let mut vb = ber::tlv(0x06, &ber::oid_encode(&report_oid));
        let n = self
            .unknown_engine
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        vb.extend_from_slice(&Value::Counter(n).encode());
        let mut pdu = ber::int_tlv(0x02, m.request_id);
        pdu.extend_from_slice(&ber::int_tlv(0x02, 0));
        pdu.extend_from_slice(&ber::int_tlv(0x02, 0));
        pdu.extend_from_slice(&ber::tlv(0x30, &ber::tlv(0x30, &vb)));
        let mut scoped = ber::tlv(0x04, &self.engine_id);
        scoped.extend_from_slice(&ber::tlv(0x04, b""));
        scoped.extend_from_slice(&ber::tlv(0xa8, &pdu));
        let mut msg = ber::int_tlv(0x02, 3);
        msg.extend_from_slice(&ber::tlv(0x30, &global));
        msg.extend_from_slice(&ber::tlv(0x04, &ber::tlv(0x30, &usm)));
        msg.extend_from_slice(&ber::tlv(0x30, &scoped));
        ber::tlv(0x30, &msg)
    }

    /// SNMPv3: the USM user is recorded and a discovery report sent back.
    fn v3(&self, port: &UdpPort, peer: SocketAddr, m: &Message) -> Vec<u8> {
        let user = m.v3_user.clone().unwrap_or_default();
        port.emit(
            peer,
            EventKind::Request,
            fields! {"request" => "snmpv3", "v3_user" => user.clone()},
        );
        if !user.is_empty() {
            port.emit(peer, EventKind::AuthAttempt, fields! {"username" => user.clone(), "principal" => user, "secret_kind" => "snmpv3_usm", "success" => false});
        }
        self.v3_report(m)
    }

    /// True the first time in five minutes that `peer` uses `community`
    /// (a walk is hundreds of requests; one credential event is enough).
    fn first_use(&self, peer: SocketAddr, community: &[u8]) -> bool {
        let mut seen = self.seen.lock();
        if seen.len() > 1024 {
            seen.retain(|_, t| t.elapsed() < Duration::from_secs(300));
            if seen.len() > 1024 {
                seen.clear();
            }
        }
        let key = (peer.ip(), community.to_vec());
        let fresh = seen
            .get(&key)
            .is_none_or(|t| t.elapsed() > Duration::from_secs(300));
        if fresh {
            seen.insert(key, Instant::now());
        }
        fresh
    }
}

/// The PDU type's name in events.
fn pdu_name(pdu: u8) -> &'static str {
    match pdu {
        0xa0 => "get",
        0xa1 => "getnext",
        0xa3 => "set",
        0xa5 => "getbulk",
        0xa4 | 0xa7 => "trap",
        0xa6 => "inform",
        _ => "other",
    }
}

impl DatagramHandler for SnmpHandler {
    fn handle(self: Arc<Self>, port: &UdpPort, peer: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
        let m = match decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                port.emit(
                    peer,
                    EventKind::Error,
                    fields! {"error" => format!("snmp: {e}"), "bytes" => bytes.len() as u64},
                );
                return Vec::new();
            }
        };
        if m.version == 3 {
            return vec![self.v3(port, peer, &m)];
        }
        let ok = m.community == self.community.as_bytes();
        let varbinds: Vec<String> = m
            .varbinds
            .iter()
            .take(16)
            .map(|(o, _)| oid_str(o))
            .collect();
        let op = pdu_name(m.pdu);
        let version = if m.version == 0 { "v1" } else { "v2c" };
        if !ok || self.first_use(peer, &m.community) {
            let mut f = fields! {"version" => version, "pdu" => op, "oids" => varbinds.join(" ")};
            credential_fields_into(&mut f, &m.community, ok);
            port.emit(peer, EventKind::AuthAttempt, f);
        }
        if !ok {
            return Vec::new();
        }
        if m.pdu == 0xa3 {
            let sets: Vec<String> = m
                .varbinds
                .iter()
                .take(16)
                .map(|(o, v)| format!("{}={}", oid_str(o), v.render()))
                .collect();
            port.emit(
                peer,
                EventKind::Command,
                fields! {"command" => format!("set {}", sets.join(" ")), "version" => version},
            );
        } else {
            port.emit(
                peer,
                EventKind::Request,
                fields! {"request" => op, "oids" => varbinds.join(" "), "version" => version},
            );
        }
        self.answer(&m).into_iter().collect()
    }
}

fn credential_fields_into(f: &mut decnet_core::Fields, community: &[u8], ok: bool) {
    let printable = decnet_core::event::printable(community);
    decnet_core::event::credential_fields(f, "", "snmp_community", community);
    f.insert("username".into(), "".into());
    f.insert("password".into(), printable.clone().into());
    f.insert("community".into(), printable.into());
    f.insert("success".into(), ok.into());
}

impl Handler for SnmpHandler {
    fn datagram(self: Arc<Self>) -> Option<Arc<dyn DatagramHandler>> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decode_get_request() {
        let req = encode(1, b"public", 0xa0, 42, 0, 0, &[(sys(1), vec![0x05, 0])]);
        let m = decode(&req).unwrap();
        assert_eq!(
            (m.version, m.community.as_slice(), m.pdu, m.request_id),
            (1, &b"public"[..], 0xa0, 42)
        );
        assert_eq!(m.varbinds, vec![(sys(1), Value::Null)]);
    }

    proptest! {
        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&data);
        }

        #[test]
        fn mutated_requests_never_panic(idx in 0usize..40, v in any::<u8>()) {
            let mut req = encode(0, b"public", 0xa1, 7, 0, 0, &[(sys(1), vec![0x05, 0]), (sys(5), vec![0x05, 0])]);
            if idx < req.len() { req[idx] = v; }
            let _ = decode(&req);
        }
    }
}
