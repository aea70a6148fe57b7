//! Fleet INI files (DECNET-compatible): parsing and validation.
//!
//! The parser never stops at the first problem: it collects every error
//! with its line so `decnet validate` can report them all at once, and the
//! same function backs `serve` and the API deploy endpoint.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::archetype::{archetype, archetype_names};
use crate::catalog::{self, service_names, Transport};
use crate::persona::{distro, distro_names};

mod keyed;
pub use keyed::{is_alerts_section, KeyedSections};

/// Largest fleet file accepted.
pub const MAX_FILE_BYTES: usize = 512 * 1024;
/// Largest `amount=`.
pub const MAX_AMOUNT: u32 = 100;

/// How decky addresses reach the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Addresses in 127.0.0.0/8, no privileges needed.
    #[default]
    Loopback,
    /// Addresses added to a host interface.
    Alias,
    /// One network namespace per decky.
    Netns,
}

/// `[general]` section.
#[derive(Clone, Debug, Default, Serialize)]
pub struct General {
    /// Decoy network (IPv4).
    pub net: Option<Ipv4Net>,
    /// IPv6 decoy network (`net6 =`, or `net =` given an IPv6 CIDR):
    /// deckies without an explicit address get one from each network.
    pub net6: Option<Ipv6Net>,
    /// Gateway.
    pub gw: Option<Ipv4Addr>,
    /// IPv6 gateway (`gw6 =`): the default route of netns deckies with an
    /// IPv6 address; in `net6` or link-local (routers often advertise
    /// only their `fe80::` address).
    pub gw6: Option<Ipv6Addr>,
    /// Host interface (alias / netns modes).
    pub interface: Option<String>,
    /// Network mode.
    pub mode: NetMode,
    /// Syslog forwarding target, `udp://host:port`, `tcp://…` or `tls://…`.
    pub syslog: Option<String>,
    /// `log_compat = decnet`: DECNET's per-service event names as the
    /// MSGID of `decnet.log` and forwarded lines (see [`crate::compat`]).
    pub log_compat: crate::syslog::LogStyle,
}

/// One decky after expansion of `amount=` and archetype defaults.
#[derive(Clone, Debug, Serialize)]
pub struct DeckySpec {
    /// Unique name (`web01`, `db-02`).
    pub name: String,
    /// Primary address: the IPv4 one when the decky has one, else its
    /// IPv6 one (a v6-only decky).
    pub ip: IpAddr,
    /// The IPv6 address of a dual-stack decky (`ip` is then its IPv4 one).
    pub ip6: Option<Ipv6Addr>,
    /// Services, in the order given.
    pub services: Vec<String>,
    /// Archetype slug, if any.
    pub archetype: Option<String>,
    /// OS family presented to fingerprinting.
    pub nmap_os: String,
    /// Pinned distro slug, if any.
    pub distro: Option<String>,
    /// Automatic persona re-roll period in minutes.
    pub mutate_interval: Option<u32>,
    /// Tarpitted ports (`tarpit = ssh:22, http:8080`), beside the services.
    pub tarpits: Vec<crate::tarpit::TarpitSpec>,
    /// Seconds between two trickles of this decky's tarpits.
    pub tarpit_interval: u32,
    /// `dhcp = true` (netns mode only): the address comes from the LAN's
    /// DHCP server when the decky is attached; `ip` is `0.0.0.0` until then.
    pub dhcp: bool,
    /// `[name.service]` key/values, keyed by service.
    pub service_config: BTreeMap<String, BTreeMap<String, String>>,
    /// Line of the section that defined it.
    pub line: usize,
}

impl DeckySpec {
    /// Every address the decky answers on: the primary first.
    pub fn addrs(&self) -> Vec<IpAddr> {
        std::iter::once(self.ip)
            .chain(self.ip6.map(IpAddr::V6))
            .collect()
    }

    /// The IPv4 address, if the decky has one.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        match self.ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        }
    }

    /// The IPv6 address, if the decky has one.
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        match self.ip {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => self.ip6,
        }
    }

    /// The config of one service (empty when none was given).
    pub fn config(&self, service: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.service_config.get(service).unwrap_or(&EMPTY)
    }

    /// Distro candidates: the pinned one, else the archetype's preferences.
    pub fn preferred_distros(&self) -> Vec<&'static str> {
        if let Some(d) = self.distro.as_deref().and_then(distro) {
            return vec![d.slug];
        }
        match self.archetype.as_deref().and_then(archetype) {
            Some(a) => a.preferred_distros.to_vec(),
            None if self.nmap_os.starts_with("windows") => vec!["windows2019", "windows10"],
            None if self.nmap_os == "embedded" => vec!["busybox"],
            None => vec!["debian", "ubuntu22", "rocky9"],
        }
    }
}

/// A validated fleet.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FleetSpec {
    /// `[general]`.
    pub general: General,
    /// All deckies, expanded.
    pub deckies: Vec<DeckySpec>,
    /// `[response]` key/values (active-response policy), if present.
    pub response: BTreeMap<String, String>,
    /// `[canary]`, if present (canary receivers and planting).
    pub canary: Option<crate::canary::CanaryConfig>,
    /// `[alerts]`, `[alerts.*]`, `[siem.*]`, parsed by decnet-alerts. Never
    /// serialised: they hold secrets (SMTP passwords, webhook URLs).
    #[serde(skip)]
    pub alerts: KeyedSections,
    /// `[attack]` key/values (ATT&CK tagging: `rules_dir`), if present.
    pub attack: BTreeMap<String, String>,
    /// `[geoip] databases`: MaxMind-format files (GeoLite2 or DB-IP City,
    /// Country, ASN) attacker addresses are located with, as written
    /// (relative paths are the fleet file's directory's to resolve).
    pub geoip: Vec<String>,
    /// `[passive]`: the passive LAN sensor, if configured.
    pub passive: Option<crate::passive::PassiveConfig>,
    /// `[content]`: lived-in deckies, their clock, the optional LLM.
    pub content: crate::content::ContentConfig,
    /// `[enrich]`: online reputation lookups of attacker addresses, if
    /// configured (keys as written, unresolved).
    pub enrich: Option<crate::enrich::EnrichConfig>,
}

/// One problem, tied to a line (1-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Everything wrong with a fleet file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ValidationReport {
    /// Problems that make the file unusable.
    pub errors: Vec<ValidationError>,
    /// Things that work but probably are not what was meant.
    pub warnings: Vec<ValidationError>,
}

impl ValidationReport {
    /// `FILE:LINE: message` lines, one per error, sorted by line.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        for e in &self.errors {
            out.push_str(&format!("{file}:{}: {}\n", e.line, e.message));
        }
        out
    }

    /// True when the file has a structural problem (unparseable lines,
    /// size), as opposed to a semantic one; the API maps this to 400.
    pub fn is_structural(&self) -> bool {
        self.errors.iter().any(|e| {
            e.message.starts_with("malformed")
                || e.message.contains("limit is 512 KiB")
                || e.message.starts_with("not UTF-8")
        })
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("<fleet>"))
    }
}

impl std::error::Error for ValidationReport {}

/// Loads and validates a fleet file; errors carry `FILE:LINE:` via [`ValidationReport::render`].
pub fn load(path: &Path) -> Result<(FleetSpec, Vec<ValidationError>), LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::Io(path.display().to_string(), e))?;
    if meta.len() as usize > MAX_FILE_BYTES {
        return Err(LoadError::Invalid(ValidationReport {
            errors: vec![size_error(meta.len() as usize)],
            warnings: vec![],
        }));
    }
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io(path.display().to_string(), e))?;
    parse_bytes(&bytes).map_err(LoadError::Invalid)
}

/// Why a fleet file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    /// The file is not a valid fleet.
    #[error("invalid fleet file:\n{0}")]
    Invalid(ValidationReport),
}

fn size_error(len: usize) -> ValidationError {
    ValidationError {
        line: 1,
        message: format!("file is {} KiB; the limit is 512 KiB", len.div_ceil(1024)),
    }
}

/// Parses and validates fleet bytes. Ok carries the fleet and its warnings.
pub fn parse_bytes(bytes: &[u8]) -> Result<(FleetSpec, Vec<ValidationError>), ValidationReport> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ValidationReport {
            errors: vec![size_error(bytes.len())],
            warnings: vec![],
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => parse_str(s),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Err(ValidationReport {
                errors: vec![ValidationError {
                    line,
                    message: "not UTF-8 text".into(),
                }],
                warnings: vec![],
            })
        }
    }
}

#[derive(Debug)]
struct RawSection {
    name: String,
    line: usize,
    entries: Vec<(String, String, usize)>,
}

struct Ctx {
    errors: Vec<ValidationError>,
    warnings: Vec<ValidationError>,
}

impl Ctx {
    fn err(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(ValidationError {
            line,
            message: message.into(),
        });
    }
    fn warn(&mut self, line: usize, message: impl Into<String>) {
        self.warnings.push(ValidationError {
            line,
            message: message.into(),
        });
    }
}

/// Strips an inline comment: `;` or `#` preceded by whitespace.
fn strip_inline_comment(v: &str) -> &str {
    let bytes = v.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b';' || bytes[i] == b'#') && bytes[i - 1].is_ascii_whitespace() {
            return v[..i].trim_end();
        }
    }
    v
}

/// A `[name]` header line (`rest` follows the `[`), or None when malformed.
fn section_header(
    rest: &str,
    lineno: usize,
    seen: &mut HashMap<String, usize>,
    ctx: &mut Ctx,
) -> Option<RawSection> {
    let Some(name) = strip_inline_comment(rest).strip_suffix(']') else {
        ctx.err(
            lineno,
            format!("malformed section header '[{rest}': expected [name]"),
        );
        return None;
    };
    let name = name.trim();
    if name.is_empty() {
        ctx.err(lineno, "malformed section header: empty name");
        return None;
    }
    let duplicate = seen.get(name).copied();
    if let Some(prev) = duplicate {
        ctx.err(
            lineno,
            format!("duplicate section [{name}] (first defined on line {prev})"),
        );
    } else {
        seen.insert(name.to_owned(), lineno);
    }
    // A duplicate still collects its keys (so they are not reported as
    // orphans) but under a name no later pass acts on.
    let stored = if duplicate.is_some() {
        format!("\0dup{lineno}")
    } else {
        name.to_owned()
    };
    Some(RawSection {
        name: stored,
        line: lineno,
        entries: Vec::new(),
    })
}

fn lex(text: &str, ctx: &mut Ctx) -> Vec<RawSection> {
    let mut sections: Vec<RawSection> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut orphan_reported = false;
    for (idx, raw) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        // Continuation of the previous value (configparser multi-line values).
        if line.starts_with([' ', '\t']) && !trimmed.starts_with('[') {
            if let Some(last) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                if !trimmed.contains('=') && !trimmed.contains(':') {
                    last.1.push(' ');
                    last.1.push_str(strip_inline_comment(trimmed));
                    continue;
                }
            }
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            if let Some(section) = section_header(rest, lineno, &mut seen, ctx) {
                sections.push(section);
            }
            continue;
        }
        let sep = match (trimmed.find('='), trimmed.find(':')) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(sep) = sep else {
            ctx.err(
                lineno,
                format!(
                    "malformed line '{}': expected [section] or key = value",
                    truncate(trimmed, 60)
                ),
            );
            continue;
        };
        let key = trimmed[..sep].trim().to_ascii_lowercase();
        let value = strip_inline_comment(trimmed[sep + 1..].trim()).to_owned();
        if key.is_empty() {
            ctx.err(lineno, "malformed line: empty key before '='");
            continue;
        }
        let Some(section) = sections.last_mut() else {
            if !orphan_reported {
                ctx.err(
                    lineno,
                    format!("malformed line: key '{key}' appears before any [section]"),
                );
                orphan_reported = true;
            }
            continue;
        };
        if let Some((_, _, prev)) = section.entries.iter().find(|(k, _, _)| *k == key) {
            let msg = format!(
                "duplicate key '{key}' in [{}] (first set on line {prev})",
                section.name
            );
            ctx.err(lineno, msg);
            continue;
        }
        section.entries.push((key, value, lineno));
    }
    sections
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// True for names usable as decky names (hostname-safe, ≤ 63 chars).
pub fn valid_decky_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.starts_with('-')
}

const GENERAL_KEYS: &[&str] = &[
    "net",
    "net6",
    "gw",
    "gw6",
    "interface",
    "mode",
    "syslog",
    "log_compat",
];
/// Valid `nmap_os` values.
pub const NMAP_OS: &[&str] = &["linux", "windows", "windows_server", "embedded", "bsd"];

struct Group {
    name: String,
    line: usize,
    ip: Option<(Ipv4Addr, usize)>,
    /// `ip6 =`, or `ip =` given an IPv6 address.
    ip6: Option<(Ipv6Addr, usize)>,
    services: Option<Vec<String>>,
    archetype: Option<String>,
    nmap_os: Option<String>,
    distro: Option<String>,
    amount: u32,
    mutate_interval: Option<u32>,
    /// `tarpit =` entries and the line they were given on.
    tarpits: Option<(Vec<crate::tarpit::TarpitSpec>, usize)>,
    tarpit_interval: Option<u32>,
    /// Line of `dhcp = true`, when given.
    dhcp: Option<usize>,
}

/// Parses and validates fleet text.
pub fn parse_str(text: &str) -> Result<(FleetSpec, Vec<ValidationError>), ValidationReport> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ValidationReport {
            errors: vec![size_error(text.len())],
            warnings: vec![],
        });
    }
    let mut ctx = Ctx {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let sections = lex(text, &mut ctx);
    let mut fleet = FleetSpec::default();
    let (groups, subsections) = read_sections(&sections, &mut fleet, &mut ctx);
    let mut taken = explicit_ips(&groups, &mut ctx);
    let general = fleet.general.clone();
    if let (Some(net), Some(gw)) = (general.net, general.gw) {
        if !net.contains(&gw) {
            let line = line_of(&sections, "general", "gw");
            ctx.err(line, format!("gw {gw} is outside net {net}"));
        }
    }
    if let Some(gw6) = general.gw6 {
        check_gw6(
            gw6,
            &general,
            line_of(&sections, "general", "gw6"),
            &mut ctx,
        );
    }
    let mut alloc = Allocator {
        hosts: general.net.map(|n| n.hosts()),
        hosts6: general.net6.map(|n| n.hosts()),
        net6: general.net6,
        gw: general.gw,
        gw6: general.gw6,
    };
    let mut names: HashMap<String, usize> = HashMap::new();
    for g in &groups {
        expand_group(
            g,
            &general,
            &mut alloc,
            &mut taken,
            &mut names,
            &mut fleet.deckies,
            &mut ctx,
        );
    }
    // Explicit IPs must fit the network and mode.
    for g in &groups {
        if let Some((ip, line)) = g.ip {
            check_ip(ip, line, &general, &mut ctx);
        }
        if let Some((ip, line)) = g.ip6 {
            check_ip6(ip, line, &general, &mut ctx);
        }
    }
    // Pass 2: [decky.service] sub-sections (a group name applies to all its instances).
    for s in subsections {
        apply_service_section(s, &groups, &mut fleet.deckies, &mut ctx);
    }
    if fleet.deckies.is_empty() && ctx.errors.is_empty() {
        ctx.err(1, "no deckies defined: add at least one [name] section");
    }
    ctx.errors.sort_by_key(|e| e.line);
    if ctx.errors.is_empty() {
        Ok((fleet, ctx.warnings))
    } else {
        Err(ValidationReport {
            errors: ctx.errors,
            warnings: ctx.warnings,
        })
    }
}

/// Pass 1: `[general]` and `[response]` into the fleet, decky sections into
/// groups; `[decky.service]` sub-sections are returned for pass 2.
fn read_sections<'a>(
    sections: &'a [RawSection],
    fleet: &mut FleetSpec,
    ctx: &mut Ctx,
) -> (Vec<Group>, Vec<&'a RawSection>) {
    let mut groups: Vec<Group> = Vec::new();
    let mut subsections: Vec<&RawSection> = Vec::new();
    for s in sections {
        if s.name.starts_with('\0') {
            continue;
        } else if s.name == "general" {
            parse_general(s, &mut fleet.general, ctx);
        } else if s.name == "response" {
            fleet.response = s
                .entries
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect();
        } else if s.name == "canary" {
            match crate::canary::parse(s.line, &s.entries) {
                Ok(c) => fleet.canary = Some(c),
                Err(errors) => ctx.errors.extend(errors),
            }
        } else if is_alerts_section(&s.name) {
            fleet.alerts.insert(&s.name, s.line, &s.entries);
        } else if s.name == "attack" {
            for (k, v, line) in &s.entries {
                if k == "rules_dir" {
                    fleet.attack.insert(k.clone(), v.clone());
                } else {
                    ctx.warn(
                        *line,
                        format!("[attack]: unknown key {k:?} ignored (known: rules_dir)"),
                    );
                }
            }
        } else if s.name == "passive" {
            match crate::passive::parse(s.line, &s.entries) {
                Ok(c) => fleet.passive = Some(c),
                Err(errors) => ctx.errors.extend(errors),
            }
        } else if s.name == "content" {
            match crate::content::parse(&s.entries) {
                Ok(c) => fleet.content = c,
                Err(errors) => ctx.errors.extend(errors),
            }
        } else if s.name == "enrich" {
            match crate::enrich::parse(s.line, &s.entries) {
                Ok(c) => fleet.enrich = Some(c),
                Err(errors) => ctx.errors.extend(errors),
            }
        } else if s.name == "geoip" {
            for (k, v, line) in &s.entries {
                if k == "databases" {
                    fleet.geoip.extend(
                        v.split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned),
                    );
                } else {
                    ctx.warn(
                        *line,
                        format!("[geoip]: unknown key {k:?} ignored (known: databases)"),
                    );
                }
            }
        } else if s.name.starts_with("custom-") {
            ctx.warn(
                s.line,
                format!(
                    "[{}]: bring-your-own container services are not supported; section ignored",
                    s.name
                ),
            );
        } else if s.name.contains('.') {
            subsections.push(s);
        } else if let Some(g) = parse_group(s, ctx) {
            groups.push(g);
        }
    }
    (groups, subsections)
}

/// Addresses taken (by whom, on which line), with decky names.
type TakenIps = HashMap<IpAddr, (String, usize)>;

/// The explicit `ip =` of every group, each address once.
fn explicit_ips(groups: &[Group], ctx: &mut Ctx) -> TakenIps {
    let mut ips = TakenIps::new();
    for g in groups {
        let given = (g.ip.map(|(ip, l)| (IpAddr::V4(ip), l)).into_iter())
            .chain(g.ip6.map(|(ip, l)| (IpAddr::V6(ip), l)));
        for (ip, line) in given {
            if let Some((other, _)) = ips.get(&ip) {
                ctx.err(
                    line,
                    format!("duplicate IP {ip}: already used by [{other}]"),
                );
            } else {
                ips.insert(ip, (g.name.clone(), line));
            }
        }
    }
    ips
}

/// Hands out the next free host address of `[general] net` (skipping the
/// gateway, taken addresses and `.0`) and of `net6` (skipping the IPv6
/// gateway, taken addresses and the all-zero host part, the subnet-router
/// anycast address).
struct Allocator {
    hosts: Option<ipnet::Ipv4AddrRange>,
    hosts6: Option<ipnet::Ipv6AddrRange>,
    net6: Option<Ipv6Net>,
    gw: Option<Ipv4Addr>,
    gw6: Option<Ipv6Addr>,
}

impl Allocator {
    fn next(&mut self, taken: &mut TakenIps, who: &str, line: usize) -> Option<Ipv4Addr> {
        let gw = self.gw;
        let ip = take_free(self.hosts.as_mut()?, taken, |ip: &Ipv4Addr| {
            Some(*ip) == gw || ip.octets()[3] == 0
        })?;
        taken.insert(IpAddr::V4(ip), (who.to_owned(), line));
        Some(ip)
    }

    fn next6(&mut self, taken: &mut TakenIps, who: &str, line: usize) -> Option<Ipv6Addr> {
        let anycast = self.net6.map(|n| n.network());
        let gw6 = self.gw6;
        let ip = take_free(self.hosts6.as_mut()?, taken, |ip: &Ipv6Addr| {
            Some(*ip) == anycast || Some(*ip) == gw6
        })?;
        taken.insert(IpAddr::V6(ip), (who.to_owned(), line));
        Some(ip)
    }
}

/// The next address of `hosts` neither taken nor `reserved`.
fn take_free<A: Copy + Into<IpAddr>>(
    hosts: &mut impl Iterator<Item = A>,
    taken: &TakenIps,
    reserved: impl Fn(&A) -> bool,
) -> Option<A> {
    hosts.find(|ip| !reserved(ip) && !taken.contains_key(&(*ip).into()))
}

/// A group's services (given, else its archetype's) and default OS family.
fn group_services(g: &Group, ctx: &mut Ctx) -> (Vec<String>, &'static str) {
    match (&g.services, g.archetype.as_deref().and_then(archetype)) {
        (Some(svcs), arch) => (svcs.clone(), arch.map(|a| a.nmap_os).unwrap_or("linux")),
        (None, Some(arch)) => (
            arch.services.iter().map(|s| s.to_string()).collect(),
            arch.nmap_os,
        ),
        (None, None) => {
            if g.archetype.is_none() {
                ctx.err(
                    g.line,
                    format!(
                        "[{}] has neither services= nor archetype=; give one",
                        g.name
                    ),
                );
            }
            (Vec::new(), "linux")
        }
    }
}

/// A group's deckies (`amount` instances), each with its address.
fn expand_group(
    g: &Group,
    general: &General,
    alloc: &mut Allocator,
    taken: &mut TakenIps,
    names: &mut HashMap<String, usize>,
    out: &mut Vec<DeckySpec>,
    ctx: &mut Ctx,
) {
    let (services, default_os) = group_services(g, ctx);
    check_port_conflicts(&services, g, ctx);
    if let Some(line) = g.dhcp {
        if general.mode != NetMode::Netns {
            ctx.err(
                line,
                format!("[{}]: dhcp = true needs mode = netns in [general] (the decky must have its own interface and MAC)", g.name),
            );
        }
    }
    let instance_names: Vec<String> = if g.amount == 1 {
        vec![g.name.clone()]
    } else {
        (1..=g.amount)
            .map(|i| format!("{}-{i:02}", g.name))
            .collect()
    };
    for name in instance_names {
        if let Some(prev) = names.get(&name) {
            ctx.err(
                g.line,
                format!("duplicate decky name '{name}' (first defined on line {prev})"),
            );
            continue;
        }
        names.insert(name.clone(), g.line);
        let Some((ip, ip6)) = decky_addrs(g, &name, general, alloc, taken, ctx) else {
            continue;
        };
        out.push(DeckySpec {
            name,
            ip,
            ip6,
            services: services.clone(),
            archetype: g.archetype.clone(),
            nmap_os: g.nmap_os.clone().unwrap_or_else(|| default_os.to_owned()),
            distro: g.distro.clone(),
            mutate_interval: g.mutate_interval,
            tarpits: g.tarpits.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
            tarpit_interval: g
                .tarpit_interval
                .unwrap_or(crate::tarpit::DEFAULT_INTERVAL_SECS),
            dhcp: g.dhcp.is_some(),
            service_config: BTreeMap::new(),
            line: g.line,
        });
    }
}

/// A decky's primary address and dual-stack IPv6 one: the explicit ones
/// when the group gives any (`ip =`, `ip6 =`), else one from each of
/// `net` and `net6`.
fn decky_addrs(
    g: &Group,
    name: &str,
    general: &General,
    alloc: &mut Allocator,
    taken: &mut TakenIps,
    ctx: &mut Ctx,
) -> Option<(IpAddr, Option<Ipv6Addr>)> {
    let (v4, v6) = match (g.ip, g.ip6) {
        (None, None) if g.dhcp.is_some() => (Some(Ipv4Addr::UNSPECIFIED), None),
        (None, None) => {
            let v4 = alloc.next(taken, name, g.line);
            let v6 = alloc.next6(taken, name, g.line);
            let no_room =
                |net: &dyn fmt::Display| format!("no free address left in net {net} for '{name}'");
            match (general.net, general.net6) {
                (None, None) => ctx.err(
                    g.line,
                    format!(
                        "[{}] has no ip= and [general] has no net= to allocate one from",
                        g.name
                    ),
                ),
                (Some(net), _) if v4.is_none() => ctx.err(g.line, no_room(&net)),
                (_, Some(net6)) if v6.is_none() => ctx.err(g.line, no_room(&net6)),
                _ => {}
            }
            if (general.net.is_some() && v4.is_none()) || (general.net6.is_some() && v6.is_none()) {
                return None;
            }
            (v4, v6)
        }
        (v4, v6) => (v4.map(|x| x.0), v6.map(|x| x.0)),
    };
    match (v4, v6) {
        (Some(v4), v6) => Some((IpAddr::V4(v4), v6)),
        (None, Some(v6)) => Some((IpAddr::V6(v6), None)),
        (None, None) => None,
    }
}

/// Pass 2: one `[decky.service]` section onto the decky (or every
/// instance of the group) it names.
fn apply_service_section(
    s: &RawSection,
    groups: &[Group],
    deckies: &mut [DeckySpec],
    ctx: &mut Ctx,
) {
    let (owner, svc) = s.name.rsplit_once('.').unwrap_or((&s.name, ""));
    if catalog::service(svc).is_none() {
        ctx.err(
            s.line,
            format!(
                "unknown service '{svc}' in section [{}]; valid services: {}",
                s.name,
                service_names()
            ),
        );
        return;
    }
    // DECNET keys decnet does not implement, and keys neither project
    // knows, are warned about by line: never silently ignored.
    for (k, v, line) in &s.entries {
        if let Some(w) = crate::service_keys::warning(&s.name, svc, k, v) {
            ctx.warn(*line, w);
        }
    }
    let cfg: BTreeMap<String, String> = s
        .entries
        .iter()
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect();
    let group = groups.iter().find(|g| g.name == owner);
    let mut matched = 0;
    for d in deckies.iter_mut() {
        let belongs = d.name == owner
            || group.is_some_and(|g| {
                g.amount > 1
                    && d.name
                        .strip_prefix(owner)
                        .is_some_and(|r| r.starts_with('-'))
            });
        if belongs {
            matched += 1;
            d.service_config.insert(svc.to_owned(), cfg.clone());
            if !d.services.iter().any(|x| x == svc) {
                ctx.warn(
                    s.line,
                    format!(
                        "[{}] configures '{svc}' but decky '{}' does not run it",
                        s.name, d.name
                    ),
                );
            }
        }
    }
    if matched == 0 && group.is_none() {
        ctx.err(
            s.line,
            format!("section [{}] refers to unknown decky '{owner}'", s.name),
        );
    }
}

fn line_of(sections: &[RawSection], section: &str, key: &str) -> usize {
    sections
        .iter()
        .find(|s| s.name == section)
        .and_then(|s| {
            s.entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|e| e.2)
                .or(Some(s.line))
        })
        .unwrap_or(1)
}

fn check_ip(ip: Ipv4Addr, line: usize, general: &General, ctx: &mut Ctx) {
    if let Some(net) = general.net {
        if !net.contains(&ip) {
            ctx.err(line, format!("ip {ip} is outside net {net}"));
        }
    }
    if general.mode == NetMode::Loopback && !ip.is_loopback() {
        ctx.err(
            line,
            format!("ip {ip} is not in 127.0.0.0/8, which mode = loopback requires"),
        );
    }
    if Some(ip) == general.gw {
        ctx.err(line, format!("ip {ip} is the gateway address"));
    }
}

fn check_ip6(ip: Ipv6Addr, line: usize, general: &General, ctx: &mut Ctx) {
    if let Some(net6) = general.net6 {
        if !net6.contains(&ip) {
            ctx.err(line, format!("ip6 {ip} is outside net6 {net6}"));
        }
    }
    if general.mode == NetMode::Loopback && !ip.is_loopback() {
        ctx.err(
            line,
            format!("ip6 {ip} is not ::1, the one IPv6 loopback address, which mode = loopback requires; use mode = alias (interface = lo works) for other IPv6 addresses"),
        );
    }
    if ip.is_unspecified() || ip.is_multicast() {
        ctx.err(line, format!("ip6 {ip} cannot be a host address"));
    }
    if Some(ip) == general.gw6 {
        ctx.err(line, format!("ip6 {ip} is the IPv6 gateway address"));
    }
}

/// A `gw6` must be reachable on the deckies' link: in `net6`, or
/// link-local (on-link by definition).
fn check_gw6(gw6: Ipv6Addr, general: &General, line: usize, ctx: &mut Ctx) {
    if gw6.is_unspecified() || gw6.is_multicast() || gw6.is_loopback() {
        ctx.err(line, format!("gw6 {gw6} cannot be a router's address"));
    } else if gw6.is_unicast_link_local() {
        // fe80::/10 is on every link: nothing to check against net6.
    } else if let Some(net6) = general.net6 {
        if !net6.contains(&gw6) {
            ctx.err(
                line,
                format!("gw6 {gw6} is outside net6 {net6} (and not link-local fe80::/10)"),
            );
        }
    }
}

fn check_port_conflicts(services: &[String], g: &Group, ctx: &mut Ctx) {
    let mut used: HashMap<(Transport, u16), &str> = HashMap::new();
    for s in services {
        let Some(info) = catalog::service(s) else {
            continue;
        };
        for &port in info.ports {
            if let Some(other) = used.insert(port, info.name) {
                ctx.err(
                    g.line,
                    format!(
                        "[{}]: services '{other}' and '{}' both listen on {}/{}",
                        g.name, info.name, port.1, port.0
                    ),
                );
            }
        }
    }
    if let Some((tarpits, line)) = &g.tarpits {
        for t in tarpits {
            if let Some(service) = crate::tarpit::service_on_port(services, t.port) {
                ctx.err(
                    *line,
                    format!(
                        "[{}]: tarpit {}:{} and service '{service}' both listen on {}/tcp; move the tarpit or drop the service",
                        g.name,
                        t.kind.as_str(),
                        t.port,
                        t.port
                    ),
                );
            }
        }
    }
}

fn parse_general(s: &RawSection, g: &mut General, ctx: &mut Ctx) {
    for (k, v, line) in &s.entries {
        let line = *line;
        match k.as_str() {
            "net" => match (v.parse::<Ipv4Net>(), v.parse::<Ipv6Net>()) {
                (Ok(n), _) => g.net = Some(n.trunc()),
                (_, Ok(n)) => set_net6(g, n, line, ctx),
                _ => ctx.err(
                    line,
                    format!("net = '{v}' is not a CIDR like 127.0.50.0/24 or fd00:dec::/64"),
                ),
            },
            "net6" => match v.parse::<Ipv6Net>() {
                Ok(n) => set_net6(g, n, line, ctx),
                Err(_) => ctx.err(
                    line,
                    format!("net6 = '{v}' is not an IPv6 CIDR like fd00:dec::/64"),
                ),
            },
            "gw" => match v.parse() {
                Ok(ip) => g.gw = Some(ip),
                Err(_) => ctx.err(line, format!("gw = '{v}' is not an IPv4 address")),
            },
            "gw6" => match v.parse() {
                Ok(ip) => g.gw6 = Some(ip),
                Err(_) => ctx.err(
                    line,
                    format!("gw6 = '{v}' is not an IPv6 address like fd00:dec::1"),
                ),
            },
            "interface" => g.interface = Some(v.clone()),
            "mode" => match v.as_str() {
                "loopback" => g.mode = NetMode::Loopback,
                "alias" => g.mode = NetMode::Alias,
                "netns" | "macvlan" | "ipvlan" => g.mode = NetMode::Netns,
                _ => ctx.err(
                    line,
                    format!("mode = '{v}' is not one of loopback, alias, netns"),
                ),
            },
            "syslog" => {
                let ok = ["udp://", "tcp://", "tls://"].iter().any(|p| {
                    v.strip_prefix(p).is_some_and(|r| {
                        r.rsplit_once(':')
                            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                    })
                });
                if ok {
                    g.syslog = Some(v.clone());
                } else {
                    ctx.err(line, format!("syslog = '{v}' must look like udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"));
                }
            }
            "log_compat" => match crate::syslog::LogStyle::parse(v) {
                Some(style) => g.log_compat = style,
                None => ctx.err(line, format!("log_compat = '{v}' must be decnet or native")),
            },
            other => ctx.err(
                line,
                format!(
                    "unknown key '{other}' in [general]; valid keys: {}",
                    GENERAL_KEYS.join(", ")
                ),
            ),
        }
    }
    if g.mode != NetMode::Loopback && g.interface.is_none() {
        let mode = if g.mode == NetMode::Alias {
            "alias"
        } else {
            "netns"
        };
        ctx.err(
            s.line,
            format!("mode = {mode} needs interface = <host interface>"),
        );
    }
}

/// The IPv6 network, from `net6 =` or an IPv6 `net =` (one of them).
fn set_net6(g: &mut General, net: Ipv6Net, line: usize, ctx: &mut Ctx) {
    if g.net6.is_some() {
        ctx.err(
            line,
            "a second IPv6 network: give net6 (or an IPv6 net) once",
        );
    } else if net.prefix_len() > 126 {
        ctx.err(
            line,
            format!("IPv6 network {net} has no room for deckies (at most /126)"),
        );
    } else {
        g.net6 = Some(net.trunc());
    }
}

fn parse_group(s: &RawSection, ctx: &mut Ctx) -> Option<Group> {
    if !valid_decky_name(&s.name) {
        ctx.err(
            s.line,
            format!(
                "invalid decky name '{}': use letters, digits, '-' and '_' (at most 63)",
                s.name
            ),
        );
        return None;
    }
    let mut g = Group {
        name: s.name.clone(),
        line: s.line,
        ip: None,
        ip6: None,
        services: None,
        archetype: None,
        nmap_os: None,
        distro: None,
        amount: 1,
        mutate_interval: None,
        tarpits: None,
        tarpit_interval: None,
        dhcp: None,
    };
    let mut ip_line = 0;
    for (k, v, line) in &s.entries {
        let line = *line;
        match (k.as_str(), v.parse::<IpAddr>()) {
            ("ip", Ok(IpAddr::V4(ip))) if g.ip.is_none() => g.ip = Some((ip, line)),
            ("ip" | "ip6", Ok(IpAddr::V6(ip))) if g.ip6.is_none() => g.ip6 = Some((ip, line)),
            ("ip6", Ok(IpAddr::V4(_))) | ("ip6", Err(_)) => {
                ctx.err(line, format!("ip6 = '{v}' is not an IPv6 address"));
                continue;
            }
            ("ip" | "ip6", Ok(ip)) => {
                ctx.err(line, format!("{k} = {ip}: [{}] already has an {} address; a decky has at most one IPv4 (ip =) and one IPv6 (ip6 =) address", s.name, if ip.is_ipv4() { "IPv4" } else { "IPv6" }));
                continue;
            }
            ("ip", Err(_)) => {
                ctx.err(line, format!("ip = '{v}' is not an IPv4 or IPv6 address"));
                continue;
            }
            _ => {
                set_group_key(&mut g, k, v, line, ctx);
                continue;
            }
        }
        ip_line = line;
    }
    let explicit = g.ip.is_some() || g.ip6.is_some();
    if let (Some(line), true) = (g.dhcp, explicit) {
        ctx.err(line, format!("[{}]: dhcp = true takes the address from the DHCP server; remove ip =/ip6 = (line {ip_line})", s.name));
        g.ip = None;
        g.ip6 = None;
    }
    if g.amount > 1 && explicit {
        ctx.err(ip_line, format!("[{}]: ip = cannot be combined with amount = {}; remove ip=/ip6= (addresses are allocated from net/net6) or use amount = 1", s.name, g.amount));
        g.ip = None;
        g.ip6 = None;
    }
    Some(g)
}

/// `services = a, b`: known names, lowercased, each once.
fn parse_services(v: &str, line: usize, ctx: &mut Ctx) -> Vec<String> {
    let mut list = Vec::new();
    for name in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let name = name.to_ascii_lowercase();
        if catalog::service(&name).is_none() {
            ctx.err(
                line,
                format!(
                    "unknown service '{name}'; valid services: {}",
                    service_names()
                ),
            );
        } else if !list.contains(&name) {
            list.push(name);
        }
    }
    // When every name was wrong each is reported already.
    if list.is_empty() && v.trim().is_empty() {
        ctx.err(line, "services = is empty");
    }
    list
}

/// One key of a decky section other than `ip`.
fn set_group_key(g: &mut Group, k: &str, v: &str, line: usize, ctx: &mut Ctx) {
    match k {
        "services" => g.services = Some(parse_services(v, line, ctx)),
        "archetype" => {
            if archetype(v).is_some() {
                g.archetype = Some(v.to_owned());
            } else {
                ctx.err(line, format!("unknown archetype '{v}'; valid archetypes: {}", archetype_names()));
                g.archetype = Some(String::new());
            }
        }
        "nmap_os" | "nmap-os" => {
            if NMAP_OS.contains(&v) {
                g.nmap_os = Some(v.to_owned());
            } else {
                ctx.err(line, format!("unknown nmap_os '{v}'; valid values: {}", NMAP_OS.join(", ")));
            }
        }
        "distro" => {
            if distro(v).is_some() {
                g.distro = Some(v.to_owned());
            } else {
                ctx.err(line, format!("unknown distro '{v}'; valid distros: {}", distro_names()));
            }
        }
        "amount" => match v.parse::<i64>() {
            Ok(n) if (1..=MAX_AMOUNT as i64).contains(&n) => g.amount = n as u32,
            Ok(n) => ctx.err(line, format!("amount = {n} is outside 1–{MAX_AMOUNT}")),
            Err(_) => ctx.err(line, format!("amount = '{v}' is not a whole number (1–{MAX_AMOUNT})")),
        },
        "mutate_interval" | "mutate-interval" => match v.parse::<u32>() {
            Ok(n) if n > 0 => g.mutate_interval = Some(n),
            _ => ctx.err(line, format!("mutate_interval = '{v}' must be a positive number of minutes")),
        },
        "tarpit" => {
            let (specs, errors) = crate::tarpit::parse_list(v);
            for e in errors {
                ctx.err(line, format!("[{}]: {e}", g.name));
            }
            g.tarpits = Some((specs, line));
        }
        "tarpit_interval" | "tarpit-interval" => match crate::tarpit::parse_interval(v) {
            Ok(n) => g.tarpit_interval = Some(n),
            Err(e) => ctx.err(line, e),
        },
        "dhcp" => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => g.dhcp = Some(line),
            "false" | "no" | "off" | "0" => g.dhcp = None,
            _ => ctx.err(line, format!("dhcp = '{v}' must be true or false")),
        },
        other => ctx.err(line, format!("unknown key '{other}' in [{}]; valid keys: ip, services, archetype, nmap_os, distro, amount, mutate_interval, tarpit, tarpit_interval, dhcp", g.name)),
    }
}
