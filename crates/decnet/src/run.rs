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
use decnet_engine::{EngineConfig, Fleet};

use crate::durability::{create_data_dir, reopen_log_on_sighup, report_event_log};
use crate::nats_link::{close_nats, forward_to_nats, nats_bus};
use crate::pipeline::Pipeline;
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
    /// Rotate decnet.log before it passes this size (K, M or G; 0 never).
    #[arg(long, default_value = "100M", env = "DECNET_LOG_MAX_SIZE",
          value_parser = decnet_engine::eventlog::parse_size)]
    pub log_max_size: u64,
    /// Rotated, gzip-compressed copies of decnet.log kept.
    #[arg(long, default_value_t = 10, env = "DECNET_LOG_KEEP")]
    pub log_keep: usize,
    /// Events held in memory while the disk refuses writes; more are
    /// dropped and counted (/health).
    #[arg(long, default_value_t = decnet_engine::eventlog::DEFAULT_BACKLOG, env = "DECNET_EVENT_BACKLOG")]
    pub event_backlog: usize,
    /// A MaxMind-format database (GeoLite2 or DB-IP City, Country or ASN)
    /// to locate attacker addresses with; repeat for several. Added to the
    /// fleet file's `[geoip] databases`.
    #[arg(
        long = "geoip",
        value_name = "FILE.mmdb",
        env = "DECNET_GEOIP",
        value_delimiter = ','
    )]
    pub geoip: Vec<PathBuf>,
    #[command(flatten)]
    pub nats: crate::nats_args::NatsArgs,
    #[command(flatten)]
    pub metrics: crate::metrics::MetricsArgs,
    #[command(flatten)]
    pub passive: crate::passive::PassiveArgs,
}

/// `decnet validate FILE`.
pub fn validate(file: &Path) -> ExitCode {
    let shown = file.display().to_string();
    match fleet::load(file) {
        Ok((fleet, warnings)) => {
            for w in warnings {
                eprintln!("{shown}:{}: warning: {}", w.line, w.message);
            }
            if let Err(errors) = crate::alerts::config_of(&fleet) {
                for line in crate::alerts::render(&shown, &errors) {
                    eprintln!("{line}");
                }
                return ExitCode::from(2);
            }
            // The ATT&CK rules the fleet would tag with are part of it.
            let rules = match crate::attack::load_rules(&fleet, Some(file)) {
                Ok(r) => r,
                Err(code) => return code,
            };
            let geo = match crate::geo::open(&fleet, Some(file), &[]) {
                Ok(g) => g,
                Err(code) => return code,
            };
            let enrich = match crate::enrich::settings(&fleet, Some(file)) {
                Ok(e) => e,
                Err(code) => return code,
            };
            let tarpits: usize = fleet.deckies.iter().map(|d| d.tarpits.len()).sum();
            println!(
                "{shown}: OK — {} deckies, {tarpits} tarpit ports, {} ATT&CK rules{}{}",
                fleet.deckies.len(),
                rules.handle().current().rules().len(),
                geo.map(|g| format!(", geoip: {}", g.describe().join("; ")))
                    .unwrap_or_default(),
                enrich
                    .map(|e| format!(", enrich: {}", e.describe()))
                    .unwrap_or_default()
            );
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

/// Logs to stderr, filtered by `DECNET_LOG` (default `info`). Colours only
/// on a terminal: `podman logs`, `kubectl logs` and the journal would keep
/// the escape sequences as text.
fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DECNET_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// `--port-offset`, or +10000 (said out loud) when ports below 1024 cannot be bound.
fn port_offset(args: &RunArgs) -> u16 {
    match args.port_offset {
        Some(o) => o,
        None if can_bind_low_ports() => 0,
        None => {
            eprintln!(
                "note: this user cannot bind ports below 1024; shifting every decky port by +10000"
            );
            10000
        }
    }
}

/// A fleet file and its warnings, or exit status 2 after printing why it
/// cannot be used.
fn load_fleet(path: &Path) -> Result<(FleetSpec, Vec<fleet::ValidationError>), ExitCode> {
    fleet::load(path).map_err(|e| {
        match e {
            LoadError::Invalid(report) => eprint!("{}", report.render(&path.display().to_string())),
            e => eprintln!("{e}"),
        }
        ExitCode::from(2)
    })
}

/// `decnet serve` / `decnet demo`: runs until SIGINT/SIGTERM.
pub fn start(config: Option<PathBuf>, args: RunArgs) -> ExitCode {
    init_logging();
    let mut fleet = match &config {
        Some(path) => match load_fleet(path) {
            Ok((f, warnings)) => {
                for w in warnings {
                    eprintln!("{}:{}: warning: {}", path.display(), w.line, w.message);
                }
                f
            }
            Err(code) => return code,
        },
        None => {
            fleet::parse_str(DEMO_FLEET)
                .expect("bundled demo fleet is valid")
                .0
        }
    };
    // The passive sensor's interface policy is checked before anything starts.
    match crate::passive::config(&fleet, &args.passive) {
        Ok(p) => fleet.passive = p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let alerts = match crate::alerts::config_of(&fleet) {
        Ok(alerts_config) => crate::alerts::AlertsSetup {
            config: alerts_config,
            file: config.clone(),
            sections: fleet.alerts.maps().clone(),
        },
        Err(errors) => {
            let shown = config.as_deref().unwrap_or(Path::new("<demo>")).display();
            for line in crate::alerts::render(&shown.to_string(), &errors) {
                eprintln!("{line}");
            }
            return ExitCode::from(2);
        }
    };
    let rt = match crate::runtime::build(crate::runtime::Flavor::MultiThread) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let rules = match crate::attack::load_rules(&fleet, config.as_deref()) {
        Ok(r) => Arc::new(r),
        Err(code) => return code,
    };
    let geo = match crate::geo::open(&fleet, config.as_deref(), &args.geoip) {
        Ok(g) => g,
        Err(code) => return code,
    };
    if let Some(g) = &geo {
        eprintln!("geoip: {}", g.describe().join("; "));
    }
    let enrich = match crate::enrich::settings(&fleet, config.as_deref()) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if let Some(e) = &enrich {
        eprintln!("enrich: {}", e.describe());
    }
    let intel_cfg = decnet_intel::IntelConfig {
        geo,
        enrich,
        ..Default::default()
    };
    run_to_exit(rt, run(fleet, args, config, alerts, rules, intel_cfg))
}

async fn run(
    fleet_spec: FleetSpec,
    args: RunArgs,
    config: Option<PathBuf>,
    alerts: crate::alerts::AlertsSetup,
    attack_rules: Arc<decnet_attack::live::RulesInUse>,
    intel_cfg: decnet_intel::IntelConfig,
) -> anyhow::Result<()> {
    let demo = config.is_none();
    let started = Instant::now();
    let stop_signal = StopSignal::listen()?;
    create_data_dir(&args.data_dir)?;
    let port_offset = port_offset(&args);
    let (pipeline, handles) =
        Pipeline::start(&fleet_spec, &args, alerts, &attack_rules, intel_cfg).await?;
    let fleet = open_fleet(&fleet_spec, &args, port_offset, &pipeline.bus)?;
    let failures = deploy_all(&fleet, &fleet_spec).await;
    let up = started.elapsed();
    print_table(&fleet.summary().await, port_offset);
    for f in &failures {
        eprintln!("error: {f}");
    }
    if !failures.is_empty() && fleet.summary().await.is_empty() {
        fleet.shutdown().await;
        if let Some(c) = handles.canary {
            c.finish().await;
        }
        pipeline.finish().await?;
        anyhow::bail!("no decky could be started");
    }
    println!(
        "{} deckies up in {:.1} ms; events → {}",
        fleet.summary().await.len(),
        up.as_secs_f64() * 1000.0,
        pipeline.log_path.display()
    );
    let beside = Beside::start(
        &fleet_spec,
        &args,
        config,
        &fleet,
        &pipeline,
        handles,
        attack_rules,
    )
    .await;
    if demo {
        println!(
            "Try: telnet 127.0.50.10 {}   or   curl http://127.0.50.10:{}/",
            23 + port_offset,
            80 + port_offset
        );
    }
    println!("Ctrl-C to stop.");
    let _ = std::io::stdout().flush();

    stop_signal.wait().await;
    eprintln!("shutting down…");
    crate::shutdown::arm_watchdog();
    beside.finish().await;
    fleet.shutdown().await;
    pipeline.finish().await
}

/// What runs beside the deckies once they are up (the API, the canary's
/// view of the fleet, the passive sensor, topologies, scheduled upkeep,
/// reloads), stopped before them.
struct Beside {
    api: Option<crate::api::RunningApi>,
    canary: Option<crate::canary::CanaryRun>,
    passive: Option<crate::passive::PassiveRun>,
    /// Stops the topology worker, the minute upkeep and the trimmer.
    engine_stop: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<()>>,
    reload_task: Option<tokio::task::JoinHandle<()>>,
}

impl Beside {
    async fn start(
        fleet_spec: &FleetSpec,
        args: &RunArgs,
        config: Option<PathBuf>,
        fleet: &Arc<Fleet>,
        pipeline: &Pipeline,
        handles: crate::pipeline::Handles,
        attack_rules: Arc<decnet_attack::live::RulesInUse>,
    ) -> Beside {
        let mut canary = handles.canary;
        if let Some(c) = &mut canary {
            c.follow_fleet(fleet.clone()).await;
        }
        // The passive sensor failing to open its capture is loud but not
        // fatal, like the API: the deckies keep running.
        let passive = match &fleet_spec.passive {
            Some(c) => match crate::passive::PassiveRun::start(
                c,
                fleet_spec,
                fleet.clone(),
                pipeline.bus.clone(),
            )
            .await
            {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("error: passive sensor not started: {e:#}");
                    None
                }
            },
            None => None,
        };
        // Topologies: the mutation queue worker resumes whatever a previous
        // run left pending or in flight; automatic persona mutations and
        // DHCP lease renewals tick each minute.
        let topologies = Topologies::new(
            pipeline.store.clone(),
            fleet.clone(),
            pipeline.api_bus.clone(),
        );
        let engine_stop = CancellationToken::new();
        let topo_worker = tokio::spawn(topologies.clone().run_worker(engine_stop.clone()));
        let mutator = spawn_minute_upkeep(fleet.clone(), engine_stop.clone());
        // The fleet file, re-read on SIGHUP and POST /config/reload (the
        // bundled demo fleet has no file).
        let reloader = config.map(|path| {
            crate::reload::Reloader::new(
                path,
                fleet_spec.clone(),
                fleet.clone(),
                pipeline.response.clone(),
                handles.alerts.handle.clone(),
            )
        });
        let reload_task = reloader.clone().and_then(crate::reload::reload_on_sighup);
        let engine = decnet_api::engine::Engine {
            fleet: fleet.clone(),
            topologies,
            sensors: decnet_api::engine::Sensors::watch(&pipeline.api_bus),
        };
        // The API failing to bind is loud but not fatal: the deckies keep
        // running. It streams from `api_bus` (NATS when scaled out), so a
        // sensor's events reach every server's SSE clients.
        let backends = decnet_api::Backends {
            engine: Some(engine),
            responder: pipeline.response.clone(),
            probes: handles.probes,
            canary: canary.as_ref().map(|c| c.service()),
            alerts: Some(handles.alerts),
            attack: attack_rules,
            metrics: pipeline.metrics.as_ref().map(|m| m.metrics.clone()),
            reload: reloader.as_ref().map(|r| r.for_api()),
            ..decnet_api::Backends::new(pipeline.store.clone(), pipeline.api_bus.clone())
        };
        let api = match crate::api::start(&args.api, &args.data_dir, backends).await {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("error: API not started: {e:#}");
                None
            }
        };
        // Startup's transients are freed by now; give their pages back, and
        // what bursts of sessions free from now on, once a minute.
        let trimmer = crate::memory::spawn_trimmer(engine_stop.clone());
        Beside {
            api,
            canary,
            passive,
            engine_stop,
            workers: vec![topo_worker, mutator, trimmer],
            reload_task,
        }
    }

    async fn finish(self) {
        if let Some(h) = self.reload_task {
            h.abort();
        }
        if let Some(api) = self.api {
            api.shutdown().await;
        }
        self.engine_stop.cancel();
        if let Some(c) = self.canary {
            c.finish().await;
        }
        for w in self.workers {
            let _ = w.await;
        }
        if let Some(p) = self.passive {
            p.finish().await;
        }
    }
}

/// Connection limits, with `DECNET_MAX_CONNS_PER_DECKY` (default 512
/// simultaneous connections per decky) and `DECNET_MAX_CONNS_PER_SOURCE`
/// (default 64 per source address and decky) overriding the caps; the
/// artifact quota comes from `DECNET_ARTIFACT_QUOTA_MB` (default 1024);
/// `DECNET_MAX_TARPIT_CONNS` caps the tarpitted connections of the whole
/// process (default 10,000).
/// Deploys every decky of the fleet file; returns why each failed one did.
async fn deploy_all(fleet: &Arc<Fleet>, spec: &FleetSpec) -> Vec<String> {
    let mut failures = Vec::new();
    for decky in spec.deckies.iter().cloned() {
        if let Err(e) = fleet.deploy(decky).await {
            failures.push(e.to_string());
        }
    }
    failures
}

/// Once a minute until `stop`: automatic persona mutations and DHCP lease
/// renewals. `DECNET_MUTATE_UNIT_SECS` (undocumented, for tests) makes
/// `mutate_interval` count in that many seconds instead of minutes, and
/// the upkeep tick as often.
fn spawn_minute_upkeep(fleet: Arc<Fleet>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let unit = std::env::var("DECNET_MUTATE_UNIT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| (1..=60).contains(n))
        .map(std::time::Duration::from_secs)
        .unwrap_or(decnet_engine::fleet::MUTATE_UNIT);
    tokio::spawn(async move {
        let mut last = std::collections::BTreeMap::new();
        let mut tick = tokio::time::interval(unit);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    fleet.mutate_due(&mut last, unit).await;
                    fleet.renew_leases().await;
                }
            }
        }
    })
}

fn limits_from_env() -> Limits {
    let mut l = Limits::default();
    let count = |var: &str| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
    };
    if let Some(n) = count("DECNET_MAX_CONNS_PER_DECKY") {
        l.max_conns_per_decky = n;
    }
    if let Some(n) = count("DECNET_MAX_CONNS_PER_SOURCE") {
        l.max_conns_per_source = n;
    }
    if let Some(n) = count("DECNET_MAX_TARPIT_CONNS") {
        l.tarpit_slots = decnet_services::tarpit::TarpitSlots::new(n);
    }
    l
}

fn registry() -> Registry {
    Registry::builtin().with(Arc::new(decnet_ssh::Ssh))
}

/// `decnet sensor`: deckies only; events and decky messages go to NATS
/// (spooled on disk while it is unreachable); deploy commands addressed to
/// this sensor arrive as NATS requests on `control.<name>.deploy`; health
/// on `system.<name>.health` every 10 s.
pub fn start_sensor(config: PathBuf, name: Option<String>, args: RunArgs) -> ExitCode {
    init_logging();
    let fleet_spec = match load_fleet(&config) {
        Ok((f, _)) => f,
        Err(code) => return code,
    };
    if let Some(w) = sensor_ignores_alerts(&fleet_spec) {
        eprintln!("warning: {}: {w}", config.display());
    }
    let name = name.unwrap_or_else(|| hostname_or("sensor"));
    let rt = match crate::runtime::build(crate::runtime::Flavor::MultiThread) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let name = match decnet_nats::SensorName::new(&decnet_core::subject::sanitize_token(&name)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    run_to_exit(rt, run_sensor(fleet_spec, name, args))
}

/// Runs a command on `rt` to its end, drops the runtime without waiting
/// for stray tasks, and turns the outcome into the exit code.
fn run_to_exit(
    rt: tokio::runtime::Runtime,
    command: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let result = rt.block_on(command);
    crate::shutdown::drop_runtime(rt);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn hostname_or(default: &str) -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The engine for a fleet file: on loopback, or attaching deckies to the
/// host network in the file's `alias`/`netns` mode (state kept in the data
/// dir so a crashed run's leftovers are removed now).
fn open_fleet(
    fleet_spec: &FleetSpec,
    args: &RunArgs,
    port_offset: u16,
    bus: &Arc<dyn Bus>,
) -> anyhow::Result<Arc<Fleet>> {
    let config = EngineConfig {
        data_dir: args.data_dir.clone(),
        port_offset,
        limits: limits_from_env(),
    };
    let mode = fleet_spec.general.mode;
    let fleet = if mode == decnet_core::NetMode::Loopback {
        Fleet::new(config, registry(), bus.clone())
    } else {
        if port_offset != 0 {
            anyhow::bail!(
                "mode = {mode:?} puts deckies on a real network and needs root (CAP_NET_ADMIN); ports cannot be shifted there"
            );
        }
        let network = decnet_net::Network::open(
            decnet_net::NetConfig::from_general(&fleet_spec.general),
            args.data_dir.join("network-state.json"),
        )
        .context("cannot set up the decky network")?;
        Fleet::new_on(config, registry(), bus.clone(), Arc::new(network))
    };
    fleet.set_content(decnet_services::ContentCtx::from_config(
        &fleet_spec.content,
    ));
    // Flows between the deckies, if `[content] chatter` asks for them;
    // the task stops with the fleet.
    decnet_engine::chatter::start(fleet.clone(), fleet_spec.content.chatter);
    Ok(fleet)
}

async fn run_sensor(
    fleet_spec: FleetSpec,
    sensor: decnet_nats::SensorName,
    args: RunArgs,
) -> anyhow::Result<()> {
    let stop_signal = StopSignal::listen()?;
    create_data_dir(&args.data_dir)?;
    let name = sensor.to_string();
    let Some(nats) = nats_bus(&args.bus, &args.nats, &args.data_dir, Some(sensor.clone())).await?
    else {
        anyhow::bail!("decnet sensor needs --bus nats://HOST:PORT");
    };
    let port_offset = port_offset(&args);
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let forwarder = forward_to_nats(&bus, nats.clone())?;
    // The NATS spool is this process's journal: no event journal here.
    let (event_log, _) = crate::pipeline::start_event_log(
        &fleet_spec,
        &args,
        &bus,
        true,
        &args.data_dir.join("decnet.log"),
    )
    .await?;
    let sighup = reopen_log_on_sighup(event_log.monitor());
    // A sensor has no API: its metrics exist only on --metrics-listen.
    let metrics = match args.metrics.metrics_listen {
        Some(_) => crate::metrics::MetricsRun::start(&args.metrics, &bus).await?,
        None => None,
    };
    if let Some(m) = &metrics {
        m.watch_workers(event_log.monitor(), None, None);
    }
    let fleet = open_fleet(&fleet_spec, &args, port_offset, &bus)?;
    for failure in deploy_all(&fleet, &fleet_spec).await {
        eprintln!("error: {failure}");
    }
    print_table(&fleet.summary().await, port_offset);
    // Canary tokens on a sensor: the servers hold the tokens, run the
    // receivers and watch the sensor's events; the sensor only plants.
    let planter = fleet_spec.canary.as_ref().map(|cfg| {
        crate::canary_sensor::SensorPlanter::start(
            cfg,
            fleet.clone(),
            nats.client().clone(),
            &sensor,
        )
    });
    println!(
        "sensor '{name}' publishing to {}; deploy requests on control.{name}.deploy",
        args.bus
    );
    let _ = std::io::stdout().flush();
    let stop = CancellationToken::new();
    let control = spawn_deploy_control(nats.client().clone(), &fleet, &name, &stop).await?;
    let health = spawn_health_beacon(&nats, &fleet, &name, &stop);
    let trimmer = crate::memory::spawn_trimmer(stop.clone());
    stop_signal.wait().await;
    eprintln!("shutting down…");
    crate::shutdown::arm_watchdog();
    stop.cancel();
    if let Some(p) = planter {
        p.finish().await;
    }
    let _ = control.await;
    let _ = health.await;
    let _ = trimmer.await;
    fleet.shutdown().await;
    if let Some(m) = metrics {
        m.finish().await;
    }
    forwarder.finish().await;
    close_nats(&nats).await;
    if let Some(h) = sighup {
        h.abort();
    }
    report_event_log(&event_log.finish().await);
    Ok(())
}

/// Answers deploy commands on `control.NAME.deploy`: request
/// `{ini_content}` → reply `{ok, deckies | error}`, until `stop`.
async fn spawn_deploy_control(
    client: async_nats::Client,
    fleet: &Arc<Fleet>,
    name: &str,
    stop: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (fleet, stop) = (fleet.clone(), stop.clone());
    let mut sub = client
        .subscribe(format!("control.{name}.deploy"))
        .await
        .map_err(|e| anyhow::anyhow!("NATS subscribe: {e}"))?;
    Ok(tokio::spawn(async move {
        use futures::StreamExt;
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => return,
                m = sub.next() => match m { Some(m) => m, None => return },
            };
            let reply = handle_deploy(&fleet, &msg.payload).await;
            if let Some(to) = msg.reply {
                let _ = client
                    .publish(to, serde_json::to_vec(&reply).unwrap_or_default().into())
                    .await;
            }
        }
    }))
}

/// Publishes the sensor's health on `system.NAME.health` every 10 s until
/// `stop`.
fn spawn_health_beacon(
    nats: &Arc<decnet_nats::NatsBus>,
    fleet: &Arc<Fleet>,
    name: &str,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (nats, fleet, stop, name) = (nats.clone(), fleet.clone(), stop.clone(), name.to_owned());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    let st = nats.nats_stats();
                    let deckies = fleet.summary().await.len();
                    nats.publish(decnet_bus::Envelope::json(
                        format!("system.{name}.health"),
                        "health",
                        serde_json::json!({"sensor": name, "status": if st.degraded { "degraded" } else { "healthy" }, "deckies": deckies, "nats": st}),
                    ));
                }
            }
        }
    })
}

async fn handle_deploy(fleet: &Arc<Fleet>, payload: &[u8]) -> serde_json::Value {
    let ini = match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(v) => v
            .get("ini_content")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_owned(),
        Err(_) => {
            return serde_json::json!({"ok": false, "error": "body must be JSON {ini_content}"})
        }
    };
    let (spec, _) = match fleet::parse_str(&ini) {
        Ok(x) => x,
        Err(report) => {
            return serde_json::json!({"ok": false, "error": report.render("ini_content")})
        }
    };
    let warnings: Vec<String> = sensor_ignores_alerts(&spec).into_iter().collect();
    for w in &warnings {
        tracing::warn!("deploy: {w}");
    }
    let mut deployed = Vec::new();
    let mut errors = Vec::new();
    for d in spec.deckies {
        match fleet.deploy(d).await {
            Ok(s) => deployed.push(s.name),
            Err(e) => errors.push(e.to_string()),
        }
    }
    serde_json::json!({"ok": errors.is_empty(), "deckies": deployed, "errors": errors, "warnings": warnings})
}

/// A sensor raises no alerts and exports nothing to SIEMs: the API servers
/// consuming its events do, once for the whole fleet (a sensor exporting
/// too would send every record twice). Its file's alerts sections are
/// therefore not used — said plainly rather than dropped in silence.
fn sensor_ignores_alerts(spec: &FleetSpec) -> Option<String> {
    if spec.alerts.is_empty() {
        return None;
    }
    let names: Vec<String> = spec
        .alerts
        .maps()
        .keys()
        .map(|s| format!("[{s}]"))
        .collect();
    Some(format!(
        "{} not used by `decnet sensor`: alerts and SIEM outputs run on the API servers (`decnet serve --bus nats://…`) that consume this sensor's events; put these sections in their fleet file",
        names.join(" ")
    ))
}

/// SIGINT/SIGTERM, listened for from the first moment of `serve`/`sensor`:
/// a stop asked for while the fleet is still starting is kept and honoured
/// once startup is done (with an orderly shutdown), instead of the
/// default action killing the process before anything is flushed.
struct StopSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignal {
                term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignal {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
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
