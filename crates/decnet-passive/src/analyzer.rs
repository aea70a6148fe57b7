//! Frames in, events out: the sensor's logic without the socket, so a
//! capture file replays through exactly what the live sensor runs.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use decnet_core::compat::EVENT_TYPE;
use decnet_core::{Event, EventKind};
use decnet_services::tls::{self, ClientHello, HelloError};
use lru::LruCache;
use serde_json::Value;

use crate::fleet_view::{DeckyPorts, FleetView};
use crate::flow::{FlowKey, FlowTable, Verdict};
use crate::os::OsTable;
use crate::packet::Packet;
use crate::scan::{Proto, ScanFinding, ScanLimits, ScanTracker};
use crate::syn::SynSignature;

/// The events' `service`.
pub const SERVICE: &str = "passive";

/// Bounds of the analyzer's state.
#[derive(Clone, Debug)]
pub struct AnalyzerLimits {
    /// TCP flows read at once.
    pub max_flows: usize,
    /// Scan accounting.
    pub scan: ScanLimits,
    /// (source, fingerprint) pairs remembered to report each once.
    pub max_seen: usize,
    /// How long a fingerprint already reported for a source stays quiet.
    pub repeat_after: Duration,
}

impl Default for AnalyzerLimits {
    fn default() -> Self {
        AnalyzerLimits {
            max_flows: 4096,
            scan: ScanLimits::default(),
            max_seen: 8192,
            repeat_after: Duration::from_secs(600),
        }
    }
}

/// Running counts of what the analyzer saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames looked at.
    pub frames: u64,
    /// Frames that were not IPv4/IPv6 TCP/UDP (or malformed).
    pub unparsed: u64,
    /// Packets not addressed to a decky (or sent by one).
    pub foreign: u64,
    /// Fingerprint events made.
    pub fingerprints: u64,
    /// Scan events made.
    pub scans: u64,
    /// Fingerprints already reported recently for the same source.
    pub repeats: u64,
}

/// What a client's first bytes were.
#[derive(Debug)]
enum ClientFp {
    Tls(Box<ClientHello>),
    Ssh(decnet_ssh::hello::ClientHello),
}

fn read_client(bytes: &[u8]) -> Verdict<ClientFp> {
    match bytes.first() {
        Some(0x16) => match tls::handshake_from_records(bytes) {
            Ok((_, hs)) => match tls::parse_client_hello(&hs) {
                Ok(h) => Verdict::Found(ClientFp::Tls(Box::new(h))),
                Err(_) => Verdict::Nothing,
            },
            Err(HelloError::Incomplete) => Verdict::More,
            Err(_) => Verdict::Nothing,
        },
        Some(b'S') => {
            if bytes.len() < 4 {
                return if b"SSH-".starts_with(bytes) {
                    Verdict::More
                } else {
                    Verdict::Nothing
                };
            }
            if !bytes.starts_with(b"SSH-") {
                return Verdict::Nothing;
            }
            match decnet_ssh::hello::parse(bytes) {
                decnet_ssh::hello::Parse::More => Verdict::More,
                decnet_ssh::hello::Parse::Done(h) => Verdict::Found(ClientFp::Ssh(h)),
            }
        }
        _ => Verdict::Nothing,
    }
}

/// The sensor's state machine.
#[derive(Debug)]
pub struct Analyzer {
    flows: FlowTable,
    scans: ScanTracker,
    os: OsTable,
    seen: LruCache<(IpAddr, String), Instant>,
    repeat_after: Duration,
    counters: Counters,
}

impl Analyzer {
    /// An analyzer guessing OSes with `os`.
    pub fn new(limits: AnalyzerLimits, os: OsTable) -> Analyzer {
        Analyzer {
            flows: FlowTable::new(limits.max_flows),
            scans: ScanTracker::new(limits.scan),
            os,
            seen: LruCache::new(
                NonZeroUsize::new(limits.max_seen.max(1)).unwrap_or(NonZeroUsize::MIN),
            ),
            repeat_after: limits.repeat_after,
            counters: Counters::default(),
        }
    }

    /// Counts so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Flows pushed out of the flow table before they were read.
    pub fn flows_evicted(&self) -> u64 {
        self.flows.evicted
    }

    /// Flows held now.
    pub fn flows_held(&self) -> usize {
        self.flows.len()
    }

    /// Reads one Ethernet frame seen at `now`; appends what it reveals to `out`.
    pub fn frame(&mut self, now: Instant, frame: &[u8], fleet: &FleetView, out: &mut Vec<Event>) {
        self.counters.frames += 1;
        let Some(p) = Packet::parse(frame) else {
            self.counters.unparsed += 1;
            return;
        };
        let Some(decky) = fleet
            .decky(&p.dst)
            .filter(|_| fleet.decky(&p.src).is_none())
        else {
            self.counters.foreign += 1;
            return;
        };
        let before = out.len();
        match p.tcp() {
            Some(t) if t.syn && !t.ack => {
                if let Some(sig) = SynSignature::of(&p) {
                    self.syn_fingerprint(now, &p, decky, &sig, out);
                }
                let closed = !decky.tcp.contains(&p.dport);
                // A closed port never gets payload: a scan of thousands of
                // ports must not push real flows out of the table.
                if !closed {
                    self.flows.syn(key(&p), t.seq);
                }
                self.scan(now, &p, decky, Proto::Tcp, closed, out);
            }
            Some(t) => {
                let seq = t.seq;
                if let Some(fp) = self.flows.segment(key(&p), seq, p.payload, read_client) {
                    self.client_fingerprint(now, &p, decky, fp, out);
                }
            }
            None => {
                let closed = !decky.udp.contains(&p.dport);
                self.scan(now, &p, decky, Proto::Udp, closed, out);
            }
        }
        for e in &out[before..] {
            match e.kind {
                EventKind::Fingerprint => self.counters.fingerprints += 1,
                _ => self.counters.scans += 1,
            }
        }
    }

    /// True the first time (per `repeat_after`) `src` shows `fingerprint`.
    fn first_sighting(&mut self, now: Instant, src: IpAddr, fingerprint: String) -> bool {
        let k = (src, fingerprint);
        if let Some(at) = self.seen.get(&k) {
            if now.duration_since(*at) < self.repeat_after {
                self.counters.repeats += 1;
                return false;
            }
        }
        self.seen.put(k, now);
        true
    }

    fn syn_fingerprint(
        &mut self,
        now: Instant,
        p: &Packet<'_>,
        decky: &DeckyPorts,
        sig: &SynSignature,
        out: &mut Vec<Event>,
    ) {
        let raw = sig.raw();
        let guess = self.os.guess(sig);
        // Scanners vary TTL and window per probe: one event per source
        // and recognised stack, else per exact signature.
        let seen_as = match &guess {
            Some(g) => format!("tcp-os:{}", g.label),
            None => format!("tcp:{raw}"),
        };
        if !self.first_sighting(now, p.src, seen_as) {
            return;
        }
        // `event_type` is DECNET's sniffer name for the same observation
        // (as `tls_client_hello` below), so compat-mode logs read alike.
        let mut e = event(p, decky, EventKind::Fingerprint)
            .with("fingerprint_type", "tcp")
            .with(EVENT_TYPE, "tcp_syn_fingerprint")
            .with("tcp_signature", raw)
            .with("ttl", sig.ttl)
            .with("initial_ttl", sig.initial_ttl)
            .with("distance", sig.distance())
            .with("window", sig.window)
            .with("tcp_options", sig.layout_text())
            .with("quirks", sig.quirks.join(","))
            .with("df", sig.quirks.contains(&"df"));
        if let Some(m) = sig.mss {
            e = e.with("mss", m);
        }
        if let Some(w) = sig.wscale {
            e = e.with("wscale", w);
        }
        if let Some(g) = guess {
            e = e
                .with("os", g.label)
                .with("os_family", g.family)
                .with("os_source", g.source);
        }
        out.push(e);
    }

    fn client_fingerprint(
        &mut self,
        now: Instant,
        p: &Packet<'_>,
        decky: &DeckyPorts,
        fp: ClientFp,
        out: &mut Vec<Event>,
    ) {
        match fp {
            ClientFp::Tls(h) => {
                let ja3 = h.ja3_string();
                if !self.first_sighting(now, p.src, format!("tls:{ja3}")) {
                    return;
                }
                let mut e = event(p, decky, EventKind::Fingerprint)
                    .with("fingerprint_type", "tls")
                    .with(EVENT_TYPE, "tls_client_hello")
                    .with("ja3_string", ja3);
                e.fields.extend(h.fields());
                out.push(e);
            }
            ClientFp::Ssh(h) => {
                let key = format!("ssh:{}:{}", h.version, h.hassh);
                if !self.first_sighting(now, p.src, key) {
                    return;
                }
                let mut e = event(p, decky, EventKind::Fingerprint)
                    .with("fingerprint_type", "ssh")
                    .with(EVENT_TYPE, "ssh_kexinit")
                    .with("client_version", h.version);
                if !h.hassh.is_empty() {
                    e = e
                        .with("hassh", h.hassh)
                        .with("hassh_algorithms", h.hassh_algorithms);
                }
                out.push(e);
            }
        }
    }

    fn scan(
        &mut self,
        now: Instant,
        p: &Packet<'_>,
        decky: &DeckyPorts,
        proto: Proto,
        closed: bool,
        out: &mut Vec<Event>,
    ) {
        for f in self.scans.touch(now, p.src, p.dst, proto, p.dport, closed) {
            let e = event(p, decky, EventKind::Scan).with("protocol", proto.as_str());
            out.push(match f {
                ScanFinding::ClosedPort { proto } => {
                    let e = e.with(
                        EVENT_TYPE,
                        match proto {
                            Proto::Tcp => "syn_closed_port",
                            Proto::Udp => "udp_probe",
                        },
                    );
                    if proto == Proto::Udp {
                        e.with("payload_len", p.payload.len())
                    } else {
                        e
                    }
                }
                ScanFinding::Sweep {
                    ports,
                    deckies,
                    closed,
                    sample_ports,
                } => e
                    .with(EVENT_TYPE, "port_sweep")
                    .with("ports_touched", ports)
                    .with("deckies_touched", deckies)
                    .with("closed_probes", closed)
                    .with(
                        "sample_ports",
                        Value::from(
                            sample_ports
                                .into_iter()
                                .map(Value::from)
                                .collect::<Vec<_>>(),
                        ),
                    ),
            });
        }
    }
}

fn key(p: &Packet<'_>) -> FlowKey {
    FlowKey {
        src: p.src,
        sport: p.sport,
        dst: p.dst,
        dport: p.dport,
    }
}

fn event(p: &Packet<'_>, decky: &DeckyPorts, kind: EventKind) -> Event {
    let mut e = Event::new(&decky.name, SERVICE, kind);
    e.src_ip = p.src;
    e.src_port = p.sport;
    e.dst_ip = p.dst;
    e.dst_port = p.dport;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_bytes_are_told_apart() {
        assert!(matches!(read_client(b"SS"), Verdict::More));
        assert!(matches!(read_client(b"SX"), Verdict::Nothing));
        assert!(matches!(
            read_client(b"GET / HTTP/1.1\r\n"),
            Verdict::Nothing
        ));
        assert!(matches!(read_client(b"SSH-2.0-x"), Verdict::More));
        assert!(matches!(read_client(&[0x16, 3, 1, 0]), Verdict::More));
        assert!(matches!(
            read_client(&[0x16, 9, 9, 0, 5, 0, 0, 0, 0, 0]),
            Verdict::Nothing
        ));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut a = Analyzer::new(AnalyzerLimits::default(), OsTable::builtin());
        let mut v = FleetView::new();
        v.insert_summary("10.0.0.2".parse().expect("ip"), "d", ["tcp/22"]);
        let mut out = Vec::new();
        let mut seed = 0x1234_5678u32;
        for len in 0..600usize {
            let mut f: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            // Make some of them IPv4 TCP to the decky so deeper code runs.
            if len > 54 {
                f[12..14].copy_from_slice(&[8, 0]);
                f[14] = 0x45;
                f[23] = 6;
                f[30..34].copy_from_slice(&[10, 0, 0, 2]);
            }
            a.frame(Instant::now(), &f, &v, &mut out);
        }
        assert_eq!(a.counters().frames, 600);
    }
}
