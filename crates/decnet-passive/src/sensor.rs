//! The live sensor: one capture thread reading the filtered socket into
//! the [`Analyzer`], a bounded queue of events, and a task publishing them
//! on the bus.
//!
//! Nothing here can fall behind without bound: frames the thread cannot
//! read in time are dropped by the kernel (counted from
//! `PACKET_STATISTICS`), events the publisher cannot take are dropped at
//! the queue (counted), and every table the analyzer keeps is capped.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::Bus;
use decnet_core::Event;
use decnet_net::capture::PacketSocket;
use parking_lot::RwLock;
use tokio::sync::mpsc;

use crate::analyzer::{Analyzer, AnalyzerLimits};
use crate::fleet_view::FleetView;
use crate::os::OsTable;
use crate::PassiveError;

/// Events waiting for the bus; more are dropped and counted.
pub const EVENT_QUEUE: usize = 4096;
/// How often the capture thread checks for a stop and reads the kernel's counters.
const POLL: Duration = Duration::from_millis(200);
const STATS_EVERY: Duration = Duration::from_secs(10);

/// How to run the sensor.
#[derive(Clone, Debug)]
pub struct SensorConfig {
    /// Interface to capture on.
    pub interface: String,
    /// IPv4 decoy network, checked in the kernel filter when known.
    pub decoy_net: Option<(Ipv4Addr, u8)>,
    /// OS signatures.
    pub os: OsTable,
    /// State bounds.
    pub limits: AnalyzerLimits,
}

/// Counters of a running sensor.
#[derive(Debug, Default)]
pub struct SensorStats {
    /// Frames the filter passed (kernel count, includes dropped ones).
    pub kernel_packets: AtomicU64,
    /// Frames the kernel dropped because the sensor was behind.
    pub kernel_drops: AtomicU64,
    /// Frames the sensor read.
    pub frames: AtomicU64,
    /// Events queued for the bus.
    pub events: AtomicU64,
    /// Events dropped because the queue to the bus was full.
    pub events_dropped: AtomicU64,
    /// Flows pushed out of the flow table before they were read.
    pub flows_evicted: AtomicU64,
}

/// A plain copy of [`SensorStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`SensorStats::kernel_packets`].
    pub kernel_packets: u64,
    /// See [`SensorStats::kernel_drops`].
    pub kernel_drops: u64,
    /// See [`SensorStats::frames`].
    pub frames: u64,
    /// See [`SensorStats::events`].
    pub events: u64,
    /// See [`SensorStats::events_dropped`].
    pub events_dropped: u64,
    /// See [`SensorStats::flows_evicted`].
    pub flows_evicted: u64,
}

impl SensorStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            kernel_packets: r(&self.kernel_packets),
            kernel_drops: r(&self.kernel_drops),
            frames: r(&self.frames),
            events: r(&self.events),
            events_dropped: r(&self.events_dropped),
            flows_evicted: r(&self.flows_evicted),
        }
    }
}

/// Replaces a running sensor's fleet view.
#[derive(Clone, Debug)]
pub struct FleetSetter(Arc<RwLock<FleetView>>);

impl FleetSetter {
    /// Replaces what the sensor knows of the fleet.
    pub fn set(&self, view: FleetView) {
        *self.0.write() = view;
    }
}

/// A running passive sensor.
#[derive(Debug)]
pub struct Sensor {
    stop: Arc<AtomicBool>,
    fleet: Arc<RwLock<FleetView>>,
    stats: Arc<SensorStats>,
    capture: Option<std::thread::JoinHandle<()>>,
    publisher: Option<tokio::task::JoinHandle<()>>,
}

impl Sensor {
    /// Opens the capture (errors here: no such interface, no CAP_NET_RAW)
    /// and starts reading; events go to `bus`. Call inside a tokio runtime.
    pub fn start(config: SensorConfig, bus: Arc<dyn Bus>) -> Result<Sensor, PassiveError> {
        let program = crate::filter::program(config.decoy_net);
        let socket = PacketSocket::open(&config.interface, &program, POLL)?;
        let stop = Arc::new(AtomicBool::new(false));
        let fleet = Arc::new(RwLock::new(FleetView::new()));
        let stats = Arc::new(SensorStats::default());
        let (tx, mut rx) = mpsc::channel::<Event>(EVENT_QUEUE);
        let publisher = tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                bus.publish_event(e);
            }
        });
        let capture = {
            let (stop, fleet, stats) = (stop.clone(), fleet.clone(), stats.clone());
            let analyzer = Analyzer::new(config.limits, config.os);
            let interface = config.interface.clone();
            std::thread::Builder::new()
                .name("passive-capture".into())
                .spawn(move || {
                    capture_loop(&socket, analyzer, &fleet, &stats, &stop, &tx, &interface)
                })
                .map_err(|e| PassiveError::Thread(e.to_string()))?
        };
        Ok(Sensor {
            stop,
            fleet,
            stats,
            capture: Some(capture),
            publisher: Some(publisher),
        })
    }

    /// Replaces what the sensor knows of the fleet.
    pub fn set_fleet(&self, view: FleetView) {
        *self.fleet.write() = view;
    }

    /// A handle a task can keep to replace the fleet view later.
    pub fn fleet_setter(&self) -> FleetSetter {
        FleetSetter(self.fleet.clone())
    }

    /// The sensor's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops capturing; returns once queued events are on the bus.
    pub async fn stop(mut self) -> StatsSnapshot {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.capture.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        if let Some(p) = self.publisher.take() {
            let _ = p.await;
        }
        self.stats.snapshot()
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn capture_loop(
    socket: &PacketSocket,
    mut analyzer: Analyzer,
    fleet: &RwLock<FleetView>,
    stats: &SensorStats,
    stop: &AtomicBool,
    tx: &mpsc::Sender<Event>,
    interface: &str,
) {
    let mut buf = vec![0u8; crate::filter::SNAP_LEN as usize];
    let mut events = Vec::new();
    let mut last_stats = Instant::now();
    let mut reported_drops = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buf) {
            Ok(Some(n)) => {
                stats.frames.fetch_add(1, Ordering::Relaxed);
                analyzer.frame(Instant::now(), &buf[..n], &fleet.read(), &mut events);
                for e in events.drain(..) {
                    match tx.try_send(e) {
                        Ok(()) => stats.events.fetch_add(1, Ordering::Relaxed),
                        Err(_) => stats.events_dropped.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%interface, "passive capture: {e}; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        if last_stats.elapsed() >= STATS_EVERY {
            last_stats = Instant::now();
            let s = collect(socket, &analyzer, stats);
            if s.kernel_drops + s.events_dropped > reported_drops {
                reported_drops = s.kernel_drops + s.events_dropped;
                tracing::warn!(
                    %interface,
                    kernel_drops = s.kernel_drops,
                    events_dropped = s.events_dropped,
                    "passive sensor is behind: frames/events dropped (counted, not queued)"
                );
            }
        }
    }
    collect(socket, &analyzer, stats);
}

/// Adds the kernel's counters and the analyzer's evictions to `stats`.
fn collect(socket: &PacketSocket, analyzer: &Analyzer, stats: &SensorStats) -> StatsSnapshot {
    if let Ok(k) = socket.take_stats() {
        stats.kernel_packets.fetch_add(k.packets, Ordering::Relaxed);
        stats.kernel_drops.fetch_add(k.drops, Ordering::Relaxed);
    }
    stats
        .flows_evicted
        .store(analyzer.flows_evicted(), Ordering::Relaxed);
    stats.snapshot()
}
