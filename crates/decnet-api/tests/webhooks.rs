//! Webhooks against a real HTTP receiver: CRUD, HMAC-SHA256 signature,
//! retries with backoff, circuit breaker, test endpoint.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use common::*;
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
    always_fail: bool,
}

async fn receiver(always_fail: bool, fail_first: usize) -> (String, Receiver) {
    let rx = Receiver {
        always_fail,
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
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
                if r.always_fail {
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
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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

#[tokio::test]
async fn signed_delivery_with_retries_and_crud() {
    let s = start_with(|c| c.webhook_retry_base = Duration::from_millis(50)).await;
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
    // Backoff: the second gap is longer than the first.
    let gap1 = hits[1].2 - hits[0].2;
    let gap2 = hits[2].2 - hits[1].2;
    assert!(
        gap1 >= Duration::from_millis(45) && gap2 >= gap1,
        "{gap1:?} {gap2:?}"
    );
    let one: Value = s
        .get(&admin, &format!("/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["delivery"]["delivered"], 1);
    assert_eq!(one["delivery"]["circuit"], "closed");
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
}

#[tokio::test]
async fn breaker_opens_after_consecutive_failures() {
    let s = start_with(|c| c.webhook_retry_base = Duration::from_millis(5)).await;
    let admin = s.admin().await;
    let (url, rx) = receiver(true, 0).await;
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/webhooks",
            json!({"name": "down", "url": url}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..5 {
        s.bus.publish_event(event(
            "d",
            "ssh",
            EventKind::Connect,
            &format!("10.0.0.{i}"),
        ));
        // One at a time, so each delivery is admitted before the breaker trips.
        wait_for("attempts", || rx.hits.lock().unwrap().len() >= (i + 1) * 4).await;
    }
    let st = s.clone_get(&admin, &id).await;
    assert_eq!(st["delivery"]["failed"], 5);
    assert_eq!(st["delivery"]["circuit"], "open");
    assert_eq!(st["delivery"]["last_status"], 500);
    let before = rx.hits.lock().unwrap().len();
    assert_eq!(before, 20, "1 attempt + 3 retries per delivery");
    for i in 0..3 {
        s.bus.publish_event(event(
            "d",
            "ssh",
            EventKind::Connect,
            &format!("10.0.1.{i}"),
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.hits.lock().unwrap().len(),
        before,
        "open breaker must skip"
    );
    let st = s.clone_get(&admin, &id).await;
    assert_eq!(st["delivery"]["skipped"], 3);
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
}

trait Get {
    async fn clone_get(&self, token: &str, id: &str) -> Value;
}

impl Get for Server {
    async fn clone_get(&self, token: &str, id: &str) -> Value {
        self.get(token, &format!("/webhooks/{id}"))
            .await
            .json()
            .await
            .unwrap()
    }
}
