//! Black-box HTTP tests: real server, real SQLite store, real client.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use decnet_core::EventKind;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn login_issues_hs256_token_with_exact_claims() {
    let s = start().await;
    let r = s.login_raw(&s.client, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["must_change_password"], false);
    let token = v["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    let c = claims_of(token);
    let mut keys: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["aud", "exp", "iat", "iss", "jti", "uuid"]);
    assert_eq!(c["iss"], "decnet");
    assert_eq!(c["aud"], "decnet-dashboard");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        240 * 60
    );
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    // The token works.
    assert_eq!(s.get(token, "/stats").await.status(), 200);
    // Wrong password: 401 {detail}.
    let r = s.login_raw(&s.client, "admin", "nope-nope").await;
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["detail"].is_string());
    // Unknown user: same answer.
    assert_eq!(
        s.login_raw(&s.client, "ghost", "whatever1").await.status(),
        401
    );
    // Stored hash is argon2id.
    let u = s.store.user_by_name("admin").await.unwrap().unwrap();
    assert!(
        u.password_hash.starts_with("$argon2id$"),
        "{}",
        u.password_hash
    );
}

#[tokio::test]
async fn bad_tokens_get_401_with_www_authenticate() {
    let s = start().await;
    let good = s.admin().await;
    let c = claims_of(&good);
    let now = chrono::Utc::now().timestamp();
    let mut expired = c.clone();
    expired["iat"] = json!(now - 20_000);
    expired["exp"] = json!(now - 10);
    let mut wrong_aud = c.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = c.clone();
    wrong_iss["iss"] = json!("evil");
    let cases = vec![
        ("missing", None),
        ("garbage", Some("not.a.jwt".to_string())),
        (
            "forged",
            Some(sign(&c, "another-secret-another-secret-another")),
        ),
        ("expired", Some(sign(&expired, SECRET))),
        ("audience", Some(sign(&wrong_aud, SECRET))),
        ("issuer", Some(sign(&wrong_iss, SECRET))),
        (
            "alg none",
            Some(format!(
                "{}.{}.",
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(br#"{"alg":"none","typ":"JWT"}"#),
                good.split('.').nth(1).unwrap()
            )),
        ),
    ];
    for (name, tok) in cases {
        let mut req = s.client.get(s.url("/logs"));
        if let Some(t) = &tok {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{name}");
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{name}"
        );
        assert!(r.json::<Value>().await.unwrap()["detail"].is_string());
    }
    // A token re-signed with the right secret still works (control).
    assert_eq!(s.get(&sign(&c, SECRET), "/logs").await.status(), 200);
}

#[tokio::test]
async fn login_limit_counts_failures_per_source() {
    let s = start().await;
    // 10 failures from 127.0.0.2 (any usernames): the 11th try is 429.
    let c2 = Server::client_from("127.0.0.2");
    for i in 0..10 {
        let r = s.login_raw(&c2, &format!("user{i}"), "bad-password").await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = s.login_raw(&c2, "someone-new", "bad-password").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    let detail = r.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains(&format!("{retry} s")),
        "the detail says when: {detail}"
    );
    // Even the right password is refused from the limited source.
    assert_eq!(s.login_raw(&c2, "admin", ADMIN_PW).await.status(), 429);
}

#[tokio::test]
async fn bad_logins_from_anywhere_cannot_lock_the_admin_out() {
    let s = start().await;
    // The attack: 100 wrong admin passwords, from one address and then
    // from ten more.
    let attacker = Server::client_from("127.0.2.1");
    for _ in 0..100 {
        let st = s.login_raw(&attacker, "admin", "guess").await.status();
        assert!(st == 401 || st == 429, "{st}");
    }
    for i in 0..10 {
        let c = Server::client_from(&format!("127.0.2.{}", i + 10));
        for _ in 0..10 {
            assert_eq!(s.login_raw(&c, "admin", "guess").await.status(), 401);
        }
    }
    // The admin, from a fresh address, still gets in at once; an 11th
    // address is not refused for the account either.
    let admin = Server::client_from("127.0.2.200");
    assert_eq!(s.login_raw(&admin, "admin", ADMIN_PW).await.status(), 200);
    let other = Server::client_from("127.0.2.201");
    assert_eq!(s.login_raw(&other, "admin", "guess").await.status(), 401);
}

#[tokio::test]
async fn successful_logins_do_not_use_up_the_budget() {
    let s = start().await;
    let c = Server::client_from("127.0.3.1");
    // 7 typos and 3 good logins: the right password still works…
    for _ in 0..7 {
        assert_eq!(s.login_raw(&c, "admin", "typo").await.status(), 401);
    }
    for _ in 0..3 {
        assert_eq!(s.login_raw(&c, "admin", ADMIN_PW).await.status(), 200);
    }
    assert_eq!(s.login_raw(&c, "admin", ADMIN_PW).await.status(), 200);
    // …and a success forgave the typos: a fresh budget of 10 failures.
    for i in 0..10 {
        let st = s.login_raw(&c, "admin", "typo").await.status();
        assert_eq!(st, 401, "typo {i}");
    }
    assert_eq!(s.login_raw(&c, "admin", "typo").await.status(), 429);
}

#[tokio::test]
async fn generated_admin_must_change_password_first() {
    let s = start_with(|c| c.admin_password = None).await;
    let file = s.dir.path().join("admin-password");
    let pw = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(pw.len() >= 16);
    match &s.handle.as_ref().unwrap().admin {
        decnet_api::AdminBootstrap::Generated { password, .. } => assert_eq!(password, &pw),
        other => panic!("expected generated admin, got {other:?}"),
    }
    let r = s.login_raw(&s.client, "admin", &pw).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["must_change_password"], true);
    let t = v["access_token"].as_str().unwrap().to_owned();
    for path in [
        "/logs",
        "/stats",
        "/health",
        "/config",
        "/config/users",
        "/webhooks",
    ] {
        let r = s.get(&t, path).await;
        assert_eq!(r.status(), 403, "{path}");
    }
    let r = s
        .client
        .post(s.url("/auth/sse-ticket"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // change-password is allowed.
    let r = s
        .send_json(
            Method::POST,
            &t,
            "/auth/change-password",
            json!({"old_password": pw, "new_password": "brand-new-pass"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The token used for the change is dead; a fresh login has full access.
    assert_eq!(s.get(&t, "/logs").await.status(), 401);
    let r = s.login_raw(&s.client, "admin", "brand-new-pass").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["must_change_password"], false);
    let t2 = v["access_token"].as_str().unwrap();
    assert_eq!(s.get(t2, "/logs").await.status(), 200);
    assert_eq!(s.login_raw(&s.client, "admin", &pw).await.status(), 401);
}

#[tokio::test]
async fn logout_on_pending_change_is_allowed() {
    let s = start_with(|c| c.admin_password = None).await;
    let pw = std::fs::read_to_string(s.dir.path().join("admin-password")).unwrap();
    let r = s.login_raw(&s.client, "admin", pw.trim()).await;
    let t = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .client
        .post(s.url("/auth/logout"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .post(s.url("/auth/logout"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn logout_revocation_survives_restart() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut s = start_in(dir.clone(), |c| c.jwt_secret = None).await;
    let revoked = s.admin().await;
    let kept = s.admin().await;
    let r = s
        .client
        .post(s.url("/auth/logout"))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.get(&revoked, "/logs").await.status(), 401);
    assert_eq!(s.get(&kept, "/logs").await.status(), 200);
    assert!(dir.path().join("jwt-secret").exists());
    s.stop().await;
    drop(s);
    // Same data dir: same generated secret, same database.
    let s = start_in(dir, |c| c.jwt_secret = None).await;
    assert_eq!(s.get(&revoked, "/logs").await.status(), 401);
    assert_eq!(s.get(&kept, "/logs").await.status(), 200);
}

#[tokio::test]
async fn change_password_invalidates_older_tokens() {
    let s = start().await;
    let a = s.admin().await;
    let b = s.admin().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Wrong current password.
    let r = s
        .send_json(
            Method::POST,
            &a,
            "/auth/change-password",
            json!({"old_password": "wrong-password", "new_password": "next-password-1"}),
        )
        .await;
    assert_eq!(r.status(), 401);
    let r = s
        .send_json(
            Method::POST,
            &a,
            "/auth/change-password",
            json!({"old_password": ADMIN_PW, "new_password": "next-password-1"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.get(&a, "/logs").await.status(), 401);
    assert_eq!(s.get(&b, "/logs").await.status(), 401);
    let c = s.login("admin", "next-password-1").await;
    assert_eq!(s.get(&c, "/logs").await.status(), 200);
}

#[tokio::test]
async fn a_password_change_ends_every_older_token_on_every_server() {
    let a = start().await;
    let b = common::start_sharing(&a).await;
    let admin = a.admin().await;
    let used = a.viewer(&admin, "roamer").await;
    // Two more sessions of the same user, issued a moment ago (in the same
    // second as the change below, most likely).
    let older = a.login("roamer", "viewer-pass-2").await;
    let other = b.login("roamer", "viewer-pass-2").await;
    for (srv, t) in [(&a, &older), (&b, &older), (&a, &other), (&b, &other)] {
        assert_eq!(srv.get(t, "/logs").await.status(), 200);
    }
    let r = a
        .send_json(
            Method::POST,
            &used,
            "/auth/change-password",
            json!({"old_password": "viewer-pass-2", "new_password": "viewer-pass-3"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The server that made the change refuses them at once…
    assert_eq!(a.get(&older, "/logs").await.status(), 401);
    assert_eq!(a.get(&other, "/logs").await.status(), 401);
    // …the other server within its token cache's TTL.
    let t0 = std::time::Instant::now();
    for t in [&older, &other] {
        while b.get(t, "/logs").await.status() != 401 {
            assert!(
                t0.elapsed() < decnet_api::token_cache::DEFAULT_TTL + Duration::from_secs(1),
                "an older token still accepted after {:?}",
                t0.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A login with the new password works on both.
    let fresh = b.login("roamer", "viewer-pass-3").await;
    assert_eq!(a.get(&fresh, "/logs").await.status(), 200);
    assert_eq!(b.get(&fresh, "/logs").await.status(), 200);
}

#[tokio::test]
async fn viewer_is_refused_mutations_before_body_validation() {
    let s = start().await;
    let admin = s.admin().await;
    let viewer = s.viewer(&admin, "watcher").await;
    // Reads are fine.
    for path in [
        "/logs",
        "/stats",
        "/logs/histogram",
        "/health",
        "/workers",
        "/config",
    ] {
        assert_eq!(s.get(&viewer, path).await.status(), 200, "{path}");
    }
    let cfg: Value = s.get(&viewer, "/config").await.json().await.unwrap();
    assert_eq!(cfg["role"], "viewer");
    assert!(cfg.get("users").is_none());
    let admin_uuid = s.store.user_by_name("admin").await.unwrap().unwrap().uuid;
    let mutating: Vec<(Method, String)> = vec![
        (Method::POST, "/config/users".into()),
        (Method::PUT, "/config/deployment-limit".into()),
        (Method::PUT, format!("/config/users/{admin_uuid}/role")),
        (
            Method::PUT,
            format!("/config/users/{admin_uuid}/reset-password"),
        ),
        (Method::DELETE, format!("/config/users/{admin_uuid}")),
        (Method::POST, "/webhooks".into()),
        (Method::PUT, format!("/webhooks/{admin_uuid}")),
        (Method::DELETE, format!("/webhooks/{admin_uuid}")),
        (Method::POST, format!("/webhooks/{admin_uuid}/test")),
    ];
    for (m, path) in &mutating {
        // Invalid JSON body: role is checked first, so 403 not 422.
        let r = s
            .client
            .request(m.clone(), s.url(path))
            .bearer_auth(&viewer)
            .header("content-type", "application/json")
            .body("{\"bogus\":")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{m} {path} (bad json)");
        // Not JSON at all: 403 not 415.
        let r = s
            .client
            .request(m.clone(), s.url(path))
            .bearer_auth(&viewer)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{m} {path} (text)");
        assert!(r.json::<Value>().await.unwrap()["detail"].is_string());
    }
    // Admin-only reads too.
    assert_eq!(s.get(&viewer, "/config/users").await.status(), 403);
    assert_eq!(s.get(&viewer, "/webhooks").await.status(), 403);
}

#[tokio::test]
async fn user_management_by_admin() {
    let s = start().await;
    let admin = s.admin().await;
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/config/users",
            json!({"username": "ops", "password": "ops-password", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let u: Value = r.json().await.unwrap();
    assert_eq!(u["role"], "admin");
    assert_eq!(u["must_change_password"], true);
    assert!(u.get("password_hash").is_none());
    let id = u["uuid"].as_str().unwrap().to_owned();
    // Duplicate → 409.
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/config/users",
            json!({"username": "ops", "password": "ops-password"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let list: Value = s.get(&admin, "/config/users").await.json().await.unwrap();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"ops".to_string()) && names.contains(&"admin".to_string()));
    // Role change; own role refused.
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            &format!("/config/users/{id}/role"),
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.store.user_by_name("ops").await.unwrap().unwrap().role,
        decnet_store::Role::Viewer
    );
    let me = s.store.user_by_name("admin").await.unwrap().unwrap().uuid;
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            &format!("/config/users/{me}/role"),
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            &format!("/config/users/{id}/role"),
            json!({"role": "root"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    // Reset password → must change.
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            &format!("/config/users/{id}/reset-password"),
            json!({"new_password": "reset-pass-99"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = s.login_raw(&s.client, "ops", "reset-pass-99").await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["must_change_password"],
        true
    );
    // Delete; self-delete refused; unknown → 404; bad uuid → 422.
    let r = s
        .client
        .delete(s.url(&format!("/config/users/{me}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .client
        .delete(s.url(&format!("/config/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .delete(s.url(&format!("/config/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .client
        .delete(s.url("/config/users/not-a-uuid"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"][0]["loc"], json!(["path", "user_uuid"]));
    // Deployment limit round trip.
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            "/config/deployment-limit",
            json!({"deployment_limit": 42}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let cfg: Value = s.get(&admin, "/config").await.json().await.unwrap();
    assert_eq!(cfg["deployment_limit"], 42);
    assert!(cfg["users"].is_array());
}

#[tokio::test]
async fn error_shapes_415_422_404() {
    let s = start().await;
    // 415 for a non-JSON body.
    let r = s
        .client
        .post(s.url("/auth/login"))
        .header("content-type", "text/plain")
        .body("username=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.json::<Value>().await.unwrap()["detail"].is_string());
    let r = s
        .client
        .post(s.url("/auth/login"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // 422 with field paths.
    let r = s
        .client
        .post(s.url("/auth/login"))
        .json(&json!({"username": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"][0]["loc"], json!(["body", "password"]));
    assert_eq!(v["detail"][0]["type"], "missing");
    let r = s
        .client
        .post(s.url("/auth/login"))
        .json(&json!({"username": 5, "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"][0]["loc"], json!(["body", "username"]));
    let r = s
        .client
        .post(s.url("/auth/login"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let admin = s.admin().await;
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/auth/change-password",
            json!({"old_password": ADMIN_PW, "new_password": "short"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"][0]["loc"], json!(["body", "new_password"]));
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=5000", "limit"),
        ("offset=-1", "offset"),
        ("since=yesterday", "since"),
        ("session_id=xyz", "session_id"),
    ] {
        let r = s.get(&admin, &format!("/logs?{q}")).await;
        assert_eq!(r.status(), 422, "{q}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["detail"][0]["loc"], json!(["query", field]), "{q}");
    }
    // The filters /logs and /stream share are length-checked alike (the
    // stream answers 422 instead of opening).
    for (field, max) in [
        ("decky", 128),
        ("service", 64),
        ("kind", 64),
        ("src_ip", 64),
        ("search", 256),
    ] {
        let long = "x".repeat(max + 1);
        for route in ["/logs", "/stream"] {
            let r = s.get(&admin, &format!("{route}?{field}={long}")).await;
            assert_eq!(r.status(), 422, "{route} {field}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["detail"][0]["loc"], json!(["query", field]), "{route}");
        }
        let ok = "x".repeat(max);
        let r = s.get(&admin, &format!("/logs?{field}={ok}")).await;
        assert_eq!(r.status(), 200, "{field} of {max} characters is allowed");
    }
    // Unknown route and wrong method: JSON detail.
    let r = s.get(&admin, "/no-such-route").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "Not Found");
    let r = s
        .client
        .delete(s.url("/stats"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.json::<Value>().await.unwrap()["detail"].is_string());
}

#[tokio::test]
async fn internal_errors_carry_an_error_id_that_is_logged() {
    let s = start().await;
    let admin = s.admin().await;
    // A corrupt webhooks setting makes webhook creation fail inside the server.
    s.store
        .put_setting("webhooks", &json!({"not": "a list"}))
        .await
        .unwrap();
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/webhooks",
            json!({"name": "x", "url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(r.status(), 500);
    let text = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let id = v["error_id"].as_str().unwrap();
    assert_eq!(v["detail"], "Internal server error");
    assert!(!text.contains("invalid type"), "cause leaked: {text}");
    assert!(!text.contains(".rs"), "source location leaked: {text}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let logs = logs_text();
    assert!(logs.contains(id), "error id {id} not in server log");
}

#[tokio::test]
async fn logs_filters_pagination_histogram_stats() {
    let s = start().await;
    let admin = s.admin().await;
    let mut events = Vec::new();
    for i in 0..30 {
        let kind = if i % 3 == 0 {
            EventKind::AuthAttempt
        } else {
            EventKind::Connect
        };
        let mut e = event(
            if i % 2 == 0 { "web01" } else { "db01" },
            if i % 2 == 0 { "ssh" } else { "mysql" },
            kind,
            &format!("10.0.0.{}", i % 5),
        );
        if kind == EventKind::AuthAttempt {
            e.fields
                .insert("username".into(), json!(format!("root{i}")));
        }
        events.push(e);
    }
    events[4].session_id = Some(uuid::Uuid::now_v7());
    s.store.insert_events(&events).await.unwrap();
    // The page body is written from the store's JSON, not from `Event`s:
    // every event must still be exactly what `Event` serialises to.
    let resp = s.get(&admin, "/logs?limit=30").await;
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["total_exact"].as_bool()),
        (Some(30), Some(true))
    );
    let mut newest_first = events.clone();
    newest_first.sort_by_key(|e| std::cmp::Reverse((e.ts, e.id)));
    assert_eq!(v["data"], serde_json::to_value(&newest_first).unwrap());
    let v: Value = s.get(&admin, "/logs?limit=7").await.json().await.unwrap();
    assert_eq!(v["total"], 30);
    assert_eq!(v["limit"], 7);
    assert_eq!(v["offset"], 0);
    assert_eq!(v["data"].as_array().unwrap().len(), 7);
    let v: Value = s
        .get(&admin, "/logs?limit=10&offset=25")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 5);
    let v: Value = s
        .get(&admin, "/logs?decky=web01&kind=auth_attempt")
        .await
        .json()
        .await
        .unwrap();
    let want = events
        .iter()
        .filter(|e| e.decky == "web01" && e.kind == EventKind::AuthAttempt)
        .count();
    assert_eq!(v["total"], want as u64);
    for e in v["data"].as_array().unwrap() {
        assert_eq!(e["decky"], "web01");
        assert_eq!(e["kind"], "auth_attempt");
    }
    let v: Value = s
        .get(&admin, "/logs?src_ip=10.0.0.3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 6);
    let v: Value = s
        .get(&admin, "/logs?search=root12")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 1);
    let v: Value = s
        .get(&admin, "/logs?service=mysql")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 15);
    let h: Value = s
        .get(&admin, "/logs/histogram?interval_minutes=60")
        .await
        .json()
        .await
        .unwrap();
    let total: u64 = h
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 30);
    let st: Value = s.get(&admin, "/stats").await.json().await.unwrap();
    assert_eq!(st["total_events"], 30);
    assert_eq!(st["unique_attackers"], 5);
    assert_eq!(st["auth_attempts"], 10);
    assert_eq!(st["active_deckies"], 2);
}

#[tokio::test]
async fn health_and_workers_report_supervised_state() {
    let s = start_with(|c| c.worker_backoff = Duration::from_millis(20)).await;
    let admin = s.admin().await;
    let r = s.get(&admin, "/health").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "healthy", "{v}");
    assert_eq!(v["components"]["database"]["status"], "ok");
    assert_eq!(v["components"]["webhooks_worker"]["status"], "ok");
    let sup = s.handle.as_ref().unwrap().supervisor.clone();
    // A failing non-critical worker: degraded, still 200.
    sup.spawn(
        "profiler",
        false,
        std::sync::Arc::new(|_| Box::pin(async { anyhow::bail!("profiler broke") })),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = s.get(&admin, "/health").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["components"]["profiler_worker"]["status"], "failing");
    // A failing critical worker: unhealthy, 503.
    sup.spawn(
        "ingest",
        true,
        std::sync::Arc::new(|_| Box::pin(async { panic!("ingest exploded") })),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = s.get(&admin, "/health").await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "unhealthy");
    let w: Value = s.get(&admin, "/workers").await.json().await.unwrap();
    let ingest = w
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "ingest")
        .unwrap();
    assert!(ingest["restarts"].as_u64().unwrap() >= 1, "{ingest}");
    assert!(ingest["last_error"]
        .as_str()
        .unwrap()
        .contains("ingest exploded"));
    assert_eq!(ingest["critical"], true);
}

#[tokio::test]
async fn openapi_document_docs_and_root_page() {
    let s = start().await;
    let r = s.client.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        v["openapi"]
    );
    for p in [
        "/api/v1/auth/login",
        "/api/v1/logs",
        "/api/v1/stream",
        "/api/v1/webhooks/{webhook_id}/test",
        "/api/v1/health",
    ] {
        assert!(v["paths"].get(p).is_some(), "missing {p}");
    }
    assert!(v["components"]["securitySchemes"]["bearer"].is_object());
    // Docs only in developer mode.
    assert_eq!(
        s.client.get(s.url("/docs")).send().await.unwrap().status(),
        404
    );
    let dev = start_with(|c| c.developer = true).await;
    let r = dev.client.get(dev.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("/api/v1/openapi.json"));
    // Placeholder dashboard page.
    let r = s
        .client
        .get(format!("http://{}/", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("/api/v1/openapi.json"));
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let s = start_with(|c| c.cors_origins = vec!["http://dash.example".into()]).await;
    let r = s
        .client
        .request(Method::OPTIONS, s.url("/logs"))
        .header("origin", "http://dash.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("access-control-allow-origin").unwrap(),
        "http://dash.example"
    );
    let r = s
        .client
        .request(Method::OPTIONS, s.url("/logs"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let plain = start().await;
    let r = plain
        .client
        .get(plain.url("/openapi.json"))
        .header("origin", "http://dash.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn store_open_retries_with_backoff_then_fails_clearly() {
    // A database path under a regular file can never be opened.
    let f = tempfile::NamedTempFile::new().unwrap();
    let url = format!("sqlite://{}/sub/decnet.db", f.path().display());
    let t = std::time::Instant::now();
    let err = decnet_api::open_store_with_retry(&url, 3)
        .await
        .err()
        .expect("unreachable database must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("after 3 attempts"), "{msg}");
    // Backoff 0.5 s + 1 s between the three attempts.
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn short_jwt_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.jwt_secret = Some("too-short".into());
    let store = decnet_store::open(&format!("sqlite://{}", dir.path().join("d.db").display()))
        .await
        .unwrap();
    let bus: std::sync::Arc<dyn decnet_bus::Bus> = decnet_bus::MemoryBus::new();
    let err = decnet_api::serve(
        cfg,
        decnet_api::Backends::new(store, bus),
        std::future::pending(),
    )
    .await
    .err()
    .unwrap();
    assert!(format!("{err:#}").contains("at least 32 bytes"));
}

#[tokio::test]
async fn cached_tokens_dropped_at_once_on_logout_role_change_and_delete() {
    let s = start().await;
    let admin = s.admin().await;
    // Logout: a token just used (so cached) is refused right after.
    let t = s.admin().await;
    for _ in 0..3 {
        assert_eq!(s.get(&t, "/logs").await.status(), 200);
    }
    let r = s
        .client
        .post(s.url("/auth/logout"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.get(&t, "/logs").await.status(), 401);
    // Role change and deletion of other users end their cached sessions.
    let v1 = s.viewer(&admin, "cache-v1").await;
    let v2 = s.viewer(&admin, "cache-v2").await;
    // Sessions end for tokens issued before the change's second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.get(&v1, "/logs").await.status(), 200);
    assert_eq!(s.get(&v2, "/logs").await.status(), 200);
    let id1 = s
        .store
        .user_by_name("cache-v1")
        .await
        .unwrap()
        .unwrap()
        .uuid;
    let id2 = s
        .store
        .user_by_name("cache-v2")
        .await
        .unwrap()
        .unwrap()
        .uuid;
    let r = s
        .send_json(
            Method::PUT,
            &admin,
            &format!("/config/users/{id1}/role"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.get(&v1, "/logs").await.status(), 401);
    let r = s
        .client
        .delete(s.url(&format!("/config/users/{id2}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.get(&v2, "/logs").await.status(), 401);
    assert_eq!(s.get(&admin, "/logs").await.status(), 200);
}

#[tokio::test]
async fn revocation_by_another_server_takes_effect_within_the_ttl() {
    let s = start().await;
    let t = s.admin().await;
    assert_eq!(s.get(&t, "/logs").await.status(), 200);
    let jti: uuid::Uuid = claims_of(&t)["jti"].as_str().unwrap().parse().unwrap();
    // What another server sharing the store does on logout.
    s.store
        .revoke_token(jti, chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    while s.get(&t, "/logs").await.status() != 401 {
        assert!(
            t0.elapsed() < decnet_api::token_cache::DEFAULT_TTL + Duration::from_secs(1),
            "revoked token still accepted after {:?}",
            t0.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
