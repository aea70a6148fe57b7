//! The engine façade as the API and the binary will use it: rules and
//! channels views without secrets, `test_channel`, `channels_state`,
//! `reload`, custom aggregate rules, allowlist, resolve alerts reaching
//! PagerDuty as `resolve`, silent sensors, and alerts on the bus and in a
//! SIEM output.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{event, rig, until, Receiver};
use decnet_alerts::{AlertKind, AlertsConfig};
use decnet_bus::{Bus, Delivery, Envelope};
use decnet_core::EventKind;
use serde_json::json;

fn pd_ini(rx: &Receiver, extra: &str) -> String {
    format!(
        "[alerts]\nretry_base = 10ms\n{extra}\n[alerts.oncall]\ntype = pagerduty\nrouting_key = PDSECRETKEY\nurl = {}\nca_file = {}\n",
        rx.url("/v2/enqueue"),
        rx.identity.ca_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_test_state_and_reload() {
    let rx = Receiver::start().await;
    rx.respond(202, r#"{"status":"success"}"#);
    let r = rig(&pd_ini(&rx, "")).await;
    let rules = r.h.rules();
    assert!(rules.iter().any(|v| v.id == "login_success" && v.enabled));
    assert!(rules.iter().any(|v| v.id == "probe" && !v.enabled));
    let views = serde_json::to_string(&r.h.channels()).unwrap();
    let state = serde_json::to_string(&r.h.channels_state()).unwrap();
    assert!(
        views.contains("\"type\":\"pagerduty\"") && views.contains(&format!("https://{}", rx.addr))
    );
    for s in [&views, &state] {
        assert!(
            !s.contains("PDSECRETKEY") && !s.contains("/v2/enqueue"),
            "{s}"
        );
    }

    let ok = r.h.test_channel("oncall").await.unwrap();
    assert!(ok.delivered, "{ok:?}");
    assert!(matches!(
        r.h.test_channel("nope").await,
        Err(decnet_alerts::EngineError::UnknownChannel(_))
    ));

    r.bus.publish_event(event(
        EventKind::AuthAttempt,
        "203.0.113.9",
        json!({"username": "root", "success": true}),
    ));
    rx.wait_for(2, 10).await;
    until("sent counted", 20, || {
        r.h.channels_state()[0].counters.sent == 1
    })
    .await;
    let st = &r.h.channels_state()[0];
    assert_eq!(
        (st.circuit, st.counters.queued, st.counters.failed),
        ("closed", 0, 0)
    );

    // Reload: the channel now only wants critical alerts; login_success stays high.
    let cfg =
        AlertsConfig::from_ini(&format!("{}min_severity = critical\n", pd_ini(&rx, ""))).unwrap();
    r.h.reload(cfg).await.unwrap();
    r.bus.publish_event(event(
        EventKind::AuthAttempt,
        "203.0.113.10",
        json!({"username": "root", "success": true}),
    ));
    until("history", 20, || r.h.history(10, 0).total == 2).await;
    let rec = &r.h.history(10, 0).data[0];
    assert!(rec.deliveries.is_empty(), "filtered out by min_severity");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 2);

    // A bad reload changes nothing.
    let mut bad = AlertsConfig::from_ini(&pd_ini(&rx, "")).unwrap();
    bad.channels[0].ca_file = Some("/nonexistent/ca.pem".into());
    assert!(r.h.reload(bad).await.is_err());
    assert_eq!(
        r.h.channels()[0].min_severity,
        decnet_alerts::Severity::Critical
    );
    assert!(r.h.is_running());
    r.h.shutdown().await;
    assert!(!r.h.is_running(), "health sees a stopped engine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_down_then_back_is_trigger_then_resolve() {
    let rx = Receiver::start().await;
    rx.respond(202, r#"{"status":"success"}"#);
    let r = rig(&pd_ini(&rx, "")).await;
    let backend = |t: &str| {
        Envelope::json(
            format!("response.backend.{t}"),
            t,
            json!({"node": "n1", "backend": "nftables", "state": {"detail": "nft missing"}}),
        )
    };
    // Startup "online" resolves nothing.
    r.bus.publish(backend("online"));
    r.bus.publish(backend("offline"));
    r.bus.publish(backend("online"));
    let reqs = rx.wait_for(2, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 2);
    let (a, b) = (reqs[0].json(), reqs[1].json());
    assert_eq!(
        (a["event_action"].as_str(), b["event_action"].as_str()),
        (Some("trigger"), Some("resolve"))
    );
    assert_eq!(a["dedup_key"], b["dedup_key"]);
    assert_eq!(a["dedup_key"], "response_backend_down/backend:n1/nftables");
    r.h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sensor_alerts_once_and_resolves() {
    let r = rig("[alerts]\nsensor_timeout = 60s\n").await;
    let beat = || {
        Envelope::json(
            "system.sensor-a.health",
            "health",
            json!({"sensor": "sensor-a", "status": "healthy"}),
        )
    };
    r.bus.publish(beat());
    until("heartbeat read", 20, || r.h.stats().received >= 1).await;
    r.clock.advance(Duration::from_secs(61));
    until("silent alert", 20, || r.h.history(10, 0).total == 1).await;
    let a = r.h.history(10, 0).data[0].alert.clone();
    assert_eq!(a.rule, "sensor_down");
    assert!(a.title.contains("stopped sending heartbeats"));
    r.clock.advance(Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.h.history(10, 0).total, 1, "reported once");
    r.bus.publish(beat());
    until("resolve", 20, || r.h.history(10, 0).total == 2).await;
    assert_eq!(r.h.history(10, 0).data[0].alert.kind, AlertKind::Resolve);
    r.h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_aggregate_rule_and_allowlist() {
    let r = rig(
        "[alerts]\nallowlist = 10.9.0.0/16\n\
         [alerts.rule.redis_takeover]\ntitle = Redis persistence tampering\nseverity = critical\nkinds = command\nfield.command = ~(?i)^config set (dir|dbfilename)\ncount = 3\nwithin = 1m\n",
    )
    .await;
    let cmd = |ip: &str, c: &str| event(EventKind::Command, ip, json!({"command": c}));
    for c in [
        "CONFIG SET dir /root/.ssh",
        "CONFIG SET dbfilename authorized_keys",
        "GET x",
    ] {
        r.bus.publish_event(cmd("198.51.100.5", c));
    }
    r.bus
        .publish_event(cmd("198.51.100.5", "config set dir /var/spool/cron"));
    // The allowlisted admin doing the same is silent.
    for _ in 0..5 {
        r.bus.publish_event(cmd("10.9.1.1", "CONFIG SET dir /tmp"));
    }
    until("read", 20, || r.h.stats().received >= 9).await;
    let page = r.h.history(50, 0);
    let custom: Vec<_> = page
        .data
        .iter()
        .filter(|x| x.alert.rule == "redis_takeover")
        .collect();
    assert_eq!(
        custom.len(),
        1,
        "three matching commands from one source, once"
    );
    assert_eq!(custom[0].alert.severity, decnet_alerts::Severity::Critical);
    assert!(page
        .data
        .iter()
        .all(|x| x.alert.source_ip != Some("10.9.1.1".parse().unwrap())));
    assert!(r.h.stats().noise.silenced >= 5);
    r.h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_go_on_the_bus_and_into_siem_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.ocsf.jsonl");
    let r = rig(&format!(
        "[siem.soc]\nformat = ocsf\nsink = file\npath = {}\nsubjects = alert.>\nflush_interval = 5ms\n",
        path.display()
    ))
    .await;
    let mut watch = r.bus.subscribe("alert.>", Delivery::Lossless).unwrap();
    r.bus.publish_event(event(
        EventKind::FileUpload,
        "203.0.113.77",
        json!({"filename": "x", "sha256": "00", "size": 1}),
    ));
    let env = tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(env.topic, "alert.file_transfer");
    assert_eq!(env.kind, "alert");
    until("siem line", 20, || {
        std::fs::read_to_string(&path)
            .map(|s| s.lines().count() == 1)
            .unwrap_or(false)
    })
    .await;
    let v: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    assert_eq!(v["class_uid"], 2004);
    assert_eq!(v["finding_info"]["analytic"]["name"], "file_transfer");
    let siem = r.h.siem_state().await;
    assert_eq!((siem[0].written, siem[0].dropped_overflow), (1, 0));
    r.h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_spool_does_not_silence_alerts() {
    let rx = Receiver::start().await;
    rx.respond(202, r#"{"status":"success"}"#);
    let r = rig(&pd_ini(&rx, "")).await;
    // No segment exists before the first alert: with the directory gone the
    // spool cannot be written.
    std::fs::remove_dir_all(r.dir.path()).unwrap();
    r.bus.publish_event(event(
        EventKind::Command,
        "203.0.113.60",
        json!({"command": "id"}),
    ));
    rx.wait_for(1, 10).await;
    until("spool error counted", 20, || r.h.stats().spool_errors == 1).await;
    until("state sent", 20, || {
        r.h.channels_state()[0].counters.sent == 1
    })
    .await;
    r.h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_engine_keeps_noise_state_but_raises_nothing_until_it_emits() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let emitting = std::sync::Arc::new(AtomicBool::new(false));
    let opts = decnet_alerts::EngineOptions {
        emitting: emitting.clone(),
        ..Default::default()
    };
    let r = common::rig_with("[alerts]\nwindow = 1h\n", opts).await;
    let login = |ip: &str| {
        event(
            EventKind::AuthAttempt,
            ip,
            json!({"username": "root", "success": true}),
        )
    };
    r.bus.publish_event(login("203.0.113.20"));
    until("evaluated in standby", 20, || {
        r.h.stats().standby_suppressed == 1
    })
    .await;
    assert_eq!(r.h.history(10, 0).total, 0);
    assert!(!r.h.stats().emitting);

    // Taking over: the window opened in standby still throttles that source,
    // a new source alerts.
    emitting.store(true, Ordering::Relaxed);
    r.bus.publish_event(login("203.0.113.20"));
    r.bus.publish_event(login("203.0.113.21"));
    until("one alert", 20, || r.h.history(10, 0).total == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page = r.h.history(10, 0);
    assert_eq!(page.total, 1);
    assert_eq!(
        page.data[0]
            .alert
            .source_ip
            .map(|i| i.to_string())
            .as_deref(),
        Some("203.0.113.21")
    );
    assert!(r.h.stats().emitting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_subject_channels_get_bus_messages_and_survive_reloads() {
    const HMAC: &str = "0123456789abcdefHMAC";
    let rx = Receiver::start().await;
    rx.respond(204, "");
    // A registered channel is a channel like any other: here built from a section.
    let registered = AlertsConfig::from_ini(&format!(
        "[alerts.hook]\ntype = webhook\nurl = {}\nsecret = {HMAC}\nca_file = {}\nsubjects = events.*.ssh.>, alert.>\n",
        rx.url("/hook"),
        rx.identity.ca_file.display()
    ))
    .unwrap()
    .channels;
    let r = rig("[alerts]\nretry_base = 10ms\n").await;
    r.h.set_registered(registered).await.unwrap();
    let hook =
        r.h.channels()
            .into_iter()
            .find(|c| c.name == "hook")
            .unwrap();
    assert_eq!(hook.subjects, vec!["events.*.ssh.>", "alert.>"]);

    // A login: the event itself (its subject matches) and the alert it
    // raises (as its bus message `alert.login_success`), each signed.
    let e = event(
        EventKind::AuthAttempt,
        "203.0.113.9",
        json!({"username": "root", "success": true}),
    );
    let eid = e.id.to_string();
    r.bus.publish_event(e);
    let reqs = rx.wait_for(2, 10).await;
    let topics: Vec<String> = reqs
        .iter()
        .map(|q| q.json()["topic"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        topics.contains(&"events.web01.ssh.auth_attempt".to_owned()),
        "{topics:?}"
    );
    assert!(
        topics.contains(&"alert.login_success".to_owned()),
        "{topics:?}"
    );
    for q in &reqs {
        let sig = q.header("x-decnet-signature").unwrap();
        assert!(decnet_alerts::channels::webhook::verify(
            HMAC, &q.body, &sig
        ));
        assert_eq!(
            q.header("x-decnet-delivery").unwrap(),
            q.json()["id"].as_str().unwrap()
        );
    }
    assert!(reqs.iter().any(|q| q.json()["id"] == eid.as_str()));

    // A reload of the configuration keeps the registered channel delivering.
    r.h.reload(AlertsConfig::from_ini("[alerts]\nretry_base = 10ms\nnode = other\n").unwrap())
        .await
        .unwrap();
    assert!(r.h.channels().iter().any(|c| c.name == "hook"));
    let e = event(EventKind::Connect, "203.0.113.10", json!({}));
    let cid = e.id.to_string();
    r.bus.publish_event(e);
    until("the event after the reload", 10, || {
        rx.requests().iter().any(|q| q.json()["id"] == cid.as_str())
    })
    .await;

    // Unregistered: gone, nothing more is sent to it.
    r.h.set_registered(Vec::new()).await.unwrap();
    assert!(!r.h.channels().iter().any(|c| c.name == "hook"));
    assert!(!r.h.channels_state().iter().any(|c| c.name == "hook"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_engine_sends_no_bus_message_to_subject_channels() {
    let rx = Receiver::start().await;
    rx.respond(204, "");
    let ini = format!(
        "[alerts]\nretry_base = 10ms\n[alerts.hook]\ntype = webhook\nurl = {}\nsecret = 0123456789abcdefHMAC\nca_file = {}\nsubjects = events.>\n",
        rx.url("/hook"),
        rx.identity.ca_file.display()
    );
    let emitting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = common::rig_with(
        &ini,
        decnet_alerts::EngineOptions {
            emitting: emitting.clone(),
            ..Default::default()
        },
    )
    .await;
    r.bus
        .publish_event(event(EventKind::Connect, "203.0.113.1", json!({})));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.count(),
        0,
        "another server delivers while this one stands by"
    );
    emitting.store(true, std::sync::atomic::Ordering::Relaxed);
    let e = event(EventKind::Connect, "203.0.113.2", json!({}));
    let id = e.id.to_string();
    r.bus.publish_event(e);
    let reqs = rx.wait_for(1, 10).await;
    assert_eq!(reqs[0].json()["id"], id.as_str());
}
