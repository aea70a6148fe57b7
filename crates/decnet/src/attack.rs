//! ATT&CK tagging in `serve`/`demo` (the tag worker, SIGHUP rule reload)
//! and `decnet validate-rules DIR`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use decnet_attack::live::{RulesInUse, TagHandle, TagWorker, TagWorkerConfig};
use decnet_attack::RuleError;
use decnet_bus::Bus;
use decnet_core::FleetSpec;
use decnet_store::Store;

fn print_errors(errors: &[RuleError]) {
    for e in errors {
        eprintln!("{e}");
    }
}

/// `decnet validate-rules DIR`: 0 when every rule file validates, else 2
/// with each error as `FILE:LINE: message`.
pub fn validate_rules(dir: &Path) -> ExitCode {
    match RulesInUse::from_dir(dir) {
        Ok(rules) => {
            let set = rules.handle().current();
            println!(
                "{}: OK — {} rules, {} techniques",
                dir.display(),
                set.rules().len(),
                set.techniques().len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            print_errors(&errors);
            eprintln!("{}: {} errors", dir.display(), errors.len());
            ExitCode::from(2)
        }
    }
}

/// `[attack] rules_dir` of a fleet, relative paths taken from the fleet
/// file's directory.
pub fn rules_dir(fleet: &FleetSpec, fleet_file: Option<&Path>) -> Option<PathBuf> {
    let dir = PathBuf::from(fleet.attack.get("rules_dir")?);
    match fleet_file.and_then(Path::parent) {
        Some(base) if dir.is_relative() => Some(base.join(dir)),
        _ => Some(dir),
    }
}

/// The rules a fleet tags with; every error printed when they do not validate.
pub fn load_rules(fleet: &FleetSpec, fleet_file: Option<&Path>) -> Result<RulesInUse, ExitCode> {
    RulesInUse::load(rules_dir(fleet, fleet_file).as_deref()).map_err(|errors| {
        print_errors(&errors);
        ExitCode::from(2)
    })
}

/// The running tag worker and its SIGHUP reloader.
pub struct AttackRun {
    worker: TagHandle,
    sighup: Option<tokio::task::JoinHandle<()>>,
}

impl AttackRun {
    /// Subscribes to `events.>` on `proc_bus` (before any decky emits) and
    /// publishes tags on `api_bus`, where SSE clients and webhooks see them.
    pub fn start(
        store: Arc<dyn Store>,
        proc_bus: &Arc<dyn Bus>,
        api_bus: &Arc<dyn Bus>,
        rules: &Arc<RulesInUse>,
    ) -> anyhow::Result<AttackRun> {
        let sub = proc_bus.subscribe("events.>", decnet_bus::Delivery::Lossless)?;
        let worker = TagWorker::start(
            store,
            api_bus.clone(),
            sub,
            rules.handle().clone(),
            TagWorkerConfig::default(),
        );
        Ok(AttackRun {
            worker,
            sighup: reload_on_sighup(rules.clone()),
        })
    }

    /// Tags what was received and stops.
    pub async fn finish(self) {
        if let Some(h) = self.sighup {
            h.abort();
        }
        match tokio::time::timeout(std::time::Duration::from_secs(3), self.worker.finish()).await
        {
            Ok(Ok(s)) => tracing::info!(events = s.events, new_tags = s.new_tags, "ATT&CK tagging flushed"),
            Ok(Err(e)) => eprintln!("warning: ATT&CK tagging stopped with an error: {e}"),
            Err(_) => eprintln!(
                "warning: ATT&CK tagging did not finish within 3 s (the store is failing); its last events are not tagged"
            ),
        }
    }
}

/// SIGHUP re-reads the rule directory; a set that does not validate is
/// refused (the old one stays) and its errors are logged.
fn reload_on_sighup(rules: Arc<RulesInUse>) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: ATT&CK rules reload only through the API");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let r = rules.clone();
            match tokio::task::spawn_blocking(move || r.reload()).await {
                Ok(Ok(o)) => tracing::info!(rules = o.rules, "SIGHUP: ATT&CK rules reloaded"),
                Ok(Err(errors)) => {
                    for e in &errors {
                        tracing::error!("{e}");
                    }
                    tracing::error!(
                        errors = errors.len(),
                        "SIGHUP: ATT&CK rules not reloaded; the previous rules stay in use"
                    );
                }
                Err(e) => tracing::error!("SIGHUP: ATT&CK rule reload failed: {e}"),
            }
        }
    }))
}
