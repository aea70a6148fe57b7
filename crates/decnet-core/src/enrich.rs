//! `[enrich]`: optional online enrichment of attacker addresses with the
//! user's own reputation-service keys.
//!
//! ```ini
//! [enrich]
//! abuseipdb_key = env:ABUSEIPDB_KEY      ; or file:/etc/decnet/abuseipdb.key, or the key
//! greynoise_key = file:/etc/decnet/greynoise.key
//! ttl = 24h                              ; an answer is asked again after this
//! rate = 10                              ; lookups per minute, per provider
//! timeout = 5s                           ; per lookup
//! ```
//!
//! A provider is asked only when its key is given: no key, no outbound
//! connection. Keys are kept as written here and resolved (`env:`/`file:`)
//! by whoever starts the lookups, so parsing a fleet file (the API's
//! deploy endpoint does) never reads the environment or a file on a
//! caller's behalf. `abuseipdb_url` / `greynoise_url` replace the public
//! endpoints (a proxy, or a local stand-in in tests).

use std::time::Duration;

use serde::Serialize;

use crate::fleet::ValidationError;
use crate::parse::parse_duration;
use crate::secret::Secret;

/// AbuseIPDB's API root (`/api/v2/check` is appended).
pub const ABUSEIPDB_URL: &str = "https://api.abuseipdb.com";
/// GreyNoise's API root (`/v3/community/{ip}` is appended).
pub const GREYNOISE_URL: &str = "https://api.greynoise.io";
/// Default answer lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default lookups per minute per provider: AbuseIPDB's free plan allows
/// 1,000 checks a day and GreyNoise's community API fewer, so a burst of
/// new addresses must not spend a day's quota in minutes.
pub const DEFAULT_RATE: u32 = 10;
/// Most lookups per minute accepted.
pub const MAX_RATE: u32 = 600;
/// Default per-lookup timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest per-lookup timeout accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// A secret as the fleet file wrote it (`env:NAME`, `file:PATH` or the
/// value), with its line for errors found when it is resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WrittenSecret {
    /// As written; printed redacted.
    pub written: Secret,
    /// Its line.
    pub line: usize,
}

impl WrittenSecret {
    /// Reads it ([`crate::secret::resolve`]); the error names no value.
    pub fn resolve(&self) -> Result<Secret, String> {
        crate::secret::resolve(self.written.expose())
    }
}

/// The `[enrich]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnrichConfig {
    /// AbuseIPDB API key: AbuseIPDB is asked only when set.
    pub abuseipdb_key: Option<WrittenSecret>,
    /// GreyNoise API key: GreyNoise's community API is asked only when set.
    pub greynoise_key: Option<WrittenSecret>,
    /// AbuseIPDB's API root.
    pub abuseipdb_url: String,
    /// GreyNoise's API root.
    pub greynoise_url: String,
    /// How long an answer is reused before the address is asked again.
    pub ttl: Duration,
    /// Lookups per minute, per provider.
    pub rate: u32,
    /// Per-lookup timeout.
    pub timeout: Duration,
    /// The section's line.
    pub line: usize,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            abuseipdb_key: None,
            greynoise_key: None,
            abuseipdb_url: ABUSEIPDB_URL.into(),
            greynoise_url: GREYNOISE_URL.into(),
            ttl: DEFAULT_TTL,
            rate: DEFAULT_RATE,
            timeout: DEFAULT_TIMEOUT,
            line: 0,
        }
    }
}

/// Keys `[enrich]` knows.
const KEYS: &str = "abuseipdb_key, greynoise_key, abuseipdb_url, greynoise_url, ttl, rate, timeout";

/// Parses the `[enrich]` section (`line`: its header's line).
pub fn parse(
    line: usize,
    entries: &[(String, String, usize)],
) -> Result<EnrichConfig, Vec<ValidationError>> {
    let mut c = EnrichConfig {
        line,
        ..EnrichConfig::default()
    };
    let mut errors = Vec::new();
    let mut err = |line: usize, message: String| errors.push(ValidationError { line, message });
    for (k, v, l) in entries {
        let v = v.trim();
        match k.as_str() {
            "abuseipdb_key" | "greynoise_key" => {
                // Never echo the value: it may be the key itself.
                if v.is_empty() || v == "env:" || v == "file:" {
                    err(
                        *l,
                        format!("[enrich] {k} is empty: give env:NAME, file:PATH or the key"),
                    );
                    continue;
                }
                let s = Some(WrittenSecret {
                    written: Secret::new(v),
                    line: *l,
                });
                if k == "abuseipdb_key" {
                    c.abuseipdb_key = s;
                } else {
                    c.greynoise_key = s;
                }
            }
            "abuseipdb_url" | "greynoise_url" => match http_root(v) {
                Some(u) if k == "abuseipdb_url" => c.abuseipdb_url = u,
                Some(u) => c.greynoise_url = u,
                None => err(
                    *l,
                    format!("[enrich] {k} = {v:?}: expected an http:// or https:// URL"),
                ),
            },
            "ttl" => match parse_duration(v) {
                Some(d) if d >= Duration::from_secs(1) => c.ttl = d,
                _ => err(
                    *l,
                    format!("[enrich] ttl = {v:?}: expected a duration of at least 1s (24h, 30m)"),
                ),
            },
            "rate" => match v.parse::<u32>() {
                Ok(n) if (1..=MAX_RATE).contains(&n) => c.rate = n,
                _ => err(
                    *l,
                    format!("[enrich] rate = {v:?}: expected lookups per minute, 1-{MAX_RATE}"),
                ),
            },
            "timeout" => match parse_duration(v) {
                Some(d) if !d.is_zero() && d <= MAX_TIMEOUT => c.timeout = d,
                _ => err(
                    *l,
                    format!("[enrich] timeout = {v:?}: expected a duration up to 60s (5s, 500ms)"),
                ),
            },
            _ => err(*l, format!("[enrich]: unknown key {k:?} (known: {KEYS})")),
        }
    }
    if c.abuseipdb_key.is_none() && c.greynoise_key.is_none() {
        err(
            line,
            "[enrich] needs abuseipdb_key or greynoise_key (or both): no provider is asked without a key".into(),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(c)
}

/// `http(s)://host[:port][/path]` without a trailing slash, or `None`.
fn http_root(v: &str) -> Option<String> {
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    let bad = host.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '?' || c == '#');
    (!bad).then(|| v.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parse::section_entries as entries;

    #[test]
    fn defaults_and_given_values() {
        let c = parse(1, &entries(&[("abuseipdb_key", "env:ABUSE")])).expect("valid");
        assert_eq!(c.abuseipdb_url, ABUSEIPDB_URL);
        assert_eq!(c.greynoise_url, GREYNOISE_URL);
        assert_eq!(
            (c.ttl, c.rate, c.timeout),
            (DEFAULT_TTL, DEFAULT_RATE, DEFAULT_TIMEOUT)
        );
        assert!(c.greynoise_key.is_none());
        assert_eq!(c.abuseipdb_key.as_ref().map(|k| k.line), Some(2));
        let c = parse(
            1,
            &entries(&[
                ("greynoise_key", "inline-secret-value"),
                ("greynoise_url", "http://127.0.0.1:9000/"),
                ("ttl", "30m"),
                ("rate", "60"),
                ("timeout", "500ms"),
            ]),
        )
        .expect("valid");
        assert_eq!(c.greynoise_url, "http://127.0.0.1:9000");
        assert_eq!(c.ttl, Duration::from_secs(1800));
        assert_eq!(c.rate, 60);
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(
            c.greynoise_key.as_ref().map(|k| k.resolve()),
            Some(Ok(Secret::new("inline-secret-value")))
        );
        // Printed or serialised, the key is redacted.
        assert!(!format!("{c:?}").contains("inline-secret-value"));
        assert!(!serde_json::to_string(&c)
            .expect("json")
            .contains("inline-secret-value"));
    }

    #[test]
    fn bad_sections_say_what_is_wrong_where_without_the_key() {
        let e = parse(
            7,
            &entries(&[
                ("abuseipdb_key", ""),
                ("rate", "0"),
                ("ttl", "soon"),
                ("timeout", "2m"),
                ("greynoise_url", "ftp://x"),
                ("abuse_key", "k"),
            ]),
        )
        .expect_err("invalid");
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 7]);
        assert!(e[5].message.contains("unknown key"), "{e:?}");
        // No key at all: said on the section's line.
        let e = parse(7, &entries(&[("rate", "5")])).expect_err("no key");
        assert_eq!(e[0].line, 7);
        assert!(e[0].message.contains("abuseipdb_key"), "{e:?}");
    }
}
