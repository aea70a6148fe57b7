//! Drives the SMTP channel against a real server, for
//! scripts/interop/alerts.sh: reads an INI file with `[alerts.*]` sections
//! and, for every channel, sends a test alert and prints the outcome as a
//! JSON line. With `--engine`, also runs the whole pipeline: a successful
//! login event on a bus becomes an alert, spooled and delivered, and the
//! history entry is printed. Exit status 0 only if everything was delivered.
//!
//! `smtp_probe CONFIG.ini [--engine]`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_alerts::channels::{self, ChannelContext};
use decnet_alerts::delivery::history::DeliveryState;
use decnet_alerts::{AlertEngine, AlertsConfig};
use decnet_bus::{Bus, MemoryBus};
use decnet_core::{Event, EventKind};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: smtp_probe CONFIG.ini [--engine]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).expect("config file");
    let cfg = match AlertsConfig::from_ini(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let ctx = ChannelContext {
        node: cfg.node.clone(),
        link: cfg.link.clone(),
    };
    let mut ok = true;
    for c in &cfg.channels {
        let ch = channels::build(c, &ctx).expect("channel");
        let out = channels::test(&*ch).await;
        ok &= out.delivered;
        println!("{}", serde_json::to_string(&out).unwrap());
    }
    if args.iter().any(|a| a == "--engine") {
        let bus = MemoryBus::new();
        let dynbus: Arc<dyn Bus> = bus.clone();
        let spool = tempfile::tempdir().unwrap();
        let h = AlertEngine::spawn(dynbus, cfg, spool.path())
            .await
            .expect("engine");
        let mut e = Event::new("mail01", "ssh", EventKind::AuthAttempt)
            .with("username", "root")
            .with("success", true);
        e.src_ip = "203.0.113.25".parse().unwrap();
        e.src_port = 51515;
        e.dst_ip = "127.0.0.1".parse().unwrap();
        e.dst_port = 22;
        bus.publish_event(e);
        let deadline = Instant::now() + Duration::from_secs(30);
        let done = |s: DeliveryState| {
            matches!(
                s,
                DeliveryState::Sent | DeliveryState::Failed | DeliveryState::Dropped
            )
        };
        loop {
            let page = h.history(10, 0);
            let finished = page.total > 0
                && page.data.iter().all(|r| {
                    !r.deliveries.is_empty() && r.deliveries.iter().all(|d| done(d.state))
                });
            if finished || Instant::now() > deadline {
                for r in &page.data {
                    ok &= !r.deliveries.is_empty()
                        && r.deliveries.iter().all(|d| d.state == DeliveryState::Sent);
                }
                println!("{}", serde_json::to_string(&page).unwrap());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        h.shutdown().await;
    }
    std::process::exit(if ok { 0 } else { 1 });
}
