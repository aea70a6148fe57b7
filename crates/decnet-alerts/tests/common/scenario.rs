//! The channel-outage scenario, shared by `tests/outage.rs` (a few seconds)
//! and `examples/alerts_outage.rs` (the real-time minute of the interop
//! script): a signed-webhook channel whose receiver is down while alerts
//! of three rules keep coming, optionally with the engine restarted in the
//! middle (the spool carries the backlog over), then the receiver comes
//! back. Reports what was created, what arrived, duplicates, losses and
//! order violations per rule.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_alerts::{Alert, AlertEngine, AlertsConfig};
use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::EventKind;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{event, Receiver};

/// How the channel is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Down {
    /// Nothing listens (connection refused).
    Refused,
    /// The receiver answers 503.
    Unavailable,
}

/// What happened.
#[derive(Debug, Serialize)]
pub struct OutageReport {
    pub created: usize,
    pub received_unique: usize,
    pub posts: usize,
    pub duplicates: usize,
    pub lost: usize,
    pub order_violations: usize,
    pub breaker_opened: u64,
    pub max_attempts: u32,
    pub drained_after_recovery_ms: u128,
}

pub async fn outage(
    down_for: Duration,
    rounds: usize,
    how: Down,
    restart_engine: bool,
) -> OutageReport {
    let rx = Receiver::start().await;
    match how {
        Down::Refused => rx.stop(),
        Down::Unavailable => rx.respond(503, "maintenance"),
    }
    let ini = format!(
        "[alerts]\nretry_base = 50ms\nretry_max = 1s\nbreaker_threshold = 3\nbreaker_open_for = 500ms\nshutdown_grace = 0s\n\
         [alerts.hook]\ntype = webhook\nurl = {}\nsecret = outage-test-secret-0123\nca_file = {}\n",
        rx.url("/hook"),
        rx.identity.ca_file.display()
    );
    let cfg = AlertsConfig::from_ini(&ini).unwrap();
    let spool = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let mut watch = bus.subscribe("alert.>", Delivery::Lossless).unwrap();
    let mut engine = AlertEngine::spawn(dynbus.clone(), cfg.clone(), spool.path())
        .await
        .unwrap();

    let step = down_for / rounds as u32;
    let mut restarted = false;
    let mut breaker_opened = 0;
    for round in 0..rounds {
        let ip = |rule: u8| format!("198.51.{rule}.{}", round + 1);
        bus.publish_event(event(
            EventKind::AuthAttempt,
            &ip(1),
            json!({"username": "root", "success": true}),
        ));
        bus.publish_event(event(
            EventKind::Command,
            &ip(2),
            json!({"command": format!("id #{round}")}),
        ));
        bus.publish_event(event(
            EventKind::FileUpload,
            &ip(3),
            json!({"filename": format!("x{round}.sh"), "sha256": "00", "size": 1}),
        ));
        if restart_engine && !restarted && round + 1 >= rounds / 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            breaker_opened += engine
                .channels_state()
                .iter()
                .map(|c| c.breaker_opened)
                .sum::<u64>();
            engine.shutdown().await;
            engine = AlertEngine::spawn(dynbus.clone(), cfg.clone(), spool.path())
                .await
                .unwrap();
            restarted = true;
        }
        tokio::time::sleep(step).await;
    }
    breaker_opened += engine
        .channels_state()
        .iter()
        .map(|c| c.breaker_opened)
        .sum::<u64>();

    // Every alert created, in creation order.
    let mut created: Vec<Alert> = Vec::new();
    while let Some(env) = watch.try_recv() {
        if let decnet_bus::Payload::Json(v) = &env.payload {
            created.push(serde_json::from_value(v.clone()).unwrap());
        }
    }
    match how {
        Down::Refused => rx.restart().await,
        Down::Unavailable => rx.respond(200, "ok"),
    }
    let back = Instant::now();
    let want: HashSet<Uuid> = created.iter().map(|a| a.id).collect();
    let deadline = back + Duration::from_secs(60);
    loop {
        let got: HashSet<Uuid> = rx
            .requests()
            .iter()
            .filter(|r| r.path == "/hook")
            .filter_map(|r| r.header("x-decnet-delivery")?.parse().ok())
            .collect();
        if want.is_subset(&got) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = back.elapsed();
    let max_attempts = engine
        .history(10_000, 0)
        .data
        .iter()
        .flat_map(|r| r.deliveries.iter().map(|d| d.attempts))
        .max()
        .unwrap_or(0);
    engine.shutdown().await;

    let posts: Vec<Uuid> = rx
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/hook" && (how == Down::Refused || r.header("x-decnet-delivery").is_some())
        })
        .filter_map(|r| r.header("x-decnet-delivery")?.parse().ok())
        .collect();
    // With a 503 receiver, requests during the outage were answered 503:
    // they count as attempts, not deliveries. Only count what came after.
    let delivered: Vec<Uuid> = match how {
        Down::Refused => posts.clone(),
        Down::Unavailable => rx
            .requests()
            .iter()
            .filter(|r| r.at >= back)
            .filter_map(|r| r.header("x-decnet-delivery")?.parse().ok())
            .collect(),
    };
    let unique: HashSet<Uuid> = delivered.iter().copied().collect();
    // Order per rule: first arrival of each alert follows creation order.
    let mut first_seen: BTreeMap<Uuid, usize> = BTreeMap::new();
    for (i, id) in delivered.iter().enumerate() {
        first_seen.entry(*id).or_insert(i);
    }
    let mut order_violations = 0;
    let mut by_rule: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for a in &created {
        if let Some(i) = first_seen.get(&a.id) {
            by_rule.entry(&a.rule).or_default().push(*i);
        }
    }
    for seq in by_rule.values() {
        order_violations += seq.windows(2).filter(|w| w[0] > w[1]).count();
    }
    OutageReport {
        created: created.len(),
        received_unique: unique.len(),
        posts: delivered.len(),
        duplicates: delivered.len() - unique.len(),
        lost: want.difference(&unique).count(),
        order_violations,
        breaker_opened,
        max_attempts,
        drained_after_recovery_ms: drained.as_millis(),
    }
}
