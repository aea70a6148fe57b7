//! Responder behaviour: policy decisions, escalation, allowlist, dry-run,
//! identities, audit + persistence through the real SQLite store, backend
//! runtime state with a fake clock, replay after recovery, peer sync, and
//! the CrowdSec decisions API over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use decnet_bus::{Bus, Delivery, Envelope, MemoryBus, Subscription};
use decnet_core::EventKind;
use decnet_response::{api, BackendKind, Options, Responder, ResponseError};

#[tokio::test]
async fn auth_attempt_bans_once_and_publishes() {
    let g = rig(&[
        ("ban_on", "auth_attempt"),
        ("backends", "nftables, blocklist"),
    ])
    .await;
    let mut sub = g.bus.subscribe("response.>", Delivery::Lossless).unwrap();
    assert!(g
        .r
        .on_event(&ev("127.0.71.200", "ssh", EventKind::Connect))
        .is_none());
    let b =
        g.r.on_event(&ev("127.0.71.200", "ssh", EventKind::AuthAttempt))
            .expect("auth attempt bans");
    assert_eq!(b.value.to_string(), "127.0.71.200/32");
    assert_eq!(b.expires_at - b.created_at, chrono::Duration::hours(1));
    assert!(
        b.reason.contains("auth_attempt on web01/ssh"),
        "{}",
        b.reason
    );
    // Already banned: later events are ignored.
    assert!(g
        .r
        .on_event(&ev("127.0.71.200", "ssh", EventKind::AuthAttempt))
        .is_none());
    let msgs = drain(&mut sub);
    assert_eq!(msgs.iter().filter(|m| m.topic == "response.ban").count(), 1);
    assert_eq!(g.r.blocklist_txt(), "127.0.71.200\n");
    // The runner hands it to the firewall.
    let runner =
        g.r.runners()
            .into_iter()
            .find(|r| r.kind() == BackendKind::Nftables)
            .unwrap();
    g.r.probe(&runner).await;
    assert!(g.r.flush(&runner).await);
    let applied = g.fw.applied.lock().clone();
    assert!(
        applied
            .iter()
            .any(|e| e.value == b.value && e.ttl_secs == 3600),
        "{applied:?}"
    );
}

#[tokio::test]
async fn rate_and_service_triggers() {
    let g = rig(&[("ban_on", "events:5/10, services:telnet")]).await;
    for n in 0..4 {
        assert!(
            g.r.on_event(&ev("127.0.71.201", "http", EventKind::Request))
                .is_none(),
            "{n}"
        );
        g.clock.advance(Duration::from_secs(1));
    }
    // The window slides: after 10 s the early ones no longer count.
    g.clock.advance(Duration::from_secs(10));
    for _ in 0..4 {
        assert!(g
            .r
            .on_event(&ev("127.0.71.201", "http", EventKind::Request))
            .is_none());
    }
    let b =
        g.r.on_event(&ev("127.0.71.201", "http", EventKind::Request))
            .unwrap();
    assert!(b.reason.starts_with("events:5/10"), "{}", b.reason);
    // Auth attempts alone do not ban under this policy; telnet does.
    assert!(g
        .r
        .on_event(&ev("127.0.71.202", "ssh", EventKind::AuthAttempt))
        .is_none());
    assert!(g
        .r
        .on_event(&ev("127.0.71.203", "telnet", EventKind::Connect))
        .is_some());
}

#[tokio::test]
async fn allowlist_is_never_banned() {
    let g = rig(&[("ban_on", "any"), ("allowlist", "127.0.72.0/24")]).await;
    assert!(g
        .r
        .on_event(&ev("127.0.72.9", "ssh", EventKind::AuthAttempt))
        .is_none());
    // Host's own address (default allowlist).
    assert!(g
        .r
        .on_event(&ev("127.0.0.1", "ssh", EventKind::AuthAttempt))
        .is_none());
    // API clients are allowlisted by default.
    g.r.note_api_client(ip("127.0.71.250"));
    assert!(g
        .r
        .on_event(&ev("127.0.71.250", "ssh", EventKind::AuthAttempt))
        .is_none());
    assert!(g
        .r
        .on_event(&ev("127.0.71.9", "ssh", EventKind::AuthAttempt))
        .is_some());
    // Manual bans respect it too, including ranges that contain an allowed address.
    assert!(matches!(
        g.r.manual_ban("admin", "127.0.72.5", None, "x"),
        Err(ResponseError::Allowlisted(_))
    ));
    assert!(matches!(
        g.r.manual_ban("admin", "127.0.0.0/16", None, "x"),
        Err(ResponseError::Allowlisted(_))
    ));
    assert!(matches!(
        g.r.manual_ban("admin", "0.0.0.0/0", None, "x"),
        Err(ResponseError::Invalid(_))
    ));
    // Without defaults, only the configured list protects.
    let g2 = rig(&[("ban_on", "any"), ("allowlist_defaults", "false")]).await;
    assert!(g2
        .r
        .on_event(&ev("127.0.0.1", "ssh", EventKind::AuthAttempt))
        .is_some());
}

#[tokio::test]
async fn escalation_for_repeat_offenders() {
    let g = rig(&[
        ("duration", "1m"),
        ("escalation", "3x"),
        ("max_duration", "5m"),
        ("backends", "nftables"),
    ])
    .await;
    let mut sub = g
        .bus
        .subscribe("response.unban", Delivery::Lossless)
        .unwrap();
    let mut lens = Vec::new();
    for _ in 0..3 {
        let b =
            g.r.on_event(&ev("127.0.71.204", "ssh", EventKind::AuthAttempt))
                .unwrap();
        lens.push((b.offence, (b.expires_at - b.created_at).num_seconds()));
        assert_eq!(g.r.sweep(), 0, "not yet expired");
        g.clock.advance(Duration::from_secs(301));
        assert_eq!(g.r.sweep(), 1);
        assert!(g.r.ban_for(ip("127.0.71.204")).is_none());
    }
    assert_eq!(lens, [(1, 60), (2, 180), (3, 300)]);
    assert_eq!(drain(&mut sub).len(), 3, "expiry publishes response.unban");
    // Expiry is pushed to the firewall as an unban.
    let runner = g.r.runners()[0].clone();
    g.r.probe(&runner).await;
    g.r.flush(&runner).await;
    assert!(!g.fw.removed.lock().is_empty());
}

#[tokio::test]
async fn dry_run_records_without_enforcing() {
    let g = rig(&[
        ("dry_run", "true"),
        ("backends", "nftables, blocklist, crowdsec"),
    ])
    .await;
    let b =
        g.r.on_event(&ev("127.0.71.205", "ssh", EventKind::AuthAttempt))
            .unwrap();
    assert!(b.dry_run);
    assert_eq!(g.r.blocklist_txt(), "");
    let runner =
        g.r.runners()
            .into_iter()
            .find(|r| r.kind() == BackendKind::Nftables)
            .unwrap();
    g.r.probe(&runner).await;
    g.r.flush(&runner).await;
    assert!(
        g.fw.applied.lock().is_empty(),
        "dry run never reaches the firewall"
    );
    let st = api::status(&g.r);
    assert!(st.dry_run);
    assert_eq!((st.active_bans, st.dry_run_bans), (0, 1));
    let page = api::list_bans(&g.r, &api::BanQuery::default()).unwrap();
    assert_eq!(page.total, 1);
    assert!(page.data[0].dry_run);
}

#[tokio::test]
async fn identity_formed_bans_every_member() {
    let g = rig(&[("ban_on", "identity")]).await;
    // Identity-only policy: single events do not ban.
    assert!(g
        .r
        .on_event(&ev("127.0.71.206", "ssh", EventKind::AuthAttempt))
        .is_none());
    let env = Envelope::json(
        "identity.formed",
        "formed",
        serde_json::json!({"identity_id": 42, "ips": ["127.0.71.206", "127.0.71.207", "127.0.0.1", "junk"]}),
    );
    let bans = g.r.on_identity_envelope(&env);
    let vals: Vec<String> = bans.iter().map(|b| b.value.addr().to_string()).collect();
    assert_eq!(
        vals,
        ["127.0.71.206", "127.0.71.207"],
        "allowlisted host address skipped"
    );
    assert_eq!(bans[0].reason, "identity 42");
    assert_eq!(bans[0].origin, "identity");
    // Other identity events are not bans.
    let other = Envelope::json(
        "identity.merged",
        "merged",
        serde_json::json!({"ips": ["127.0.71.208"]}),
    );
    assert!(g.r.on_identity_envelope(&other).is_empty());
}

#[tokio::test]
async fn manual_ban_unban_audit_and_persistence() {
    let (store, dir) = sqlite().await;
    let g = rig_with(&[("backends", "blocklist")], Some((store.clone(), dir))).await;
    let b = api::ban(
        &g.r,
        "alice",
        &api::ManualBan {
            value: "198.51.100.0/24".into(),
            duration: Some("2h".into()),
            reason: "scanner range".into(),
        },
    )
    .unwrap();
    assert_eq!(b.origin, "manual");
    assert_eq!(b.actor.as_deref(), Some("alice"));
    assert_eq!((b.expires_at - b.created_at).num_hours(), 2);
    assert!(
        g.r.ban_for(ip("198.51.100.77")).is_some(),
        "range covers members"
    );
    assert!(api::ban(
        &g.r,
        "alice",
        &api::ManualBan {
            value: "1.2.3.4".into(),
            duration: None,
            reason: " ".into()
        }
    )
    .is_err());
    api::ban(
        &g.r,
        "alice",
        &api::ManualBan {
            value: "203.0.113.9".into(),
            duration: None,
            reason: "r".into(),
        },
    )
    .unwrap();
    let u = api::unban(
        &g.r,
        "bob",
        "203.0.113.9",
        &api::ManualUnban {
            reason: "false positive".into(),
        },
    )
    .unwrap();
    assert_eq!(u.value.to_string(), "203.0.113.9/32");
    assert!(matches!(
        api::unban(&g.r, "bob", "203.0.113.9", &Default::default()),
        Err(ResponseError::NotFound(_))
    ));
    let trail = api::audit(&g.r, 10);
    assert_eq!(trail.len(), 3);
    assert_eq!(
        (
            trail[0].actor.as_str(),
            trail[0].action.as_str(),
            trail[0].reason.as_str()
        ),
        ("bob", "unban", "false positive")
    );
    assert_eq!(trail[2].target, "198.51.100.0/24");
    let key = api::create_bouncer(&g.r, "alice", "fw1").unwrap();
    assert_eq!(key.api_key.len(), 48);
    g.r.persist().await;
    // A second process on the same database sees the same bans, trail and keys.
    let g2 = Responder::start(
        &raw(&[("backends", "blocklist")]),
        MemoryBus::new(),
        Options {
            clock: g.clock.clone(),
            store: Some(store.clone()),
            spawn: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(g2.blocklist_txt(), "198.51.100.0/24\n");
    assert_eq!(api::audit(&g2, 10), api::audit(&g.r, 10));
    assert_eq!(api::bouncers(&g2)[0].name, "fw1");
    // Policy edits persist too, until the fleet file changes.
    api::policy_put(
        &g.r,
        "alice",
        raw(&[("backends", "blocklist"), ("duration", "30m")]),
    )
    .await
    .unwrap();
    assert!(api::policy_put(&g.r, "alice", raw(&[("bogus", "1")]))
        .await
        .is_err());
    let g3 = Responder::start(
        &raw(&[("backends", "blocklist")]),
        MemoryBus::new(),
        Options {
            clock: g.clock.clone(),
            store: Some(store.clone()),
            spawn: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(g3.policy().duration, Duration::from_secs(1800));
    let g4 = Responder::start(
        &raw(&[("backends", "blocklist"), ("duration", "2h")]),
        MemoryBus::new(),
        Options {
            clock: g.clock.clone(),
            store: Some(store),
            spawn: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(g4.policy().duration, Duration::from_secs(7200));
}

fn topics(sub: &mut Subscription) -> Vec<String> {
    drain(sub)
        .iter()
        .filter(|m| m.topic.starts_with("response.backend."))
        .map(|m| m.topic.trim_start_matches("response.backend.").to_owned())
        .collect()
}

#[tokio::test]
async fn backend_state_machine_with_fake_clock_is_stored_and_published() {
    let (store, dir) = sqlite().await;
    let g = rig_with(
        &[("backends", "nftables"), ("crash_window", "60s")],
        Some((store.clone(), dir)),
    )
    .await;
    let mut sub = g
        .bus
        .subscribe("response.backend.>", Delivery::Lossless)
        .unwrap();
    let runner = g.r.runners()[0].clone();
    // Startup is an activation; healthy first probe → online.
    g.r.probe(&runner).await;
    assert_eq!(topics(&mut sub), ["online"]);
    // Outage long after the activation: plain offline/online.
    g.clock.advance(Duration::from_secs(120));
    g.fw.online.store(false, Ordering::SeqCst);
    g.r.probe(&runner).await;
    g.fw.online.store(true, Ordering::SeqCst);
    g.r.probe(&runner).await;
    assert_eq!(topics(&mut sub), ["offline", "online"]);
    // Config reload, then a crash within 60 s → pending_recovery with the record.
    api::policy_put(
        &g.r,
        "admin",
        raw(&[("backends", "nftables"), ("crash_window", "60s")]),
    )
    .await
    .unwrap();
    let runner = g.r.runners()[0].clone();
    g.clock.advance(Duration::from_secs(30));
    g.fw.online.store(false, Ordering::SeqCst);
    g.r.probe(&runner).await;
    let msgs: Vec<_> = drain(&mut sub);
    let names: Vec<_> = msgs.iter().map(|m| m.kind.clone()).collect();
    assert_eq!(names, ["offline", "pending_recovery"]);
    let decnet_bus::Payload::Json(p) = &msgs[1].payload else {
        panic!()
    };
    assert_eq!(p["record"]["activation"]["reason"], "policy reloaded");
    let st = api::status(&g.r);
    assert_eq!(st.health, "pending_recovery");
    // Another process reading the store agrees.
    let stored = decnet_response::stored_backend_states(&*store, &[BackendKind::Nftables])
        .await
        .unwrap();
    assert!(stored[0].pending_recovery.is_some() && !stored[0].online);
    // Comes back → online + recovered, record cleared everywhere.
    g.clock.advance(Duration::from_secs(5));
    g.fw.online.store(true, Ordering::SeqCst);
    g.r.probe(&runner).await;
    assert_eq!(topics(&mut sub), ["online", "recovered"]);
    let stored = decnet_response::stored_backend_states(&*store, &[BackendKind::Nftables])
        .await
        .unwrap();
    assert!(
        stored[0].pending_recovery.is_none()
            && stored[0].last_activation.is_none()
            && stored[0].online
    );
    assert_eq!(api::status(&g.r).health, "ok");
}

#[tokio::test]
async fn bans_decided_while_offline_are_replayed_on_return() {
    let g = rig(&[("backends", "nftables"), ("duration", "10m")]).await;
    let runner = g.r.runners()[0].clone();
    g.r.probe(&runner).await;
    let early =
        g.r.on_event(&ev("127.0.71.210", "ssh", EventKind::AuthAttempt))
            .unwrap();
    assert!(g.r.flush(&runner).await);
    assert_eq!(g.fw.applied.lock().len(), 1);
    g.fw.online.store(false, Ordering::SeqCst);
    g.r.probe(&runner).await;
    let late =
        g.r.on_event(&ev("127.0.71.211", "ssh", EventKind::AuthAttempt))
            .unwrap();
    g.r.manual_ban("admin", "127.0.71.212", None, "x").unwrap();
    g.r.manual_unban("admin", "127.0.71.210", "x").unwrap();
    assert!(g.r.flush(&runner).await);
    assert_eq!(
        g.fw.applied.lock().len(),
        1,
        "nothing reaches an offline backend"
    );
    assert!(runner.state().pending_replay >= 2);
    g.clock.advance(Duration::from_secs(120));
    g.fw.online.store(true, Ordering::SeqCst);
    let t = g.r.probe(&runner).await;
    assert_eq!(t[0].name(), "online");
    assert!(g.r.flush(&runner).await);
    let applied = g.fw.applied.lock().clone();
    let replayed: Vec<_> = applied[1..]
        .iter()
        .map(|e| e.value.addr().to_string())
        .collect();
    assert!(
        replayed.contains(&"127.0.71.211".to_string())
            && replayed.contains(&"127.0.71.212".to_string()),
        "{replayed:?}"
    );
    assert!(
        !replayed.contains(&"127.0.71.210".to_string()),
        "unbanned one is not replayed"
    );
    let e = applied.iter().find(|e| e.value == late.value).unwrap();
    assert_eq!(
        e.ttl_secs, 480,
        "replayed with the remaining time, not the full duration"
    );
    assert!(
        g.fw.removed.lock().contains(&early.value),
        "unban queued while offline is applied"
    );
    assert_eq!(runner.state().pending_replay, 0);
}

#[tokio::test]
async fn peers_on_one_bus_share_bans() {
    let bus = MemoryBus::new();
    let cfg = raw(&[("backends", "blocklist")]);
    let mk = || Responder::start(&cfg, bus.clone(), Options::default());
    let a = mk().await.unwrap();
    let b = mk().await.unwrap();
    a.manual_ban("admin", "192.0.2.50", None, "peer test")
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b.ban_for(ip("192.0.2.50")).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "peer never saw the ban"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.manual_unban("admin", "192.0.2.50", "done").unwrap();
    while a.ban_for(ip("192.0.2.50")).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "peer never saw the unban"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn worker_bans_from_bus_events_and_identities() {
    let bus = MemoryBus::new();
    let r = Responder::start(
        &raw(&[
            ("ban_on", "auth_attempt, identity"),
            ("backends", "blocklist"),
        ]),
        bus.clone(),
        Options::default(),
    )
    .await
    .unwrap();
    bus.publish_event(ev("127.0.71.220", "ssh", EventKind::AuthAttempt));
    bus.publish(Envelope::json(
        "identity.formed",
        "formed",
        serde_json::json!({"identity_id": "i-1", "ips": ["127.0.71.221"]}),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while r.ban_for(ip("127.0.71.220")).is_none() || r.ban_for(ip("127.0.71.221")).is_none() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.shutdown().await;
}

// ---- CrowdSec decisions API over HTTP ----------------------------------

#[tokio::test]
async fn crowdsec_decisions_shapes() {
    let g = rig(&[
        ("backends", "crowdsec"),
        ("bouncer_key", "fw0:0123456789abcdef0123"),
    ])
    .await;
    let base = serve(g.r.clone()).await;
    let c = reqwest::Client::new();
    let key = api::create_bouncer(&g.r, "admin", "fw1").unwrap().api_key;
    // No or wrong key → 403 {"message"}.
    for k in [None, Some("nope")] {
        let mut rq = c.get(format!("{base}/v1/decisions/stream?startup=true"));
        if let Some(k) = k {
            rq = rq.header("X-Api-Key", k);
        }
        let resp = rq.send().await.unwrap();
        assert_eq!(resp.status(), 403);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["message"], "access forbidden");
    }
    let get = |path: &str, k: &str| {
        c.get(format!("{base}{path}"))
            .header("X-Api-Key", k.to_owned())
            .send()
    };
    // Empty: LAPI answers nulls.
    let v: serde_json::Value = get("/v1/decisions/stream?startup=true", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!({"new": null, "deleted": null}));
    let v: serde_json::Value = get("/v1/decisions?ip=127.0.71.230", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.is_null());

    let b =
        g.r.on_event(&ev("127.0.71.230", "ssh", EventKind::AuthAttempt))
            .unwrap();
    g.r.manual_ban(
        "admin",
        "198.51.100.0/24",
        Some(Duration::from_secs(90)),
        "range",
    )
    .unwrap();
    let resp = get("/v1/decisions/stream?startup=true", &key)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: serde_json::Value = resp.json().await.unwrap();
    let new = v["new"].as_array().unwrap();
    assert_eq!(new.len(), 2);
    let ipd = new.iter().find(|d| d["scope"] == "Ip").unwrap();
    assert_eq!(ipd["value"], "127.0.71.230");
    assert_eq!(ipd["type"], "ban");
    assert_eq!(ipd["duration"], "1h0m0s");
    assert_eq!(ipd["id"], b.id);
    assert!(ipd["origin"].is_string() && ipd["scenario"].is_string());
    let rd = new.iter().find(|d| d["scope"] == "Range").unwrap();
    assert_eq!(
        (rd["value"].as_str(), rd["duration"].as_str()),
        (Some("198.51.100.0/24"), Some("1m30s"))
    );
    assert!(v["deleted"].is_null());
    // Delta: nothing new since the last pull.
    let v: serde_json::Value = get("/v1/decisions/stream?startup=false", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!({"new": null, "deleted": null}));
    // An unban shows up as deleted; a new ban as new.
    g.clock.advance(Duration::from_secs(10));
    g.r.manual_unban("admin", "127.0.71.230", "fp").unwrap();
    g.r.on_event(&ev("127.0.71.231", "ssh", EventKind::AuthAttempt))
        .unwrap();
    let v: serde_json::Value = get("/v1/decisions/stream", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["deleted"][0]["value"], "127.0.71.230");
    assert_eq!(v["new"].as_array().unwrap().len(), 1);
    assert_eq!(v["new"][0]["value"], "127.0.71.231");
    // Each bouncer has its own cursor: the fleet-file key still gets everything.
    let v: serde_json::Value = get("/v1/decisions/stream", "0123456789abcdef0123")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["new"].as_array().unwrap().len(), 2);
    // GET /v1/decisions filters.
    let v: serde_json::Value = get("/v1/decisions?ip=198.51.100.7", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["value"], "198.51.100.0/24");
    let v: serde_json::Value = get("/v1/decisions?scope=ip", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(
        get("/v1/decisions?ip=bogus", &key).await.unwrap().status(),
        400
    );
    // Deleting the key locks the bouncer out.
    api::delete_bouncer(&g.r, "admin", "fw1").unwrap();
    assert_eq!(get("/v1/decisions", &key).await.unwrap().status(), 403);
    assert!(api::bouncers(&g.r)
        .iter()
        .any(|b| b.name == "fw0" && b.last_pull.is_some()));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "\\PC{0,20}".prop_map(serde_json::Value::from),
            "127\\.0\\.7[0-9]\\.[0-9]{1,3}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("ips".to_string()),
                        Just("identity_id".to_string()),
                        "[a-z]{1,6}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Identity and peer envelopes of any shape never panic the responder.
        #[test]
        fn arbitrary_envelopes_never_panic(v in json_value(), kind in prop_oneof![Just("formed"), Just("ban"), Just("unban"), Just("x")]) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let g = rig(&[("ban_on", "identity")]).await;
                let env = Envelope::json(format!("identity.{kind}"), kind, v.clone());
                let _ = g.r.on_identity_envelope(&env);
                g.r.on_peer(&Envelope::json(format!("response.{kind}"), kind, v));
            });
        }
    }
}
