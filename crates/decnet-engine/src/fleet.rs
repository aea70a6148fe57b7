//! Running deckies: deploy, teardown, live service changes, mutation,
//! lifecycle tracking, shutdown.
//!
//! The fleet is the only owner of listeners. Each decky's services are
//! independent [`RunningService`]s, so adding or removing one never touches
//! the sessions of the others.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use decnet_bus::{Bus, Envelope};
use decnet_core::catalog::Transport;
use decnet_core::subject::sanitize_token;
use decnet_core::DeckySpec;
use decnet_net::dhcp::DhcpClient;
use decnet_net::{AttachSpec, Network};
use decnet_services::{start_service, DeckyCtx, Limits, Registry, RunningService};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The unit of `mutate_interval` in production: minutes.
pub const MUTATE_UNIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Root data directory; each decky gets `deckies/<name>/` under it.
    pub data_dir: PathBuf,
    /// Added to every port (demo without privileges: 10000).
    pub port_offset: u16,
    /// Per-connection limits.
    pub limits: Limits,
}

/// Why a fleet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A decky of that name is already running.
    #[error("decky '{0}' is already running")]
    AlreadyRunning(String),
    /// No such decky.
    #[error("no decky named '{0}'")]
    NotFound(String),
    /// Some service failed to start; the decky was rolled back.
    #[error("decky '{decky}': {message}")]
    Service {
        /// Decky name.
        decky: String,
        /// The service error.
        message: String,
    },
    /// The service is already running on that decky.
    #[error("service '{service}' is already running on decky '{decky}'")]
    ServiceExists {
        /// Decky name.
        decky: String,
        /// Service name.
        service: String,
    },
    /// The decky does not run that service.
    #[error("decky '{decky}' does not run service '{service}'")]
    ServiceMissing {
        /// Decky name.
        decky: String,
        /// Service name.
        service: String,
    },
    /// The name is not a known or implemented service.
    #[error("unknown service '{0}'")]
    UnknownService(String),
    /// The service configuration is invalid.
    #[error("invalid configuration for '{service}': {message}")]
    InvalidConfig {
        /// Service name.
        service: String,
        /// What is wrong.
        message: String,
    },
    /// Filesystem trouble with the data directory.
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    /// The decky could not be put on the network (alias / netns modes).
    #[error("decky '{decky}': network: {source}")]
    Network {
        /// Decky name.
        decky: String,
        /// What failed.
        source: decnet_net::NetError,
    },
}

/// Lifecycle state of a decky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeckyState {
    /// Accepted, not started yet.
    Pending,
    /// Binding listeners.
    Deploying,
    /// All its implemented services are listening.
    Running,
    /// Deployment failed; `error` says why.
    Failed,
    /// Being stopped.
    TearingDown,
    /// Stopped.
    Removed,
}

/// Lifecycle record of a decky (kept after failure and removal).
#[derive(Clone, Debug, Serialize)]
pub struct Lifecycle {
    /// Lifecycle id (changes on every deploy).
    pub id: uuid::Uuid,
    /// Decky name.
    pub name: String,
    /// State.
    pub state: DeckyState,
    /// Error when failed.
    pub error: Option<String>,
    /// Last transition.
    pub updated_at: DateTime<Utc>,
}

/// One service of a decky as reported to users.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceSummary {
    /// Service name.
    pub name: String,
    /// `tcp/22`-style bound ports (after any shift); empty when not running.
    pub ports: Vec<String>,
    /// Why it is not running, when it is not.
    pub unavailable: Option<String>,
}

/// A decky as reported to users.
#[derive(Clone, Debug, Serialize)]
pub struct DeckySummary {
    /// Name.
    pub name: String,
    /// Primary address (IPv4 when it has one).
    pub ip: String,
    /// A dual-stack decky's IPv6 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip6: Option<String>,
    /// Archetype.
    pub archetype: Option<String>,
    /// Hostname from the persona.
    pub hostname: String,
    /// Distro display name.
    pub os: String,
    /// MAC address of the persona (the link's MAC in netns mode).
    pub mac: String,
    /// NIC vendor of that MAC.
    pub mac_vendor: String,
    /// Persona generation (bumped by each mutation).
    pub generation: u32,
    /// State.
    pub state: DeckyState,
    /// Services.
    pub services: Vec<ServiceSummary>,
    /// Automatic mutation period in minutes.
    pub mutate_interval: Option<u32>,
    /// When the persona was last re-rolled (`None`: never since deploy).
    pub mutated_at: Option<DateTime<Utc>>,
    /// Sessions still running on an earlier persona (they end on their own).
    pub retired_sessions: usize,
}

struct RunningDecky {
    ctx: Arc<DeckyCtx>,
    services: Vec<RunningService>,
    unavailable: Vec<(String, String)>,
    /// Tarpit ports; they serve no persona, so mutations leave them be.
    tarpits: Vec<RunningService>,
    /// Services of earlier personas whose ports are closed but whose
    /// sessions still run; stopped with the decky, pruned as they empty.
    retired: Vec<RunningService>,
    mutated_at: Option<DateTime<Utc>>,
}

impl RunningDecky {
    fn new(ctx: Arc<DeckyCtx>, started: Started) -> Self {
        RunningDecky {
            ctx,
            services: started.services,
            unavailable: started.unavailable,
            tarpits: started.tarpits,
            retired: Vec::new(),
            mutated_at: None,
        }
    }

    /// Every running service, tarpit and retired one (for teardown).
    fn all(&self) -> impl Iterator<Item = &RunningService> {
        self.services
            .iter()
            .chain(&self.tarpits)
            .chain(&self.retired)
    }
}

/// What `start_all` started.
struct Started {
    services: Vec<RunningService>,
    unavailable: Vec<(String, String)>,
    tarpits: Vec<RunningService>,
}

/// The deckies of this process.
pub struct Fleet {
    config: EngineConfig,
    registry: Registry,
    bus: Arc<dyn Bus>,
    network: Arc<Network>,
    cancel: CancellationToken,
    deckies: Mutex<BTreeMap<String, RunningDecky>>,
    lifecycle: parking_lot::Mutex<BTreeMap<String, Lifecycle>>,
    /// Topology each topology-owned decky belongs to.
    topology_of: parking_lot::Mutex<BTreeMap<String, String>>,
    /// `[content]` as deckies deployed from now on get it.
    content: parking_lot::RwLock<decnet_services::ContentCtx>,
}

impl Fleet {
    /// New empty fleet on loopback.
    pub fn new(config: EngineConfig, registry: Registry, bus: Arc<dyn Bus>) -> Arc<Self> {
        Self::new_on(config, registry, bus, Arc::new(Network::loopback()))
    }

    /// New empty fleet whose deckies are attached through `network`
    /// (alias or netns mode).
    pub fn new_on(
        config: EngineConfig,
        registry: Registry,
        bus: Arc<dyn Bus>,
        network: Arc<Network>,
    ) -> Arc<Self> {
        Arc::new(Fleet {
            config,
            registry,
            bus,
            network,
            cancel: CancellationToken::new(),
            deckies: Mutex::new(BTreeMap::new()),
            lifecycle: parking_lot::Mutex::new(BTreeMap::new()),
            topology_of: parking_lot::Mutex::new(BTreeMap::new()),
            content: parking_lot::RwLock::new(decnet_services::ContentCtx::default()),
        })
    }

    /// The service registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The bus events are published on.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    fn set_state(&self, name: &str, state: DeckyState, error: Option<String>) -> Lifecycle {
        let mut lc = self.lifecycle.lock();
        let entry = lc.entry(name.to_owned()).or_insert_with(|| Lifecycle {
            id: uuid::Uuid::now_v7(),
            name: name.to_owned(),
            state,
            error: None,
            updated_at: Utc::now(),
        });
        if state == DeckyState::Pending {
            entry.id = uuid::Uuid::now_v7();
        }
        entry.state = state;
        entry.error = error;
        entry.updated_at = Utc::now();
        let rec = entry.clone();
        drop(lc);
        self.publish_decky(name, "lifecycle", serde_json::json!({"decky_name": name, "state": state, "error": rec.error, "lifecycle_id": rec.id}));
        rec
    }

    fn publish_decky(&self, name: &str, event: &str, mut payload: serde_json::Value) {
        if let (Some(t), Some(obj)) = (
            self.topology_of.lock().get(name).cloned(),
            payload.as_object_mut(),
        ) {
            obj.insert("topology_id".into(), t.into());
        }
        self.bus.publish(Envelope::json(
            format!("decky.{}.{event}", sanitize_token(name)),
            event,
            payload,
        ));
    }

    /// Marks a decky as accepted for deployment (API: 202 before the work).
    pub fn accept(&self, name: &str) -> Lifecycle {
        self.set_state(name, DeckyState::Pending, None)
    }

    /// Lifecycle of every decky this fleet has seen.
    pub fn lifecycle(&self) -> Vec<Lifecycle> {
        self.lifecycle.lock().values().cloned().collect()
    }

    /// Names and IPs of running deckies (for conflict checks).
    pub async fn in_use(&self) -> (Vec<String>, Vec<std::net::IpAddr>) {
        let d = self.deckies.lock().await;
        (
            d.keys().cloned().collect(),
            d.values().flat_map(|r| r.ctx.addrs()).collect(),
        )
    }

    /// Starts a decky's services, then its tarpits; on any failure stops
    /// what was started.
    async fn start_all(&self, ctx: &Arc<DeckyCtx>) -> Result<Started, EngineError> {
        let (services, unavailable) = self.start_services(ctx).await?;
        let mut tarpits = Vec::new();
        for spec in ctx.spec.tarpits.clone() {
            match decnet_services::tarpit::start_tarpit(ctx.clone(), spec, &self.cancel).await {
                Ok(t) => tarpits.push(t),
                Err(e) => {
                    for s in services.iter().chain(&tarpits) {
                        s.stop().await;
                    }
                    return Err(EngineError::Service {
                        decky: ctx.spec.name.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(Started {
            services,
            unavailable,
            tarpits,
        })
    }

    async fn start_services(
        &self,
        ctx: &Arc<DeckyCtx>,
    ) -> Result<(Vec<RunningService>, Vec<(String, String)>), EngineError> {
        let mut services = Vec::new();
        let mut unavailable = Vec::new();
        for name in ctx.spec.services.clone() {
            let Some(service) = self.registry.get(&name) else {
                unavailable.push((name, "not implemented in this build".to_owned()));
                continue;
            };
            let started = match service.validate(ctx.spec.config(&name)) {
                Err(e) => Err(e.to_string()),
                Ok(()) => start_service(ctx.clone(), service.as_ref(), &self.cancel)
                    .await
                    .map_err(|e| e.to_string()),
            };
            match started {
                Ok(r) => services.push(r),
                Err(message) => {
                    for s in &services {
                        s.stop().await;
                    }
                    return Err(EngineError::Service {
                        decky: ctx.spec.name.clone(),
                        message,
                    });
                }
            }
        }
        Ok((services, unavailable))
    }

    /// Sets how deckies deployed from now on live (the fleet file's
    /// `[content]`; a test's manual clock). Running deckies keep theirs.
    pub fn set_content(&self, content: decnet_services::ContentCtx) {
        *self.content.write() = content;
    }

    /// A decky's context, attached to the network (in alias/netns mode its
    /// address or namespace exists when this returns; undo with `detach`).
    async fn new_ctx(
        &self,
        spec: DeckySpec,
        generation: u32,
    ) -> Result<Arc<DeckyCtx>, EngineError> {
        let data_dir = self.config.data_dir.join("deckies").join(&spec.name);
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| EngineError::DataDir(data_dir.display().to_string(), e))?;
        let mut ctx = DeckyCtx::new(
            spec,
            generation,
            data_dir,
            self.bus.clone(),
            self.config.limits.clone(),
            self.config.port_offset,
        );
        ctx.content = self.content.read().clone();
        if self.network.mode() != decnet_core::NetMode::Loopback {
            let network = self.network.clone();
            let (name, ip, ip6, mac, nmap_os) = (
                ctx.spec.name.clone(),
                ctx.spec.ip,
                ctx.spec.ip6,
                ctx.persona.mac,
                ctx.spec.nmap_os.clone(),
            );
            // A DHCP decky asks as its persona's OS would (host name, vendor class).
            let dhcp = ctx.spec.dhcp.then(|| {
                DhcpClient::for_os(&nmap_os, &ctx.persona.hostname, mac, &ctx.persona.kernel)
            });
            let attached = tokio::task::spawn_blocking(move || {
                network.attach(&AttachSpec {
                    name: &name,
                    ip,
                    ip6,
                    mac,
                    nmap_os: &nmap_os,
                    dhcp: dhcp.as_ref(),
                })
            })
            .await
            .map_err(|e| decnet_net::NetError::Config(format!("attach task failed: {e}")))
            .and_then(|r| r)
            .map_err(|source| EngineError::Network {
                decky: ctx.spec.name.clone(),
                source,
            })?;
            // A leased address replaces the placeholder everywhere (listeners,
            // events, summaries).
            ctx.spec.ip = attached.ip;
            ctx.net = Some(Arc::new(attached));
        }
        Ok(Arc::new(ctx))
    }

    /// Undoes the network part of `new_ctx` (after the listeners stopped).
    async fn detach(&self, ctx: &DeckyCtx) {
        if self.network.mode() == decnet_core::NetMode::Loopback {
            return;
        }
        let network = self.network.clone();
        let (name, addrs) = (ctx.spec.name.clone(), ctx.spec.addrs());
        let done = tokio::task::spawn_blocking(move || network.detach(&name, &addrs)).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(decky = %ctx.spec.name, "network detach: {e}"),
            Err(e) => tracing::warn!(decky = %ctx.spec.name, "network detach task: {e}"),
        }
    }

    /// Brings a decky up: persona from its seed, every implemented service
    /// listening. If any service fails to bind, the ones already started
    /// are stopped, the decky is marked failed and the error returned.
    pub async fn deploy(&self, spec: DeckySpec) -> Result<DeckySummary, EngineError> {
        self.deploy_in(spec, None).await
    }

    /// Topology a decky belongs to, if any.
    pub fn topology_of(&self, name: &str) -> Option<String> {
        self.topology_of.lock().get(name).cloned()
    }

    /// [`Fleet::deploy`] for a decky owned by a topology: its bus events
    /// carry `topology_id` so the topology stream can pick them up.
    pub async fn deploy_in(
        &self,
        spec: DeckySpec,
        topology: Option<&str>,
    ) -> Result<DeckySummary, EngineError> {
        let mut deckies = self.deckies.lock().await;
        if deckies.contains_key(&spec.name) {
            return Err(EngineError::AlreadyRunning(spec.name));
        }
        let name = spec.name.clone();
        match topology {
            Some(t) => self.topology_of.lock().insert(name.clone(), t.to_owned()),
            None => self.topology_of.lock().remove(&name),
        };
        if self
            .lifecycle
            .lock()
            .get(&name)
            .is_none_or(|l| l.state != DeckyState::Pending)
        {
            self.set_state(&name, DeckyState::Pending, None);
        }
        self.set_state(&name, DeckyState::Deploying, None);
        let result = match self.new_ctx(spec, 0).await {
            Ok(ctx) => match self.start_all(&ctx).await {
                Ok(started) => Ok(RunningDecky::new(ctx, started)),
                Err(e) => {
                    self.detach(&ctx).await;
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(running) => {
                let summary = summarize(&running);
                deckies.insert(name.clone(), running);
                drop(deckies);
                self.set_state(&name, DeckyState::Running, None);
                Ok(summary)
            }
            Err(e) => {
                drop(deckies);
                self.set_state(&name, DeckyState::Failed, Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Stops one decky and its sessions.
    pub async fn teardown(&self, name: &str) -> Result<(), EngineError> {
        let decky = self
            .deckies
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        self.set_state(name, DeckyState::TearingDown, None);
        for s in decky.all() {
            s.stop().await;
        }
        self.detach(&decky.ctx).await;
        self.set_state(name, DeckyState::Removed, None);
        Ok(())
    }

    /// Starts one more service on a running decky without touching the
    /// others (their sessions survive). Publishes `decky.<name>.service_added`.
    pub async fn add_service(
        &self,
        name: &str,
        service: &str,
        config: Option<BTreeMap<String, String>>,
    ) -> Result<Vec<String>, EngineError> {
        let svc = self
            .registry
            .get(service)
            .ok_or_else(|| EngineError::UnknownService(service.to_owned()))?
            .clone();
        let mut deckies = self.deckies.lock().await;
        let decky = deckies
            .get_mut(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        if decky.services.iter().any(|s| s.name == service) {
            return Err(EngineError::ServiceExists {
                decky: name.to_owned(),
                service: service.to_owned(),
            });
        }
        let mut spec = decky.ctx.spec.clone();
        if let Some(cfg) = config {
            spec.service_config.insert(service.to_owned(), cfg);
        }
        svc.validate(spec.config(service))
            .map_err(|e| EngineError::InvalidConfig {
                service: service.to_owned(),
                message: e.to_string(),
            })?;
        if !spec.services.iter().any(|s| s == service) {
            spec.services.push(service.to_owned());
        }
        // The running services keep the old context (same persona); the new
        // one gets a context that knows its config. Both share the persona seed.
        let ctx = Arc::new(decky.ctx.with_spec(spec.clone()));
        let running = start_service(ctx.clone(), svc.as_ref(), &self.cancel)
            .await
            .map_err(|e| EngineError::Service {
                decky: name.to_owned(),
                message: e.to_string(),
            })?;
        decky.services.push(running);
        decky.unavailable.retain(|(n, _)| n != service);
        decky.ctx = ctx;
        let list = decky.ctx.spec.services.clone();
        drop(deckies);
        self.publish_decky(
            name,
            "service_added",
            serde_json::json!({"decky_name": name, "service": service, "services": list}),
        );
        Ok(list)
    }

    /// Stops one service of a decky; the others are untouched. Publishes
    /// `decky.<name>.service_removed` with the remaining list.
    pub async fn remove_service(
        &self,
        name: &str,
        service: &str,
    ) -> Result<Vec<String>, EngineError> {
        let mut deckies = self.deckies.lock().await;
        let decky = deckies
            .get_mut(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        // A listening service is stopped; a catalog service this build cannot
        // run is only dropped from the list. Either way the spec changes once.
        if let Some(pos) = decky.services.iter().position(|s| s.name == service) {
            decky.services.remove(pos).stop().await;
        } else if let Some(pos) = decky.unavailable.iter().position(|(n, _)| n == service) {
            decky.unavailable.remove(pos);
        } else {
            return Err(EngineError::ServiceMissing {
                decky: name.to_owned(),
                service: service.to_owned(),
            });
        }
        let mut spec = decky.ctx.spec.clone();
        spec.services.retain(|s| s != service);
        decky.ctx = Arc::new(decky.ctx.with_spec(spec));
        let list = decky.ctx.spec.services.clone();
        drop(deckies);
        self.publish_decky(
            name,
            "service_removed",
            serde_json::json!({"decky_name": name, "service": service, "services": list}),
        );
        Ok(list)
    }

    /// Applies a new config to one service: restarts only that service.
    pub async fn update_service_config(
        &self,
        name: &str,
        service: &str,
        config: BTreeMap<String, String>,
    ) -> Result<Vec<String>, EngineError> {
        if let Some(svc) = self.registry.get(service) {
            svc.validate(&config)
                .map_err(|e| EngineError::InvalidConfig {
                    service: service.to_owned(),
                    message: e.to_string(),
                })?;
        }
        self.remove_service(name, service).await?;
        let list = self.add_service(name, service, Some(config)).await?;
        self.publish_decky(
            name,
            "service_config_updated",
            serde_json::json!({"decky_name": name, "service": service}),
        );
        Ok(list)
    }

    /// Re-rolls a decky's persona (new hostname, banners, keys: next
    /// generation of its seed) keeping its services, address and tarpits.
    /// Sessions already open are not cut: their services stop accepting
    /// and close their ports, the sessions run on (on the old persona)
    /// until they end, and the new persona's listeners take the ports.
    /// Publishes `decky.<name>.mutated` with the old and new persona.
    pub async fn mutate(&self, name: &str) -> Result<DeckySummary, EngineError> {
        let mut deckies = self.deckies.lock().await;
        let decky = deckies
            .get_mut(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        decky.retired.retain(|s| s.sessions() > 0);
        for s in &decky.services {
            s.stop_accepting().await;
        }
        let old = persona_brief(&decky.ctx);
        let generation = decky.ctx.generation + 1;
        let ctx = Arc::new(decky.ctx.mutated(generation));
        match self.start_services(&ctx).await {
            Ok((services, unavailable)) => {
                let previous = std::mem::replace(&mut decky.services, services);
                decky.retired.extend(previous);
                decky.unavailable = unavailable;
                decky.ctx = ctx;
                let now = Utc::now();
                decky.mutated_at = Some(now);
                let new = persona_brief(&decky.ctx);
                let summary = summarize(decky);
                drop(deckies);
                self.publish_decky(
                    name,
                    "mutated",
                    serde_json::json!({
                        "decky_name": name,
                        "generation": generation,
                        "hostname": summary.hostname,
                        "ip": summary.ip,
                        "mutated_at": now,
                        "old": old,
                        "new": new,
                        "sessions_kept": summary.retired_sessions,
                    }),
                );
                Ok(summary)
            }
            Err(e) => {
                // The old listeners are closed already: the decky is down.
                if let Some(d) = deckies.remove(name) {
                    for s in d.all() {
                        s.stop().await;
                    }
                    self.detach(&d.ctx).await;
                }
                drop(deckies);
                self.set_state(name, DeckyState::Failed, Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Stops a decky's services, re-attaches it to the network and starts
    /// them again as the same host (on a new DHCP address: sessions on
    /// the old address are dead anyway).
    async fn restart(&self, name: &str) -> Result<DeckySummary, EngineError> {
        let mut deckies = self.deckies.lock().await;
        let decky = deckies
            .get_mut(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        for s in decky.all() {
            s.stop().await;
        }
        let generation = decky.ctx.generation;
        self.detach(&decky.ctx).await;
        let ctx = match self.new_ctx(decky.ctx.spec.clone(), generation).await {
            Ok(ctx) => ctx,
            Err(e) => {
                deckies.remove(name);
                drop(deckies);
                self.set_state(name, DeckyState::Failed, Some(e.to_string()));
                return Err(e);
            }
        };
        match self.start_all(&ctx).await {
            Ok(started) => {
                let mutated_at = decky.mutated_at;
                *decky = RunningDecky::new(ctx, started);
                decky.mutated_at = mutated_at;
                let summary = summarize(decky);
                drop(deckies);
                self.publish_decky(name, "restarted", serde_json::json!({"decky_name": name, "generation": generation, "hostname": summary.hostname, "ip": summary.ip}));
                Ok(summary)
            }
            Err(e) => {
                deckies.remove(name);
                drop(deckies);
                self.detach(&ctx).await;
                self.set_state(name, DeckyState::Failed, Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Sets the automatic mutation period (minutes; `None` disables).
    pub async fn set_mutate_interval(
        &self,
        name: &str,
        minutes: Option<u32>,
    ) -> Result<(), EngineError> {
        let mut deckies = self.deckies.lock().await;
        let decky = deckies
            .get_mut(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        let mut spec = decky.ctx.spec.clone();
        spec.mutate_interval = minutes;
        decky.ctx = Arc::new(decky.ctx.with_spec(spec));
        Ok(())
    }

    /// Runs due automatic mutations; call periodically (the binary ticks
    /// it each minute). `mutate_interval` counts in `unit`s: minutes in
    /// production ([`MUTATE_UNIT`]); tests pass seconds.
    pub async fn mutate_due(
        &self,
        last: &mut BTreeMap<String, DateTime<Utc>>,
        unit: std::time::Duration,
    ) {
        let now = Utc::now();
        let unit = chrono::Duration::from_std(unit).unwrap_or(chrono::Duration::minutes(1));
        let due: Vec<String> = {
            let d = self.deckies.lock().await;
            d.values()
                .filter_map(|r| {
                    let every = r.ctx.spec.mutate_interval?;
                    let since = *last.entry(r.ctx.spec.name.clone()).or_insert(now);
                    let every = i32::try_from(every).unwrap_or(i32::MAX);
                    (now - since >= unit * every).then(|| r.ctx.spec.name.clone())
                })
                .collect()
        };
        for name in due {
            if let Err(e) = self.mutate(&name).await {
                tracing::warn!(decky = %name, "automatic mutation failed: {e}");
            }
            last.insert(name, now);
        }
    }

    /// Renews the DHCP leases of netns deckies whose T1 has passed; call
    /// periodically (the binary ticks it with `mutate_due`). A decky whose
    /// lease is refused or expires drops the address and asks for a new
    /// one; when the new address differs, its listeners are restarted on it
    /// (as after a mutation, same generation). Returns the deckies moved.
    pub async fn renew_leases(&self) -> Vec<String> {
        let network = self.network.clone();
        let report = tokio::task::spawn_blocking(move || {
            network.renew_due(std::time::Duration::from_secs(20))
        })
        .await
        .unwrap_or_default();
        for (decky, e) in report.failed {
            tracing::error!(%decky, "DHCP lease not renewed: {e}");
            self.publish_decky(
                &decky,
                "lease_renewal_failed",
                serde_json::json!({"decky_name": decky, "error": e.to_string()}),
            );
        }
        let mut moved = Vec::new();
        for r in report.rejoined {
            if r.lease.ip == r.old_ip {
                continue;
            }
            tracing::warn!(decky = %r.decky, old = %r.old_ip, new = %r.lease.ip, "new DHCP address: restarting the decky's listeners");
            match self.restart(&r.decky).await {
                Ok(_) => moved.push(r.decky),
                Err(e) => {
                    tracing::error!(decky = %r.decky, "restart on the new address failed: {e}")
                }
            }
        }
        moved
    }

    /// Summaries of all running deckies, by name.
    pub async fn summary(&self) -> Vec<DeckySummary> {
        self.deckies.lock().await.values().map(summarize).collect()
    }

    /// Context of a running decky.
    pub async fn decky(&self, name: &str) -> Option<Arc<DeckyCtx>> {
        self.deckies.lock().await.get(name).map(|d| d.ctx.clone())
    }

    /// Every running decky's context.
    pub async fn contexts(&self) -> Vec<Arc<DeckyCtx>> {
        self.deckies
            .lock()
            .await
            .values()
            .map(|d| d.ctx.clone())
            .collect()
    }

    /// Cancelled when the fleet shuts down (background tasks stop with it).
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops every decky; returns when every session's disconnect event is published.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let mut deckies = self.deckies.lock().await;
        for d in deckies.values() {
            for s in d.all() {
                s.stop().await;
            }
        }
        deckies.clear();
        let network = self.network.clone();
        let _ = tokio::task::spawn_blocking(move || network.detach_all()).await;
    }
}

fn summarize(d: &RunningDecky) -> DeckySummary {
    let mut services: Vec<ServiceSummary> = d
        .services
        .iter()
        .map(|s| ServiceSummary {
            name: s.name.to_owned(),
            ports: s
                .addrs
                .iter()
                .map(|(t, a)| {
                    format!(
                        "{}/{}",
                        match t {
                            Transport::Tcp => "tcp",
                            Transport::Udp => "udp",
                        },
                        a.port()
                    )
                })
                .collect(),
            unavailable: None,
        })
        .collect();
    services.extend(d.tarpits.iter().map(|t| {
        ServiceSummary {
            name: t.name.to_owned(),
            ports: t
                .addrs
                .iter()
                .map(|(_, a)| format!("tcp/{}", a.port()))
                .collect(),
            unavailable: None,
        }
    }));
    services.extend(d.unavailable.iter().map(|(n, why)| ServiceSummary {
        name: n.clone(),
        ports: vec![],
        unavailable: Some(why.clone()),
    }));
    DeckySummary {
        name: d.ctx.spec.name.clone(),
        ip: d.ctx.spec.ip.to_string(),
        ip6: d.ctx.spec.ip6.map(|v6| v6.to_string()),
        archetype: d.ctx.spec.archetype.clone(),
        hostname: d.ctx.persona.hostname.clone(),
        os: d.ctx.persona.distro.display_name.to_owned(),
        mac: d.ctx.persona.mac_string(),
        mac_vendor: d.ctx.persona.mac_vendor.to_owned(),
        generation: d.ctx.generation,
        state: DeckyState::Running,
        services,
        mutate_interval: d.ctx.spec.mutate_interval,
        mutated_at: d.mutated_at,
        retired_sessions: d.retired.iter().map(RunningService::sessions).sum(),
    }
}

/// The persona fields a `mutated` event compares.
fn persona_brief(ctx: &DeckyCtx) -> serde_json::Value {
    serde_json::json!({
        "generation": ctx.generation,
        "hostname": ctx.persona.hostname,
        "os": ctx.persona.distro.display_name,
        "mac": ctx.persona.mac_string(),
        "ssh_banner": ctx.persona.ssh_banner,
        "http_server": ctx.persona.http_server,
    })
}
