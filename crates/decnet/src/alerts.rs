//! The alerts engine and SIEM outputs (decnet-alerts, DESIGN §15) in
//! `serve`/`demo`: its configuration from the fleet file (`FILE:LINE`
//! errors) with the API's stored channel/rule edits over it, the bus it
//! reads, its spool under the data dir, its history in the store, its
//! `/health` component, the API's handle, and a bounded finish at shutdown.
//!
//! With NATS every server runs an engine on every message (so noise state —
//! throttle windows, digests, escalation — is the same everywhere), but only
//! the intel lease holder's engine emits: each alert is raised once, and a
//! server taking the lease over carries on with the same windows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use decnet_alerts::config::overrides::Sections;
use decnet_alerts::{AlertHandle, AlertsConfig, EngineOptions};
use decnet_api::alerts::{AlertsBackend, AlertsSource};
use decnet_api::alerts_history::HistoryWriter;
use decnet_api::worker_probe::WorkerProbe;
use decnet_bus::{Bus, BusError, BusStats, Delivery, Envelope, Subscription};
use decnet_core::fleet::{self, LoadError};
use decnet_core::{FleetSpec, ValidationError};
use decnet_store::Store;
use tokio::sync::watch;

/// The configuration and where it was read from (none for the bundled demo).
pub(crate) struct AlertsSetup {
    pub config: AlertsConfig,
    pub file: Option<PathBuf>,
    /// The file's alerts sections (the base API edits are laid over).
    pub sections: Sections,
}

/// The fleet's `[alerts]`/`[siem.*]` sections as typed configuration, or
/// every problem located on its line.
pub(crate) fn config_of(fleet: &FleetSpec) -> Result<AlertsConfig, Vec<ValidationError>> {
    AlertsConfig::from_fleet(&fleet.alerts)
}

/// `FILE:LINE: message`, one line per problem.
pub(crate) fn render(file: &str, errors: &[ValidationError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| format!("{file}:{}: {}", e.line, e.message))
        .collect()
}

/// Re-reads `file` for `POST /alerts/reload`: its alerts sections (valid on
/// their own), and the rest of it only as far as it must still be a valid
/// fleet file.
fn reload_source(file: PathBuf) -> AlertsSource {
    Arc::new(move || {
        let shown = file.display().to_string();
        let fleet = match fleet::load(&file) {
            Ok((f, _)) => f,
            Err(LoadError::Invalid(report)) => return Err(render(&shown, &report.errors)),
            Err(e @ LoadError::Io(..)) => return Err(vec![format!("{shown}:1: {e}")]),
        };
        config_of(&fleet).map_err(|errors| render(&shown, &errors))?;
        Ok(fleet.alerts.maps().clone())
    })
}

/// With NATS, every server hears every message; each SIEM output
/// subscribes in a queue group instead, so each record is exported by one
/// server only. Groups are numbered in subscription order, which the same
/// configuration makes the same on every server.
struct QueueGroups {
    nats: Arc<decnet_nats::NatsBus>,
    next: AtomicUsize,
}

impl Bus for QueueGroups {
    fn publish(&self, env: Envelope) {
        self.nats.publish(env);
    }

    fn subscribe(&self, pattern: &str, delivery: Delivery) -> Result<Subscription, BusError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.nats
            .subscribe_shared(pattern, &format!("decnet-alerts-{n}"), delivery)
    }

    fn stats(&self) -> BusStats {
        Bus::stats(&*self.nats)
    }
}

/// The running engine, for the API and for shutdown.
pub(crate) struct AlertsRun {
    handle: Arc<AlertHandle>,
    grace: Duration,
    history: HistoryWriter,
    /// Following the stored edits, and (NATS) the lease.
    followers: Vec<tokio::task::JoinHandle<()>>,
}

/// Where the engine stands in a cluster: alone (emits), or one of several
/// servers on NATS (emits while `holding` the intel lease).
pub(crate) enum Cluster<'a> {
    Alone,
    Nats {
        nats: &'a Arc<decnet_nats::NatsBus>,
        holding: watch::Receiver<bool>,
    },
}

/// Sets `emitting` to follow the lease until the watch closes.
fn follow_lease(
    mut holding: watch::Receiver<bool>,
    emitting: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let held = *holding.borrow_and_update();
            if emitting.swap(held, Ordering::Relaxed) != held {
                tracing::info!(
                    emitting = held,
                    "alerts: {}",
                    if held {
                        "this server holds the lease and raises the fleet's alerts"
                    } else {
                        "standby: another server raises the fleet's alerts"
                    }
                );
            }
            if holding.changed().await.is_err() {
                emitting.store(false, Ordering::Relaxed);
                return;
            }
        }
    })
}

impl AlertsRun {
    /// Starts the engine on `bus` (with NATS: every message, SIEM outputs
    /// in queue groups, emitting only while holding the lease), spooling
    /// under `data_dir/alerts-spool`, its history in `store`.
    pub(crate) async fn start(
        setup: AlertsSetup,
        bus: &Arc<dyn Bus>,
        cluster: Cluster<'_>,
        data_dir: &Path,
        store: &Arc<dyn Store>,
    ) -> anyhow::Result<(AlertsRun, AlertsBackend, WorkerProbe)> {
        let emitting = Arc::new(AtomicBool::new(matches!(cluster, Cluster::Alone)));
        let mut followers = Vec::new();
        let siem_bus: Option<Arc<dyn Bus>> = match cluster {
            Cluster::Alone => None,
            Cluster::Nats { nats, holding } => {
                followers.push(follow_lease(holding, emitting.clone()));
                Some(Arc::new(QueueGroups {
                    nats: nats.clone(),
                    next: AtomicUsize::new(0),
                }))
            }
        };
        let grace = setup.config.delivery.shutdown_grace;
        let opts = EngineOptions {
            siem_bus,
            emitting,
            ..Default::default()
        };
        let spool = data_dir.join("alerts-spool");
        let started = decnet_api::alerts::start(
            store.clone(),
            bus.clone(),
            setup.sections,
            setup.file.map(reload_source),
            &spool,
            opts,
        )
        .await
        .with_context(|| format!("cannot start alerts (spool {})", spool.display()))?;
        let handle = started.backend.handle.clone();
        let (channels, outputs) = (handle.channels().len(), handle.siem_state().await.len());
        tracing::info!(channels, siem_outputs = outputs, "alerts engine started");
        let probe = {
            let h = handle.clone();
            WorkerProbe::new("alerts_engine", false, move || health(&h))
        };
        followers.push(started.follow);
        Ok((
            AlertsRun {
                handle,
                grace,
                history: started.history,
                followers,
            },
            started.backend,
            probe,
        ))
    }

    /// Digests for open windows, deliveries for the grace period, the rest
    /// left in the spool; never longer than the grace plus 5 s (and 2 s
    /// more for the history to reach the store).
    pub(crate) async fn finish(self) {
        for f in &self.followers {
            f.abort();
        }
        let bound = self.grace + Duration::from_secs(5);
        if tokio::time::timeout(bound, self.handle.shutdown())
            .await
            .is_err()
        {
            eprintln!(
                "warning: alerts did not finish within {} s; undelivered alerts stay in the spool for the next start",
                bound.as_secs()
            );
        }
        self.history.finish(Duration::from_secs(2)).await;
    }
}

/// `/health`: the engine runs, and no channel's breaker is open.
fn health(h: &AlertHandle) -> Result<Option<String>, String> {
    if !h.is_running() {
        return Err("stopped".into());
    }
    let states = h.channels_state();
    let open: Vec<String> = states
        .iter()
        .filter(|s| s.circuit != "closed")
        .map(|s| match &s.counters.last_error {
            Some(e) => format!("{} {} ({e})", s.name, s.circuit),
            None => format!("{} {}", s.name, s.circuit),
        })
        .collect();
    if !open.is_empty() {
        return Err(format!("channel circuit: {}", open.join("; ")));
    }
    let st = h.stats();
    let queued: usize = states.iter().map(|s| s.counters.queued).sum();
    Ok(Some(format!(
        "{} alerts, {} channels, {queued} queued{}",
        st.alerts,
        states.len(),
        if st.emitting {
            ""
        } else {
            "; standby (another server raises alerts)"
        }
    )))
}
