//! The alerts engine and SIEM outputs (decnet-alerts, DESIGN §15) in
//! `serve`/`demo`: its configuration from the fleet file (`FILE:LINE`
//! errors), the bus it reads, its spool under the data dir, its `/health`
//! component, the API's handle, and a bounded finish at shutdown.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use decnet_alerts::{AlertEngine, AlertHandle, AlertsConfig};
use decnet_api::alerts::{AlertsBackend, AlertsSource};
use decnet_api::worker_probe::WorkerProbe;
use decnet_bus::{Bus, BusError, BusStats, Delivery, Envelope, Subscription};
use decnet_core::fleet::{self, LoadError};
use decnet_core::{FleetSpec, ValidationError};

/// The configuration and where it was read from (none for the bundled demo).
pub(crate) struct AlertsSetup {
    pub config: AlertsConfig,
    pub file: Option<PathBuf>,
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

/// Re-reads `file` for `POST /alerts/reload`: its alerts sections, and the
/// rest of it only as far as it must still be a valid fleet file.
fn reload_source(file: PathBuf) -> AlertsSource {
    Arc::new(move || {
        let shown = file.display().to_string();
        let fleet = match fleet::load(&file) {
            Ok((f, _)) => f,
            Err(LoadError::Invalid(report)) => return Err(render(&shown, &report.errors)),
            Err(e @ LoadError::Io(..)) => return Err(vec![format!("{shown}:1: {e}")]),
        };
        config_of(&fleet).map_err(|errors| render(&shown, &errors))
    })
}

/// With NATS, every server hears every message; the engine and each SIEM
/// output subscribe in a queue group instead, so each message is evaluated
/// (and each alert delivered, each record exported) by one server only.
/// Groups are numbered in subscription order, which the same configuration
/// makes the same on every server.
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
}

impl AlertsRun {
    /// Starts the engine on `bus` (or in queue groups of `nats`), spooling
    /// under `data_dir/alerts-spool`.
    pub(crate) async fn start(
        setup: AlertsSetup,
        bus: &Arc<dyn Bus>,
        nats: Option<&Arc<decnet_nats::NatsBus>>,
        data_dir: &Path,
    ) -> anyhow::Result<(AlertsRun, AlertsBackend, WorkerProbe)> {
        let engine_bus: Arc<dyn Bus> = match nats {
            Some(nb) => Arc::new(QueueGroups {
                nats: nb.clone(),
                next: AtomicUsize::new(0),
            }),
            None => bus.clone(),
        };
        let grace = setup.config.delivery.shutdown_grace;
        let (channels, outputs) = (setup.config.channels.len(), setup.config.siem.len());
        let spool = data_dir.join("alerts-spool");
        let handle = Arc::new(
            AlertEngine::spawn(engine_bus, setup.config, &spool)
                .await
                .with_context(|| format!("cannot start alerts (spool {})", spool.display()))?,
        );
        tracing::info!(channels, siem_outputs = outputs, "alerts engine started");
        let probe = {
            let h = handle.clone();
            WorkerProbe::new("alerts_engine", false, move || health(&h))
        };
        let backend = AlertsBackend {
            handle: handle.clone(),
            source: setup.file.map(reload_source),
        };
        Ok((AlertsRun { handle, grace }, backend, probe))
    }

    /// Digests for open windows, deliveries for the grace period, the rest
    /// left in the spool; never longer than the grace plus 5 s.
    pub(crate) async fn finish(self) {
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
        "{} alerts, {} channels, {queued} queued",
        st.alerts,
        states.len()
    )))
}
