//! Webhooks against a real HTTP receiver, delivered by a real alerts engine
//! on the server's bus: CRUD, HMAC-SHA256 signature, retries with backoff,
//! the circuit breaker holding messages back and then delivering them, the
//! test endpoint, the hook as an engine channel in `/alerts/channels`, and
//! a delivery that survives a server restart while the receiver is down.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use common::*;
use decnet_alerts::config::sections_of_ini;
use decnet_api::alerts::Started;
use decnet_bus::Bus;
use decnet_core::EventKind;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

type Hit = (HeaderMap, Vec<u8>, Instant);

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_first: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

async fn receiver(always_fail: bool, fail_first: usize) -> (String, Receiver) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    receiver_on(l, always_fail, fail_first).await
}

async fn receiver_on(
    l: tokio::net::TcpListener,
    always_fail: bool,
    fail_first: usize,
) -> (String, Receiver) {
    let rx = Receiver {
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
        down: Arc::new(AtomicBool::new(always_fail)),
        ..Default::default()
    };
    let r2 = rx.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let r = r2.clone();
            async move {
                r.hits
                    .lock()
                    .unwrap()
                    .push((headers, body.to_vec(), Instant::now()));
                if r.down.load(Ordering::SeqCst) {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let left = r.fail_first.load(Ordering::SeqCst);
                if left > 0 {
                    r.fail_first.store(left - 1, Ordering::SeqCst);
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}/hook"), rx)
}

fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    header == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const SECRET_HOOK: &str = "hook-secret-0123456789";

/// A server whose alerts engine (configured by `alerts`, the `[alerts]`
/// keys) delivers the webhooks, spooling under `dir`.
async fn start_hooks(dir: Arc<tempfile::TempDir>, alerts: &str) -> (Server, Started) {
    let text = format!("[alerts]\n{alerts}");
    start_with_alerts(dir, sections_of_ini(&text).unwrap(), None).await
}

#[tokio::test]
async fn signed_delivery_with_retries_and_crud() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (s, st) = start_hooks(dir, "retry_base = 100ms\n").await;
    let admin = s.admin().await;
    let (url, rx) = receiver(false, 2).await;
    let r = s
        .send_json(Method::POST, &admin, "/webhooks",
            json!({"name": "siem", "url": url, "events": ["events.*.ssh.>"], "secret": SECRET_HOOK}))
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["secret"], SECRET_HOOK);
    let id = created["id"].as_str().unwrap().to_owned();
    let list: Value = s.get(&admin, "/webhooks").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("secret").is_none(), "secret must not be listed");
    // A non-matching event is not delivered; a matching one is, after 2 failures.
    s.bus
        .publish_event(event("web01", "http", EventKind::Request, "10.0.0.1"));
    let e = event("web01", "ssh", EventKind::AuthAttempt, "10.0.0.2");
    let eid = e.id.to_string();
    s.bus.publish_event(e);
    wait_for("3 attempts", || rx.hits.lock().unwrap().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hits = rx.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 3, "2 failures + 1 success, nothing else");
    for (h, body, _) in &hits {
        let sig = h["x-decnet-signature"].to_str().unwrap();
        assert!(verify(SECRET_HOOK, body, sig), "bad signature");
        assert!(!verify("other-secret-000000", body, sig));
        assert_eq!(h["x-decnet-event"], "auth_attempt");
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["id"], eid.as_str());
        assert_eq!(v["topic"], "events.web01.ssh.auth_attempt");
    }
    // Backoff (equal jitter): the first retry waits 50-100 ms, the second
    // 100-200 ms.
    let gap1 = hits[1].2 - hits[0].2;
    let gap2 = hits[2].2 - hits[1].2;
    assert!(
        gap1 >= Duration::from_millis(45) && gap2 >= Duration::from_millis(95),
        "{gap1:?} {gap2:?}"
    );
    let one: Value = s
        .get(&admin, &format!("/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["delivery"]["delivered"], 1);
    assert_eq!(one["delivery"]["retries"], 2);
    assert_eq!(one["delivery"]["last_status"], 204);
    assert_eq!(one["delivery"]["circuit"], "closed");
    // The hook is one of the engine's channels, with its delivery state,
    // and without its URL path or secret.
    let r = s.get(&admin, "/alerts/channels").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(SECRET_HOOK) && !text.contains("/hook"),
        "{text}"
    );
    let channels: Value = serde_json::from_str(&text).unwrap();
    let chan = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == format!("webhook-{id}"))
        .unwrap_or_else(|| panic!("webhook-{id} not in {channels}"))
        .clone();
    assert_eq!(chan["type"], "webhook");
    assert_eq!(chan["subjects"], json!(["events.*.ssh.>"]));
    assert_eq!(chan["state"]["sent"], 1);
    assert_eq!(chan["state"]["retries"], 2);
    // Its name is reserved: an /alerts channel edit may not replace it.
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            &format!("/alerts/channels/webhook-{id}"),
            json!({"type": "webhook", "url": url, "secret": SECRET_HOOK, "subjects": ["alert.>"]}),
        )
        .await;
    assert_eq!(r.status(), 409);
    // Test endpoint.
    let r = s
        .client
        .post(s.url(&format!("/webhooks/{id}/test")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["delivered"], true);
    assert_eq!(t["attempts"], 1);
    assert_eq!(t["status_code"], 204);
    // Disable: nothing more is delivered.
    let before = rx.hits.lock().unwrap().len();
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            &format!("/webhooks/{id}"),
            json!({"name": "siem", "url": url, "events": ["events.>"], "enabled": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    s.bus
        .publish_event(event("web01", "ssh", EventKind::Connect, "10.0.0.3"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits.lock().unwrap().len(), before);
    // Persisted in the store.
    let stored = s.store.get_setting("webhooks").await.unwrap().unwrap();
    assert_eq!(stored[0]["enabled"], false);
    // Delete.
    let r = s
        .client
        .delete(s.url(&format!("/webhooks/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.get(&admin, &format!("/webhooks/{id}")).await.status(),
        404
    );
    let channels: Value = s
        .get(&admin, "/alerts/channels")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !channels.to_string().contains(&format!("webhook-{id}")),
        "deleted hook still a channel: {channels}"
    );
    stop_with_alerts(s, st).await;
}

#[tokio::test]
async fn open_breaker_holds_messages_then_delivers_them_in_order() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (s, st) = start_hooks(
        dir,
        "retry_base = 20ms\nretry_max = 100ms\nbreaker_threshold = 3\nbreaker_open_for = 3s\n",
    )
    .await;
    let admin = s.admin().await;
    let (url, rx) = receiver(true, 0).await;
    let id = s
        .create_hook(&admin, json!({"name": "down", "url": url}))
        .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let e = event("d", "ssh", EventKind::Connect, &format!("10.0.0.{i}"));
        ids.push(e.id.to_string());
        s.bus.publish_event(e);
    }
    // Three failed attempts in a row open the breaker.
    let open = s
        .hook_until(&admin, &id, |v| v["delivery"]["circuit"] == "open")
        .await;
    assert_eq!(open["delivery"]["circuit"], "open", "{open}");
    assert_eq!(open["delivery"]["last_status"], 500);
    assert_eq!(open["delivery"]["failed"], 0, "nothing is given up");
    assert_eq!(open["delivery"]["queued"], 3, "{open}");
    // While open, nothing is sent: the messages wait, they are not skipped.
    let before = rx.hits.lock().unwrap().len();
    assert_eq!(before, 3, "breaker_threshold attempts, then none");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.hits.lock().unwrap().len(),
        before,
        "open breaker must hold back"
    );
    // The receiver recovers: the half-open probe goes through and every
    // message follows, in publication order (one subject: one queue).
    rx.down.store(false, Ordering::SeqCst);
    let st_now = s
        .hook_until(&admin, &id, |v| v["delivery"]["delivered"] == 3)
        .await;
    assert_eq!(st_now["delivery"]["delivered"], 3, "{st_now}");
    assert_eq!(st_now["delivery"]["circuit"], "closed");
    assert_eq!(st_now["delivery"]["last_status"], 204);
    let hits = rx.hits.lock().unwrap().clone();
    let delivered: Vec<String> = hits[before..]
        .iter()
        .map(|(_, body, _)| {
            serde_json::from_slice::<Value>(body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(delivered, ids, "each once, in order, after the outage");
    stop_with_alerts(s, st).await;
}

#[tokio::test]
async fn delivery_survives_a_restart_while_the_receiver_is_down() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let cfg = "retry_base = 50ms\nretry_max = 200ms\nshutdown_grace = 100ms\n";
    let (s, st) = start_hooks(dir.clone(), cfg).await;
    let admin = s.admin().await;
    // A port nobody listens on (yet): connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let id = s.create_hook(&admin, json!({"name": "later", "url": format!("http://127.0.0.1:{port}/hook"), "secret": SECRET_HOOK})).await;
    let e = event("web01", "ssh", EventKind::Connect, "10.0.0.9");
    let eid = e.id.to_string();
    s.bus.publish_event(e);
    let v = s
        .hook_until(&admin, &id, |v| {
            v["delivery"]["retries"].as_u64().unwrap_or(0) >= 1
        })
        .await;
    assert!(v["delivery"]["retries"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["delivery"]["delivered"], 0);
    stop_with_alerts(s, st).await;
    // The receiver comes up on that port; a new server on the same data
    // directory and store delivers what the spool kept.
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (_, rx) = receiver_on(l, false, 0).await;
    let (s, st) = start_hooks(dir, cfg).await;
    wait_for("the spooled message", || {
        !rx.hits.lock().unwrap().is_empty()
    })
    .await;
    let (h, body, _) = rx.hits.lock().unwrap()[0].clone();
    assert!(verify(
        SECRET_HOOK,
        &body,
        h["x-decnet-signature"].to_str().unwrap()
    ));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["id"], eid.as_str());
    assert_eq!(v["topic"], "events.web01.ssh.connect");
    assert_eq!(h["x-decnet-delivery"], eid.as_str());
    let admin = s.admin().await;
    let one = s
        .hook_until(&admin, &id, |v| v["delivery"]["delivered"] == 1)
        .await;
    assert_eq!(one["delivery"]["delivered"], 1, "{one}");
    stop_with_alerts(s, st).await;
}

#[tokio::test]
async fn webhook_validation_errors_name_fields() {
    let s = start().await;
    let admin = s.admin().await;
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/webhooks",
            json!({"name": "x", "url": "ftp://nope", "events": ["events.>", "bad.>.x"]}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let locs: Vec<Value> = v["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loc"].clone())
        .collect();
    assert!(locs.contains(&json!(["body", "url"])), "{locs:?}");
    assert!(locs.contains(&json!(["body", "events", "1"])), "{locs:?}");
    let r = s
        .client
        .post(s.url("/webhooks/00000000-0000-0000-0000-000000000000/test"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Without an alerts engine nothing could deliver a hook: refused.
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/webhooks",
            json!({"name": "x", "url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(r.status(), 503);
}

trait Get {
    async fn clone_get(&self, token: &str, id: &str) -> Value;
    /// Creates a hook (201); its id.
    async fn create_hook(&self, token: &str, body: Value) -> String;
    /// The hook's view once `done` holds of it (or the last one after 8 s).
    async fn hook_until(&self, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value;
}

impl Get for Server {
    async fn create_hook(&self, token: &str, body: Value) -> String {
        let r = self.send_json(Method::POST, token, "/webhooks", body).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn hook_until(&self, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let v = self.clone_get(token, id).await;
            if done(&v) || Instant::now() >= deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn clone_get(&self, token: &str, id: &str) -> Value {
        self.get(token, &format!("/webhooks/{id}"))
            .await
            .json()
            .await
            .unwrap()
    }
}
