//! Running deckies: deploy, teardown, summary, shutdown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use decnet_bus::Bus;
use decnet_core::catalog::Transport;
use decnet_core::DeckySpec;
use decnet_services::{start_service, DeckyCtx, Limits, Registry, RunningService};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

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

/// Why a decky could not be deployed.
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
    /// Filesystem trouble with the data directory.
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
}

/// Lifecycle state of a decky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeckyState {
    /// All its implemented services are listening.
    Running,
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
    /// Address.
    pub ip: String,
    /// Archetype.
    pub archetype: Option<String>,
    /// Hostname from the persona.
    pub hostname: String,
    /// Distro display name.
    pub os: String,
    /// State.
    pub state: DeckyState,
    /// Services.
    pub services: Vec<ServiceSummary>,
}

struct RunningDecky {
    ctx: Arc<DeckyCtx>,
    services: Vec<RunningService>,
    unavailable: Vec<(String, String)>,
}

/// The deckies of this process.
pub struct Fleet {
    config: EngineConfig,
    registry: Registry,
    bus: Arc<dyn Bus>,
    cancel: CancellationToken,
    deckies: Mutex<BTreeMap<String, RunningDecky>>,
}

impl Fleet {
    /// New empty fleet.
    pub fn new(config: EngineConfig, registry: Registry, bus: Arc<dyn Bus>) -> Arc<Self> {
        Arc::new(Fleet {
            config,
            registry,
            bus,
            cancel: CancellationToken::new(),
            deckies: Mutex::new(BTreeMap::new()),
        })
    }

    /// The service registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Brings a decky up: persona from its seed, every implemented service
    /// listening. If any service fails to bind, the ones already started
    /// are stopped and the error is returned.
    pub async fn deploy(&self, spec: DeckySpec) -> Result<DeckySummary, EngineError> {
        let mut deckies = self.deckies.lock().await;
        if deckies.contains_key(&spec.name) {
            return Err(EngineError::AlreadyRunning(spec.name));
        }
        let data_dir = self.config.data_dir.join("deckies").join(&spec.name);
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| EngineError::DataDir(data_dir.display().to_string(), e))?;
        let ctx = Arc::new(DeckyCtx::new(
            spec,
            0,
            data_dir,
            self.bus.clone(),
            self.config.limits.clone(),
            self.config.port_offset,
        ));
        let mut services = Vec::new();
        let mut unavailable = Vec::new();
        for name in ctx.spec.services.clone() {
            let Some(service) = self.registry.get(&name) else {
                unavailable.push((name, "not implemented in this build".to_owned()));
                continue;
            };
            let started = match service.validate(ctx.spec.config(&name)) {
                Err(message) => Err(message),
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
        let running = RunningDecky {
            ctx,
            services,
            unavailable,
        };
        let summary = summarize(&running);
        deckies.insert(running.ctx.spec.name.clone(), running);
        Ok(summary)
    }

    /// Stops one decky and its sessions.
    pub async fn teardown(&self, name: &str) -> Result<(), EngineError> {
        let decky = self
            .deckies
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        for s in &decky.services {
            s.stop().await;
        }
        Ok(())
    }

    /// Summaries of all running deckies, by name.
    pub async fn summary(&self) -> Vec<DeckySummary> {
        self.deckies.lock().await.values().map(summarize).collect()
    }

    /// Context of a running decky.
    pub async fn decky(&self, name: &str) -> Option<Arc<DeckyCtx>> {
        self.deckies.lock().await.get(name).map(|d| d.ctx.clone())
    }

    /// Stops every decky; returns when every session's disconnect event is published.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let mut deckies = self.deckies.lock().await;
        for d in deckies.values() {
            for s in &d.services {
                s.stop().await;
            }
        }
        deckies.clear();
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
    services.extend(d.unavailable.iter().map(|(n, why)| ServiceSummary {
        name: n.clone(),
        ports: vec![],
        unavailable: Some(why.clone()),
    }));
    DeckySummary {
        name: d.ctx.spec.name.clone(),
        ip: d.ctx.spec.ip.to_string(),
        archetype: d.ctx.spec.archetype.clone(),
        hostname: d.ctx.persona.hostname.clone(),
        os: d.ctx.persona.distro.display_name.to_owned(),
        state: DeckyState::Running,
        services,
    }
}
