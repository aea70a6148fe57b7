//! Scans seen as scans: probes of ports nothing listens on, and a source
//! touching many ports or many deckies within a window.
//!
//! Per source and window: the first few closed-port probes are reported
//! one by one (a single probe is worth seeing), the rest only counted; a
//! sweep is reported once when the source crosses the port or decky
//! threshold. Bounded: sources in an LRU, touches per source capped.

use std::collections::HashSet;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

/// Transport of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP (a SYN).
    Tcp,
    /// UDP (a datagram).
    Udp,
}

impl Proto {
    /// `tcp` / `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Thresholds and bounds of the scan tracker.
#[derive(Clone, Debug)]
pub struct ScanLimits {
    /// Length of a source's counting window.
    pub window: Duration,
    /// Closed-port probes reported individually per source, protocol and window.
    pub closed_reports: u32,
    /// Distinct (decky, port) pairs that make a sweep.
    pub sweep_ports: usize,
    /// Distinct deckies that make a sweep.
    pub sweep_deckies: usize,
    /// Sources tracked at once (least recently seen forgotten first).
    pub max_sources: usize,
    /// Distinct touches remembered per source and window.
    pub max_touches: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            window: Duration::from_secs(60),
            // A handful of probes are shown as such; past that a scan is
            // one sweep event, not thousands.
            closed_reports: 5,
            sweep_ports: 10,
            sweep_deckies: 3,
            max_sources: 4096,
            max_touches: 1024,
        }
    }
}

/// What a touch revealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanFinding {
    /// A probe of a port nothing listens on.
    ClosedPort {
        /// TCP SYN or UDP datagram.
        proto: Proto,
    },
    /// The source crossed a sweep threshold in this window.
    Sweep {
        /// Distinct (decky, port) pairs touched.
        ports: usize,
        /// Distinct deckies touched.
        deckies: usize,
        /// Probes of closed ports.
        closed: u32,
        /// Some of the ports (sorted, at most 32).
        sample_ports: Vec<u16>,
    },
}

#[derive(Debug)]
struct Source {
    since: Instant,
    touched: HashSet<(IpAddr, Proto, u16)>,
    deckies: HashSet<IpAddr>,
    /// Closed-port probes by protocol (TCP, UDP).
    closed: [u32; 2],
    swept: bool,
}

impl Source {
    fn new(now: Instant) -> Source {
        Source {
            since: now,
            touched: HashSet::new(),
            deckies: HashSet::new(),
            closed: [0; 2],
            swept: false,
        }
    }
}

/// Per-source probe accounting.
#[derive(Debug)]
pub struct ScanTracker {
    limits: ScanLimits,
    sources: LruCache<IpAddr, Source>,
}

impl ScanTracker {
    /// A tracker with these limits.
    pub fn new(limits: ScanLimits) -> ScanTracker {
        let cap = NonZeroUsize::new(limits.max_sources.max(1)).unwrap_or(NonZeroUsize::MIN);
        ScanTracker {
            limits,
            sources: LruCache::new(cap),
        }
    }

    /// Records that `src` sent a SYN/datagram to `decky`'s `port`;
    /// `closed` when nothing listens there.
    pub fn touch(
        &mut self,
        now: Instant,
        src: IpAddr,
        decky: IpAddr,
        proto: Proto,
        port: u16,
        closed: bool,
    ) -> Vec<ScanFinding> {
        let limits = &self.limits;
        let s = self.sources.get_or_insert_mut(src, || Source::new(now));
        if now.duration_since(s.since) >= limits.window {
            *s = Source::new(now);
        }
        let mut out = Vec::new();
        let first = if s.touched.len() < limits.max_touches {
            s.touched.insert((decky, proto, port))
        } else {
            !s.touched.contains(&(decky, proto, port))
        };
        if s.deckies.len() < limits.max_touches {
            s.deckies.insert(decky);
        }
        if closed && first {
            let n = &mut s.closed[proto as usize];
            *n += 1;
            if *n <= limits.closed_reports {
                out.push(ScanFinding::ClosedPort { proto });
            }
        }
        let sweeping =
            s.touched.len() >= limits.sweep_ports || s.deckies.len() >= limits.sweep_deckies;
        if sweeping && !s.swept {
            s.swept = true;
            let mut ports: Vec<u16> = s.touched.iter().map(|t| t.2).collect();
            ports.sort_unstable();
            ports.dedup();
            ports.truncate(32);
            out.push(ScanFinding::Sweep {
                ports: s.touched.len(),
                deckies: s.deckies.len(),
                closed: s.closed.iter().sum(),
                sample_ports: ports,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_port_scan_is_a_few_closed_ports_then_one_sweep() {
        let mut t = ScanTracker::new(ScanLimits::default());
        let now = Instant::now();
        let mut closed = 0;
        let mut sweeps = Vec::new();
        for port in 1..=200u16 {
            for f in t.touch(
                now,
                ip("10.0.0.9"),
                ip("10.0.0.2"),
                Proto::Tcp,
                port,
                port != 22,
            ) {
                match f {
                    ScanFinding::ClosedPort { .. } => closed += 1,
                    s @ ScanFinding::Sweep { .. } => sweeps.push(s),
                }
            }
        }
        assert_eq!(closed, 5);
        assert_eq!(sweeps.len(), 1);
        let ScanFinding::Sweep { ports, deckies, .. } = &sweeps[0] else {
            unreachable!()
        };
        assert_eq!((*ports, *deckies), (10, 1));
        // Same port again is not a new closed probe.
        assert!(
            t.touch(now, ip("10.0.0.8"), ip("10.0.0.2"), Proto::Udp, 9, true)
                .len()
                == 1
        );
        assert!(t
            .touch(now, ip("10.0.0.8"), ip("10.0.0.2"), Proto::Udp, 9, true)
            .is_empty());
    }

    #[test]
    fn touching_many_deckies_is_a_sweep_and_windows_rearm() {
        let mut t = ScanTracker::new(ScanLimits::default());
        let now = Instant::now();
        let src = ip("10.0.0.9");
        assert!(t
            .touch(now, src, ip("10.0.0.2"), Proto::Tcp, 22, false)
            .is_empty());
        assert!(t
            .touch(now, src, ip("10.0.0.3"), Proto::Tcp, 22, false)
            .is_empty());
        let f = t.touch(now, src, ip("10.0.0.4"), Proto::Tcp, 22, false);
        assert!(
            matches!(f.as_slice(), [ScanFinding::Sweep { deckies: 3, .. }]),
            "{f:?}"
        );
        let later = now + Duration::from_secs(61);
        assert!(t
            .touch(later, src, ip("10.0.0.2"), Proto::Tcp, 22, false)
            .is_empty());
    }

    #[test]
    fn sources_are_bounded() {
        let limits = ScanLimits {
            max_sources: 16,
            ..ScanLimits::default()
        };
        let mut t = ScanTracker::new(limits);
        let now = Instant::now();
        for i in 0..1000u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.touch(now, src, ip("10.0.0.2"), Proto::Tcp, 1, true);
        }
        assert_eq!(t.sources.len(), 16);
    }
}
