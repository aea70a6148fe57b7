//! `scanning` by probes (fallback): an address that only looked — banner
//! grabs, connections closed without a word, single requests, probe text
//! a service took for a login, at most one command (nmap's redis probe is
//! `info`) — and never tried a credential or a file. Internet-wide
//! scanners (masscan, zgrab, Shodan/Censys crawlers) and `nmap -sV`
//! against one port look exactly like this.
//! Asked only when no other rule matched: a beacon or brute force that
//! also sent a probe is still that.

use super::{interactive, scan_pace, Measures, Rule};

/// The rule.
pub struct Probe;

impl Rule for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn fallback(&self) -> bool {
        true
    }

    fn check(&self, m: &Measures) -> Option<(&'static str, String)> {
        let worked =
            m.auth_attempts > 0 || m.commands >= interactive::MIN_COMMANDS || m.artifacts > 0;
        let looked = m.quiet_sessions > 0 || m.requests > 0 || m.probe_lines > 0 || m.commands > 0;
        if worked || !looked {
            return None;
        }
        let (class, pace) = scan_pace(m);
        Some((
            class,
            format!(
                "reconnaissance only: sessions={} quiet_sessions={} requests={} probe_lines={} commands={}, no credentials or files, and {pace}",
                m.sessions, m.quiet_sessions, m.requests, m.probe_lines, m.commands
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looking_without_working_is_a_probe() {
        let banner_grab = Measures {
            sessions: 1,
            quiet_sessions: 1,
            ..Default::default()
        };
        assert_eq!(Probe.check(&banner_grab).unwrap().0, "scanning");
        let one_get = Measures {
            sessions: 1,
            requests: 1,
            ..Default::default()
        };
        assert_eq!(Probe.check(&one_get).unwrap().0, "scanning");
        let redis_info = Measures {
            sessions: 1,
            commands: 1,
            ..Default::default()
        };
        assert_eq!(Probe.check(&redis_info).unwrap().0, "scanning");
        let login = Measures {
            sessions: 1,
            auth_attempts: 1,
            ..Default::default()
        };
        assert!(Probe.check(&login).is_none());
        assert!(Probe.check(&Measures::default()).is_none());
    }
}
