//! `/api/v1/response/*` and the root CrowdSec bouncer endpoints, through the
//! real server with a real decnet-response Responder in its backends.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use decnet_response::{Options, Responder};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn response_routes_roles_bans_blocklist_policy_and_bouncer_stream() {
    // Not configured: 503 everywhere, the bouncer endpoint too.
    let mut bare = common::start().await;
    let bare_admin = bare.admin().await;
    assert_eq!(
        bare.get(&bare_admin, "/response/status").await.status(),
        503
    );
    let r = bare
        .client
        .get(format!("http://{}/v1/decisions/stream", bare.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    bare.stop().await;

    let raw: BTreeMap<String, String> = [("backends", "blocklist, crowdsec"), ("duration", "1h")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut s = common::start_attached(
        dir,
        |_| {},
        async |b: &mut decnet_api::Backends| {
            let resp = Responder::start(
                &raw,
                b.bus.clone(),
                Options {
                    store: Some(b.store.clone()),
                    spawn: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            b.responder = Some(resp);
        },
    )
    .await;
    let admin = s.admin().await;
    let root = format!("http://{}", s.addr);

    let viewer = s.viewer(&admin, "watcher").await;
    // Auth and roles.
    let r = s
        .client
        .get(s.url("/response/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let st: Value = s
        .get(&viewer, "/response/status")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["health"], "ok");
    assert_eq!(st["active_bans"], 0);
    let r = s
        .send_json(
            Method::POST,
            &viewer,
            "/response/bans",
            json!({"value": "192.0.2.1", "reason": "x"}),
        )
        .await;
    assert_eq!(r.status(), 403, "viewer cannot ban");

    // Manual ban: validation, allowlist (the API client itself), success.
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/response/bans",
            json!({"value": "192.0.2.1", "reason": ""}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/response/bans",
            json!({"value": "127.0.0.1", "reason": "self"}),
        )
        .await;
    assert_eq!(r.status(), 409, "API clients and the host are allowlisted");
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/response/bans",
            json!({"value": "198.51.100.0/24", "duration": "2h", "reason": "scanner range"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["actor"], "admin");
    assert_eq!(b["origin"], "manual");

    // Blocklist feed (text/plain) and the ban list.
    let r = s.get(&viewer, "/response/blocklist.txt").await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), "198.51.100.0/24\n");
    let page: Value = s
        .get(&viewer, "/response/bans?ip=198.51.100.9")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);

    // Bouncer key over the API, then the real bouncer endpoint with it.
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/response/bouncers",
            json!({"name": "fw1"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let key = r.json::<Value>().await.unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .client
        .get(format!("{root}/v1/decisions/stream?startup=true"))
        .header("X-Api-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = s
        .client
        .get(format!("{root}/v1/decisions/stream?startup=true"))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["new"][0]["value"], "198.51.100.0/24");
    assert_eq!(v["new"][0]["scope"], "Range");

    // Unban with a reason; audit trail records who/why.
    let r = s
        .client
        .delete(s.url("/response/bans/198.51.100.0%2F24?reason=false%20positive"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let trail: Value = s
        .get(&viewer, "/response/audit")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trail[0]["action"], "unban");
    assert_eq!(trail[0]["reason"], "false positive");
    assert_eq!(trail[0]["actor"], "admin");

    // Policy: invalid keys → 422 naming the key; valid → applied.
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            "/response/policy",
            json!({"ban_onn": "auth_attempt"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("ban_onn"));
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            "/response/policy",
            json!({"backends": "blocklist", "dry_run": "true"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let st: Value = s
        .get(&viewer, "/response/status")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["dry_run"], true);
    assert_eq!(st["backends"].as_array().unwrap().len(), 1);

    s.stop().await;
}
