//! [`AlertEngine`]: the alerts pipeline wired to a bus, and the
//! [`AlertHandle`] the API and the binary call.
//!
//! One task owns the rules, the noise gate, the identity map and the
//! heartbeat tracker: it reads every bus message (one bounded subscription
//! to `>`, drops counted), evaluates it, and submits the resulting alerts to
//! [`Delivery`] (spooled, then delivered by per-channel lanes). Each alert is
//! also published on the bus as `alert.<rule>` (type `alert`, payload the
//! alert) so live views and SIEM outputs see it. A tick (1 s) closes
//! throttle windows (digests) and detects silent sensors. Reload and
//! shutdown are commands to that task, so they never race an evaluation.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_bus::consumer::{BatchLoop, Step};
use decnet_bus::{Bus, Delivery as BusDelivery, Envelope, Subscription};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::alert::Alert;
use crate::channels::{self, ChannelContext, TestOutcome};
use crate::clock::{Clock, SystemClock};
use crate::config::{AlertsConfig, ChannelConfig, ChannelView};
use crate::delivery::history::{AlertRecord, HistoryPage, HistorySink};
use crate::delivery::spool::SpoolStats;
use crate::delivery::{ChannelState, ConfiguredChannel, Delivery, DeliveryError};
use crate::heartbeats::Heartbeats;
use crate::identities::Identities;
use crate::noise::{NoiseGate, NoiseStats};
use crate::rules::{Hit, RuleSet, RuleView};
use crate::siem::{Outputs, SiemError, SiemState};
use crate::signal::Signal;

/// Why the engine could not start or apply a change.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A channel could not be built (CA file, TLS).
    #[error("[alerts.{0}] {1}")]
    Channel(String, channels::BuildError),
    /// Spool or delivery.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// A SIEM output could not start.
    #[error(transparent)]
    Siem(#[from] SiemError),
    /// The bus refused the subscription.
    #[error(transparent)]
    Bus(#[from] decnet_bus::BusError),
    /// No channel has that name.
    #[error("no alert channel named {0:?}")]
    UnknownChannel(String),
    /// The engine has stopped.
    #[error("the alerts engine is not running")]
    Stopped,
}

/// Tuning that is not configuration.
#[derive(Clone)]
pub struct EngineOptions {
    /// Time source of the noise gate and heartbeats.
    pub clock: Arc<dyn Clock>,
    /// How often windows and heartbeats are checked.
    pub tick: Duration,
    /// Bus queue of the engine (oldest dropped, counted, beyond).
    pub queue: usize,
    /// Where history changes go besides memory (the store).
    pub history_sink: Option<Arc<dyn HistorySink>>,
    /// The bus SIEM outputs subscribe on, when not the engine's (with
    /// NATS: queue groups, so each record is exported once).
    pub siem_bus: Option<Arc<dyn Bus>>,
    /// While false the engine evaluates everything (noise state, identities,
    /// heartbeats stay current) but raises nothing: with several servers on
    /// one NATS, only the lease holder's engine emits, and a new holder
    /// takes over with the same throttle and digest state.
    pub emitting: Arc<AtomicBool>,
    /// Channels registered besides the configuration from the start (see
    /// [`AlertHandle::set_registered`]): given here, what the spool still
    /// holds for them is replayed instead of dropped as unconfigured.
    pub registered: Vec<ChannelConfig>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            clock: Arc::new(SystemClock),
            tick: Duration::from_secs(1),
            queue: 65_536,
            history_sink: None,
            siem_bus: None,
            emitting: Arc::new(AtomicBool::new(true)),
            registered: Vec::new(),
        }
    }
}

/// Counters of the engine.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EngineStats {
    /// Bus messages read.
    pub received: u64,
    /// Messages seen twice (same id) and ignored.
    pub duplicates: u64,
    /// Messages lost to a full engine queue.
    pub bus_dropped: u64,
    /// Rule hits.
    pub hits: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Alerts that could not be spooled (delivered from memory only).
    pub spool_errors: u64,
    /// Alerts not raised because another server emits (standby).
    pub standby_suppressed: u64,
    /// This engine raises alerts (false: standby, another server emits).
    pub emitting: bool,
    /// Addresses with a known identity.
    pub identities: usize,
    /// Last alert.
    pub last_alert_at: Option<DateTime<Utc>>,
    /// Noise control.
    pub noise: NoiseStats,
    /// Spool.
    pub spool: SpoolStats,
}

enum Command {
    Reload(Box<AlertsConfig>, oneshot::Sender<Result<(), EngineError>>),
    Register(Vec<ChannelConfig>, oneshot::Sender<Result<(), EngineError>>),
    Shutdown(oneshot::Sender<()>),
}

/// What woke the engine between batches.
enum Wake {
    Tick,
    /// `None`: every handle is gone.
    Command(Option<Command>),
}

struct Views {
    rules: Vec<RuleView>,
    channels: Vec<ChannelView>,
}

/// Handle to a running engine.
pub struct AlertHandle {
    delivery: Arc<Delivery>,
    views: Arc<Mutex<Views>>,
    stats: Arc<Mutex<EngineStats>>,
    siem: Arc<tokio::sync::Mutex<Option<Outputs>>>,
    emitting: Arc<AtomicBool>,
    cmds: mpsc::Sender<Command>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Entry point.
pub struct AlertEngine;

/// The configuration's channels, then the registered ones whose names
/// the configuration does not already use.
fn all_channels(cfg: &AlertsConfig, registered: &[ChannelConfig]) -> Vec<ChannelConfig> {
    let mut out = cfg.channels.clone();
    for r in registered {
        if out.iter().any(|c| c.name == r.name) {
            tracing::warn!(channel = %r.name, "alerts: a registered channel has the name of a configured one; ignored");
        } else {
            out.push(r.clone());
        }
    }
    out
}

fn build_channels(
    cfg: &AlertsConfig,
    channels: &[ChannelConfig],
) -> Result<Vec<ConfiguredChannel>, EngineError> {
    let ctx = ChannelContext {
        node: cfg.node.clone(),
        link: cfg.link.clone(),
    };
    channels
        .iter()
        .map(|c| {
            channels::build(c, &ctx)
                .map(|ch| (c.clone(), ch))
                .map_err(|e| EngineError::Channel(c.name.clone(), e))
        })
        .collect()
}

fn views(channels: &[ChannelConfig], rules: &RuleSet) -> Views {
    Views {
        rules: rules.views(),
        channels: channels.iter().map(ChannelConfig::view).collect(),
    }
}

impl AlertEngine {
    /// Starts the engine on `bus` with its spool in `spool_dir`.
    pub async fn spawn(
        bus: Arc<dyn Bus>,
        config: AlertsConfig,
        spool_dir: &Path,
    ) -> Result<AlertHandle, EngineError> {
        Self::spawn_with(bus, config, spool_dir, EngineOptions::default()).await
    }

    /// [`AlertEngine::spawn`] with explicit options (tests inject a clock).
    pub async fn spawn_with(
        bus: Arc<dyn Bus>,
        config: AlertsConfig,
        spool_dir: &Path,
        opts: EngineOptions,
    ) -> Result<AlertHandle, EngineError> {
        let all = all_channels(&config, &opts.registered);
        let channels = build_channels(&config, &all)?;
        let sub = bus.subscribe(
            ">",
            BusDelivery::Lossy {
                capacity: opts.queue,
            },
        )?;
        let delivery = Arc::new(Delivery::open_with(
            spool_dir,
            config.delivery.clone(),
            channels,
            opts.history_sink.clone(),
        )?);
        let siem_bus = opts.siem_bus.clone().unwrap_or_else(|| bus.clone());
        let siem = Outputs::start(&siem_bus, &config.siem, &config.node)?;
        let rules = RuleSet::new(
            &config.builtin,
            config.rules.clone(),
            config.noise.max_tracked,
        );
        let views = Arc::new(Mutex::new(views(&all, &rules)));
        let stats = Arc::new(Mutex::new(EngineStats::default()));
        let siem = Arc::new(tokio::sync::Mutex::new(Some(siem)));
        let (tx, rx) = mpsc::channel(16);
        let state = State {
            gate: NoiseGate::new(config.noise.clone()),
            identities: Identities::new(config.noise.max_tracked),
            heartbeats: Heartbeats::default(),
            recent: Recent::new(65_536),
            rules,
            config,
            bus: bus.clone(),
            siem_bus,
            emitting: opts.emitting.clone(),
            delivery: delivery.clone(),
            views: views.clone(),
            stats: stats.clone(),
            siem: siem.clone(),
            clock: opts.clock.clone(),
            hits: Vec::new(),
            alerts: Vec::new(),
            carries_subjects: all.iter().any(|c| !c.subjects.is_empty()),
            registered: opts.registered.clone(),
            envelopes: Vec::new(),
        };
        let task = tokio::spawn(state.run(sub, rx, opts.tick));
        Ok(AlertHandle {
            delivery,
            views,
            stats,
            siem,
            emitting: opts.emitting,
            cmds: tx,
            task: Mutex::new(Some(task)),
        })
    }
}

impl AlertHandle {
    /// Alerts with their per-channel delivery state, newest first.
    pub fn history(&self, limit: usize, offset: usize) -> HistoryPage {
        self.delivery.history(limit, offset)
    }

    /// One alert.
    pub fn alert(&self, id: Uuid) -> Option<AlertRecord> {
        self.delivery.alert(id)
    }

    /// False once the engine's task has ended (shut down, or the bus closed
    /// its subscription, or it panicked): `/health` reports it.
    pub fn is_running(&self) -> bool {
        self.task.lock().as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Each channel's delivery state (breaker, queue, counters, last error).
    pub fn channels_state(&self) -> Vec<ChannelState> {
        self.delivery.channels_state()
    }

    /// The configured channels (no secrets).
    pub fn channels(&self) -> Vec<ChannelView> {
        self.views.lock().channels.clone()
    }

    /// Every rule, built-in and custom, with what is in effect.
    pub fn rules(&self) -> Vec<RuleView> {
        self.views.lock().rules.clone()
    }

    /// Sends a test alert through channel `name` now and reports what
    /// really happened (not through the spool; the breaker is not consulted).
    pub async fn test_channel(&self, name: &str) -> Result<TestOutcome, EngineError> {
        let ch = self
            .delivery
            .channel(name)
            .ok_or_else(|| EngineError::UnknownChannel(name.to_owned()))?;
        Ok(channels::test(&*ch).await)
    }

    /// Engine counters.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats.lock().clone();
        s.spool = self.delivery.spool_stats();
        s.emitting = self.emitting.load(Ordering::Relaxed);
        s
    }

    /// SIEM outputs' state.
    pub async fn siem_state(&self) -> Vec<SiemState> {
        self.siem
            .lock()
            .await
            .as_ref()
            .map(Outputs::states)
            .unwrap_or_default()
    }

    /// Applies a new configuration: rules and noise settings at once (open
    /// windows and ladder positions are kept), channels restarted only where
    /// they changed, SIEM outputs restarted. On error nothing changes.
    pub async fn reload(&self, config: AlertsConfig) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Command::Reload(Box::new(config), tx))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Sets the channels registered besides the configuration (the API's
    /// webhooks): they run beside the configured channels and survive every
    /// [`AlertHandle::reload`]; a configured channel of the same name wins.
    /// Unchanged channels keep running; on error nothing changes.
    pub async fn set_registered(&self, channels: Vec<ChannelConfig>) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Command::Register(channels, tx))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Raises digests for every open window, keeps delivering for the
    /// configured grace period, leaves the rest in the spool, stops the SIEM
    /// outputs (flushing what they hold).
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Ids seen lately (bus redelivery is at-least-once).
struct Recent {
    set: HashSet<Uuid>,
    order: VecDeque<Uuid>,
    cap: usize,
}

impl Recent {
    fn new(cap: usize) -> Self {
        Recent {
            set: HashSet::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// False when `id` was seen already.
    fn insert(&mut self, id: Uuid) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

struct State {
    config: AlertsConfig,
    rules: RuleSet,
    gate: NoiseGate,
    identities: Identities,
    heartbeats: Heartbeats,
    recent: Recent,
    bus: Arc<dyn Bus>,
    siem_bus: Arc<dyn Bus>,
    emitting: Arc<AtomicBool>,
    delivery: Arc<Delivery>,
    views: Arc<Mutex<Views>>,
    stats: Arc<Mutex<EngineStats>>,
    siem: Arc<tokio::sync::Mutex<Option<Outputs>>>,
    clock: Arc<dyn Clock>,
    hits: Vec<Hit>,
    alerts: Vec<Alert>,
    /// Some channel takes bus messages (`subjects`).
    carries_subjects: bool,
    /// Channels set through [`AlertHandle::set_registered`].
    registered: Vec<ChannelConfig>,
    /// Bus messages of the batch being read, for the `subjects` channels.
    envelopes: Vec<Arc<Envelope>>,
}

impl State {
    fn process(&mut self, env: &Envelope, now: DateTime<Utc>) {
        if env.topic.starts_with("alert.") {
            return;
        }
        if !self.recent.insert(env.id) {
            self.stats.lock().duplicates += 1;
            return;
        }
        let s = Signal::new(env);
        self.identities.observe(&s);
        self.heartbeats.observe(&s, now);
        if !self.config.enabled {
            return;
        }
        self.rules.evaluate(&s, now, &mut self.hits);
        self.stats.lock().hits += self.hits.len() as u64;
        for hit in self.hits.drain(..) {
            let identity = hit.source_ip.and_then(|ip| self.identities.of(ip));
            self.gate.admit(hit, identity, now, &mut self.alerts);
        }
    }

    fn tick(&mut self, now: DateTime<Utc>) {
        self.gate.tick(now, &mut self.alerts);
        for (component, last_seen) in self
            .heartbeats
            .newly_silent(now, self.config.sensor_timeout)
        {
            let env = Envelope::json(
                format!("system.{component}.silent"),
                "silent",
                json!({
                    "component": component,
                    "last_seen": last_seen,
                    "silent_for": format!("{}s", (now - last_seen).num_seconds()),
                }),
            );
            self.process(&env, now);
        }
    }

    async fn dispatch(&mut self) {
        if self.alerts.is_empty() {
            return;
        }
        if !self.emitting.load(Ordering::Relaxed) {
            self.stats.lock().standby_suppressed += self.alerts.len() as u64;
            self.alerts.clear();
            return;
        }
        let alerts: Vec<Arc<Alert>> = self.alerts.drain(..).map(Arc::new).collect();
        let failed = self.delivery.submit(&alerts).await.err();
        for a in &alerts {
            self.bus.publish(channels::webhook::envelope(a));
        }
        let mut st = self.stats.lock();
        st.alerts += alerts.len() as u64;
        st.last_alert_at = alerts.last().map(|a| a.ts);
        if let Some(e) = failed {
            st.spool_errors += alerts.len() as u64;
            tracing::error!(error = %e, "alerts: could not spool alerts; delivering them from memory (not replayed after a restart)");
        }
    }

    /// Sends the batch's bus messages to the channels that asked for their
    /// subjects (only when emitting: with several servers on one NATS each
    /// message is delivered once, by the lease holder).
    async fn dispatch_envelopes(&mut self) {
        if self.envelopes.is_empty() {
            return;
        }
        let envs = std::mem::take(&mut self.envelopes);
        if !self.emitting.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = self.delivery.submit_envelopes(&envs).await {
            self.stats.lock().spool_errors += envs.len() as u64;
            tracing::error!(error = %e, "alerts: could not spool bus messages; delivering them from memory (not replayed after a restart)");
        }
    }

    /// Hands built channels to delivery (unchanged ones keep running).
    async fn install(
        &mut self,
        all: &[ChannelConfig],
        built: Vec<ConfiguredChannel>,
    ) -> Result<(), EngineError> {
        self.delivery.reconfigure(built).await?;
        self.carries_subjects = all.iter().any(|c| !c.subjects.is_empty());
        Ok(())
    }

    async fn register(&mut self, registered: Vec<ChannelConfig>) -> Result<(), EngineError> {
        let all = all_channels(&self.config, &registered);
        let built = build_channels(&self.config, &all)?;
        self.install(&all, built).await?;
        self.views.lock().channels = all.iter().map(ChannelConfig::view).collect();
        self.registered = registered;
        Ok(())
    }

    async fn reload(&mut self, config: AlertsConfig) -> Result<(), EngineError> {
        let all = all_channels(&config, &self.registered);
        let built = build_channels(&config, &all)?;
        let outputs = Outputs::start(&self.siem_bus, &config.siem, &config.node)?;
        self.install(&all, built).await?;
        if let Some(old) = self.siem.lock().await.replace(outputs) {
            old.stop().await;
        }
        self.rules = RuleSet::new(
            &config.builtin,
            config.rules.clone(),
            config.noise.max_tracked,
        );
        self.gate.reconfigure(config.noise.clone());
        *self.views.lock() = views(&all, &self.rules);
        self.config = config;
        Ok(())
    }

    fn publish_stats(&self, bus_dropped: u64) {
        let mut st = self.stats.lock();
        st.noise = self.gate.stats();
        st.identities = self.identities.len();
        st.bus_dropped = bus_dropped;
    }

    /// Evaluates a batch of bus messages and sends the alerts.
    async fn evaluate(&mut self, batch: Vec<Arc<Envelope>>, bus_dropped: u64) {
        let now = self.clock.now();
        self.stats.lock().received += batch.len() as u64;
        for env in batch {
            self.process(&env, now);
            if self.carries_subjects {
                self.envelopes.push(env);
            }
        }
        self.dispatch().await;
        self.dispatch_envelopes().await;
        self.publish_stats(bus_dropped);
    }

    /// Evaluates batches as they come, ticks the timers between them and
    /// obeys commands; a shutdown (or the handle dropped) evaluates what is
    /// still queued before the final flush.
    async fn run(self, sub: Subscription, mut cmds: mpsc::Receiver<Command>, tick: Duration) {
        let mut engine = self;
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (stop, stopped) = watch::channel(false);
        let mut batches = BatchLoop::new(sub, stopped, 512, Duration::from_millis(2));
        let mut shutdown_reply = None;
        loop {
            let wake = async {
                tokio::select! {
                    _ = ticker.tick() => Wake::Tick,
                    cmd = cmds.recv() => Wake::Command(cmd),
                }
            };
            match batches.next_or(wake).await {
                Step::Batch(batch) => engine.evaluate(batch, batches.dropped()).await,
                Step::Woken(Wake::Tick) => {
                    let now = engine.clock.now();
                    engine.tick(now);
                    engine.dispatch().await;
                    engine.publish_stats(batches.dropped());
                }
                Step::Woken(Wake::Command(Some(Command::Reload(cfg, reply)))) => {
                    let _ = reply.send(engine.reload(*cfg).await);
                }
                Step::Woken(Wake::Command(Some(Command::Register(channels, reply)))) => {
                    let _ = reply.send(engine.register(channels).await);
                }
                Step::Woken(Wake::Command(Some(Command::Shutdown(reply)))) => {
                    shutdown_reply = Some(reply);
                    let _ = stop.send(true);
                }
                Step::Woken(Wake::Command(None)) => {
                    let _ = stop.send(true);
                }
                Step::Drained => break,
            }
        }
        if shutdown_reply.is_none() && !*stop.borrow() {
            tracing::warn!("alerts: the bus closed the engine's subscription");
        }
        engine.shutdown(batches.dropped()).await;
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    /// Flushes what the noise gate holds, sends it and stops delivery and
    /// the SIEM outputs.
    async fn shutdown(&mut self, bus_dropped: u64) {
        let now = self.clock.now();
        self.gate.flush(now, &mut self.alerts);
        self.dispatch().await;
        self.dispatch_envelopes().await;
        self.publish_stats(bus_dropped);
        if let Err(e) = self.delivery.shutdown().await {
            tracing::warn!(error = %e, "alerts: spool sync at shutdown failed");
        }
        if let Some(out) = self.siem.lock().await.take() {
            out.stop().await;
        }
    }
}
