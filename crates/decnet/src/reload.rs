//! Re-reading the fleet file while `serve` runs (SIGHUP and
//! `POST /api/v1/config/reload`): deckies the file added, removed or
//! changed go through the engine's own deploy/teardown, the `[response]`
//! policy through the responder, alerts through the alerts engine's
//! reload. The whole file is checked first: an invalid one changes
//! nothing and says why, `FILE:LINE: message`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use decnet_alerts::AlertHandle;
use decnet_api::reload::{FleetReload, ReloadReport};
use decnet_core::fleet::{self, LoadError};
use decnet_core::{DeckySpec, FleetSpec};
use decnet_engine::Fleet;
use decnet_response::Responder;

/// What a reload works on: the file, the running pieces, and the
/// configuration they were last given (deckies added through the API are
/// not the file's and are never touched).
pub(crate) struct Reloader {
    path: PathBuf,
    fleet: Arc<Fleet>,
    responder: Option<Arc<Responder>>,
    alerts: Arc<AlertHandle>,
    /// Also serialises reloads: one at a time.
    current: tokio::sync::Mutex<FleetSpec>,
}

/// The validated new configuration.
struct Candidate {
    spec: FleetSpec,
    alerts: decnet_alerts::AlertsConfig,
}

/// Sections compared by their serialised form (the specs carry no `Eq`;
/// two equal sections serialise the same).
fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

impl Reloader {
    pub(crate) fn new(
        path: PathBuf,
        running: FleetSpec,
        fleet: Arc<Fleet>,
        responder: Option<Arc<Responder>>,
        alerts: Arc<AlertHandle>,
    ) -> Arc<Self> {
        Arc::new(Reloader {
            path,
            fleet,
            responder,
            alerts,
            current: tokio::sync::Mutex::new(running),
        })
    }

    /// The API's handle on [`Reloader::reload`].
    pub(crate) fn for_api(self: &Arc<Self>) -> FleetReload {
        let me = self.clone();
        FleetReload(Arc::new(move || {
            let me = me.clone();
            Box::pin(async move { me.reload().await })
        }))
    }

    /// Reads and checks the whole file; nothing is applied yet.
    fn read(&self) -> Result<Candidate, Vec<String>> {
        let shown = self.path.display().to_string();
        let spec = match fleet::load(&self.path) {
            Ok((spec, _warnings)) => spec,
            Err(LoadError::Invalid(report)) => {
                return Err(report.render(&shown).lines().map(str::to_owned).collect())
            }
            Err(e @ LoadError::Io(..)) => return Err(vec![format!("{shown}:1: {e}")]),
        };
        let alerts = crate::alerts::config_of(&spec)
            .map_err(|errors| crate::alerts::render(&shown, &errors))?;
        if !spec.response.is_empty() {
            decnet_response::Policy::parse(&spec.response)
                .map_err(|e| vec![format!("{shown}:1: [response]: {e}")])?;
        }
        Ok(Candidate { spec, alerts })
    }

    /// Applies the file as it is now; see the module doc.
    pub(crate) async fn reload(&self) -> Result<ReloadReport, Vec<String>> {
        let new = self.read()?;
        let mut current = self.current.lock().await;
        let mut report = ReloadReport::default();
        for (section, changed) in [
            ("[general]", !same(&current.general, &new.spec.general)),
            ("[canary]", !same(&current.canary, &new.spec.canary)),
            ("[attack]", current.attack != new.spec.attack),
            ("[enrich]", current.enrich != new.spec.enrich),
        ] {
            if changed {
                report.restart_required.push(section.to_owned());
            }
        }
        self.apply_deckies(&current.deckies, &new.spec.deckies, &mut report)
            .await;
        report.response = self
            .apply_response(&current.response, &new.spec.response, &mut report)
            .await;
        report.alerts = match self.alerts.reload(new.alerts).await {
            Ok(()) => "applied".into(),
            Err(e) => e.to_string(),
        };
        *current = new.spec;
        Ok(report)
    }

    async fn apply_deckies(&self, old: &[DeckySpec], new: &[DeckySpec], report: &mut ReloadReport) {
        let old: BTreeMap<&str, &DeckySpec> = old.iter().map(|d| (d.name.as_str(), d)).collect();
        let new: BTreeMap<&str, &DeckySpec> = new.iter().map(|d| (d.name.as_str(), d)).collect();
        // Removals and redeployments first: a decky moved to an address
        // another one leaves must find it free.
        for (name, spec) in &old {
            match new.get(name) {
                None => match self.fleet.teardown(name).await {
                    Ok(()) => report.removed.push((*name).to_owned()),
                    Err(e) => report.failed.push(format!("{name}: {e}")),
                },
                Some(n) if !same(spec, n) => {
                    if let Err(e) = self.fleet.teardown(name).await {
                        report.failed.push(format!("{name}: {e}"));
                    }
                }
                Some(_) => report.unchanged += 1,
            }
        }
        for (name, spec) in &new {
            let redeploy = old.get(name).is_some_and(|o| !same(o, spec));
            if old.contains_key(name) && !redeploy {
                continue;
            }
            match self.fleet.deploy((*spec).clone()).await {
                Ok(_) if redeploy => report.changed.push((*name).to_owned()),
                Ok(_) => report.added.push((*name).to_owned()),
                Err(e) => report.failed.push(format!("{name}: {e}")),
            }
        }
    }

    async fn apply_response(
        &self,
        old: &BTreeMap<String, String>,
        new: &BTreeMap<String, String>,
        report: &mut ReloadReport,
    ) -> String {
        if old == new {
            return "unchanged".into();
        }
        match (&self.responder, new.is_empty()) {
            (Some(r), false) => match r.set_policy("fleet-file-reload", new.clone()).await {
                Ok(_) => "applied".into(),
                Err(e) => e.to_string(),
            },
            // Starting or stopping active response is a restart: its
            // backends are set up with the process.
            _ => {
                report.restart_required.push("[response]".into());
                "restart required".into()
            }
        }
    }
}

/// SIGHUP: re-read the fleet file (the event log reopens on its own
/// listener of the same signal). A bad file is reported and ignored.
pub(crate) fn reload_on_sighup(reloader: Arc<Reloader>) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the fleet file is not re-read on SIGHUP");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reloader.reload().await {
                Ok(report) => tracing::info!(?report, "SIGHUP: fleet file reloaded"),
                Err(errors) => {
                    for e in errors {
                        eprintln!("error: reload refused, running configuration kept: {e}");
                    }
                }
            }
        }
    }))
}
