//! The fleet file's `[canary]` section: where the canary receivers listen
//! and whether deckies get tokens planted. Absent section → canaries off.
//!
//! ```ini
//! [canary]
//! http = 127.0.0.1:8081          ; HTTP call-home listener
//! public_url = http://127.0.0.1:8081   ; how tokens name it (default http://<http>)
//! dns = 127.0.0.1:5354           ; DNS listener (UDP and TCP)
//! dns_zone = canary.example.test ; zone it is authoritative for
//! dns_answer = 127.0.0.1         ; A record of every name in the zone
//! plant = yes                    ; plant tokens into deckies by archetype
//! refresh = 5m                   ; safety-net re-read of every token (changes arrive as bus notices at once);
//!                                ; on a sensor: how often it asks the servers for tokens placed on its deckies
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::fleet::ValidationError;
use crate::parse::parse_duration;

/// Keys `[canary]` accepts.
pub const CANARY_KEYS: &[&str] = &[
    "http",
    "public_url",
    "dns",
    "dns_zone",
    "dns_answer",
    "plant",
    "refresh",
];

/// Default period of the safety-net re-read of every token: servers hear
/// each other's changes as bus notices at once, so this only repairs a
/// notice lost (a NATS outage, a full queue).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

/// A validated `[canary]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CanaryConfig {
    /// HTTP receiver listen address.
    pub http: Option<SocketAddr>,
    /// Base URL tokens carry (no trailing `/`); `http://<http>` by default.
    pub public_url: Option<String>,
    /// DNS receiver listen address (UDP and TCP).
    pub dns: Option<SocketAddr>,
    /// The zone the DNS receiver answers for.
    pub dns_zone: Option<String>,
    /// What every name in the zone resolves to.
    pub dns_answer: Option<Ipv4Addr>,
    /// Plant tokens into deckies by archetype when they are deployed.
    pub plant: bool,
    /// How often every token is re-read from the store, a safety net:
    /// servers sharing a store hear each other's token changes as bus
    /// notices at once.
    pub refresh: Duration,
    /// Line of the section header.
    pub line: usize,
}

impl CanaryConfig {
    /// The base URL tokens carry: `public_url`, else the HTTP listener's
    /// address (an unspecified bind address becomes loopback, which only
    /// makes sense for a demo: set `public_url` for real use).
    pub fn base_url(&self) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        match self.http {
            Some(a) if a.ip().is_unspecified() => format!("http://127.0.0.1:{}", a.port()),
            Some(a) => format!("http://{a}"),
            None => "http://127.0.0.1".to_owned(),
        }
    }

    /// The A record answer: `dns_answer`, else the DNS (or HTTP) listener's
    /// IPv4 address when it is a specific one, else loopback.
    pub fn answer(&self) -> Ipv4Addr {
        if let Some(a) = self.dns_answer {
            return a;
        }
        [self.dns, self.http]
            .into_iter()
            .flatten()
            .find_map(|a| match a.ip() {
                IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
                _ => None,
            })
            .unwrap_or(Ipv4Addr::LOCALHOST)
    }
}

fn err(line: usize, message: String) -> ValidationError {
    ValidationError { line, message }
}

fn yes_no(v: &str) -> Option<bool> {
    crate::parse::parse_bool(v)
}

/// A DNS zone name: dot-separated labels of letters, digits and `-`,
/// each 1–63 characters, 253 in all, at least two labels.
fn valid_zone(z: &str) -> bool {
    let z = z.trim_end_matches('.');
    z.len() <= 253
        && z.split('.').count() >= 2
        && z.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn address(
    key: &str,
    v: &str,
    line: usize,
    errors: &mut Vec<ValidationError>,
) -> Option<SocketAddr> {
    match v.parse::<SocketAddr>() {
        Ok(a) if a.port() != 0 => Some(a),
        _ => {
            errors.push(err(
                line,
                format!("{key} = '{v}' is not an address with a port like 127.0.0.1:8081"),
            ));
            None
        }
    }
}

/// Parses `[canary]` entries (`(key, value, line)`); every problem is
/// reported with its line.
pub fn parse(
    section_line: usize,
    entries: &[(String, String, usize)],
) -> Result<CanaryConfig, Vec<ValidationError>> {
    let mut errors = Vec::new();
    let mut c = CanaryConfig {
        http: None,
        public_url: None,
        dns: None,
        dns_zone: None,
        dns_answer: None,
        plant: false,
        refresh: DEFAULT_REFRESH,
        line: section_line,
    };
    let mut zone_line = section_line;
    for (k, v, line) in entries {
        let line = *line;
        match k.as_str() {
            "http" => c.http = address("http", v, line, &mut errors),
            "dns" => c.dns = address("dns", v, line, &mut errors),
            "public_url" => {
                let rest = v
                    .strip_prefix("http://")
                    .or_else(|| v.strip_prefix("https://"));
                match rest {
                    Some(r) if !r.is_empty() && !r.contains(char::is_whitespace) => {
                        c.public_url = Some(v.trim_end_matches('/').to_owned())
                    }
                    _ => errors.push(err(
                        line,
                        format!("public_url = '{v}' must be an http:// or https:// URL"),
                    )),
                }
            }
            "dns_zone" => {
                zone_line = line;
                if valid_zone(v) {
                    c.dns_zone = Some(v.trim_end_matches('.').to_ascii_lowercase());
                } else {
                    errors.push(err(
                        line,
                        format!("dns_zone = '{v}' is not a DNS zone like canary.example.com"),
                    ));
                }
            }
            "dns_answer" => match v.parse::<Ipv4Addr>() {
                Ok(a) => c.dns_answer = Some(a),
                Err(_) => errors.push(err(
                    line,
                    format!("dns_answer = '{v}' is not an IPv4 address"),
                )),
            },
            "plant" => match yes_no(v) {
                Some(b) => c.plant = b,
                None => errors.push(err(line, format!("plant = '{v}' must be yes or no"))),
            },
            "refresh" => match parse_duration(v) {
                Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(3600) => {
                    c.refresh = d
                }
                _ => errors.push(err(
                    line,
                    format!("refresh = '{v}' must be a duration between 1s and 1h"),
                )),
            },
            other => errors.push(err(
                line,
                format!(
                    "unknown key '{other}' in [canary]; valid keys: {}",
                    CANARY_KEYS.join(", ")
                ),
            )),
        }
    }
    let has = |key: &str| entries.iter().any(|(k, _, _)| k == key);
    if has("dns") && !has("dns_zone") {
        errors.push(err(
            section_line,
            "[canary] dns = needs dns_zone = (the zone it answers for)".into(),
        ));
    }
    if has("dns_zone") && !has("dns") {
        errors.push(err(
            zone_line,
            "[canary] dns_zone = needs dns = ADDR (where the DNS receiver listens)".into(),
        ));
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parse::test_entries as entries;

    #[test]
    fn a_full_section_parses_and_derives_urls() {
        let c = parse(
            1,
            &entries(&[
                ("http", "0.0.0.0:8081"),
                ("dns", "127.0.0.2:5354"),
                ("dns_zone", "Canary.Example.TEST."),
                ("plant", "yes"),
                ("refresh", "30s"),
            ]),
        )
        .unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:8081");
        assert_eq!(c.dns_zone.as_deref(), Some("canary.example.test"));
        assert_eq!(c.answer(), Ipv4Addr::new(127, 0, 0, 2));
        assert!(c.plant);
        assert_eq!(c.refresh, Duration::from_secs(30));
        let c = parse(
            1,
            &entries(&[
                ("http", "10.0.0.5:80"),
                ("public_url", "https://cdn.example.com/"),
            ]),
        )
        .unwrap();
        assert_eq!(c.base_url(), "https://cdn.example.com");
        assert!(!c.plant, "planting is opt-in");
    }

    #[test]
    fn every_bad_value_is_reported_on_its_line() {
        let e = parse(
            1,
            &entries(&[
                ("http", "localhost"),
                ("dns_zone", "bad_zone"),
                ("plant", "maybe"),
                ("colour", "red"),
                ("public_url", "ftp://x"),
            ]),
        )
        .unwrap_err();
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 3], "{e:?}");
        assert!(e[3].message.contains("valid keys: http"));
        assert!(e[5].message.contains("needs dns = ADDR"));
    }

    #[test]
    fn the_fleet_file_carries_the_section_or_its_errors_with_lines() {
        let ok = "[general]\nnet = 127.0.50.0/24\n[canary]\nhttp = 127.0.0.1:8081\n[a]\nservices = ssh\n";
        let (fleet, _) = crate::fleet::parse_str(ok).unwrap();
        assert_eq!(
            fleet.canary.unwrap().http,
            Some("127.0.0.1:8081".parse().unwrap())
        );
        let none = "[general]\nnet = 127.0.50.0/24\n[a]\nservices = ssh\n";
        assert!(
            crate::fleet::parse_str(none).unwrap().0.canary.is_none(),
            "off without the section"
        );
        let bad =
            "[general]\nnet = 127.0.50.0/24\n[canary]\ndns = 127.0.0.1:53\n[a]\nservices = ssh\n";
        let report = crate::fleet::parse_str(bad).unwrap_err();
        assert_eq!(
            report.render("f.ini"),
            "f.ini:3: [canary] dns = needs dns_zone = (the zone it answers for)\n"
        );
    }
}
