//! decnet-response: active response.
//!
//! * [`policy`] — the `[response]` rules (documented there).
//! * [`Responder`] — consumes `events.>` and `identity.>` from the bus, decides
//!   bans (allowlist, escalation, dry-run), keeps the [`bans::BanTable`],
//!   hands bans to the backend runners and publishes `response.*` events.
//!   Its work is split by concern: `decide.rs` (ban decisions and the ban
//!   table's views), `runners.rs` ([`Runner`]: one task per backend,
//!   probes, replay), `persist.rs` (store settings, [`keys`]),
//!   `bouncers.rs` ([`BouncerKey`]s), `worker.rs` (the bus consumer and the
//!   optional decisions listener).
//! * [`backend`] — nftables, fail2ban, and the in-process blocklist /
//!   CrowdSec decisions backends.
//! * [`state`] — per-backend runtime state (online/offline, activation
//!   crash → `pending_recovery` → `recovered`), driven by a [`state::Clock`].
//! * [`crowdsec`] — the bouncer endpoints (`/v1/decisions[/stream]`).
//! * [`api`] — plain functions behind the authenticated
//!   `/api/v1/response/*` routes. Secrets (bouncer keys) are write-only
//!   there: the policy view masks them.
//!
//! Persistence goes through the generic `Store` settings (JSON values under
//! `response.*` keys), so every process sharing a database sees the same
//! bans, audit trail, bouncer keys, policy and backend states; bans and
//! backend transitions also travel on the bus (`response.*`), and a
//! `Responder` applies bans published by its peers.

pub mod api;
pub mod backend;
pub mod bans;
mod bouncers;
pub mod crowdsec;
mod decide;
mod persist;
pub mod policy;
mod runners;
pub mod state;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_bus::Bus;
use decnet_store::Store;
use parking_lot::Mutex;
use tokio::sync::watch;
use uuid::Uuid;

use crate::bans::{AuditEntry, BanTable};
pub use crate::bouncers::BouncerKey;
pub use crate::persist::keys;
pub use crate::policy::{BackendKind, Policy, PolicyError, Trigger};
pub use crate::runners::{default_factory, stored_backend_states, BackendFactory, Runner};
use crate::state::{Clock, SystemClock};

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

/// The decision state, under one lock.
struct Inner {
    policy: Arc<Policy>,
    /// The fleet file's `[response]` (stored beside API edits).
    fleet_raw: BTreeMap<String, String>,
    table: BanTable,
    /// Recent event times per source, for `events:N/T` triggers.
    windows: HashMap<IpAddr, VecDeque<DateTime<Utc>>>,
    audit: VecDeque<AuditEntry>,
    bouncers: Vec<BouncerKey>,
    /// Each bouncer's stream position.
    cursors: HashMap<String, u64>,
    api_clients: HashSet<IpAddr>,
}

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

impl Responder {
    /// Builds the engine from the fleet's `[response]` key/values, restores
    /// persisted state, and (with `opts.spawn`) starts the worker, backend
    /// runners, persistence and the optional LAPI listener.
    pub async fn start(
        fleet_raw: &BTreeMap<String, String>,
        bus: Arc<dyn Bus>,
        opts: Options,
    ) -> Result<Arc<Responder>, ResponseError> {
        let store = opts.store.clone();
        let mut restored = persist::restore(store.as_deref(), fleet_raw).await?;
        bouncers::merge_fleet_keys(
            &mut restored.bouncers,
            &restored.policy.bouncer_keys,
            opts.clock.now(),
        );
        let (shutdown, _) = watch::channel(false);
        let r = Arc::new(Responder {
            node: Uuid::now_v7(),
            clock: opts.clock,
            bus,
            store,
            inner: Mutex::new(Inner {
                policy: Arc::new(restored.policy),
                fleet_raw: fleet_raw.clone(),
                table: restored.table,
                windows: HashMap::new(),
                audit: restored.audit,
                bouncers: restored.bouncers,
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
                r.spawn_lapi(&addr).await?;
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
        self.store_policy(&fleet, &raw).await?;
        let spawn = !self.tasks.lock().is_empty();
        self.sync_runners("policy reloaded", spawn).await;
        Ok(p)
    }

    /// Stops background tasks and writes state.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        for r in self.runners() {
            r.stop();
        }
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.persist().await;
    }

    pub(crate) fn with_table<T>(&self, f: impl FnOnce(&BanTable) -> T) -> T {
        f(&self.inner.lock().table)
    }
}

/// What the binary calls: starts a responder when the fleet
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
    Ok(Some(r))
}
