//! Tarpit ports of a decky: `tarpit = ssh:22, http:8080, tcp:445`.
//!
//! A tarpit holds an attacker's connection open for as long as the
//! attacker's client is willing to wait, spending almost nothing on it:
//! an endless SSH pre-banner, an HTTP response trickled a few bytes at a
//! time, or a TCP connection that is accepted and never read.

use serde::Serialize;

/// Seconds between two trickles when `tarpit_interval` is not given
/// (endlessh's default: long enough to cost nothing, short enough that
/// clients with a read timeout of their own keep waiting).
pub const DEFAULT_INTERVAL_SECS: u32 = 10;
/// Longest `tarpit_interval` accepted.
pub const MAX_INTERVAL_SECS: u32 = 3600;

/// The first of `services` that listens on `port`/tcp, which a tarpit on
/// that port would fight for (a tarpit takes its port instead of a
/// service: both cannot bind it).
pub fn service_on_port<S: AsRef<str>>(services: &[S], port: u16) -> Option<&'static str> {
    services.iter().find_map(|s| {
        crate::catalog::service(s.as_ref())
            .filter(|info| info.ports.contains(&(crate::catalog::Transport::Tcp, port)))
            .map(|info| info.name)
    })
}

/// How a tarpit holds a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TarpitKind {
    /// endlessh: a random line that does not start with `SSH-`, every
    /// interval, forever; the client keeps waiting for the version line.
    Ssh,
    /// An HTTP response whose status line and headers arrive a few bytes
    /// per interval and never end.
    Http,
    /// Accepted and never read, behind a tiny receive buffer, so the
    /// peer's send window closes and its writes stall.
    Tcp,
}

impl TarpitKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [TarpitKind; 3] = [TarpitKind::Ssh, TarpitKind::Http, TarpitKind::Tcp];

    /// INI / event name.
    pub fn as_str(self) -> &'static str {
        match self {
            TarpitKind::Ssh => "ssh",
            TarpitKind::Http => "http",
            TarpitKind::Tcp => "tcp",
        }
    }

    /// Parses an INI name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One tarpitted TCP port of a decky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TarpitSpec {
    /// How connections are held.
    pub kind: TarpitKind,
    /// Nominal TCP port (the decky's port offset applies, as for services).
    pub port: u16,
}

/// Parses the value of `tarpit =`: comma-separated `kind:port` entries.
/// Returns the entries that parsed and one message per bad entry.
pub fn parse_list(value: &str) -> (Vec<TarpitSpec>, Vec<String>) {
    let mut specs: Vec<TarpitSpec> = Vec::new();
    let mut errors = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match parse_entry(entry) {
            Ok(spec) if specs.iter().any(|s| s.port == spec.port) => {
                errors.push(format!("tarpit port {} is given twice", spec.port));
            }
            Ok(spec) => specs.push(spec),
            Err(e) => errors.push(e),
        }
    }
    if specs.is_empty() && errors.is_empty() {
        errors.push(
            "tarpit = is empty; give kind:port entries like ssh:22, http:8080, tcp:445".into(),
        );
    }
    (specs, errors)
}

fn parse_entry(entry: &str) -> Result<TarpitSpec, String> {
    let kinds = || {
        TarpitKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((kind, port)) = entry.split_once(':') else {
        return Err(format!(
            "tarpit entry '{entry}' is not kind:port (kinds: {})",
            kinds()
        ));
    };
    let kind = TarpitKind::parse(&kind.trim().to_ascii_lowercase()).ok_or_else(|| {
        format!(
            "unknown tarpit kind '{}'; valid kinds: {}",
            kind.trim(),
            kinds()
        )
    })?;
    match port.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(TarpitSpec { kind, port }),
        _ => Err(format!(
            "tarpit port '{}' is not a TCP port (1–65535)",
            port.trim()
        )),
    }
}

/// Parses `tarpit_interval =` (whole seconds).
pub fn parse_interval(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_INTERVAL_SECS).contains(&n) => Ok(n),
        _ => Err(format!(
            "tarpit_interval = '{value}' must be a whole number of seconds (1–{MAX_INTERVAL_SECS})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_of_every_kind_parses_in_order() {
        let (specs, errors) = parse_list("ssh:22, HTTP:8080 ,tcp:445");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            specs,
            vec![
                TarpitSpec {
                    kind: TarpitKind::Ssh,
                    port: 22
                },
                TarpitSpec {
                    kind: TarpitKind::Http,
                    port: 8080
                },
                TarpitSpec {
                    kind: TarpitKind::Tcp,
                    port: 445
                },
            ]
        );
    }

    #[test]
    fn bad_entries_are_reported_and_good_ones_kept() {
        let (specs, errors) = parse_list("ssh:22, smtp:25, tcp:0, http, tcp:22");
        assert_eq!(
            specs,
            vec![TarpitSpec {
                kind: TarpitKind::Ssh,
                port: 22
            }]
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("unknown tarpit kind 'smtp'"));
        assert!(errors[1].contains("'0'"));
        assert!(errors[2].contains("not kind:port"));
        assert!(errors[3].contains("22 is given twice"));
    }

    #[test]
    fn empty_list_is_an_error() {
        let (specs, errors) = parse_list(" , ");
        assert!(specs.is_empty());
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn interval_bounds() {
        assert_eq!(parse_interval("10"), Ok(10));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("3601").is_err());
        assert!(parse_interval("ten").is_err());
    }
}
