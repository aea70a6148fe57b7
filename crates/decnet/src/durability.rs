//! Wiring of the event journal, `decnet.log` and the store ingester into
//! `serve`/`sensor`: settings from the command line, the private data dir,
//! SIGHUP (reopen the log), their `/health` components, and what shutdown
//! reports when the disk or the store refused writes.

use std::path::Path;

use anyhow::Context;
use decnet_api::worker_probe::WorkerProbe;
use decnet_engine::eventlog::{EventLogConfig, EventLogMonitor, EventLogReport, Rotation};
use decnet_engine::SyslogTarget;
use decnet_store::ingest::{IngestMonitor, JournalFeed, JournalSink};
use decnet_store::journal::JournalWriter;

use crate::run::RunArgs;

/// The event journal of an in-process run, with the sink the event log
/// writes to and the feed the store ingester reads. In-process, the journal
/// sits between the bus and the store (ARCHITECTURE.md, Durability); with
/// NATS, JetStream plays that part and there is none.
pub(crate) fn open_journal(
    data_dir: &Path,
) -> anyhow::Result<(JournalWriter, JournalSink, JournalFeed)> {
    let dir = data_dir.join("journal");
    let writer = JournalWriter::open(&dir)
        .with_context(|| format!("cannot open the event journal {}", dir.display()))?;
    let (sink, feed) = decnet_store::ingest::journal_channel(&writer);
    Ok((writer, sink, feed))
}

/// The event log writer's settings from the command line.
pub(crate) fn log_config(
    args: &RunArgs,
    forward: Option<SyslogTarget>,
    journal: Option<(JournalWriter, JournalSink)>,
    style: decnet_core::syslog::LogStyle,
) -> EventLogConfig {
    let mut c = EventLogConfig::new(args.data_dir.join("decnet.log"));
    c.forward = forward;
    c.journal = journal;
    c.rotation = Rotation {
        max_bytes: args.log_max_size,
        keep: args.log_keep,
    };
    c.max_backlog = args.event_backlog;
    c.style = style;
    c
}

/// Creates the data dir private to this user (0700) if it is missing; an
/// existing one keeps its mode.
pub(crate) fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    decnet_store::journal::create_private_dir(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))
}

/// `kill -HUP`: reopen decnet.log by its path (logrotate's postrotate).
pub(crate) fn reopen_log_on_sighup(log: EventLogMonitor) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => Some(tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reopening the event log");
                    log.reopen();
                }
            })),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: the event log is not reopened on SIGHUP");
                None
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = log;
        None
    }
}

/// Says at shutdown what the event log could not do.
pub(crate) fn report_event_log(r: &EventLogReport) {
    tracing::info!(
        lines = r.written,
        journaled = r.journaled,
        "event log flushed"
    );
    if r.dropped > 0 {
        eprintln!(
            "warning: {} events were dropped while the disk refused writes (backlog full)",
            r.dropped
        );
    }
    if r.unwritten > 0 {
        eprintln!(
            "warning: {} events not written to decnet.log at shutdown ({}): {} of them are in the event journal and will be stored at the next start, {} are lost",
            r.unwritten,
            r.error.as_deref().unwrap_or("no error recorded"),
            r.unlogged_but_journaled,
            r.unwritten - r.unlogged_but_journaled
        );
    }
}

/// Longest intel may take to finish at shutdown.
pub(crate) const INTEL_FINISH: std::time::Duration = std::time::Duration::from_secs(2);

/// `/health` components of the event log and (in-process) the ingester.
pub(crate) fn health_probes(
    log: EventLogMonitor,
    ingest: Option<IngestMonitor>,
) -> Vec<WorkerProbe> {
    // Not critical: while the disk or the store refuses writes the deckies
    // keep answering and events wait in bounded queues, so `/health` says
    // `degraded` with the reason rather than 503.
    let as_result = |ok: bool, detail: String| if ok { Ok(Some(detail)) } else { Err(detail) };
    let mut probes = vec![WorkerProbe::new("event_log", false, move || {
        let h = log.health();
        as_result(h.ok, h.detail)
    })];
    if let Some(m) = ingest {
        probes.push(WorkerProbe::new("store_ingester", false, move || {
            let h = m.health();
            as_result(h.ok, h.detail)
        }));
    }
    probes
}
