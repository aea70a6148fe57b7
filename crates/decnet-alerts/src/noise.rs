//! Noise control: a [`NoiseGate`] turns rule hits into the few alerts a
//! person should read.
//!
//! * **Throttle and dedupe per (rule, source)**: the first hit opens a
//!   window and is alerted; later hits in it are suppressed and counted.
//! * **Digest**: when a window ends with suppressed hits, one alert says how
//!   many (every suppressed hit is counted) and the window rolls on; a
//!   window that ends with none closes, so the next hit is alerted again.
//! * **Escalation**: a hit whose ladder [`Stage`] is above every stage the
//!   source was alerted for is alerted even inside a window (scan → auth →
//!   login → command → file transfer → canary).
//! * **Allowlist**: hits from allowlisted sources are silenced (counted).
//! * **Resolve**: a resolving hit (backend back online) is alerted only if
//!   the same (rule, key) raised an alert that is still open.
//!
//! The source of a hit is its subject key (a backend, a sensor), else the
//! attacker identity its address belongs to, else the address. Time comes
//! from the caller, so tests are deterministic, and every map is bounded by
//! `max_tracked` (a window evicted early emits its digest first).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::alert::{Alert, AlertKind, Fact, Severity, Stage};
use crate::clock::after;
use crate::config::NoiseConfig;
use crate::rules::Hit;
use crate::timed_map::TimedMap;

/// Who a hit is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// An attacker identity.
    Identity(Uuid),
    /// An address.
    Ip(IpAddr),
    /// Something that is not an attacker (`backend:n1/nftables`).
    Key(Arc<str>),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Identity(id) => write!(f, "identity:{id}"),
            Source::Ip(ip) => write!(f, "{ip}"),
            Source::Key(k) => f.write_str(k),
        }
    }
}

type WindowKey = (Arc<str>, Source);

/// An open throttle window.
struct Window {
    length: Duration,
    suppressed: u64,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    first_signal: Option<Uuid>,
    last: Hit,
    identity: Option<Uuid>,
}

/// Highest stage alerted for a source.
struct Rung {
    stage: Stage,
    last_seen: DateTime<Utc>,
}

/// Counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NoiseStats {
    /// Hits seen.
    pub hits: u64,
    /// Alerts raised from hits (first + escalation + resolve).
    pub alerted: u64,
    /// Hits suppressed into digests.
    pub suppressed: u64,
    /// Digests raised.
    pub digests: u64,
    /// Escalations raised.
    pub escalations: u64,
    /// Resolves raised.
    pub resolves: u64,
    /// Resolving hits with nothing open to resolve.
    pub resolves_ignored: u64,
    /// Hits from allowlisted sources.
    pub silenced: u64,
    /// Windows closed early because the gate was full.
    pub evicted: u64,
    /// Windows open now.
    pub open_windows: usize,
    /// Sources on the ladder now.
    pub tracked_sources: usize,
}

/// See the module doc.
pub struct NoiseGate {
    cfg: NoiseConfig,
    windows: TimedMap<WindowKey, Window>,
    ladder: TimedMap<Source, Rung>,
    open: TimedMap<WindowKey, ()>,
    stats: NoiseStats,
}

impl NoiseGate {
    /// A gate with this configuration.
    pub fn new(cfg: NoiseConfig) -> Self {
        NoiseGate {
            cfg,
            windows: TimedMap::default(),
            ladder: TimedMap::default(),
            open: TimedMap::default(),
            stats: NoiseStats::default(),
        }
    }

    /// Replaces the configuration, keeping state (open windows keep the
    /// length they were opened with).
    pub fn reconfigure(&mut self, cfg: NoiseConfig) {
        self.cfg = cfg;
    }

    /// Counters.
    pub fn stats(&self) -> NoiseStats {
        NoiseStats {
            open_windows: self.windows.len(),
            tracked_sources: self.ladder.len(),
            ..self.stats.clone()
        }
    }

    fn source_of(hit: &Hit, identity: Option<Uuid>) -> Source {
        if let Some(k) = &hit.subject_key {
            return Source::Key(Arc::from(k.as_str()));
        }
        match (identity, hit.source_ip) {
            (Some(id), _) => Source::Identity(id),
            (None, Some(ip)) => Source::Ip(ip),
            (None, None) => Source::Key(hit.rule.clone()),
        }
    }

    fn allowlisted(&self, ip: Option<IpAddr>) -> bool {
        ip.is_some_and(|ip| self.cfg.allowlist.iter().any(|n| n.contains(&ip)))
    }

    /// Decides what one hit becomes; alerts (possibly a digest flushed to
    /// make room as well) are appended to `out`. `identity` is the attacker
    /// identity of the hit's address, when known.
    pub fn admit(
        &mut self,
        hit: Hit,
        identity: Option<Uuid>,
        now: DateTime<Utc>,
        out: &mut Vec<Alert>,
    ) {
        self.stats.hits += 1;
        if self.allowlisted(hit.source_ip) {
            self.stats.silenced += 1;
            return;
        }
        let source = Self::source_of(&hit, identity);
        let key: WindowKey = (hit.rule.clone(), source.clone());
        if hit.resolve {
            if self.open.remove(&key).is_some() {
                self.stats.resolves += 1;
                self.stats.alerted += 1;
                out.push(alert(
                    &hit,
                    identity,
                    &source,
                    AlertKind::Resolve,
                    now,
                    vec![hit.signal],
                ));
            } else {
                self.stats.resolves_ignored += 1;
            }
            return;
        }
        let escalation = self.climb(&hit, &source, now);
        if let Some(w) = self.windows.get_mut(&key) {
            if escalation.is_none() {
                w.suppressed += 1;
                w.since.get_or_insert(hit.ts);
                w.until = Some(hit.ts);
                w.first_signal.get_or_insert(hit.signal);
                w.last = hit;
                self.stats.suppressed += 1;
                return;
            }
        } else {
            if self.windows.len() >= self.cfg.max_tracked {
                if let Some((k, w, _)) = self.windows.pop_earliest() {
                    self.stats.evicted += 1;
                    self.digest_into(&k, &w, now, out);
                }
            }
            let length = hit.window.unwrap_or(self.cfg.window);
            self.windows.insert(
                key.clone(),
                Window {
                    length,
                    suppressed: 0,
                    since: None,
                    until: None,
                    first_signal: None,
                    last: hit.clone(),
                    identity,
                },
                after(now, length),
            );
        }
        if hit.subject_key.is_some() {
            if self.open.len() >= self.cfg.max_tracked {
                self.open.pop_earliest();
            }
            self.open
                .insert(key, (), after(now, Duration::from_secs(30 * 86_400)));
        }
        let kind = match escalation {
            Some(from) => {
                self.stats.escalations += 1;
                AlertKind::Escalation { from }
            }
            None => AlertKind::First,
        };
        self.stats.alerted += 1;
        out.push(alert(&hit, identity, &source, kind, now, vec![hit.signal]));
    }

    /// Moves the source up the ladder; `Some(previous)` when this hit is an
    /// escalation (it had been alerted for a lower stage before).
    fn climb(&mut self, hit: &Hit, source: &Source, now: DateTime<Utc>) -> Option<Option<Stage>> {
        let stage = hit.stage?;
        match self.ladder.get_mut(source) {
            Some(r) => {
                r.last_seen = now;
                if stage > r.stage {
                    let from = r.stage;
                    r.stage = stage;
                    Some(Some(from))
                } else {
                    None
                }
            }
            None => {
                if self.ladder.len() >= self.cfg.max_tracked {
                    self.ladder.pop_earliest();
                }
                self.ladder.insert(
                    source.clone(),
                    Rung {
                        stage,
                        last_seen: now,
                    },
                    after(now, self.cfg.stage_memory),
                );
                None
            }
        }
    }

    fn digest_into(
        &mut self,
        key: &WindowKey,
        w: &Window,
        now: DateTime<Utc>,
        out: &mut Vec<Alert>,
    ) {
        if w.suppressed == 0 {
            return;
        }
        let since = w.since.unwrap_or(now);
        let until = w.until.unwrap_or(now);
        let mut a = alert(
            &w.last,
            w.identity,
            &key.1,
            AlertKind::Digest {
                suppressed: w.suppressed,
                since,
                until,
            },
            now,
            w.first_signal.into_iter().chain([w.last.signal]).collect(),
        );
        a.summary = format!(
            "{} more matches of rule {} for {} were suppressed between {} and {}. The last one: {}",
            w.suppressed,
            key.0,
            key.1,
            since.format("%Y-%m-%d %H:%M:%S UTC"),
            until.format("%Y-%m-%d %H:%M:%S UTC"),
            w.last.title
        );
        a.facts
            .insert(0, Fact::new("suppressed", w.suppressed.to_string()));
        self.stats.digests += 1;
        out.push(a);
    }

    /// Ends the windows due at `now`: digests for those that suppressed
    /// something (they roll on), closing for those that stayed quiet; forgets
    /// ladder positions unused for `stage_memory`.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        while let Some((key, mut w, due)) = self.windows.pop_due(now) {
            if w.suppressed > 0 {
                self.digest_into(&key, &w, now, out);
                w.suppressed = 0;
                w.since = None;
                w.until = None;
                w.first_signal = None;
                let next = after(due, w.length).max(now);
                self.windows.insert(key, w, next);
            }
        }
        while let Some((src, rung, _)) = self.ladder.pop_due(now) {
            let expires = after(rung.last_seen, self.cfg.stage_memory);
            if expires > now {
                self.ladder.insert(src, rung, expires);
            }
        }
        while self.open.pop_due(now).is_some() {}
    }

    /// Digests for every window with suppressed hits, now (shutdown).
    pub fn flush(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        for (key, w, _) in self.windows.drain() {
            self.digest_into(&key, &w, now, out);
        }
    }
}

fn alert(
    hit: &Hit,
    identity: Option<Uuid>,
    source: &Source,
    kind: AlertKind,
    now: DateTime<Utc>,
    signals: Vec<Uuid>,
) -> Alert {
    let mut facts = hit.facts.clone();
    if let Some(id) = identity {
        facts.push(Fact::new("identity", id.to_string()));
    }
    if let AlertKind::Escalation { from } = &kind {
        facts.insert(
            0,
            Fact::new(
                "escalation",
                format!(
                    "{} → {}",
                    from.map(Stage::as_str).unwrap_or("none"),
                    hit.stage.map(Stage::as_str).unwrap_or("?")
                ),
            ),
        );
    }
    Alert {
        id: Uuid::now_v7(),
        ts: now,
        rule: hit.rule.to_string(),
        severity: match kind {
            AlertKind::Resolve => Severity::Info.max(hit.severity.min(Severity::Low)),
            _ => hit.severity,
        },
        kind,
        title: hit.title.clone(),
        summary: hit.summary.clone(),
        source_ip: hit.source_ip,
        identity,
        decky: hit.decky.clone(),
        service: hit.service.clone(),
        stage: hit.stage,
        dedup_key: format!("{}/{}", hit.rule, source),
        facts,
        signals,
        techniques: hit.techniques.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap() + chrono::Duration::milliseconds(s)
    }

    fn hit(rule: &str, ip: &str, stage: Option<Stage>, at: i64) -> Hit {
        Hit {
            rule: Arc::from(rule),
            severity: Severity::High,
            stage,
            title: format!("{rule} from {ip}"),
            summary: String::new(),
            source_ip: Some(ip.parse().unwrap()),
            subject_key: None,
            facts: vec![],
            resolve: false,
            window: None,
            decky: Some("web01".into()),
            service: Some("ssh".into()),
            signal: Uuid::now_v7(),
            ts: t(at),
            techniques: vec![],
        }
    }

    fn cfg() -> NoiseConfig {
        NoiseConfig {
            window: Duration::from_secs(60),
            ..NoiseConfig::default()
        }
    }

    fn kinds(out: &[Alert]) -> Vec<&'static str> {
        out.iter().map(|a| a.kind.name()).collect()
    }

    #[test]
    fn throttles_then_digests_every_suppressed_hit() {
        let mut g = NoiseGate::new(cfg());
        let mut out = Vec::new();
        for i in 0..1000 {
            g.admit(
                hit("auth_attempt", "203.0.113.7", Some(Stage::Auth), i * 10),
                None,
                t(i * 10),
                &mut out,
            );
        }
        assert_eq!(kinds(&out), ["first"]);
        g.tick(t(59_999), &mut out);
        assert_eq!(out.len(), 1, "window not over yet");
        g.tick(t(60_000), &mut out);
        assert_eq!(kinds(&out), ["first", "digest"]);
        let AlertKind::Digest {
            suppressed,
            since,
            until,
        } = out[1].kind
        else {
            panic!()
        };
        assert_eq!(suppressed, 999);
        assert_eq!((since, until), (t(10), t(9990)));
        assert_eq!(out[1].signals.len(), 2);
        assert_eq!(out[0].dedup_key, out[1].dedup_key);
        // The window rolled on; a quiet one closes it and the next hit is new.
        g.tick(t(120_000), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(g.stats().open_windows, 0);
        g.admit(
            hit("auth_attempt", "203.0.113.7", Some(Stage::Auth), 130_000),
            None,
            t(130_000),
            &mut out,
        );
        assert_eq!(kinds(&out), ["first", "digest", "first"]);
        let s = g.stats();
        assert_eq!(
            (s.hits, s.suppressed, s.digests, s.alerted),
            (1001, 999, 1, 2)
        );
    }

    #[test]
    fn escalation_up_the_ladder_only() {
        let mut g = NoiseGate::new(cfg());
        let mut out = Vec::new();
        let ip = "198.51.100.20";
        g.admit(
            hit("auth_attempt", ip, Some(Stage::Auth), 0),
            None,
            t(0),
            &mut out,
        );
        g.admit(
            hit("login_success", ip, Some(Stage::Login), 1),
            None,
            t(1),
            &mut out,
        );
        g.admit(
            hit("command_executed", ip, Some(Stage::Command), 2),
            None,
            t(2),
            &mut out,
        );
        g.admit(
            hit("command_executed", ip, Some(Stage::Command), 3),
            None,
            t(3),
            &mut out,
        );
        // A lower stage later is a first for its rule, not an escalation.
        g.admit(hit("probe", ip, Some(Stage::Scan), 4), None, t(4), &mut out);
        assert_eq!(kinds(&out), ["first", "escalation", "escalation", "first"]);
        assert_eq!(
            out[1].kind,
            AlertKind::Escalation {
                from: Some(Stage::Auth)
            }
        );
        assert_eq!(out[2].facts[0].value, "login → command");
        // Another source starts at the bottom.
        g.admit(
            hit("command_executed", "198.51.100.21", Some(Stage::Command), 5),
            None,
            t(5),
            &mut out,
        );
        assert_eq!(out.last().unwrap().kind, AlertKind::First);
    }

    #[test]
    fn identity_groups_addresses() {
        let mut g = NoiseGate::new(cfg());
        let mut out = Vec::new();
        let id = Uuid::now_v7();
        g.admit(
            hit("auth_attempt", "192.0.2.1", Some(Stage::Auth), 0),
            Some(id),
            t(0),
            &mut out,
        );
        g.admit(
            hit("auth_attempt", "192.0.2.2", Some(Stage::Auth), 1),
            Some(id),
            t(1),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].identity, Some(id));
        assert!(out[0].dedup_key.ends_with(&format!("identity:{id}")));
    }

    #[test]
    fn allowlist_silences() {
        let mut g = NoiseGate::new(NoiseConfig {
            allowlist: vec!["10.0.0.0/8".parse().unwrap()],
            ..cfg()
        });
        let mut out = Vec::new();
        g.admit(
            hit("login_success", "10.1.2.3", Some(Stage::Login), 0),
            None,
            t(0),
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(g.stats().silenced, 1);
    }

    #[test]
    fn resolves_only_what_is_open() {
        let mut g = NoiseGate::new(cfg());
        let mut out = Vec::new();
        let mut up = hit("response_backend_down", "192.0.2.9", None, 0);
        up.subject_key = Some("backend:n1/nftables".into());
        up.source_ip = None;
        up.resolve = true;
        g.admit(up.clone(), None, t(0), &mut out);
        assert!(out.is_empty(), "nothing open: startup 'online' is not news");
        let mut down = up.clone();
        down.resolve = false;
        g.admit(down, None, t(1), &mut out);
        g.admit(up.clone(), None, t(2), &mut out);
        g.admit(up, None, t(3), &mut out);
        assert_eq!(kinds(&out), ["first", "resolve"]);
        assert_eq!(out[0].dedup_key, out[1].dedup_key);
    }

    #[test]
    fn bounded_and_eviction_keeps_counts() {
        let mut g = NoiseGate::new(NoiseConfig {
            max_tracked: 100,
            ..cfg()
        });
        let mut out = Vec::new();
        let mut hits = 0u64;
        for round in 0..3 {
            for i in 0..1000u32 {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
                g.admit(
                    hit("auth_attempt", &ip, Some(Stage::Auth), round),
                    None,
                    t(round),
                    &mut out,
                );
                hits += 1;
            }
        }
        g.flush(t(10), &mut out);
        let s = g.stats();
        assert!(s.open_windows <= 100 && s.tracked_sources <= 100);
        let counted: u64 = out.iter().map(Alert::hits).sum();
        assert_eq!(
            counted, hits,
            "every hit is an alert or counted in a digest"
        );
    }
}
