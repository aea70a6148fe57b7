//! Wiring of the passive LAN sensor: `[passive]` / `--passive IFACE`, the
//! interface policy, the fleet view it follows, and `decnet passive-read`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use decnet_bus::Bus;
use decnet_core::passive::PassiveConfig;
use decnet_core::FleetSpec;
use decnet_engine::Fleet;
use decnet_passive::{Analyzer, AnalyzerLimits, FleetView, OsTable, Sensor, SensorConfig};
use tokio_util::sync::CancellationToken;

/// How often the sensor's view of the fleet (addresses, open ports) is refreshed.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// The passive sensor's command-line options.
#[derive(Args, Clone, Debug, Default)]
pub struct PassiveArgs {
    /// Capture passively on this interface (the netns deckies' LAN);
    /// overrides `[passive] interface`.
    #[arg(long = "passive", value_name = "IFACE", env = "DECNET_PASSIVE")]
    pub interface: Option<String>,
    /// Allow the passive capture on an interface other than the netns
    /// deckies' LAN (it then also sees the host's own traffic).
    #[arg(long = "passive-allow-host-interface")]
    pub allow_host_interface: bool,
}

/// The effective configuration: the file's `[passive]` with the flags
/// over it; `Ok(None)` when the sensor is off.
pub fn config(fleet: &FleetSpec, args: &PassiveArgs) -> Result<Option<PassiveConfig>, String> {
    let mut c = match (&fleet.passive, &args.interface) {
        (None, None) => return Ok(None),
        (Some(c), _) => c.clone(),
        (None, Some(_)) => PassiveConfig::default(),
    };
    if let Some(i) = &args.interface {
        c.interface = i.clone();
    }
    c.allow_host_interface |= args.allow_host_interface;
    c.check(&fleet.general)?;
    Ok(Some(c))
}

/// A running sensor and the task keeping its fleet view current.
pub struct PassiveRun {
    sensor: Sensor,
    follower: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
}

fn os_table(db: Option<&str>) -> OsTable {
    let path = Path::new(db.unwrap_or(decnet_passive::os::P0F_DB));
    let (table, n) = OsTable::with_p0f_file(path);
    if n > 0 {
        tracing::info!(path = %path.display(), signatures = n, "passive: p0f database loaded");
    } else if db.is_some() {
        eprintln!(
            "warning: [passive] p0f_db {}: no signatures read; using the built-in table",
            path.display()
        );
    }
    table
}

impl PassiveRun {
    /// Opens the capture and starts following `fleet`.
    pub async fn start(
        config: &PassiveConfig,
        spec: &FleetSpec,
        fleet: Arc<Fleet>,
        bus: Arc<dyn Bus>,
    ) -> anyhow::Result<PassiveRun> {
        let decoy_net = spec.general.net.map(|n| (n.network(), n.prefix_len()));
        let sensor = Sensor::start(
            SensorConfig {
                interface: config.interface.clone(),
                decoy_net,
                os: os_table(config.p0f_db.as_deref()),
                limits: AnalyzerLimits::default(),
            },
            bus,
        )?;
        sensor.set_fleet(view_of(&fleet).await);
        let stop = CancellationToken::new();
        let follower = {
            let (stop, view) = (stop.clone(), sensor.fleet_setter());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                    }
                    view.set(view_of(&fleet).await);
                }
            })
        };
        eprintln!("passive sensor on {}", config.interface);
        Ok(PassiveRun {
            sensor,
            follower,
            stop,
        })
    }

    /// Stops the capture; logs its counters.
    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.follower.await;
        let s = self.sensor.stop().await;
        tracing::info!(
            kernel_packets = s.kernel_packets,
            frames = s.frames,
            events = s.events,
            flows_evicted = s.flows_evicted,
            kernel_drops = s.kernel_drops,
            events_dropped = s.events_dropped,
            "passive sensor stopped"
        );
    }
}

/// The fleet as the sensor needs it: each decky address with its ports.
async fn view_of(fleet: &Fleet) -> FleetView {
    let mut v = FleetView::new();
    for d in fleet.summary().await {
        let ports: Vec<&str> = d
            .services
            .iter()
            .flat_map(|s| s.ports.iter().map(String::as_str))
            .collect();
        for ip in std::iter::once(d.ip.as_str()).chain(d.ip6.as_deref()) {
            if let Ok(ip) = ip.parse::<IpAddr>() {
                v.insert_summary(ip, &d.name, ports.iter().copied());
            }
        }
    }
    v
}

/// `decnet passive-read`: a capture file through the sensor's analyzer.
#[derive(Args, Clone, Debug)]
pub struct ReadArgs {
    /// pcap file (Ethernet link type), e.g. from `tcpdump -w`.
    pub pcap: PathBuf,
    /// A decky as `IP=NAME[:tcp/22,udp/161,…]` (its listening ports); repeat for several.
    #[arg(long = "decky", value_name = "IP=NAME:PORTS", required = true)]
    pub deckies: Vec<String>,
    /// p0f database (default /etc/p0f/p0f.fp when present).
    #[arg(long)]
    pub p0f_db: Option<String>,
    /// Print only the counters and the rate (frames/s), not the events.
    #[arg(long)]
    pub quiet: bool,
    /// Replay the file this many times (a throughput measurement).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
}

/// Runs `decnet passive-read`: events as JSON lines on stdout, counters on stderr.
pub fn read(args: ReadArgs) -> ExitCode {
    let mut fleet = FleetView::new();
    for d in &args.deckies {
        let Some((ip, rest)) = d.split_once('=') else {
            eprintln!("error: --decky {d:?}: expected IP=NAME[:PORTS]");
            return ExitCode::from(2);
        };
        let Ok(ip) = ip.parse::<IpAddr>() else {
            eprintln!("error: --decky {d:?}: {ip:?} is not an IP address");
            return ExitCode::from(2);
        };
        let (name, ports) = rest.split_once(':').unwrap_or((rest, ""));
        fleet.insert_summary(ip, name, ports.split(','));
    }
    let frames = match std::fs::File::open(&args.pcap)
        .map_err(|e| e.to_string())
        .and_then(|f| decnet_passive::replay::frames(f).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", args.pcap.display());
            return ExitCode::from(2);
        }
    };
    let mut analyzer = Analyzer::new(AnalyzerLimits::default(), os_table(args.p0f_db.as_deref()));
    let started = std::time::Instant::now();
    let mut events = Vec::new();
    for _ in 0..args.repeat.max(1) {
        events = decnet_passive::replay::replay(&mut analyzer, &frames, &fleet);
    }
    let secs = started.elapsed().as_secs_f64();
    if !args.quiet {
        for e in &events {
            match serde_json::to_string(e) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }
    let c = analyzer.counters();
    eprintln!(
        "frames {} unparsed {} foreign {} fingerprints {} scans {} repeats {} in {:.3} s ({:.0} frames/s)",
        c.frames,
        c.unparsed,
        c.foreign,
        c.fingerprints,
        c.scans,
        c.repeats,
        secs,
        c.frames as f64 / secs.max(1e-9)
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> FleetSpec {
        decnet_core::fleet::parse_str(text).expect("valid fleet").0
    }

    const LAN: &str = "[general]\nnet = 10.9.0.0/24\ninterface = br0\nmode = netns\n\n[d]\nip = 10.9.0.5\nservices = ssh\n";

    #[test]
    fn off_unless_asked_and_flags_override_the_file() {
        let none = PassiveArgs::default();
        assert_eq!(config(&spec(LAN), &none), Ok(None));
        let flag = PassiveArgs {
            interface: Some("br0".into()),
            ..PassiveArgs::default()
        };
        let c = config(&spec(LAN), &flag).expect("allowed").expect("on");
        assert_eq!(c.interface, "br0");
        let file = format!("{LAN}\n[passive]\ninterface = eth9\n");
        assert!(config(&spec(&file), &none)
            .expect_err("host interface")
            .contains("allow_host_interface"));
        let forced = PassiveArgs {
            allow_host_interface: true,
            ..PassiveArgs::default()
        };
        let c = config(&spec(&file), &forced).expect("forced").expect("on");
        assert_eq!(
            (c.interface.as_str(), c.allow_host_interface),
            ("eth9", true)
        );
    }
}
