//! What `serve` runs behind the deckies, in the order it must start (every
//! consumer subscribed before any decky can emit) and stop (the producers'
//! last events flushed through the consumers before they go): buses, store,
//! metrics, event log, ingester, ATT&CK tagging, intel, alerts, active
//! response and canary receivers.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use decnet_bus::{Bus, MemoryBus};
use decnet_core::FleetSpec;
use decnet_engine::{EventLog, SyslogTarget};
use decnet_store::ingest::JournalFeed;

use crate::durability::{
    health_probes, log_config, open_journal, reopen_log_on_sighup, report_event_log, INTEL_FINISH,
};
use crate::nats_link::{close_nats, forward_to_nats, nats_bus, Forwarder};
use crate::run::RunArgs;

/// The running pipeline; [`Pipeline::finish`] stops it in order.
pub(crate) struct Pipeline {
    /// Where the fleet publishes.
    pub(crate) bus: Arc<dyn Bus>,
    /// What the API and topologies read: NATS itself when scaled out, so
    /// every server sees every live message.
    pub(crate) api_bus: Arc<dyn Bus>,
    pub(crate) nats: Option<Arc<decnet_nats::NatsBus>>,
    forwarder: Option<Forwarder>,
    pub(crate) store: Arc<dyn decnet_store::Store>,
    pub(crate) metrics: Option<crate::metrics::MetricsRun>,
    pub(crate) log_path: PathBuf,
    event_log: EventLog,
    sighup: Option<tokio::task::JoinHandle<()>>,
    ingester: Ingest,
    tagging: crate::attack::AttackRun,
    intel: IntelRun,
    alerts: crate::alerts::AlertsRun,
    pub(crate) response: Option<Arc<decnet_response::Responder>>,
}

/// What the pipeline hands the API and the fleet's followers.
pub(crate) struct Handles {
    pub(crate) alerts: decnet_api::alerts::AlertsBackend,
    pub(crate) probes: Vec<decnet_api::worker_probe::WorkerProbe>,
    /// Canary receivers and the credential watcher (only with `[canary]`);
    /// stopped before the deckies, not with the pipeline.
    pub(crate) canary: Option<crate::canary::CanaryRun>,
}

impl Pipeline {
    pub(crate) async fn start(
        spec: &FleetSpec,
        args: &RunArgs,
        alerts: crate::alerts::AlertsSetup,
        attack_rules: &Arc<decnet_attack::live::RulesInUse>,
        intel_cfg: decnet_intel::IntelConfig,
    ) -> anyhow::Result<(Pipeline, Handles)> {
        let nats = nats_bus(&args.bus, &args.nats, &args.data_dir, None).await?;
        // Events come back for intel, response and the event log on
        // `proc_bus`: the fleet's own bus in-process, a local bus the
        // JetStream pump feeds (after the store) with NATS.
        let (bus, proc_bus, api_bus, forwarder) = buses(&nats)?;
        let store = crate::api::open_store(args.db.as_deref(), &args.data_dir).await?;
        // Counting starts before any decky can emit.
        let metrics = crate::metrics::MetricsRun::start(&args.metrics, &proc_bus).await?;
        let log_path = args.data_dir.join("decnet.log");
        let (event_log, feed) =
            start_event_log(spec, args, &proc_bus, nats.is_some(), &log_path).await?;
        let sighup = reopen_log_on_sighup(event_log.monitor());
        let observer = metrics.as_ref().map(|m| m.commit_observer());
        let ingester = Ingest::start(&nats, store.clone(), &proc_bus, feed, observer).await?;
        let mut probes = health_probes(event_log.monitor(), ingester.monitor());
        // Scaled out, tagging runs beside intel on the intel lease holder.
        let tagging = crate::attack::AttackRun::start(
            store.clone(),
            &proc_bus,
            &api_bus,
            attack_rules,
            nats.is_some(),
        )?;
        let intel = IntelRun::start(
            &nats,
            store.clone(),
            &proc_bus,
            &api_bus,
            tagging.holder_task().into_iter().collect(),
            intel_cfg,
        )
        .await?;
        if let Some(m) = &metrics {
            m.watch_workers(event_log.monitor(), ingester.monitor(), intel.monitor());
        }
        // Alerts read what the API sees (every server's events with NATS;
        // only the intel lease holder raises them).
        let cluster = match (&nats, &intel) {
            (Some(nats), IntelRun::Singleton(s)) => crate::alerts::Cluster::Nats {
                nats,
                holding: s.holding(),
            },
            _ => crate::alerts::Cluster::Alone,
        };
        let (alerts, alerts_api, alerts_probe) =
            crate::alerts::AlertsRun::start(alerts, &api_bus, cluster, &args.data_dir, &store)
                .await?;
        probes.push(alerts_probe);
        // Active response: only with a [response] section.
        let response =
            decnet_response::start_for_fleet(&spec.response, proc_bus.clone(), Some(store.clone()))
                .await
                .context("cannot start active response")?;
        let canary = match &spec.canary {
            Some(cfg) => Some(start_canary(cfg, &store, &bus, &proc_bus, &api_bus, &nats).await?),
            None => None,
        };
        let pipeline = Pipeline {
            bus,
            api_bus,
            nats,
            forwarder,
            store,
            metrics,
            log_path,
            event_log,
            sighup,
            ingester,
            tagging,
            intel,
            alerts,
            response,
        };
        let handles = Handles {
            alerts: alerts_api,
            probes,
            canary,
        };
        Ok((pipeline, handles))
    }

    /// Stops everything once the deckies are down. Each step is bounded (a
    /// full disk or a dead database must not hold SIGTERM up): the event
    /// log and the ingester give up after 3 s, intel after 2 s, NATS 5 s.
    pub(crate) async fn finish(self) -> anyhow::Result<()> {
        if let Some(m) = self.metrics {
            m.finish().await;
        }
        // Before the bus goes: the last events' alerts, digests, spool synced.
        self.alerts.finish().await;
        if let (Some(f), Some(nb)) = (self.forwarder, &self.nats) {
            f.finish().await;
            close_nats(nb).await;
        }
        if let Some(r) = &self.response {
            r.shutdown().await;
        }
        if let Some(h) = self.sighup {
            h.abort();
        }
        report_event_log(&self.event_log.finish().await);
        let stored = self.ingester.finish().await?;
        tracing::info!(
            events = stored.committed,
            new = stored.inserted,
            "store ingester flushed"
        );
        if stored.unstored > 0 {
            eprintln!(
                "warning: {} events not stored at shutdown (the store kept failing); they are in the event journal and will be stored at the next start",
                stored.unstored
            );
        }
        self.tagging.finish().await;
        match tokio::time::timeout(INTEL_FINISH, self.intel.finish()).await {
            Ok(profiled) => tracing::info!(events = profiled?, "intel flushed"),
            Err(_) => eprintln!(
                "warning: intel did not finish within {} s (the store is failing); its last events are not profiled",
                INTEL_FINISH.as_secs()
            ),
        }
        Ok(())
    }
}

/// The fleet's bus, the bus events come back on, the API's bus, and the
/// copy of the fleet's bus onto NATS when there is one.
#[allow(clippy::type_complexity)]
fn buses(
    nats: &Option<Arc<decnet_nats::NatsBus>>,
) -> anyhow::Result<(Arc<dyn Bus>, Arc<dyn Bus>, Arc<dyn Bus>, Option<Forwarder>)> {
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let (proc_bus, api_bus): (Arc<dyn Bus>, Arc<dyn Bus>) = match nats {
        None => (bus.clone(), bus.clone()),
        Some(nb) => (MemoryBus::new(), nb.clone()),
    };
    let forwarder = nats
        .as_ref()
        .map(|nb| forward_to_nats(&bus, nb.clone()))
        .transpose()?;
    Ok((bus, proc_bus, api_bus, forwarder))
}

/// `decnet.log` (and the syslog copy), with the event journal the ingester
/// reads in-process; with NATS (`scaled_out`, and every sensor) the
/// JetStream stream and its spool are the journal.
pub(crate) async fn start_event_log(
    spec: &FleetSpec,
    args: &RunArgs,
    proc_bus: &Arc<dyn Bus>,
    scaled_out: bool,
    log_path: &std::path::Path,
) -> anyhow::Result<(EventLog, Option<JournalFeed>)> {
    let forward = spec
        .general
        .syslog
        .as_deref()
        .map(SyslogTarget::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (journal, feed) = if scaled_out {
        (None, None)
    } else {
        let (writer, sink, feed) = open_journal(&args.data_dir)?;
        (Some((writer, sink)), Some(feed))
    };
    let event_log = EventLog::start_with(
        proc_bus,
        log_config(args, forward, journal, spec.general.log_compat),
    )
    .await
    .with_context(|| format!("cannot open event log {}", log_path.display()))?;
    Ok((event_log, feed))
}

/// Canary receivers and the credential watcher; with NATS, also the
/// endpoint sensors report plantings to.
async fn start_canary(
    cfg: &decnet_core::canary::CanaryConfig,
    store: &Arc<dyn decnet_store::Store>,
    bus: &Arc<dyn Bus>,
    proc_bus: &Arc<dyn Bus>,
    api_bus: &Arc<dyn Bus>,
    nats: &Option<Arc<decnet_nats::NatsBus>>,
) -> anyhow::Result<crate::canary::CanaryRun> {
    let mut run =
        crate::canary::CanaryRun::start(cfg, store.clone(), bus, proc_bus, api_bus).await?;
    if let Some(nb) = nats {
        run.serve_sensors(nb.client().clone()).await?;
    }
    Ok(run)
}

/// The store writer: the batched ingester in-process, the JetStream pump with NATS.
enum Ingest {
    Local(decnet_store::ingest::IngestHandle),
    Pump(decnet_nats::Pump),
}

/// Events committed, new to the store, and left for the next start.
struct Ingested {
    committed: u64,
    inserted: u64,
    unstored: u64,
}

impl Ingest {
    /// The in-process ingester's health (the JetStream pump has its own).
    fn monitor(&self) -> Option<decnet_store::ingest::IngestMonitor> {
        match self {
            Ingest::Local(i) => Some(i.monitor()),
            Ingest::Pump(_) => None,
        }
    }

    async fn start(
        nats: &Option<Arc<decnet_nats::NatsBus>>,
        store: Arc<dyn decnet_store::Store>,
        proc_bus: &Arc<dyn Bus>,
        journal: Option<JournalFeed>,
        observer: Option<decnet_store::ingest::CommitObserver>,
    ) -> anyhow::Result<Ingest> {
        Ok(match (nats, journal) {
            (None, Some(feed)) => Ingest::Local(decnet_store::ingest::Ingester::start_journaled(
                store,
                feed,
                decnet_store::ingest::IngestConfig {
                    finish_within: std::time::Duration::from_secs(3),
                    observer,
                    ..Default::default()
                },
            )),
            (None, None) => Ingest::Local(decnet_store::ingest::Ingester::start(
                store,
                proc_bus.subscribe("events.>", decnet_bus::Delivery::Lossless)?,
                decnet_store::ingest::IngestConfig {
                    observer,
                    ..Default::default()
                },
            )),
            (Some(nb), _) => Ingest::Pump(
                decnet_nats::Pump::start(
                    nb.client().clone(),
                    store,
                    proc_bus.clone(),
                    500,
                    std::time::Duration::from_secs(30),
                )
                .await
                .context("cannot start the JetStream consumer")?,
            ),
        })
    }

    async fn finish(self) -> anyhow::Result<Ingested> {
        Ok(match self {
            Ingest::Local(i) => {
                let s = i.finish().await?;
                Ingested {
                    committed: s.committed,
                    inserted: s.inserted,
                    unstored: s.unstored,
                }
            }
            Ingest::Pump(p) => {
                let s = p.finish().await;
                Ingested {
                    committed: s.committed,
                    inserted: s.inserted,
                    unstored: 0,
                }
            }
        })
    }
}

/// Intel: in-process on the local bus; with NATS a cluster-wide singleton
/// (one lease holder fed by its own durable consumer), because intel
/// upserts whole rows and must see every event, not one pump's share.
enum IntelRun {
    Local(decnet_intel::IntelHandle),
    Singleton(decnet_nats::IntelSingleton),
}

impl IntelRun {
    async fn start(
        nats: &Option<Arc<decnet_nats::NatsBus>>,
        store: Arc<dyn decnet_store::Store>,
        proc_bus: &Arc<dyn Bus>,
        api_bus: &Arc<dyn Bus>,
        also: Vec<Arc<dyn decnet_nats::HolderTask>>,
        cfg: decnet_intel::IntelConfig,
    ) -> anyhow::Result<IntelRun> {
        Ok(match nats {
            None => IntelRun::Local(
                decnet_intel::Intel::start(
                    store,
                    api_bus.clone(),
                    proc_bus.subscribe("events.>", decnet_bus::Delivery::Lossless)?,
                    cfg,
                )
                .await
                .context("cannot start intel")?,
            ),
            Some(nb) => IntelRun::Singleton(decnet_nats::IntelSingleton::start_with(
                nb.client().clone(),
                store,
                api_bus.clone(),
                decnet_nats::intel::holder_id(),
                decnet_nats::intel::SingletonConfig {
                    intel: cfg,
                    ..Default::default()
                },
                also,
            )),
        })
    }

    /// The in-process worker's progress (the singleton reports its own).
    fn monitor(&self) -> Option<decnet_intel::IntelMonitor> {
        match self {
            IntelRun::Local(i) => Some(i.monitor()),
            IntelRun::Singleton(_) => None,
        }
    }

    /// Events intel applied in this process.
    async fn finish(self) -> anyhow::Result<u64> {
        Ok(match self {
            IntelRun::Local(i) => i.finish().await?.processed,
            IntelRun::Singleton(s) => s.finish().await.processed,
        })
    }
}
