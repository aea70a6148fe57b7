//! ATT&CK tagging in `serve`/`demo` (the tag worker, SIGHUP rule reload)
//! and `decnet validate-rules DIR`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use decnet_attack::live::{RulesInUse, TagHandle, TagWorker, TagWorkerConfig};
use decnet_attack::{RuleError, RuleHandle};
use decnet_bus::Bus;
use decnet_core::FleetSpec;
use decnet_nats::{HolderRun, HolderTask};
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

/// ATT&CK tagging of a server: the tag worker (here, or with NATS on the
/// intel lease holder, wherever that is) and the SIGHUP reloader.
pub struct AttackRun {
    worker: Option<TagHandle>,
    on_holder: Option<Arc<dyn HolderTask>>,
    sighup: Option<tokio::task::JoinHandle<()>>,
}

impl AttackRun {
    /// In-process: subscribes to `events.>` on `proc_bus` (before any decky
    /// emits). Scaled out (`fleet_wide`): starts nothing here but gives the
    /// intel singleton a task ([`Self::holder_task`]), so one tag worker
    /// per fleet sees every event. Either way tags are published on
    /// `api_bus`, where SSE clients and webhooks see them.
    pub fn start(
        store: Arc<dyn Store>,
        proc_bus: &Arc<dyn Bus>,
        api_bus: &Arc<dyn Bus>,
        rules: &Arc<RulesInUse>,
        fleet_wide: bool,
    ) -> anyhow::Result<AttackRun> {
        let tagger = TagOnHolder {
            store,
            api_bus: api_bus.clone(),
            rules: rules.handle().clone(),
        };
        let (worker, on_holder) = if fleet_wide {
            (None, Some(Arc::new(tagger) as Arc<dyn HolderTask>))
        } else {
            (Some(tagger.start_on(proc_bus)?), None)
        };
        Ok(AttackRun {
            worker,
            on_holder,
            sighup: reload_on_sighup(rules.clone()),
        })
    }

    /// What the intel singleton runs on the lease holder (scaled out only).
    pub fn holder_task(&self) -> Option<Arc<dyn HolderTask>> {
        self.on_holder.clone()
    }

    /// Tags what was received and stops (scaled out, the singleton does
    /// that for its tenure).
    pub async fn finish(self) {
        if let Some(h) = self.sighup {
            h.abort();
        }
        if let Some(worker) = self.worker {
            finish_worker(worker).await;
        }
    }
}

async fn finish_worker(worker: TagHandle) {
    match tokio::time::timeout(std::time::Duration::from_secs(3), worker.finish()).await {
        Ok(Ok(s)) => tracing::info!(events = s.events, new_tags = s.new_tags, "ATT&CK tagging flushed"),
        Ok(Err(e)) => eprintln!("warning: ATT&CK tagging stopped with an error: {e}"),
        Err(_) => eprintln!(
            "warning: ATT&CK tagging did not finish within 3 s (the store is failing); its last events are not tagged"
        ),
    }
}

/// A tag worker: started here, or by the intel singleton on each tenure.
struct TagOnHolder {
    store: Arc<dyn Store>,
    api_bus: Arc<dyn Bus>,
    rules: RuleHandle,
}

impl TagOnHolder {
    fn start_on(&self, events: &Arc<dyn Bus>) -> anyhow::Result<TagHandle> {
        let sub = events.subscribe("events.>", decnet_bus::Delivery::Lossless)?;
        Ok(TagWorker::start(
            self.store.clone(),
            self.api_bus.clone(),
            sub,
            self.rules.clone(),
            TagWorkerConfig::default(),
        ))
    }
}

impl HolderTask for TagOnHolder {
    fn name(&self) -> &'static str {
        "ATT&CK tagging"
    }

    fn start(&self, events: &Arc<dyn Bus>) -> Result<Box<dyn HolderRun>, String> {
        tracing::info!("intel lease holder: ATT&CK tagging runs here");
        let handle = self.start_on(events).map_err(|e| e.to_string())?;
        Ok(Box::new(TagTenure(handle)))
    }
}

/// The tag worker of one tenure of the intel lease.
struct TagTenure(TagHandle);

impl HolderRun for TagTenure {
    fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.committed()
    }

    fn finish(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(finish_worker(self.0))
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
