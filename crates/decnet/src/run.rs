//! `serve` / `demo` / `validate`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use decnet_bus::{Bus, MemoryBus};
use decnet_core::fleet::{self, LoadError};
use decnet_core::FleetSpec;
use decnet_engine::topology::Topologies;
use decnet_engine::{EngineConfig, EventLog, Fleet, SyslogTarget};
use decnet_services::{Limits, Registry};
use tokio_util::sync::CancellationToken;

const DEMO_FLEET: &str = include_str!("../fleets/demo.ini");

/// Options shared by `serve` and `demo`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Data directory (database, logs, keys, artifacts).
    #[arg(long, default_value = "decnet-data", env = "DECNET_DATA_DIR")]
    pub data_dir: PathBuf,
    /// API and dashboard address.
    #[arg(long, default_value = "127.0.0.1:8000", env = "DECNET_API")]
    pub api: String,
    /// Add this to every decky port (default: 0, or 10000 when ports below 1024 cannot be bound).
    #[arg(long)]
    pub port_offset: Option<u16>,
    /// Database URL (sqlite://PATH or postgres://…); default sqlite://DATA_DIR/decnet.db.
    #[arg(long, env = "DECNET_DB")]
    pub db: Option<String>,
    /// Event bus: memory or nats://HOST:PORT.
    #[arg(long, default_value = "memory", env = "DECNET_BUS")]
    pub bus: String,
}

/// `decnet validate FILE`.
pub fn validate(file: &Path) -> ExitCode {
    let shown = file.display().to_string();
    match fleet::load(file) {
        Ok((fleet, warnings)) => {
            for w in warnings {
                eprintln!("{shown}:{}: warning: {}", w.line, w.message);
            }
            println!("{shown}: OK — {} deckies", fleet.deckies.len());
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid(report)) => {
            eprint!("{}", report.render(&shown));
            ExitCode::from(2)
        }
        Err(e @ LoadError::Io(..)) => {
            eprintln!("{shown}:1: {e}");
            ExitCode::from(2)
        }
    }
}

/// Can this process bind ports below 1024 on loopback?
fn can_bind_low_ports() -> bool {
    match std::net::TcpListener::bind("127.0.0.1:1") {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::PermissionDenied,
    }
}

/// `decnet serve` / `decnet demo`: runs until SIGINT/SIGTERM.
pub fn start(config: Option<PathBuf>, args: RunArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DECNET_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let fleet = match &config {
        Some(path) => match fleet::load(path) {
            Ok((f, warnings)) => {
                for w in warnings {
                    eprintln!("{}:{}: warning: {}", path.display(), w.line, w.message);
                }
                f
            }
            Err(LoadError::Invalid(report)) => {
                eprint!("{}", report.render(&path.display().to_string()));
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => {
            fleet::parse_str(DEMO_FLEET)
                .expect("bundled demo fleet is valid")
                .0
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(fleet, args, config.is_none())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(fleet_spec: FleetSpec, args: RunArgs, demo: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    if args.bus != "memory" {
        anyhow::bail!(
            "--bus {}: only the in-process bus ('memory') is available in this build",
            args.bus
        );
    }
    let port_offset = match args.port_offset {
        Some(o) => o,
        None if can_bind_low_ports() => 0,
        None => {
            eprintln!(
                "note: this user cannot bind ports below 1024; shifting every decky port by +10000"
            );
            10000
        }
    };
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let store = crate::api::open_store(args.db.as_deref(), &args.data_dir).await?;
    let forward = fleet_spec
        .general
        .syslog
        .as_deref()
        .map(SyslogTarget::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let log_path = args.data_dir.join("decnet.log");
    let event_log = EventLog::start(&bus, &log_path, forward)
        .await
        .with_context(|| format!("cannot open event log {}", log_path.display()))?;
    // Ingester and intel subscribe before any decky can emit.
    let ingester = decnet_store::ingest::Ingester::start(
        store.clone(),
        bus.subscribe("events.>", decnet_bus::Delivery::Lossless)?,
        Default::default(),
    );
    let intel = decnet_intel::Intel::start(
        store.clone(),
        bus.clone(),
        bus.subscribe("events.>", decnet_bus::Delivery::Lossless)?,
        Default::default(),
    )
    .await
    .context("cannot start intel")?;
    // Active response (issue 10): only with a [response] section.
    let response =
        decnet_response::start_for_fleet(&fleet_spec.response, bus.clone(), Some(store.clone()))
            .await
            .context("cannot start active response")?;
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: args.data_dir.clone(),
            port_offset,
            limits: Limits::default(),
        },
        registry(),
        bus.clone(),
    );
    let mut failures = Vec::new();
    for spec in fleet_spec.deckies.iter().cloned() {
        if let Err(e) = fleet.deploy(spec).await {
            failures.push(e.to_string());
        }
    }
    let up = started.elapsed();
    print_table(&fleet.summary().await, port_offset);
    for f in &failures {
        eprintln!("error: {f}");
    }
    if !failures.is_empty() && fleet.summary().await.is_empty() {
        fleet.shutdown().await;
        event_log.finish().await?;
        ingester.finish().await?;
        intel.finish().await?;
        anyhow::bail!("no decky could be started");
    }
    println!(
        "{} deckies up in {:.1} ms; events → {}",
        fleet.summary().await.len(),
        up.as_secs_f64() * 1000.0,
        log_path.display()
    );
    // Topologies: the mutation queue worker resumes whatever a previous run
    // left pending or in flight; automatic persona mutations tick each minute.
    let topologies = Topologies::new(store.clone(), fleet.clone(), bus.clone());
    let engine_stop = CancellationToken::new();
    let topo_worker = tokio::spawn(topologies.clone().run_worker(engine_stop.clone()));
    let mutator = {
        let fleet = fleet.clone();
        let stop = engine_stop.clone();
        tokio::spawn(async move {
            let mut last = std::collections::BTreeMap::new();
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => fleet.mutate_due(&mut last).await,
                }
            }
        })
    };
    let engine = decnet_api::engine::Engine {
        fleet: fleet.clone(),
        topologies,
    };
    // The API failing to bind is loud but not fatal: the deckies keep running.
    let api = match crate::api::start(
        &args.api,
        &args.data_dir,
        store.clone(),
        bus.clone(),
        Some(engine),
    )
    .await
    {
        Ok(a) => Some(a),
        Err(e) => {
            eprintln!("error: API not started: {e:#}");
            None
        }
    };
    if demo {
        println!(
            "Try: telnet 127.0.50.10 {}   or   curl http://127.0.50.10:{}/",
            23 + port_offset,
            80 + port_offset
        );
    }
    println!("Ctrl-C to stop.");
    let _ = std::io::stdout().flush();

    wait_for_signal().await;
    eprintln!("shutting down…");
    if let Some(api) = api {
        api.shutdown().await;
    }
    engine_stop.cancel();
    let _ = topo_worker.await;
    let _ = mutator.await;
    fleet.shutdown().await;
    if let Some(r) = &response {
        r.shutdown().await;
    }
    let written = event_log.finish().await?;
    tracing::info!(events = written, "event log flushed");
    let stored = ingester.finish().await?;
    tracing::info!(
        events = stored.committed,
        new = stored.inserted,
        "store ingester flushed"
    );
    let profiled = intel.finish().await?;
    tracing::info!(events = profiled.processed, "intel flushed");
    Ok(())
}

fn registry() -> Registry {
    Registry::builtin().with(Arc::new(decnet_ssh::Ssh))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn print_table(deckies: &[decnet_engine::DeckySummary], _offset: u16) {
    println!(
        "{:<10} {:<14} {:<20} {:<22} SERVICES",
        "DECKY", "IP", "ARCHETYPE", "HOSTNAME"
    );
    for d in deckies {
        let services: Vec<String> = d
            .services
            .iter()
            .map(|s| {
                if s.ports.is_empty() {
                    format!("{}(n/a)", s.name)
                } else {
                    format!("{}:{}", s.name, s.ports.join("+"))
                }
            })
            .collect();
        println!(
            "{:<10} {:<14} {:<20} {:<22} {}",
            d.name,
            d.ip,
            d.archetype.as_deref().unwrap_or("-"),
            d.hostname,
            services.join(" ")
        );
    }
}
