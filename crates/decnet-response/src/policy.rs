//! Ban policy: the `[response]` section of the fleet file.
//!
//! Keys (all optional; unknown keys are an error so typos do not silently
//! disable a ban rule):
//!
//! | key | example | meaning |
//! |---|---|---|
//! | `ban_on` | `auth_attempt, events:20/60, services:ssh\|telnet, identity` | triggers, any of which bans the source: `auth_attempt` (any credential presented), `events:N/T` (N events from one source within T seconds), `services:a\|b` (any event on those services), `kinds:command\|file_upload` (any event of those kinds), `any` (any event at all), `identity` (ban every IP of a formed identity). Default `auth_attempt`. |
//! | `duration` | `1h` | first ban length (`s`, `m`, `h`, `d`, `w` suffixes; bare number = seconds). Default `1h`. |
//! | `escalation` | `2x` | multiplier per repeat offence (`1x` = none). Default `2x`. |
//! | `max_duration` | `7d` | cap on escalated bans. Default `7d`. |
//! | `allowlist` | `10.0.0.0/8, 192.0.2.7` | CIDRs never banned. |
//! | `allowlist_defaults` | `true` | also never ban the host's own addresses (every interface address plus 127.0.0.1 and ::1) and clients of the API. Default `true`. |
//! | `dry_run` | `true` | record decisions without enforcing them. Default `false`. |
//! | `backends` | `blocklist, nftables, fail2ban, crowdsec` | enforcement backends. Default `blocklist, crowdsec`. |
//! | `nft_table` | `decnet` | table name (family `inet`); decnet only ever touches this table. |
//! | `nft_set` | `banned` | set name prefix: sets `<set>4` (ipv4) and `<set>6` (ipv6). |
//! | `nft_chain` | `true` | create an `input` chain in that table dropping the sets' members. |
//! | `nft_binary` | `nft` | the `nft` executable. |
//! | `fail2ban_jail` | `decnet` | jail for `banip`/`unbanip`. |
//! | `fail2ban_client` | `fail2ban-client` | the client executable. |
//! | `fail2ban_socket` | `/run/fail2ban/fail2ban.sock` | socket passed with `-s` (default: the client's own). |
//! | `probe_interval` | `10s` | backend health probe period. |
//! | `crash_window` | `60s` | an activation followed by the backend going offline within this window is an activation crash (`pending_recovery`). |
//! | `command_timeout` | `5s` | limit for each `nft`/`fail2ban-client` run. |
//! | `lapi_listen` | `127.0.0.1:8081` | serve the CrowdSec bouncer endpoints (`/v1/decisions…`) on their own listener. |
//! | `bouncer_key` | `name:SECRET` | a bouncer API key from the fleet file (more can be created over the API). Write-only through the API: shown as `name:********`; an edit without this key, or with an entry's secret given as `********`, keeps the stored secret; an empty value removes them. |
//! | `blocklist_file` | `/var/lib/decnet/blocklist.txt` | also write the blocklist to this file on every change. |

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use decnet_core::EventKind;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A policy error, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[response] {key}: {message}")]
pub struct PolicyError {
    /// Offending key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn perr(key: &str, message: impl Into<String>) -> PolicyError {
    PolicyError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// One ban trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Any `auth_attempt` event.
    AuthAttempt,
    /// `count` events from one source within `window`.
    Rate {
        /// Events needed.
        count: u32,
        /// Sliding window.
        window: Duration,
    },
    /// Any event on one of these services.
    Services(Vec<String>),
    /// Any event of one of these kinds.
    Kinds(Vec<EventKind>),
    /// Any event.
    Any,
    /// Every IP of a formed identity.
    Identity,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::AuthAttempt => f.write_str("auth_attempt"),
            Trigger::Rate { count, window } => write!(f, "events:{count}/{}", window.as_secs()),
            Trigger::Services(s) => write!(f, "services:{}", s.join("|")),
            Trigger::Kinds(k) => {
                let k: Vec<&str> = k.iter().map(|k| k.as_str()).collect();
                write!(f, "kinds:{}", k.join("|"))
            }
            Trigger::Any => f.write_str("any"),
            Trigger::Identity => f.write_str("identity"),
        }
    }
}

/// Enforcement backend kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// In-memory blocklist served as text.
    Blocklist,
    /// `inet <table>` nftables sets.
    Nftables,
    /// `fail2ban-client set JAIL banip`.
    Fail2ban,
    /// CrowdSec-compatible decisions API for bouncers.
    Crowdsec,
}

impl BackendKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Blocklist => "blocklist",
            BackendKind::Nftables => "nftables",
            BackendKind::Fail2ban => "fail2ban",
            BackendKind::Crowdsec => "crowdsec",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "blocklist" => Some(BackendKind::Blocklist),
            "nftables" | "nft" => Some(BackendKind::Nftables),
            "fail2ban" => Some(BackendKind::Fail2ban),
            "crowdsec" => Some(BackendKind::Crowdsec),
            _ => None,
        }
    }
}

/// What the API shows in place of a secret.
pub const SECRET_MASK: &str = "********";

/// The parsed policy. `raw` keeps the key/values it came from (what the API
/// edits, and shows through [`Policy::redacted_raw`]). Its `Debug` output
/// masks secrets.
#[derive(Clone, PartialEq)]
pub struct Policy {
    /// Triggers, any of which bans.
    pub triggers: Vec<Trigger>,
    /// First ban length.
    pub duration: Duration,
    /// Multiplier per repeat offence (≥ 1).
    pub escalation: u32,
    /// Cap.
    pub max_duration: Duration,
    /// Never banned.
    pub allowlist: Vec<IpNet>,
    /// Add the host's addresses and API clients to the allowlist.
    pub allowlist_defaults: bool,
    /// Record without enforcing.
    pub dry_run: bool,
    /// Enabled backends.
    pub backends: Vec<BackendKind>,
    /// nftables table (family inet).
    pub nft_table: String,
    /// nftables set prefix.
    pub nft_set: String,
    /// Create the drop chain.
    pub nft_chain: bool,
    /// nft executable.
    pub nft_binary: String,
    /// fail2ban jail.
    pub fail2ban_jail: String,
    /// fail2ban-client executable.
    pub fail2ban_client: String,
    /// fail2ban socket.
    pub fail2ban_socket: Option<String>,
    /// Probe period.
    pub probe_interval: Duration,
    /// Activation-crash window.
    pub crash_window: Duration,
    /// Timeout for each shell-out.
    pub command_timeout: Duration,
    /// Separate listener for the bouncer endpoints.
    pub lapi_listen: Option<String>,
    /// Bouncer keys from the fleet file (`name`, secret).
    pub bouncer_keys: Vec<(String, String)>,
    /// File mirror of the blocklist.
    pub blocklist_file: Option<String>,
    /// The key/values this was parsed from.
    pub raw: BTreeMap<String, String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::parse(&BTreeMap::new()).expect("empty policy is valid")
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bouncer_names: Vec<&str> = self.bouncer_keys.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Policy")
            .field("triggers", &self.triggers)
            .field("duration", &self.duration)
            .field("escalation", &self.escalation)
            .field("max_duration", &self.max_duration)
            .field("allowlist", &self.allowlist)
            .field("allowlist_defaults", &self.allowlist_defaults)
            .field("dry_run", &self.dry_run)
            .field("backends", &self.backends)
            .field("nft_table", &self.nft_table)
            .field("nft_set", &self.nft_set)
            .field("nft_chain", &self.nft_chain)
            .field("nft_binary", &self.nft_binary)
            .field("fail2ban_jail", &self.fail2ban_jail)
            .field("fail2ban_client", &self.fail2ban_client)
            .field("fail2ban_socket", &self.fail2ban_socket)
            .field("probe_interval", &self.probe_interval)
            .field("crash_window", &self.crash_window)
            .field("command_timeout", &self.command_timeout)
            .field("lapi_listen", &self.lapi_listen)
            .field("bouncer_keys", &bouncer_names)
            .field("blocklist_file", &self.blocklist_file)
            .field("raw", &self.redacted_raw())
            .finish()
    }
}

/// The policy's key/values read one typed key at a time; blank values
/// count as absent.
struct RawPolicy<'a>(&'a BTreeMap<String, String>);

impl<'a> RawPolicy<'a> {
    fn get(&self, k: &str) -> Option<&'a str> {
        self.0.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    fn duration(&self, k: &str, default_secs: u64) -> Result<Duration, PolicyError> {
        match self.get(k) {
            None => Ok(Duration::from_secs(default_secs)),
            Some(v) => parse_duration(v)
                .ok_or_else(|| perr(k, format!("bad duration {v:?} (e.g. 30s, 5m, 1h, 7d)"))),
        }
    }

    /// A name used in backend commands: a token, nothing a shell could read.
    fn name(&self, k: &str, default: &str) -> Result<String, PolicyError> {
        let v = self.get(k).unwrap_or(default);
        if token_ok(v) {
            Ok(v.to_owned())
        } else {
            Err(perr(k, format!("{v:?}: letters, digits, '_' and '-' only")))
        }
    }

    fn flag(&self, k: &str, default: bool) -> Result<bool, PolicyError> {
        Ok(self
            .get(k)
            .map(|v| parse_bool(k, v))
            .transpose()?
            .unwrap_or(default))
    }

    fn escalation(&self) -> Result<u32, PolicyError> {
        let Some(v) = self.get("escalation") else {
            return Ok(2);
        };
        v.trim_end_matches(['x', 'X'])
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| perr("escalation", format!("{v:?}: expected 1x..100x")))
    }

    fn allowlist(&self) -> Result<Vec<IpNet>, PolicyError> {
        list(self.get("allowlist").unwrap_or(""))
            .map(|a| parse_net(a).ok_or_else(|| perr("allowlist", format!("bad CIDR {a:?}"))))
            .collect()
    }

    /// Enabled backends, each once, in the order given.
    fn backends(&self) -> Result<Vec<BackendKind>, PolicyError> {
        let mut backends = Vec::new();
        for b in list(self.get("backends").unwrap_or("blocklist, crowdsec")) {
            let k = BackendKind::parse(b)
                .ok_or_else(|| perr("backends", format!("unknown backend {b:?}")))?;
            if !backends.contains(&k) {
                backends.push(k);
            }
        }
        Ok(backends)
    }

    /// `NAME:SECRET` pairs, the secret at least 16 characters.
    fn bouncer_keys(&self) -> Result<Vec<(String, String)>, PolicyError> {
        let mut keys = Vec::new();
        for b in list(self.get("bouncer_key").unwrap_or("")) {
            let (n, k) = b
                .split_once(':')
                .ok_or_else(|| perr("bouncer_key", "expected NAME:SECRET"))?;
            if !token_ok(n.trim()) || k.trim().len() < 16 {
                return Err(perr(
                    "bouncer_key",
                    "NAME must be a token and SECRET at least 16 characters",
                ));
            }
            keys.push((n.trim().to_owned(), k.trim().to_owned()));
        }
        Ok(keys)
    }

    fn lapi_listen(&self) -> Result<Option<String>, PolicyError> {
        let Some(v) = self.get("lapi_listen") else {
            return Ok(None);
        };
        v.parse::<std::net::SocketAddr>()
            .map_err(|_| perr("lapi_listen", format!("{v:?}: expected ADDR:PORT")))?;
        Ok(Some(v.to_owned()))
    }
}

/// `raw` with the secret of every `bouncer_key` entry replaced by
/// [`SECRET_MASK`] (`fw0:********`).
pub fn redact(raw: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = raw.clone();
    if let Some(v) = out.get_mut("bouncer_key") {
        let masked: Vec<String> = list(v)
            .map(|entry| match entry.split_once(':') {
                Some((name, _)) => format!("{}:{SECRET_MASK}", name.trim()),
                None => SECRET_MASK.to_owned(),
            })
            .collect();
        *v = masked.join(", ");
    }
    out
}

/// An edit of the key/values with the secrets it does not restate taken
/// from `current`: without `bouncer_key` the current keys stay; an entry
/// whose secret is [`SECRET_MASK`] keeps that bouncer's current secret (an
/// error if there is none); an empty value removes them all.
pub fn keep_secrets(
    mut edit: BTreeMap<String, String>,
    current: &Policy,
) -> Result<BTreeMap<String, String>, PolicyError> {
    let Some(v) = edit.get("bouncer_key") else {
        if let Some(kept) = current.raw.get("bouncer_key") {
            edit.insert("bouncer_key".into(), kept.clone());
        }
        return Ok(edit);
    };
    let mut entries = Vec::new();
    for entry in list(v) {
        match entry.split_once(':') {
            Some((name, secret)) if secret.trim() == SECRET_MASK => {
                let name = name.trim();
                let (_, kept) = current
                    .bouncer_keys
                    .iter()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| {
                        perr(
                            "bouncer_key",
                            format!("{name:?} has no stored secret to keep; give NAME:SECRET"),
                        )
                    })?;
                entries.push(format!("{name}:{kept}"));
            }
            _ => entries.push(entry.to_owned()),
        }
    }
    edit.insert("bouncer_key".into(), entries.join(", "));
    Ok(edit)
}

/// The fleet file's duration syntax (`30`, `30s`, `5m`, `1h30m`, `7d`, `2w`,
/// see `decnet_core::parse`), capped so every ban duration stays
/// representable as a chrono offset (≤ ~100 years).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let d = decnet_core::parse::parse_duration(s)?;
    (d.as_secs() <= 100 * 365 * 86_400).then_some(d)
}

/// Parses an address or CIDR (`10.0.0.1`, `10.0.0.0/8`, `::1`).
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, PolicyError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(perr(key, format!("expected true or false, got {v:?}"))),
    }
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn token_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_trigger(t: &str) -> Result<Trigger, PolicyError> {
    let key = "ban_on";
    let (head, arg) = match t.split_once(':') {
        Some((h, a)) => (h.trim(), Some(a.trim())),
        None => (t, None),
    };
    match (head, arg) {
        ("auth_attempt", None) => Ok(Trigger::AuthAttempt),
        ("any", None) => Ok(Trigger::Any),
        ("identity", None) => Ok(Trigger::Identity),
        ("events", Some(a)) => {
            let (n, w) = a
                .split_once('/')
                .ok_or_else(|| perr(key, format!("{t:?}: expected events:N/SECONDS")))?;
            let count: u32 = n
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| perr(key, format!("{t:?}: N must be 1..100000")))?;
            let window = parse_duration(w)
                .filter(|d| !d.is_zero() && d.as_secs() <= 86_400)
                .ok_or_else(|| perr(key, format!("{t:?}: window must be 1s..1d")))?;
            Ok(Trigger::Rate { count, window })
        }
        ("services", Some(a)) => {
            let s: Vec<String> = a
                .split('|')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect();
            if s.iter().any(|s| !token_ok(s)) {
                return Err(perr(key, format!("{t:?}: bad service list")));
            }
            Ok(Trigger::Services(s))
        }
        ("kinds", Some(a)) => {
            let mut kinds = Vec::new();
            for k in a.split('|') {
                kinds.push(
                    EventKind::parse(k.trim())
                        .ok_or_else(|| perr(key, format!("{t:?}: unknown event kind {k:?}")))?,
                );
            }
            Ok(Trigger::Kinds(kinds))
        }
        _ => Err(perr(key, format!("unknown trigger {t:?}"))),
    }
}

const KEYS: &[&str] = &[
    "ban_on",
    "duration",
    "escalation",
    "max_duration",
    "allowlist",
    "allowlist_defaults",
    "dry_run",
    "backends",
    "nft_table",
    "nft_set",
    "nft_chain",
    "nft_binary",
    "fail2ban_jail",
    "fail2ban_client",
    "fail2ban_socket",
    "probe_interval",
    "crash_window",
    "command_timeout",
    "lapi_listen",
    "bouncer_key",
    "blocklist_file",
];

impl Policy {
    /// Parses the `[response]` key/values; reports the first bad key.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Policy, PolicyError> {
        for k in raw.keys() {
            if !KEYS.contains(&k.as_str()) {
                return Err(perr(k, "unknown key"));
            }
        }
        let r = RawPolicy(raw);
        let triggers = list(r.get("ban_on").unwrap_or("auth_attempt"))
            .map(parse_trigger)
            .collect::<Result<Vec<_>, _>>()?;
        let escalation = r.escalation()?;
        let allowlist = r.allowlist()?;
        let backends = r.backends()?;
        let bouncer_keys = r.bouncer_keys()?;
        let duration = r.duration("duration", 3600)?;
        if duration.is_zero() {
            return Err(perr("duration", "must be positive"));
        }
        let max_duration = r.duration("max_duration", 7 * 86_400)?.max(duration);
        let probe_interval = r
            .duration("probe_interval", 10)?
            .max(Duration::from_millis(200));
        let lapi_listen = r.lapi_listen()?;
        Ok(Policy {
            triggers,
            duration,
            escalation,
            max_duration,
            allowlist,
            allowlist_defaults: r.flag("allowlist_defaults", true)?,
            dry_run: r.flag("dry_run", false)?,
            backends,
            nft_table: r.name("nft_table", "decnet")?,
            nft_set: r.name("nft_set", "banned")?,
            nft_chain: r.flag("nft_chain", true)?,
            nft_binary: r.get("nft_binary").unwrap_or("nft").to_owned(),
            fail2ban_jail: r.name("fail2ban_jail", "decnet")?,
            fail2ban_client: r
                .get("fail2ban_client")
                .unwrap_or("fail2ban-client")
                .to_owned(),
            fail2ban_socket: r.get("fail2ban_socket").map(str::to_owned),
            probe_interval,
            crash_window: r.duration("crash_window", 60)?,
            command_timeout: r
                .duration("command_timeout", 5)?
                .max(Duration::from_secs(1)),
            lapi_listen,
            bouncer_keys,
            blocklist_file: r.get("blocklist_file").map(str::to_owned),
            raw: raw.clone(),
        })
    }

    /// The key/values as the API shows them: secrets masked.
    pub fn redacted_raw(&self) -> BTreeMap<String, String> {
        redact(&self.raw)
    }

    /// Ban length for the `offence`-th ban (1-based) of one source.
    pub fn ban_duration(&self, offence: u32) -> Duration {
        let mut d = self.duration.as_secs();
        let cap = self.max_duration.as_secs();
        for _ in 1..offence.max(1) {
            d = d.saturating_mul(self.escalation as u64);
            if d >= cap {
                return self.max_duration;
            }
        }
        Duration::from_secs(d.min(cap))
    }

    /// True if the policy bans on identities.
    pub fn bans_identities(&self) -> bool {
        self.triggers.contains(&Trigger::Identity)
    }

    /// The longest rate window (how long per-source counters are kept).
    pub fn longest_window(&self) -> Option<(u32, Duration)> {
        self.triggers
            .iter()
            .filter_map(|t| match t {
                Trigger::Rate { count, window } => Some((*count, *window)),
                _ => None,
            })
            .max_by_key(|(c, w)| (*w, *c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_documented_example() {
        let p = Policy::parse(&raw(&[
            (
                "ban_on",
                "auth_attempt, events:20/60, services:ssh|telnet, identity",
            ),
            ("duration", "1h"),
            ("escalation", "2x"),
            ("max_duration", "7d"),
            ("allowlist", "10.0.0.0/8, 192.0.2.7"),
            ("dry_run", "true"),
            ("backends", "blocklist, nftables, fail2ban, crowdsec"),
        ]))
        .unwrap();
        assert_eq!(p.triggers.len(), 4);
        assert_eq!(
            p.triggers[1],
            Trigger::Rate {
                count: 20,
                window: Duration::from_secs(60)
            }
        );
        assert_eq!(
            p.triggers[2],
            Trigger::Services(vec!["ssh".into(), "telnet".into()])
        );
        assert!(p.bans_identities());
        assert_eq!(p.duration, Duration::from_secs(3600));
        assert_eq!(p.max_duration, Duration::from_secs(7 * 86400));
        assert!(p.dry_run);
        assert_eq!(p.allowlist.len(), 2);
        assert_eq!(p.backends.len(), 4);
        assert_eq!(p.triggers[1].to_string(), "events:20/60");
    }

    #[test]
    fn rejects_bad_keys_and_values() {
        for (k, v) in [
            ("ban_onn", "auth_attempt"),
            ("ban_on", "events:0/60"),
            ("ban_on", "events:5"),
            ("ban_on", "kinds:nope"),
            ("ban_on", "bogus"),
            ("duration", "1y"),
            ("duration", "0"),
            ("escalation", "0x"),
            ("allowlist", "10.0.0.0/33"),
            ("backends", "iptables"),
            ("nft_table", "x; flush ruleset"),
            ("dry_run", "maybe"),
            ("lapi_listen", "nowhere"),
            ("bouncer_key", "short:abc"),
        ] {
            let e = Policy::parse(&raw(&[(k, v)])).unwrap_err();
            assert_eq!(e.key, k, "{k}={v}");
        }
    }

    #[test]
    fn escalation_doubles_and_caps() {
        let p = Policy::parse(&raw(&[
            ("duration", "1h"),
            ("escalation", "2x"),
            ("max_duration", "5h"),
        ]))
        .unwrap();
        assert_eq!(p.ban_duration(1).as_secs(), 3600);
        assert_eq!(p.ban_duration(2).as_secs(), 7200);
        assert_eq!(p.ban_duration(3).as_secs(), 14400);
        assert_eq!(p.ban_duration(4).as_secs(), 18000);
        assert_eq!(p.ban_duration(u32::MAX).as_secs(), 18000);
        let flat = Policy::parse(&raw(&[("escalation", "1x")])).unwrap();
        assert_eq!(flat.ban_duration(9).as_secs(), 3600);
    }

    #[test]
    fn secrets_are_masked_in_views_and_debug() {
        let secret = "0123456789abcdef0123";
        let p = Policy::parse(&raw(&[
            ("bouncer_key", &format!("fw0:{secret}, fw1 : {secret}x")),
            ("dry_run", "true"),
        ]))
        .unwrap();
        let view = p.redacted_raw();
        assert_eq!(view["bouncer_key"], "fw0:********, fw1:********");
        assert_eq!(view["dry_run"], "true");
        let debug = format!("{p:?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(
            debug.contains("fw0") && debug.contains("dry_run: true"),
            "{debug}"
        );
        // Malformed values never show what follows a colon either.
        assert_eq!(
            redact(&raw(&[("bouncer_key", "abc, x:y:z")]))["bouncer_key"],
            "********, x:********"
        );
    }

    #[test]
    fn edits_keep_secrets_they_do_not_restate() {
        let current = Policy::parse(&raw(&[(
            "bouncer_key",
            "fw0:0123456789abcdef0123, fw1:fedcba9876543210fedc",
        )]))
        .unwrap();
        // Omitted: all kept.
        let e = keep_secrets(raw(&[("dry_run", "true")]), &current).unwrap();
        assert_eq!(e["bouncer_key"], current.raw["bouncer_key"]);
        // Masked: that bouncer's secret kept; a new secret replaces; one dropped.
        let e = keep_secrets(
            raw(&[("bouncer_key", "fw0:********, fw2:aaaaaaaaaaaaaaaaaaaa")]),
            &current,
        )
        .unwrap();
        let p = Policy::parse(&e).unwrap();
        assert_eq!(
            p.bouncer_keys,
            vec![
                ("fw0".to_owned(), "0123456789abcdef0123".to_owned()),
                ("fw2".to_owned(), "a".repeat(20)),
            ]
        );
        // Empty: removed.
        let e = keep_secrets(raw(&[("bouncer_key", "")]), &current).unwrap();
        assert!(Policy::parse(&e).unwrap().bouncer_keys.is_empty());
        // A mask with nothing behind it is an error naming the key.
        let err = keep_secrets(raw(&[("bouncer_key", "fw9:********")]), &current).unwrap_err();
        assert_eq!(err.key, "bouncer_key");
        assert!(err.message.contains("fw9"));
    }

    #[test]
    fn bad_bouncer_keys_are_reported_without_the_secret() {
        for v in [
            "no-colon-0123456789",
            "bad name:0123456789abcdef",
            "fw0:short",
        ] {
            let e = Policy::parse(&raw(&[("bouncer_key", v)])).unwrap_err();
            let secret = v.rsplit(':').next().unwrap();
            assert!(!e.to_string().contains(secret), "{e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 1_209_600);
        assert!(parse_duration("h").is_none());
        assert!(parse_duration("5 m").is_none());
        assert!(parse_duration("99999999999999999999s").is_none());
    }

    proptest! {
        #[test]
        fn parser_never_panics(k in "[a-z_]{1,16}", v in "\\PC{0,64}") {
            let _ = Policy::parse(&raw(&[(&k, &v)]));
            let _ = Policy::parse(&raw(&[("ban_on", &v)]));
            let _ = parse_duration(&v);
            let _ = parse_net(&v);
        }

        #[test]
        fn escalated_duration_within_bounds(off in 1u32..1000, esc in 1u32..100) {
            let p = Policy::parse(&raw(&[("escalation", &format!("{esc}x"))])).unwrap();
            let d = p.ban_duration(off);
            prop_assert!(d >= p.duration && d <= p.max_duration);
        }
    }
}
