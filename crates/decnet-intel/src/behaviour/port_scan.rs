//! `scanning` / `slow_scan` by ports: connections to several ports or
//! deckies that closed without protocol data.

use super::{scan_pace, Measures, Rule};

/// Distinct ports (or deckies) that make a sweep. A decky runs two to
/// four services; `nmap -sT` or the connect phase of `nmap -sV` touches
/// every open one, masscan `-p22` a port across every decky. A person
/// reaches one service, sometimes two (ssh and the web page).
pub const MIN_TARGETS: u64 = 3;
/// …of which this many sessions closed after the banner or without a word
/// (nmap's `-sS` half-open probes never complete a handshake and reach no
/// service; its `-sV` and `-sT` ones do, and close like this).
pub const MIN_QUIET_SESSIONS: u64 = 3;
/// Distinct ports that are a scan whatever the sessions carried: no
/// client talks to ten services of a fleet.
pub const WIDE_PORTS: u64 = 10;

/// The rule.
pub struct PortScan;

impl Rule for PortScan {
    fn name(&self) -> &'static str {
        "port_scan"
    }

    fn check(&self, m: &Measures) -> Option<(&'static str, String)> {
        let swept = (m.ports >= MIN_TARGETS || m.deckies >= MIN_TARGETS)
            && m.quiet_sessions >= MIN_QUIET_SESSIONS;
        if !swept && m.ports < WIDE_PORTS {
            return None;
        }
        let (class, pace) = scan_pace(m);
        Some((
            class,
            format!(
                "distinct_ports={} distinct_deckies={} quiet_sessions={} ({MIN_TARGETS}+ targets, {MIN_QUIET_SESSIONS}+ quiet, or {WIDE_PORTS}+ ports) and {pace}",
                m.ports, m.deckies, m.quiet_sessions
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(ports: u64, deckies: u64, quiet: u64, gap: f64) -> Measures {
        Measures {
            ports,
            deckies,
            quiet_sessions: quiet,
            sessions: quiet,
            probes: quiet.max(ports),
            mean_gap_s: gap,
            ..Default::default()
        }
    }

    #[test]
    fn thresholds() {
        // (ports, deckies, quiet sessions, mean gap, class)
        let table = [
            (3, 1, 3, 0.2, Some("scanning")),     // nmap -sV on one decky
            (1, 5, 5, 0.01, Some("scanning")),    // masscan -p22 over the fleet
            (20, 1, 20, 15.0, Some("slow_scan")), // nmap -T1
            (12, 1, 0, 0.5, Some("scanning")),    // wide, whatever happened
            (2, 1, 2, 0.2, None),                 // ssh + web page
            (3, 1, 1, 0.2, None),                 // three services used for real
        ];
        for (p, d, q, gap, want) in table {
            assert_eq!(
                PortScan.check(&scan(p, d, q, gap)).map(|x| x.0),
                want,
                "{p} ports {d} deckies {q} quiet {gap}s"
            );
        }
    }
}
