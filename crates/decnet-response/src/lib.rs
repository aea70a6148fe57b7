//! decnet-response: active response.
//!
//! * [`policy`] — the `[response]` rules (documented there).
//! * [`Responder`] — consumes `events.>` and `identity.>` from the bus, decides
//!   bans (allowlist, escalation, dry-run), keeps the [`bans::BanTable`],
//!   hands bans to the backend runners and publishes `response.*` events.
//! * [`backend`] — nftables, fail2ban, and the in-process blocklist /
//!   CrowdSec decisions backends.
//! * [`state`] — per-backend runtime state (online/offline, activation
//!   crash → `pending_recovery` → `recovered`), driven by a [`state::Clock`].
//! * [`crowdsec`] — the bouncer endpoints (`/v1/decisions[/stream]`).
//! * [`api`] — plain functions behind the authenticated
//!   `/api/v1/response/*` routes.
//!
//! Persistence goes through the generic `Store` settings (JSON values under
//! `response.*` keys), so every process sharing a database sees the same
//! bans, audit trail, bouncer keys, policy and backend states; bans and
//! backend transitions also travel on the bus (`response.*`), and a
//! `Responder` applies bans published by its peers.

pub mod api;
pub mod backend;
pub mod bans;
pub mod crowdsec;
pub mod policy;
pub mod state;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_bus::{Bus, Delivery, Envelope, Payload};
use decnet_core::{Event, EventKind};
use decnet_store::Store;
use ipnet::IpNet;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use crate::backend::{Backend, Enforce, Fail2ban, InProcess, Nftables};
use crate::bans::{AuditEntry, Ban, BanSnapshot, BanTable, MAX_AUDIT};
pub use crate::policy::{BackendKind, Policy, PolicyError, Trigger};
use crate::state::{BackendState, Clock, SystemClock, Transition};

/// Store keys.
pub mod keys {
    /// Ban table snapshot.
    pub const BANS: &str = "response.bans";
    /// Audit trail.
    pub const AUDIT: &str = "response.audit";
    /// Bouncer keys (hashed).
    pub const BOUNCERS: &str = "response.bouncers";
    /// Policy `{fleet, effective}`.
    pub const POLICY: &str = "response.policy";
    /// Backend state prefix: `response.backend.<name>`.
    pub const BACKEND_PREFIX: &str = "response.backend.";
}

/// Errors of the response API.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// Bad policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The address is on the allowlist.
    #[error("{0} is allowlisted and is never banned")]
    Allowlisted(String),
    /// Nothing to act on.
    #[error("{0}")]
    NotFound(String),
    /// Duplicate.
    #[error("{0}")]
    Conflict(String),
    /// Store failure.
    #[error("store: {0}")]
    Store(String),
}

/// A bouncer API key (the secret is stored as its SHA-256 only).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BouncerKey {
    /// Bouncer name.
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub key_sha256: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Created by (username or `fleet`).
    pub created_by: String,
    /// Last decisions pull.
    #[serde(default)]
    pub last_pull: Option<DateTime<Utc>>,
}

/// Builds the driver for a backend kind (tests substitute their own).
pub type BackendFactory = Arc<dyn Fn(BackendKind, &Policy) -> Arc<dyn Backend> + Send + Sync>;

/// The default factory: real nft / fail2ban-client, in-process otherwise.
pub fn default_factory() -> BackendFactory {
    Arc::new(|k, p| -> Arc<dyn Backend> {
        match k {
            BackendKind::Nftables => Arc::new(Nftables::from_policy(p)),
            BackendKind::Fail2ban => Arc::new(Fail2ban::from_policy(p)),
            other => Arc::new(InProcess(other)),
        }
    })
}

struct Inner {
    policy: Arc<Policy>,
    fleet_raw: BTreeMap<String, String>,
    table: BanTable,
    windows: HashMap<IpAddr, VecDeque<DateTime<Utc>>>,
    audit: VecDeque<AuditEntry>,
    bouncers: Vec<BouncerKey>,
    cursors: HashMap<String, u64>,
    api_clients: HashSet<IpAddr>,
}

#[derive(Default)]
struct Ops {
    bans: Vec<Enforce>,
    unbans: Vec<IpNet>,
    replay_all: bool,
}

/// One backend's driver, state and work queue.
pub struct Runner {
    kind: BackendKind,
    driver: Arc<dyn Backend>,
    state: Mutex<BackendState>,
    ops: Mutex<Ops>,
    wake: Notify,
    probe_now: AtomicBool,
    stop: AtomicBool,
}

impl Runner {
    /// Current state.
    pub fn state(&self) -> BackendState {
        self.state.lock().clone()
    }

    /// Backend kind.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    fn enforces(&self) -> bool {
        matches!(self.kind, BackendKind::Nftables | BackendKind::Fail2ban)
    }

    fn push(&self, f: impl FnOnce(&mut Ops)) {
        f(&mut self.ops.lock());
        self.wake.notify_one();
    }
}

/// Maximum tracked sources in rate windows before stale ones are dropped.
const MAX_WINDOWS: usize = 200_000;

/// The response engine. Cheap to share (`Arc`).
pub struct Responder {
    node: Uuid,
    clock: Arc<dyn Clock>,
    bus: Arc<dyn Bus>,
    store: Option<Arc<dyn Store>>,
    inner: Mutex<Inner>,
    runners: Mutex<Vec<Arc<Runner>>>,
    factory: BackendFactory,
    host: Vec<IpAddr>,
    dirty: AtomicBool,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How to build a [`Responder`].
pub struct Options {
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Backend drivers.
    pub factory: BackendFactory,
    /// Persistence (optional: tests may run without).
    pub store: Option<Arc<dyn Store>>,
    /// Run the background tasks (worker, runners, persistence, LAPI listener).
    pub spawn: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            factory: default_factory(),
            store: None,
            spawn: true,
        }
    }
}

fn event_ip(e: &Event) -> Option<IpAddr> {
    let ip = e.src_ip;
    if ip.is_unspecified() {
        None
    } else {
        Some(ip)
    }
}

impl Responder {
    /// Builds the engine from the fleet's `[response]` key/values, restores
    /// persisted state, and (with `opts.spawn`) starts the worker, backend
    /// runners, persistence and the optional LAPI listener.
    pub async fn start(
        fleet_raw: &BTreeMap<String, String>,
        bus: Arc<dyn Bus>,
        opts: Options,
    ) -> Result<Arc<Responder>, ResponseError> {
        let mut policy = Policy::parse(fleet_raw)?;
        let store = opts.store.clone();
        let mut table = BanTable::new();
        let mut audit = VecDeque::new();
        let mut bouncers: Vec<BouncerKey> = Vec::new();
        if let Some(s) = &store {
            let get = |k: &'static str| {
                let s = s.clone();
                async move {
                    s.get_setting(k)
                        .await
                        .map_err(|e| ResponseError::Store(e.to_string()))
                }
            };
            if let Some(v) = get(keys::POLICY).await? {
                let fleet: Option<BTreeMap<String, String>> =
                    serde_json::from_value(v["fleet"].clone()).ok();
                let eff: Option<BTreeMap<String, String>> =
                    serde_json::from_value(v["effective"].clone()).ok();
                // An API edit survives restarts until the fleet file changes.
                if let (Some(f), Some(e)) = (fleet, eff) {
                    if &f == fleet_raw {
                        match Policy::parse(&e) {
                            Ok(p) => policy = p,
                            Err(err) => tracing::warn!(%err, "stored response policy ignored"),
                        }
                    }
                }
            }
            if let Some(v) = get(keys::BANS).await? {
                match serde_json::from_value::<BanSnapshot>(v) {
                    Ok(snap) => table = BanTable::restore(snap),
                    Err(e) => tracing::warn!(error = %e, "stored bans unreadable; starting empty"),
                }
            }
            if let Some(v) = get(keys::AUDIT).await? {
                audit = serde_json::from_value(v).unwrap_or_default();
            }
            if let Some(v) = get(keys::BOUNCERS).await? {
                bouncers = serde_json::from_value(v).unwrap_or_default();
            }
        }
        let now = opts.clock.now();
        for (name, secret) in &policy.bouncer_keys {
            let h = sha256_hex(secret);
            bouncers.retain(|b| b.name != *name);
            bouncers.push(BouncerKey {
                name: name.clone(),
                key_sha256: h,
                created_at: now,
                created_by: "fleet".into(),
                last_pull: None,
            });
        }
        let (shutdown, _) = watch::channel(false);
        let r = Arc::new(Responder {
            node: Uuid::now_v7(),
            clock: opts.clock,
            bus,
            store,
            inner: Mutex::new(Inner {
                policy: Arc::new(policy),
                fleet_raw: fleet_raw.clone(),
                table,
                windows: HashMap::new(),
                audit,
                bouncers,
                cursors: HashMap::new(),
                api_clients: HashSet::new(),
            }),
            runners: Mutex::new(Vec::new()),
            factory: opts.factory,
            host: backend::host_addresses(),
            dirty: AtomicBool::new(false),
            shutdown,
            tasks: Mutex::new(Vec::new()),
        });
        r.sync_runners("startup", opts.spawn).await;
        if opts.spawn {
            r.spawn_worker()?;
            let lapi = r.policy().lapi_listen.clone();
            if let Some(addr) = lapi {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|e| ResponseError::Invalid(format!("lapi_listen {addr}: {e}")))?;
                let app = crowdsec::router::<()>(r.clone());
                let mut stop = r.shutdown.subscribe();
                let h = tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop.wait_for(|s| *s).await;
                        })
                        .await;
                });
                r.tasks.lock().push(h);
                tracing::info!(%addr, "response: CrowdSec decisions API listening");
            }
        }
        Ok(r)
    }

    /// This process's id on the bus.
    pub fn node(&self) -> Uuid {
        self.node
    }

    /// The clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Current policy.
    pub fn policy(&self) -> Arc<Policy> {
        self.inner.lock().policy.clone()
    }

    /// Backend runners, in policy order.
    pub fn runners(&self) -> Vec<Arc<Runner>> {
        self.runners.lock().clone()
    }

    /// Stops background tasks and writes state.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        for r in self.runners() {
            r.stop.store(true, Ordering::Release);
            r.wake.notify_one();
        }
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.persist().await;
    }

    // ---- decisions ------------------------------------------------------

    /// Remembers an API client address (allowlisted by default).
    pub fn note_api_client(&self, ip: IpAddr) {
        let mut i = self.inner.lock();
        if i.api_clients.len() < 10_000 {
            i.api_clients.insert(ip);
        }
    }

    fn allowlisted(&self, i: &Inner, ip: IpAddr) -> bool {
        i.policy.allowlist.iter().any(|n| n.contains(&ip))
            || (i.policy.allowlist_defaults
                && (self.host.contains(&ip) || i.api_clients.contains(&ip)))
    }

    fn net_allowlisted(&self, i: &Inner, net: &IpNet) -> bool {
        i.policy
            .allowlist
            .iter()
            .any(|a| a.contains(net) || net.contains(a))
            || (i.policy.allowlist_defaults
                && self
                    .host
                    .iter()
                    .chain(i.api_clients.iter())
                    .any(|h| net.contains(h)))
    }

    /// Evaluates one decky event; returns the ban it caused, if any.
    pub fn on_event(&self, e: &Event) -> Option<Arc<Ban>> {
        let ip = event_ip(e)?;
        let now = self.clock.now();
        let ban = {
            let mut i = self.inner.lock();
            if i.policy.triggers.is_empty() || i.table.covering(ip).is_some() {
                return None;
            }
            if self.allowlisted(&i, ip) {
                return None;
            }
            let policy = i.policy.clone();
            let mut fired: Option<String> = None;
            if let Some((max_count, _)) = policy.longest_window() {
                if i.windows.len() >= MAX_WINDOWS && !i.windows.contains_key(&ip) {
                    let horizon = policy.longest_window().map(|(_, w)| w).unwrap_or_default();
                    let cutoff = now - chrono::Duration::from_std(horizon).unwrap_or_default();
                    i.windows
                        .retain(|_, q| q.back().is_some_and(|t| *t > cutoff));
                    if i.windows.len() >= MAX_WINDOWS {
                        i.windows.clear();
                    }
                }
                let q = i.windows.entry(ip).or_default();
                q.push_back(now);
                while q.len() > max_count as usize {
                    q.pop_front();
                }
                for t in &policy.triggers {
                    if let Trigger::Rate { count, window } = t {
                        let cutoff = now - chrono::Duration::from_std(*window).unwrap_or_default();
                        let n = q.iter().rev().take_while(|t| **t > cutoff).count();
                        if n >= *count as usize {
                            fired = Some(t.to_string());
                            break;
                        }
                    }
                }
            }
            if fired.is_none() {
                fired = policy
                    .triggers
                    .iter()
                    .find(|t| match t {
                        Trigger::AuthAttempt => e.kind == EventKind::AuthAttempt,
                        Trigger::Services(s) => s.contains(&e.service),
                        Trigger::Kinds(k) => k.contains(&e.kind),
                        Trigger::Any => true,
                        Trigger::Rate { .. } | Trigger::Identity => false,
                    })
                    .map(|t| t.to_string());
            }
            let why = fired?;
            i.windows.remove(&ip);
            let reason = format!("{why} on {}/{} ({})", e.decky, e.service, e.kind);
            self.decide(&mut i, IpNet::from(ip), reason, "policy", None, None, now)
                .0
        };
        self.after_ban(&ban, None);
        Some(ban)
    }

    /// Bans every member of an identity (`{identity_id, ips:[…]}`).
    pub fn on_identity(&self, identity_id: &str, ips: &[IpAddr]) -> Vec<Arc<Ban>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        {
            let mut i = self.inner.lock();
            if !i.policy.bans_identities() {
                return out;
            }
            for ip in ips.iter().take(10_000) {
                if ip.is_unspecified()
                    || i.table.covering(*ip).is_some()
                    || self.allowlisted(&i, *ip)
                {
                    continue;
                }
                let reason = format!("identity {identity_id}");
                let (b, _) = self.decide(
                    &mut i,
                    IpNet::from(*ip),
                    reason,
                    "identity",
                    None,
                    None,
                    now,
                );
                out.push(b);
            }
        }
        for b in &out {
            self.after_ban(b, None);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        i: &mut Inner,
        value: IpNet,
        reason: String,
        origin: &str,
        actor: Option<String>,
        duration: Option<Duration>,
        now: DateTime<Utc>,
    ) -> (Arc<Ban>, Option<Arc<Ban>>) {
        let policy = i.policy.clone();
        let (ban, replaced) = i.table.add(value, |id, offence| {
            let d = duration.unwrap_or_else(|| policy.ban_duration(offence));
            Ban {
                id,
                value,
                reason,
                origin: origin.to_owned(),
                actor,
                created_at: now,
                expires_at: now
                    + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1)),
                offence,
                dry_run: policy.dry_run,
            }
        });
        self.dirty.store(true, Ordering::Release);
        (ban, replaced)
    }

    fn after_ban(&self, ban: &Arc<Ban>, replaced: Option<&Arc<Ban>>) {
        tracing::info!(
            topic = "response.ban",
            ip = %ban.value,
            reason = %ban.reason,
            until = %ban.expires_at,
            dry_run = ban.dry_run,
            "ban"
        );
        self.bus.publish(Envelope::json(
            "response.ban",
            "ban",
            json!({"node": self.node, "ban": &**ban, "replaced": replaced.map(|b| b.id)}),
        ));
        if ban.dry_run {
            return;
        }
        let e = Enforce {
            value: ban.value,
            ttl_secs: ban.remaining_secs(self.clock.now()),
        };
        for r in self.runners() {
            if r.enforces() {
                r.push(|o| {
                    o.unbans.retain(|v| *v != e.value);
                    o.bans.push(e);
                });
            }
        }
    }

    fn after_unban(&self, ban: &Arc<Ban>, why: &str, actor: Option<&str>) {
        tracing::info!(topic = "response.unban", ip = %ban.value, why, "unban");
        self.bus.publish(Envelope::json(
            "response.unban",
            "unban",
            json!({"node": self.node, "ban": &**ban, "why": why, "actor": actor}),
        ));
        if ban.dry_run {
            return;
        }
        for r in self.runners() {
            if r.enforces() {
                r.push(|o| {
                    o.bans.retain(|b| b.value != ban.value);
                    o.unbans.push(ban.value);
                });
            }
        }
    }

    fn audit(&self, i: &mut Inner, actor: &str, action: &str, target: &str, reason: &str) {
        if i.audit.len() >= MAX_AUDIT {
            i.audit.pop_front();
        }
        i.audit.push_back(AuditEntry {
            ts: self.clock.now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            reason: reason.to_owned(),
        });
        self.dirty.store(true, Ordering::Release);
    }

    /// Manual ban (audited). `duration` defaults to the policy's escalation.
    pub fn manual_ban(
        &self,
        actor: &str,
        value: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<Arc<Ban>, ResponseError> {
        let net = policy::parse_net(value).ok_or_else(|| {
            ResponseError::Invalid(format!("{value:?} is not an address or CIDR"))
        })?;
        if net.prefix_len() < 8 && net.max_prefix_len() == 32
            || net.prefix_len() < 16 && net.max_prefix_len() == 128
        {
            return Err(ResponseError::Invalid(format!("{net} is too wide to ban")));
        }
        if let Some(d) = duration {
            if d.is_zero() || d.as_secs() > 100 * 365 * 86_400 {
                return Err(ResponseError::Invalid("duration out of range".into()));
            }
        }
        let reason: String = reason.chars().take(500).collect();
        let now = self.clock.now();
        let (ban, replaced) = {
            let mut i = self.inner.lock();
            if self.net_allowlisted(&i, &net) {
                return Err(ResponseError::Allowlisted(net.to_string()));
            }
            let r = self.decide(
                &mut i,
                net,
                reason.clone(),
                "manual",
                Some(actor.to_owned()),
                duration,
                now,
            );
            self.audit(&mut i, actor, "ban", &net.to_string(), &reason);
            r
        };
        self.after_ban(&ban, replaced.as_ref());
        Ok(ban)
    }

    /// Manual unban (audited).
    pub fn manual_unban(
        &self,
        actor: &str,
        value: &str,
        reason: &str,
    ) -> Result<Arc<Ban>, ResponseError> {
        let net = policy::parse_net(value).ok_or_else(|| {
            ResponseError::Invalid(format!("{value:?} is not an address or CIDR"))
        })?;
        let reason: String = reason.chars().take(500).collect();
        let ban = {
            let mut i = self.inner.lock();
            let b = i
                .table
                .remove(&net)
                .ok_or_else(|| ResponseError::NotFound(format!("{net} is not banned")))?;
            self.audit(&mut i, actor, "unban", &net.to_string(), &reason);
            self.dirty.store(true, Ordering::Release);
            b
        };
        self.after_unban(&ban, "manual", Some(actor));
        Ok(ban)
    }

    /// Drops expired bans (and tells the backends).
    pub fn sweep(&self) -> usize {
        let now = self.clock.now();
        let gone = {
            let mut i = self.inner.lock();
            let g = i.table.sweep(now);
            if !g.is_empty() {
                self.dirty.store(true, Ordering::Release);
            }
            g
        };
        for b in &gone {
            self.after_unban(b, "expired", None);
        }
        gone.len()
    }

    /// The active ban covering `ip`.
    pub fn ban_for(&self, ip: IpAddr) -> Option<Arc<Ban>> {
        self.inner.lock().table.covering(ip).cloned()
    }

    /// All active bans (dry-run included), newest first.
    pub fn bans(&self) -> Vec<Arc<Ban>> {
        let mut v: Vec<_> = self.inner.lock().table.active().cloned().collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.id));
        v
    }

    /// Audit trail, newest first.
    pub fn audit_trail(&self, limit: usize) -> Vec<AuditEntry> {
        self.inner
            .lock()
            .audit
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Plain-text blocklist: one enforced address or CIDR per line.
    pub fn blocklist_txt(&self) -> String {
        let i = self.inner.lock();
        let mut lines: Vec<String> = i
            .table
            .active()
            .filter(|b| !b.dry_run)
            .map(|b| backend::fmt_net(&b.value))
            .collect();
        drop(i);
        lines.sort();
        let mut s = String::with_capacity(lines.len() * 16);
        for l in lines {
            s.push_str(&l);
            s.push('\n');
        }
        s
    }

    // ---- policy ---------------------------------------------------------

    /// Replaces the policy (audited); counts as an activation of every
    /// enabled backend.
    pub async fn set_policy(
        self: &Arc<Self>,
        actor: &str,
        raw: BTreeMap<String, String>,
    ) -> Result<Arc<Policy>, ResponseError> {
        let p = Arc::new(Policy::parse(&raw)?);
        let fleet = {
            let mut i = self.inner.lock();
            i.policy = p.clone();
            i.windows.clear();
            self.audit(&mut i, actor, "policy", "response", "policy replaced");
            i.fleet_raw.clone()
        };
        if let Some(s) = &self.store {
            s.put_setting(keys::POLICY, &json!({"fleet": fleet, "effective": raw}))
                .await
                .map_err(|e| ResponseError::Store(e.to_string()))?;
        }
        let spawn = !self.tasks.lock().is_empty();
        self.sync_runners("policy reloaded", spawn).await;
        Ok(p)
    }

    /// Re-activates one backend (audited): an activation for crash tracking.
    pub async fn activate(
        self: &Arc<Self>,
        actor: &str,
        backend: &str,
    ) -> Result<(), ResponseError> {
        let r = self
            .runners()
            .into_iter()
            .find(|r| r.kind.as_str() == backend)
            .ok_or_else(|| ResponseError::NotFound(format!("backend {backend} is not enabled")))?;
        {
            let mut i = self.inner.lock();
            self.audit(&mut i, actor, "activate", backend, "activated by admin");
        }
        self.activate_runner(&r, &format!("activated by {actor}"))
            .await;
        Ok(())
    }

    async fn activate_runner(&self, r: &Arc<Runner>, reason: &str) {
        let now = self.clock.now();
        r.state.lock().record_activation(now, reason);
        if let Err(e) = r.driver.activate().await {
            tracing::warn!(backend = r.kind.as_str(), error = %e, "activation failed");
        }
        self.save_backend(r).await;
        r.probe_now.store(true, Ordering::Release);
        r.push(|o| o.replay_all = true);
    }

    async fn sync_runners(self: &Arc<Self>, reason: &str, spawn: bool) {
        let policy = self.policy();
        let current = self.runners();
        let mut next = Vec::new();
        for kind in &policy.backends {
            if let Some(r) = current.iter().find(|r| r.kind == *kind) {
                // Reconfigure: keep the state, swap the driver.
                let fresh = Arc::new(Runner {
                    kind: *kind,
                    driver: (self.factory)(*kind, &policy),
                    state: Mutex::new(r.state()),
                    ops: Mutex::new(std::mem::take(&mut *r.ops.lock())),
                    wake: Notify::new(),
                    probe_now: AtomicBool::new(true),
                    stop: AtomicBool::new(false),
                });
                r.stop.store(true, Ordering::Release);
                r.wake.notify_one();
                next.push(fresh);
            } else {
                let mut st = BackendState::new(kind.as_str());
                if let Some(s) = &self.store {
                    if let Ok(Some(v)) = s
                        .get_setting(&format!("{}{}", keys::BACKEND_PREFIX, kind.as_str()))
                        .await
                    {
                        if let Ok(saved) = serde_json::from_value::<BackendState>(v) {
                            st = saved;
                        }
                    }
                }
                next.push(Arc::new(Runner {
                    kind: *kind,
                    driver: (self.factory)(*kind, &policy),
                    state: Mutex::new(st),
                    ops: Mutex::new(Ops::default()),
                    wake: Notify::new(),
                    probe_now: AtomicBool::new(true),
                    stop: AtomicBool::new(false),
                }));
            }
        }
        for r in &current {
            if !policy.backends.contains(&r.kind) {
                r.stop.store(true, Ordering::Release);
                r.wake.notify_one();
            }
        }
        *self.runners.lock() = next.clone();
        for r in &next {
            self.activate_runner(r, reason).await;
            if spawn {
                let me = self.clone();
                let r2 = r.clone();
                let h = tokio::spawn(async move { me.run_backend(r2).await });
                self.tasks.lock().push(h);
            }
        }
    }

    async fn save_backend(&self, r: &Runner) {
        if let Some(s) = &self.store {
            let v = serde_json::to_value(r.state()).unwrap_or_default();
            if let Err(e) = s
                .put_setting(&format!("{}{}", keys::BACKEND_PREFIX, r.kind.as_str()), &v)
                .await
            {
                tracing::warn!(error = %e, "cannot store backend state");
            }
        }
    }

    /// One probe of one runner: applies transitions, publishes them.
    pub async fn probe(&self, r: &Runner) -> Vec<Transition> {
        let was_up = {
            let s = r.state.lock();
            s.probed && s.online
        };
        if !was_up {
            // Recreate what may have been lost (nft table after a flush).
            let _ = r.driver.activate().await;
        }
        let (ok, detail) = r.driver.probe().await;
        let window = self.policy().crash_window;
        let now = self.clock.now();
        let ts = r.state.lock().on_probe(ok, &detail, now, window);
        for t in &ts {
            if matches!(t, Transition::Online) {
                r.ops.lock().replay_all = true;
            }
            self.publish_transition(r, t);
        }
        if !ts.is_empty() {
            self.save_backend(r).await;
        }
        ts
    }

    fn publish_transition(&self, r: &Runner, t: &Transition) {
        let name = t.name();
        let state = r.state();
        let record = match t {
            Transition::PendingRecovery(p) | Transition::Recovered(p) => json!(p),
            _ => serde_json::Value::Null,
        };
        if matches!(t, Transition::Offline | Transition::PendingRecovery(_)) {
            tracing::warn!(topic = %format!("response.backend.{name}"), backend = r.kind.as_str(), detail = %state.detail, "backend {name}");
        } else {
            tracing::info!(topic = %format!("response.backend.{name}"), backend = r.kind.as_str(), detail = %state.detail, "backend {name}");
        }
        self.bus.publish(Envelope::json(
            format!("response.backend.{name}"),
            name,
            json!({"node": self.node, "backend": r.kind.as_str(), "state": state, "record": record}),
        ));
    }

    /// Applies queued work to one runner if it is online: full replay after
    /// a return, then queued bans and unbans. Returns false on a failure
    /// (the runner then re-probes).
    pub async fn flush(&self, r: &Runner) -> bool {
        if !r.enforces() {
            // The ban table is the in-process backends' state.
            *r.ops.lock() = Ops::default();
            return true;
        }
        let online = r.state.lock().online;
        let ops = {
            let mut o = r.ops.lock();
            if !online {
                // Bans wait for the full replay on return; unbans are kept.
                let n = o.bans.len();
                o.bans.clear();
                if n > 0 {
                    o.replay_all = true;
                }
                let pending = if o.replay_all {
                    self.enforced_count()
                } else {
                    0
                };
                r.state.lock().pending_replay = pending + o.unbans.len();
                return true;
            }
            std::mem::take(&mut *o)
        };
        let mut bans = ops.bans;
        if ops.replay_all {
            let now = self.clock.now();
            bans = self
                .inner
                .lock()
                .table
                .active()
                .filter(|b| !b.dry_run && b.expires_at > now)
                .map(|b| Enforce {
                    value: b.value,
                    ttl_secs: b.remaining_secs(now),
                })
                .collect();
            if !bans.is_empty() {
                tracing::info!(
                    backend = r.kind.as_str(),
                    bans = bans.len(),
                    "replaying bans"
                );
            }
        }
        let mut ok = true;
        if !bans.is_empty() {
            if let Err(e) = r.driver.ban(&bans).await {
                tracing::warn!(backend = r.kind.as_str(), error = %e, "ban failed; will replay");
                r.ops.lock().replay_all = true;
                ok = false;
            }
        }
        if !ops.unbans.is_empty() {
            if let Err(e) = r.driver.unban(&ops.unbans).await {
                tracing::warn!(backend = r.kind.as_str(), error = %e, "unban failed; will retry");
                r.ops.lock().unbans.extend(ops.unbans);
                ok = false;
            }
        }
        r.state.lock().pending_replay = 0;
        ok
    }

    fn enforced_count(&self) -> usize {
        self.inner
            .lock()
            .table
            .active()
            .filter(|b| !b.dry_run)
            .count()
    }

    async fn run_backend(self: Arc<Self>, r: Arc<Runner>) {
        let mut stop = self.shutdown.subscribe();
        let mut next_probe = tokio::time::Instant::now();
        loop {
            if r.stop.load(Ordering::Acquire) || *stop.borrow() {
                break;
            }
            let now = tokio::time::Instant::now();
            if now >= next_probe || r.probe_now.swap(false, Ordering::AcqRel) {
                self.probe(&r).await;
                next_probe = tokio::time::Instant::now() + self.policy().probe_interval;
            }
            let pending = {
                let o = r.ops.lock();
                !o.bans.is_empty() || !o.unbans.is_empty() || o.replay_all
            };
            if pending && !self.flush(&r).await {
                r.probe_now.store(true, Ordering::Release);
                // Back off a little before re-probing a failing backend.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            tokio::select! {
                _ = r.wake.notified() => {}
                _ = tokio::time::sleep_until(next_probe) => {}
                _ = stop.changed() => {}
            }
        }
    }

    // ---- bus worker, peers, persistence ----------------------------------

    fn spawn_worker(self: &Arc<Self>) -> Result<(), ResponseError> {
        let sub = |p: &str| {
            self.bus
                .subscribe(p, Delivery::Lossless)
                .map_err(|e| ResponseError::Invalid(e.to_string()))
        };
        let mut events = sub("events.>")?;
        let mut identity = sub("identity.>")?;
        let mut peers = sub("response.>")?;
        let me = self.clone();
        let mut stop = self.shutdown.subscribe();
        let h = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_persist = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    m = events.recv() => match m {
                        Some(env) => if let Some(e) = env.as_event() { me.on_event(e); },
                        None => break,
                    },
                    m = identity.recv() => match m {
                        Some(env) => { me.on_identity_envelope(&env); }
                        None => break,
                    },
                    m = peers.recv() => match m {
                        Some(env) => me.on_peer(&env),
                        None => break,
                    },
                    _ = tick.tick() => {
                        me.sweep();
                        if last_persist.elapsed() >= Duration::from_secs(5) {
                            me.persist().await;
                            last_persist = tokio::time::Instant::now();
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        });
        self.tasks.lock().push(h);
        Ok(())
    }

    /// Handles an `identity.*` envelope; only `formed` bans. Accepts
    /// `{identity_id|id, ips|members:[…]}`.
    pub fn on_identity_envelope(&self, env: &Envelope) -> Vec<Arc<Ban>> {
        if env.kind != "formed" && !env.topic.ends_with(".formed") {
            return Vec::new();
        }
        let Payload::Json(v) = &env.payload else {
            return Vec::new();
        };
        let id = v
            .get("identity_id")
            .or_else(|| v.get("id"))
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "?".into());
        let ips: Vec<IpAddr> = v
            .get("ips")
            .or_else(|| v.get("members"))
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().and_then(|s| s.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        self.on_identity(&id, &ips)
    }

    /// Applies a ban/unban published by another process sharing the bus.
    pub fn on_peer(&self, env: &Envelope) {
        let Payload::Json(v) = &env.payload else {
            return;
        };
        if v.get("node").and_then(|n| n.as_str()) == Some(&self.node.to_string()) {
            return;
        }
        let Some(ban) = v
            .get("ban")
            .and_then(|b| serde_json::from_value::<Ban>(b.clone()).ok())
        else {
            return;
        };
        let mut i = self.inner.lock();
        match env.kind.as_str() {
            "ban" => {
                let b = ban.clone();
                i.table
                    .add(ban.value, move |id, offence| Ban { id, offence, ..b });
            }
            "unban" => {
                i.table.remove(&ban.value);
            }
            _ => return,
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// Writes bans, audit and bouncer keys to the store if they changed, and
    /// the blocklist file if configured.
    pub async fn persist(&self) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let (bans, audit, bouncers, file) = {
            let i = self.inner.lock();
            (
                serde_json::to_value(i.table.snapshot()).unwrap_or_default(),
                serde_json::to_value(&i.audit).unwrap_or_default(),
                serde_json::to_value(&i.bouncers).unwrap_or_default(),
                i.policy.blocklist_file.clone(),
            )
        };
        if let Some(s) = &self.store {
            for (k, v) in [
                (keys::BANS, bans),
                (keys::AUDIT, audit),
                (keys::BOUNCERS, bouncers),
            ] {
                if let Err(e) = s.put_setting(k, &v).await {
                    tracing::warn!(key = k, error = %e, "cannot persist response state");
                    self.dirty.store(true, Ordering::Release);
                }
            }
        }
        if let Some(path) = file {
            let body = self.blocklist_txt();
            let tmp = format!("{path}.tmp");
            let r = tokio::fs::write(&tmp, body).await;
            if r.is_ok() {
                let _ = tokio::fs::rename(&tmp, &path).await;
            }
        }
    }

    // ---- bouncer keys -----------------------------------------------------

    /// Creates a bouncer key; returns it with the secret (shown once).
    pub fn create_bouncer(
        &self,
        actor: &str,
        name: &str,
    ) -> Result<(BouncerKey, String), ResponseError> {
        let name = name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ResponseError::Invalid(
                "bouncer name: 1-64 of [A-Za-z0-9._-]".into(),
            ));
        }
        let secret = {
            use rand::RngCore;
            let mut b = [0u8; 24];
            rand::rngs::OsRng.fill_bytes(&mut b);
            hex::encode(b)
        };
        let mut i = self.inner.lock();
        if i.bouncers.iter().any(|b| b.name == name) {
            return Err(ResponseError::Conflict(format!("bouncer {name} exists")));
        }
        let k = BouncerKey {
            name: name.to_owned(),
            key_sha256: sha256_hex(&secret),
            created_at: self.clock.now(),
            created_by: actor.to_owned(),
            last_pull: None,
        };
        i.bouncers.push(k.clone());
        self.audit(&mut i, actor, "bouncer_key.create", name, "");
        Ok((k, secret))
    }

    /// Deletes a bouncer key.
    pub fn delete_bouncer(&self, actor: &str, name: &str) -> Result<(), ResponseError> {
        let mut i = self.inner.lock();
        let before = i.bouncers.len();
        i.bouncers.retain(|b| b.name != name);
        if i.bouncers.len() == before {
            return Err(ResponseError::NotFound(format!("no bouncer {name}")));
        }
        i.cursors.remove(name);
        self.audit(&mut i, actor, "bouncer_key.delete", name, "");
        Ok(())
    }

    /// Bouncer keys (hashes only).
    pub fn bouncers(&self) -> Vec<BouncerKey> {
        self.inner.lock().bouncers.clone()
    }

    /// The bouncer owning `secret`, recording the pull.
    pub(crate) fn authenticate_bouncer(&self, secret: &str) -> Option<String> {
        let h = sha256_hex(secret);
        let now = self.clock.now();
        let mut i = self.inner.lock();
        let b = i.bouncers.iter_mut().find(|b| ct_eq(&b.key_sha256, &h))?;
        b.last_pull = Some(now);
        Some(b.name.clone())
    }

    /// Decisions for a bouncer stream pull: all on `startup`, else the delta
    /// since its last pull. Dry-run bans are never served.
    pub(crate) fn stream_for(
        &self,
        bouncer: &str,
        startup: bool,
    ) -> (Vec<Arc<Ban>>, Vec<Arc<Ban>>) {
        let mut i = self.inner.lock();
        let cursor = i.table.cursor();
        let prev = i.cursors.insert(bouncer.to_owned(), cursor);
        let (new, deleted) = match (startup, prev) {
            (false, Some(c)) => i.table.delta(c),
            _ => (i.table.active().cloned().collect(), Vec::new()),
        };
        (
            new.into_iter().filter(|b| !b.dry_run).collect(),
            deleted.into_iter().filter(|b| !b.dry_run).collect(),
        )
    }

    pub(crate) fn with_table<T>(&self, f: impl FnOnce(&BanTable) -> T) -> T {
        f(&self.inner.lock().table)
    }
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Reads every backend's state from the store: what a process that does not
/// run the backends (another API instance) serves as status.
pub async fn stored_backend_states(
    store: &dyn Store,
    kinds: &[BackendKind],
) -> Result<Vec<BackendState>, ResponseError> {
    let mut out = Vec::new();
    for k in kinds {
        let key = format!("{}{}", keys::BACKEND_PREFIX, k.as_str());
        if let Some(v) = store
            .get_setting(&key)
            .await
            .map_err(|e| ResponseError::Store(e.to_string()))?
        {
            if let Ok(s) = serde_json::from_value(v) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

static INSTALLED: parking_lot::RwLock<Option<Arc<Responder>>> = parking_lot::RwLock::new(None);

/// Makes `r` the process's responder (what the API routes serve); `None`
/// removes it. The binary installs the one it starts.
pub fn install(r: Option<Arc<Responder>>) {
    *INSTALLED.write() = r;
}

/// The installed responder, if active response is configured.
pub fn installed() -> Option<Arc<Responder>> {
    INSTALLED.read().clone()
}

/// What the binary calls: starts (and installs) a responder when the fleet
/// has `[response]` keys; `None` otherwise.
pub async fn start_for_fleet(
    raw: &BTreeMap<String, String>,
    bus: Arc<dyn Bus>,
    store: Option<Arc<dyn Store>>,
) -> Result<Option<Arc<Responder>>, ResponseError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let r = Responder::start(
        raw,
        bus,
        Options {
            store,
            ..Default::default()
        },
    )
    .await?;
    install(Some(r.clone()));
    Ok(Some(r))
}
